package arduino

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Loader is the second-stage loader a sketch is built with: the stub that
// SDU.h, SSU.h or SNU.h places in flash right after the USB bootloader,
// which flashes an update at reset and then starts the sketch after it.
type Loader string

// Loaders (device reference, section 1).
const (
	// LoaderNone: no stub; the sketch starts right after the bootloader.
	LoaderNone Loader = "none"
	// LoaderSDU flashes UPDATE.BIN from an SD card; 16 KB stub.
	LoaderSDU Loader = "sdu"
	// LoaderSSU flashes UPDATE.BIN.LZSS (the bare LZSS stream) or
	// UPDATE.BIN from the SARA modem's file system; 32 KB stub.
	LoaderSSU Loader = "ssu"
	// LoaderSNU flashes UPDATE.BIN.LZSS (a whole .ota file) or UPDATE.BIN
	// from the NINA-W102 module's flash; 16 KB stub.
	LoaderSNU Loader = "snu"
)

// appStart is where everything after the 8 KB SAM-BA USB bootloader
// starts, the loader stub or, without one, the sketch. An exported .bin
// is the flash image from here on.
const appStart = 0x2000

// stubSize returns the size of l's stub, which is also the file offset of
// the sketch's vector table in an image built with it.
func (l Loader) stubSize() uint32 {
	switch l {
	case LoaderSDU, LoaderSNU:
		return 0x4000
	case LoaderSSU:
		return 0x8000
	}
	return 0
}

// header is the library a sketch includes to get l's stub.
func (l Loader) header() string { return strings.ToUpper(string(l)) + ".h" }

// Board is a board profile: the facts the upload check and the .ota
// magic need.
type Board struct {
	Name     string // what products declare, e.g. "mkrgsm1400"
	Title    string // what people call it
	VID, PID uint16 // USB IDs; the .ota magic is VID<<16 | PID
	// FlashSize is the end of flash; RAM is [RAMStart, RAMStart+RAMSize),
	// and a sketch's initial stack pointer is at most its end.
	FlashSize uint32
	RAMStart  uint32
	RAMSize   uint32
	Loaders   []Loader // the loaders the board can use, LoaderNone first
}

// Magic is the .ota magic number of the board.
func (b Board) Magic() uint32 { return uint32(b.VID)<<16 | uint32(b.PID) }

// MaxImage is the largest image that fits after the USB bootloader:
// 0x3E000 = 253,952 bytes on a 256 KB SAMD21, whichever the loader (device
// reference 1.1; the sketch part is smaller by the stub).
func (b Board) MaxImage() int { return int(b.FlashSize - appStart) }

// SketchStart is the flash address where l starts the sketch.
func (b Board) SketchStart(l Loader) uint32 { return appStart + l.stubSize() }

// Supports reports whether the board can use l.
func (b Board) Supports(l Loader) bool { return slices.Contains(b.Loaders, l) }

// Boards is every board profile Ferry knows, by name. All three are
// SAMD21G18A boards: 256 KB flash, 32 KB RAM at 0x20000000. Sources: the
// device reference (sections 1 and 2: loaders per board, flash map, the
// stack top 0x20008000 in the MKR GSM 1400 stub headers, USB IDs from
// boards.txt and bin2ota.py's magic numbers); the RAM size of the MKR WiFi
// 1010 and Nano 33 IoT from Microchip's SAM D21 family data sheet for
// their SAMD21G18A, the chip the MKR GSM 1400 also uses.
var Boards = map[string]Board{
	"mkrgsm1400": {
		Name: "mkrgsm1400", Title: "Arduino MKR GSM 1400", VID: 0x2341, PID: 0x8052,
		FlashSize: 0x40000, RAMStart: 0x20000000, RAMSize: 0x8000,
		Loaders: []Loader{LoaderNone, LoaderSDU, LoaderSSU},
	},
	"mkrwifi1010": {
		Name: "mkrwifi1010", Title: "Arduino MKR WiFi 1010", VID: 0x2341, PID: 0x8054,
		FlashSize: 0x40000, RAMStart: 0x20000000, RAMSize: 0x8000,
		Loaders: []Loader{LoaderNone, LoaderSDU, LoaderSNU},
	},
	"nano33iot": {
		Name: "nano33iot", Title: "Arduino Nano 33 IoT", VID: 0x2341, PID: 0x8057,
		FlashSize: 0x40000, RAMStart: 0x20000000, RAMSize: 0x8000,
		Loaders: []Loader{LoaderNone, LoaderSNU},
	},
}

// BoardNames lists the board names, sorted.
func BoardNames() []string {
	names := make([]string, 0, len(Boards))
	for n := range Boards {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CheckImage reports why img, an exported sketch binary, cannot run on b
// with loader l, or nil if it can. It reads the vector tables where the
// loader stub and the sketch must start (device reference 1.4): each
// begins with the initial stack pointer, which must be a word-aligned
// address inside RAM up to its end, and the reset vector, which must be
// odd (Thumb code) and point into the stub's area, for the stub, or into
// the image from the sketch's start on, for the sketch. The reasons name
// the likely mistake, a sketch built without (or with another) loader
// header.
func CheckImage(b Board, l Loader, img []byte) error {
	if len(img) > b.MaxImage() {
		return fmt.Errorf("image is %d bytes, more than the %d (0x%X) that fit in the %s's flash after "+
			"its bootloader", len(img), b.MaxImage(), b.MaxImage(), b.Title)
	}
	if isOTA(b, img) {
		return fmt.Errorf("this is already an .ota file: push the sketch's exported .bin, and Ferry " +
			"makes the .ota and LZSS files from it")
	}
	problem := b.layoutProblem(l.stubSize(), img)
	if problem == "" && l == LoaderNone {
		// A stub's own vector table passes for a sketch's, so an image
		// for a product without a loader is also checked for a stub: a
		// reset vector inside one and a valid sketch table right after it.
		if stub, ok := b.builtFor(img, 0); ok && binary.LittleEndian.Uint32(img[4:]) < appStart+stub {
			return fmt.Errorf("image does not fit the %s with loader none: it starts with a %d KB loader stub "+
				"(%s) and its sketch at file offset 0x%X (flash 0x%X): declare that loader for the product, "+
				"or build without it", b.Title, stub/1024, stubHeaders(stub), stub, appStart+stub)
		}
	}
	if problem == "" {
		return b.truncated(l, img)
	}
	return fmt.Errorf("image does not fit the %s with loader %s: %s%s", b.Title, l, problem, b.hint(l, img))
}

// hint names the likely mistake behind an image that does not fit l: the
// layout of another loader that it does fit.
func (b Board) hint(l Loader, img []byte) string {
	if why := b.foreign(img); why != "" {
		// Guessing at a loader header would send the author looking in
		// the wrong place for an image that is no sketch of this board.
		return fmt.Sprintf("; the image does not look like a sketch for the %s at all: %s", b.Title, why)
	}
	name := strings.ToUpper(string(l))
	built, ok := b.builtFor(img, l.stubSize())
	switch {
	case ok && built > 0 && l == LoaderNone:
		return fmt.Sprintf("; it looks built with a %d KB loader stub (%s), whose sketch starts at 0x%X: "+
			"declare that loader for the product, or build without it", built/1024, stubHeaders(built),
			appStart+built)
	case ok && built > 0:
		return fmt.Sprintf("; it looks built with a %d KB loader stub (%s), whose sketch starts at 0x%X, "+
			"but this product's %s loader runs sketches from 0x%X: build with %s instead",
			built/1024, stubHeaders(built), appStart+built, name, b.SketchStart(l), l.header())
	case l == LoaderNone:
		return ""
	case ok && !b.plausibleTable(img, l.stubSize()):
		// Only when nothing like a sketch table sits where the loader
		// wants it: a near miss there is a broken sketch, not a missing
		// stub.
		rv := binary.LittleEndian.Uint32(img[4:])
		return fmt.Sprintf("; its reset vector 0x%08X at the start of the image is inside the %s loader's "+
			"area below 0x%X: this sketch was built without %s? (%s runs sketches from 0x%X, file offset 0x%X)",
			rv, name, b.SketchStart(l), l.header(), name, b.SketchStart(l), l.stubSize())
	}
	return fmt.Sprintf(": was it built without %s?", l.header())
}

// foreign describes why img cannot be a sketch for b, stub or not, or
// returns "": whatever the loader, the image's first word is the initial
// stack pointer of a vector table, so one outside the board's RAM is an
// image built for another chip (an Artemis image starts with 0x10014000),
// and a first reset vector below appStart is code linked to run from
// address 0, like the USB bootloader itself.
func (b Board) foreign(img []byte) string {
	if len(img) < 8 {
		return ""
	}
	sp := binary.LittleEndian.Uint32(img)
	rv := binary.LittleEndian.Uint32(img[4:])
	switch {
	case sp <= b.RAMStart || sp > b.RAMStart+b.RAMSize:
		return fmt.Sprintf("its initial stack pointer 0x%08X is not in the board's RAM", sp)
	case rv < appStart:
		return fmt.Sprintf("its reset vector 0x%08X is inside the USB bootloader below 0x%X, so it is "+
			"linked to run from address 0, as the bootloader itself is", rv, appStart)
	}
	return ""
}

// plausibleTable reports whether a word at file offset off could be a
// sketch's initial stack pointer.
func (b Board) plausibleTable(img []byte, off uint32) bool {
	if uint64(len(img)) < uint64(off)+8 {
		return false
	}
	sp := binary.LittleEndian.Uint32(img[off:])
	return sp > b.RAMStart && sp <= b.RAMStart+b.RAMSize && sp%4 == 0
}

// builtFor returns the stub size of the layout img fits, other than the
// one it was checked against; stubbed layouts are tried first, since a
// stub's own vector table also passes for a sketch without one.
func (b Board) builtFor(img []byte, except uint32) (uint32, bool) {
	for _, stub := range []uint32{LoaderSSU.stubSize(), LoaderSDU.stubSize(), 0} {
		if stub != except && b.layoutProblem(stub, img) == "" {
			return stub, true
		}
	}
	return 0, false
}

// stubHeaders names the loader headers whose stub has that size.
func stubHeaders(size uint32) string {
	var hs []string
	for _, l := range []Loader{LoaderSDU, LoaderSSU, LoaderSNU} {
		if l.stubSize() == size {
			hs = append(hs, l.header())
		}
	}
	return strings.Join(hs, " or ")
}

// layoutProblem describes what is wrong with img as a stub of stub bytes
// followed by a sketch, or returns "".
func (b Board) layoutProblem(stub uint32, img []byte) string {
	sketch := appStart + stub
	if uint64(len(img)) < uint64(stub)+8 {
		if stub == 0 {
			return fmt.Sprintf("image is %d bytes, too short for a vector table", len(img))
		}
		return fmt.Sprintf("image is %d bytes, too short to hold a %d KB loader stub and a sketch after it",
			len(img), stub/1024)
	}
	if stub > 0 {
		if p := b.vectorProblem(img, 0, appStart, sketch); p != "" {
			return "the loader stub at the start of the image " + p
		}
	}
	if p := b.vectorProblem(img, stub, sketch, b.FlashSize); p != "" {
		return fmt.Sprintf("the sketch's vector table at file offset 0x%X (flash 0x%X) %s", stub, sketch, p)
	}
	return ""
}

// truncated reports an image whose layout fits l but whose sketch's reset
// vector lies past the image's end. The loaders write only what the image
// holds: such a board starts in erased flash and never runs code that
// could fetch a fixed image. A sketch's reset handler is in its own image,
// so this is a truncated file, not one built for another loader.
func (b Board) truncated(l Loader, img []byte) error {
	off := l.stubSize()
	rv, end := binary.LittleEndian.Uint32(img[off+4:]), appStart+uint32(len(img))
	if rv < end {
		return nil
	}
	return fmt.Errorf("image does not fit the %s with loader %s: the sketch's vector table at file offset 0x%X "+
		"(flash 0x%X) has reset vector 0x%08X, past the image's end at 0x%X: is the file truncated?",
		b.Title, l, off, b.SketchStart(l), rv, end)
}

// vectorProblem checks the vector table at file offset off, whose reset
// vector must lie in [lo, hi), and describes what is wrong, or returns "".
func (b Board) vectorProblem(img []byte, off, lo, hi uint32) string {
	sp := binary.LittleEndian.Uint32(img[off:])
	rv := binary.LittleEndian.Uint32(img[off+4:])
	ramEnd := b.RAMStart + b.RAMSize
	switch {
	case sp <= b.RAMStart || sp > ramEnd || sp%4 != 0:
		return fmt.Sprintf("has initial stack pointer 0x%08X, not a word-aligned address in RAM "+
			"(0x%08X to 0x%08X)", sp, b.RAMStart, ramEnd)
	case rv%2 == 0:
		return fmt.Sprintf("has reset vector 0x%08X, which is even: Cortex-M0+ code addresses are odd", rv)
	case rv < lo || rv >= hi:
		return fmt.Sprintf("has reset vector 0x%08X, outside 0x%X to 0x%X", rv, lo, hi-1)
	}
	return ""
}

// isOTA reports whether img is an .ota file for b rather than a sketch.
func isOTA(b Board, img []byte) bool {
	return len(img) >= OTAHeaderSize &&
		binary.LittleEndian.Uint32(img[0:]) == uint32(len(img)-8) &&
		binary.LittleEndian.Uint32(img[8:]) == b.Magic()
}
