package arduino

import (
	"encoding/binary"
	"hash/crc32"
)

// OTAHeaderSize is the length of the .ota header before the LZSS stream.
const OTAHeaderSize = 20

// The .ota container (device reference, section 2; ArduinoIoTCloud
// extras/tools/bin2ota.py and src/ota/OTATypes.h), all integers
// little-endian:
//
//	0  uint32  length: file size minus 8 (magic, version and stream)
//	4  uint32  CRC-32 (IEEE) of every byte from offset 8 on
//	8  uint32  magic: USB VID << 16 | PID of the board
//	12 8 bytes version (see OTAVersion)
//	20 ...     the LZSS stream of the whole image, loader stub included
//
// Only NiNaBoot (SNU) and the ArduinoIoTCloud OTA code read the header;
// they check the length, the CRC and the magic, and none reads the
// version field.

// OTAVersion returns the 8-byte version field Ferry writes: the documented
// bit-field (least significant bit first: header version 6 bits,
// compression 1, signature 1, spare 4, payload target 4, major 8, minor 8,
// patch 8, build 24) with the compression bit set, since the payload is
// LZSS, and the release's major, minor and patch numbers, each 0 when it
// does not fit in a byte. Everything else is 0. bin2ota.py writes
// 00 00 00 00 00 00 00 40 instead (its 0x40 lands in the build number);
// as no loader reads the field, Ferry writes what the layout means, so a
// sketch can read the version from the header if it wants.
func OTAVersion(major, minor, patch uint64) [8]byte {
	var v [8]byte
	v[0] = 1 << 6 // compression
	for i, n := range []uint64{major, minor, patch} {
		if n <= 0xff {
			v[2+i] = byte(n)
		}
	}
	return v
}

// MakeOTA returns the .ota file of an LZSS stream for a board with that
// magic.
func MakeOTA(magic uint32, version [8]byte, stream []byte) []byte {
	out := make([]byte, OTAHeaderSize, OTAHeaderSize+len(stream))
	binary.LittleEndian.PutUint32(out[8:], magic)
	copy(out[12:], version[:])
	out = append(out, stream...)
	binary.LittleEndian.PutUint32(out[0:], uint32(len(out)-8))
	binary.LittleEndian.PutUint32(out[4:], crc32.ChecksumIEEE(out[8:]))
	return out
}
