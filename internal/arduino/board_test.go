package arduino

import (
	"encoding/binary"
	"strings"
	"testing"
)

// vectors is a crafted image: a vector table (initial stack pointer, reset
// vector) at each given file offset, filler elsewhere.
func vectors(size int, tables map[uint32][2]uint32) []byte {
	img := make([]byte, size)
	for i := range img {
		img[i] = byte(i*31 + 7) // stands in for code: never a valid table
	}
	for off, v := range tables {
		binary.LittleEndian.PutUint32(img[off:], v[0])
		binary.LittleEndian.PutUint32(img[off+4:], v[1])
	}
	return img
}

const stackTop = 0x20008000

func TestCheckImage(t *testing.T) {
	gsm := Boards["mkrgsm1400"]
	ssuBuild := vectors(0x8000+0x3000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}})
	sduBuild := vectors(0x4000+0x5000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x4000: {stackTop, 0x61E5}})
	plain := vectors(40000, map[uint32][2]uint32{0: {stackTop, 0x2151}})
	cases := []struct {
		name   string
		loader Loader
		img    []byte
		want   []string // substrings of the reason; none means accepted
	}{
		{"ssu build", LoaderSSU, ssuBuild, nil},
		{"sdu build", LoaderSDU, sduBuild, nil},
		{"no stub, no loader", LoaderNone, plain, nil},
		{"no stub for ssu", LoaderSSU, plain,
			[]string{"reset vector 0x00002151", "below 0xA000", "built without SSU.h?", "file offset 0x8000"}},
		{"short sketch without stub for ssu", LoaderSSU, plain[:12000],
			[]string{"12000 bytes, too short to hold a 32 KB loader stub", "built without SSU.h?"}},
		{"sdu build for ssu", LoaderSSU, sduBuild,
			[]string{"16 KB loader stub (SDU.h or SNU.h)", "starts at 0x6000", "build with SSU.h instead"}},
		{"ssu build for sdu", LoaderSDU, ssuBuild,
			[]string{"32 KB loader stub (SSU.h)", "runs sketches from 0x6000", "build with SDU.h instead"}},
		{"ssu build without loader", LoaderNone, ssuBuild,
			[]string{"starts with a 32 KB loader stub (SSU.h)", "file offset 0x8000 (flash 0xA000)",
				"declare that loader"}},
		{"even reset vector", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E4}}),
			[]string{"reset vector 0x0000A1E4, which is even"}},
		{"sketch reset vector past flash", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0x40001}}),
			[]string{"outside 0xA000 to 0x3FFFF"}},
		{"sketch reset vector past the image", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xB001}}),
			[]string{"reset vector 0x0000B001, past the image's end at 0xB000", "truncated"}},
		{"sketch reset vector in the image's last halfword", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xAFFF}}), nil},
		{"truncated after the sketch's vector table", LoaderSSU,
			vectors(0x8008, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}}),
			[]string{"reset vector 0x0000A1E5, past the image's end at 0xA008"}},
		{"truncated sketch without loader", LoaderNone,
			vectors(0x100, map[uint32][2]uint32{0: {stackTop, 0x2151}}),
			[]string{"reset vector 0x00002151, past the image's end at 0x2100"}},
		{"stack pointer at RAM's end", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}}), nil},
		{"stack pointer at RAM's start", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {0x20000000, 0xA1E5}}),
			[]string{"stack pointer 0x20000000, not a word-aligned address in RAM"}},
		{"largest image", LoaderSSU,
			vectors(0x3E000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}}), nil},
		{"stack pointer not aligned", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop - 2, 0xA1E5}}),
			[]string{"stack pointer 0x20007FFE, not a word-aligned address in RAM"}},
		{"stack pointer past RAM", LoaderNone, vectors(100, map[uint32][2]uint32{0: {stackTop + 4, 0x2151}}),
			[]string{"stack pointer 0x20008004", "(0x20000000 to 0x20008000)"}},
		{"stub reset vector in the bootloader", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {stackTop, 0x0151}, 0x8000: {stackTop, 0xA1E5}}),
			[]string{"the loader stub at the start of the image has reset vector 0x00000151, " +
				"outside 0x2000 to 0x9FFF"}},
		// Images that are no sketch of this board at all: another chip's
		// (the first words of a SparkFun Artemis image) and the MKR's own
		// USB bootloader (its first words in the firmware corpus).
		{"another chip's image for ssu", LoaderSSU,
			vectors(0x9000, map[uint32][2]uint32{0: {0x10014000, 0xC0A9}}),
			[]string{"does not look like a sketch for the Arduino MKR GSM 1400 at all",
				"initial stack pointer 0x10014000 is not in the board's RAM"}},
		{"another chip's image without loader", LoaderNone,
			vectors(0x9000, map[uint32][2]uint32{0: {0x10014000, 0xC0A9}}),
			[]string{"does not look like a sketch", "0x10014000 is not in the board's RAM"}},
		{"the bootloader for ssu", LoaderSSU, vectors(7984, map[uint32][2]uint32{0: {stackTop - 4, 0x0B79}}),
			[]string{"does not look like a sketch", "reset vector 0x00000B79 is inside the USB bootloader"}},
		{"the bootloader without loader", LoaderNone,
			vectors(7984, map[uint32][2]uint32{0: {stackTop - 4, 0x0B79}}),
			[]string{"does not look like a sketch", "as the bootloader itself is"}},
		{"too large", LoaderSSU,
			vectors(0x3E001, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}}),
			[]string{"253953 bytes, more than the 253952 (0x3E000)"}},
		{"empty", LoaderNone, nil, []string{"0 bytes, too short for a vector table"}},
		{"an .ota file", LoaderSSU, MakeOTA(gsm.Magic(), OTAVersion(1, 0, 0), EncodeLZSS(ssuBuild)),
			[]string{"already an .ota file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckImage(gsm, c.loader, c.img)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if strings.Contains(c.name, "another chip") || strings.Contains(c.name, "bootloader for") ||
				strings.Contains(c.name, "bootloader without") {
				if strings.Contains(err.Error(), ".h") {
					t.Errorf("reason %q guesses at a loader header for an image that is no sketch", err)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("reason %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// A truncated image is refused for what it is, without a hint about a
// loader header that has nothing to do with it.
func TestCheckImageTruncatedReason(t *testing.T) {
	img := vectors(0x8008, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}})
	err := CheckImage(Boards["mkrgsm1400"], LoaderSSU, img)
	if err == nil || !strings.HasSuffix(err.Error(), "past the image's end at 0xA008: is the file truncated?") {
		t.Errorf("CheckImage(truncated after the sketch's vector table) = %v, want a reason ending in the "+
			"truncation", err)
	}
}

func TestBoards(t *testing.T) {
	for name, b := range Boards {
		if b.Name != name || !b.Supports(LoaderNone) || b.MaxImage() != 0x3E000 {
			t.Errorf("board %s: %+v", name, b)
		}
	}
	gsm := Boards["mkrgsm1400"]
	if gsm.Magic() != 0x23418052 || !gsm.Supports(LoaderSSU) || gsm.Supports(LoaderSNU) {
		t.Errorf("mkrgsm1400: magic %08x, loaders %v", gsm.Magic(), gsm.Loaders)
	}
	if got := gsm.SketchStart(LoaderSSU); got != 0xA000 {
		t.Errorf("SSU sketch start 0x%X, want 0xA000", got)
	}
	if got := gsm.SketchStart(LoaderSDU); got != 0x6000 {
		t.Errorf("SDU sketch start 0x%X, want 0x6000", got)
	}
	if Boards["mkrwifi1010"].Magic() != 0x23418054 || Boards["nano33iot"].Magic() != 0x23418057 {
		t.Error("MKR WiFi 1010 and Nano 33 IoT magics differ from bin2ota's")
	}
}

func FuzzCheckImage(f *testing.F) {
	f.Add([]byte{0, 0x80, 0, 0x20, 0x51, 0x21, 0, 0}, uint8(0))
	f.Add(vectors(0x8010, map[uint32][2]uint32{0: {stackTop, 0x2101}, 0x8000: {stackTop, 0xA1E5}}), uint8(2))
	loaders := []Loader{LoaderNone, LoaderSDU, LoaderSSU, LoaderSNU}
	f.Fuzz(func(t *testing.T, img []byte, l uint8) {
		for _, b := range Boards {
			err := CheckImage(b, loaders[int(l)%len(loaders)], img)
			if err != nil && len(err.Error()) > 600 {
				t.Fatalf("reason of %d bytes is too long for a person: %v", len(err.Error()), err)
			}
		}
	})
}
