package arduino

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// checkOTA checks an .ota file against the layout described in ota.go,
// with the tests' own decoder, and returns the image it holds.
func checkOTA(t *testing.T, ota []byte, magic uint32) []byte {
	t.Helper()
	if len(ota) < 20 {
		t.Fatalf(".ota of %d bytes has no header", len(ota))
	}
	if n := binary.LittleEndian.Uint32(ota[0:]); int(n) != len(ota)-8 {
		t.Errorf("length field %d, want file size %d minus 8", n, len(ota))
	}
	if c, want := binary.LittleEndian.Uint32(ota[4:]), crc32.ChecksumIEEE(ota[8:]); c != want {
		t.Errorf("crc32 field %08x, want %08x", c, want)
	}
	if m := binary.LittleEndian.Uint32(ota[8:]); m != magic {
		t.Errorf("magic %08x, want %08x", m, magic)
	}
	img, err := refDecode(ota[20:])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	return img
}

func TestMakeOTA(t *testing.T) {
	img := samples()["code-like"]
	stream := EncodeLZSS(img)
	ota := MakeOTA(Boards["mkrgsm1400"].Magic(), OTAVersion(1, 2, 3), stream)
	if got := checkOTA(t, ota, 0x23418052); !bytes.Equal(got, img) {
		t.Error("the .ota payload does not decode to the image")
	}
	if !bytes.Equal(ota[8:12], []byte{0x52, 0x80, 0x41, 0x23}) {
		t.Errorf("magic bytes % x, want 52 80 41 23 (little-endian 0x23418052)", ota[8:12])
	}
	if want := []byte{0x40, 0, 1, 2, 3, 0, 0, 0}; !bytes.Equal(ota[12:20], want) {
		t.Errorf("version field % x, want % x", ota[12:20], want)
	}
	if !bytes.Equal(ota[20:], stream) {
		t.Error("the .ota payload is not the bare LZSS stream")
	}
}

func TestOTAVersionOutOfRange(t *testing.T) {
	if got, want := OTAVersion(300, 2, 1000), [8]byte{0x40, 0, 0, 2, 0}; got != want {
		t.Errorf("OTAVersion(300, 2, 1000) = % x, want % x", got, want)
	}
}
