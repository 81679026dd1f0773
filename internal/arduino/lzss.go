package arduino

import (
	"errors"
	"fmt"
)

// The LZSS variant every Arduino loader decodes (SSUBoot, NiNaBoot and the
// ArduinoIoTCloud tools all use Okumura's public-domain parameters):
//
//   - a ring of 2048 bytes (11 index bits) whose first 2031 bytes start as
//     spaces (0x20), with the write cursor at 2031;
//   - a bit stream read most significant bit first, made of tokens: a 1
//     bit then 8 bits of a literal byte, or a 0 bit then an 11-bit absolute
//     ring position and 4 bits of length minus 2, meaning "copy that many
//     bytes (2 to 17) from that ring position", byte by byte, so a copy
//     may read what it has just written;
//   - the last byte zero-padded; decoders stop when the bits run out.
//
// Source: the device reference, section 2 ("LZSS"), itself restated from
// ArduinoIoTCloud extras/tools/lzss.c and ArduinoCore-samd
// libraries/SSU/extras/SSUBoot/lzss.cpp.
const (
	indexBits  = 11
	lengthBits = 4
	ringSize   = 1 << indexBits             // 2048
	maxMatch   = 1<<lengthBits - 1 + 2      // 17: the 4-bit field holds length-2
	minMatch   = 2                          // a match of 1 byte is sent as a literal
	ringStart  = ringSize - maxMatch        // 2031: the cursor's start and the spaces before it
	maxDist    = ringStart                  // farthest back the reference encoder ever reaches
	ringFill   = 0x20                       // what the ring holds before the first byte
	literalLen = 1 + 8                      // bits of a literal token
	refLen     = 1 + indexBits + lengthBits // bits of a reference token
)

// Hash-chain parameters of the match finder. chainLimit bounds the work per
// position on pathological inputs (long runs of almost-repeats); on
// firmware images the chains rarely get that long inside the 2031-byte
// window, so the bound costs no compression there.
const (
	hashBits   = 15
	chainLimit = 256
)

// EncodeLZSS compresses src into the stream Arduino's loaders decode.
//
// It finds, at every position, the longest match inside the window with
// hash chains, then chooses tokens by dynamic programming: every literal
// costs 9 bits and every reference 16 whatever its length or distance, so
// the cheapest parse is exactly computable from the longest match lengths
// (any shorter prefix of a match is a match too). It never refers further
// back than the reference encoder does (2031 bytes, which the 2031 spaces
// before the first byte also satisfy), so no decoder can meet a ring byte
// it has not initialised.
func EncodeLZSS(src []byte) []byte {
	if len(src) == 0 {
		return nil
	}
	lens, srcs := longestMatches(src)
	choice := cheapestParse(lens)

	w := bitWriter{out: make([]byte, 0, len(src)*literalLen/8+2)}
	for i := 0; i < len(src); {
		n := int(choice[i])
		if n < minMatch {
			w.put(1<<8|uint32(src[i]), literalLen)
			i++
			continue
		}
		w.put(uint32(srcs[i])<<lengthBits|uint32(n-minMatch), refLen)
		i += n
	}
	return w.flush()
}

// longestMatches returns, for every byte of src, the length of the longest
// match that starts there (0 when under minMatch) and the ring position of
// its source. Positions are linear over the spaces the ring starts with
// followed by src; linear position p sits in ring slot p mod 2048.
func longestMatches(src []byte) ([]uint8, []uint16) {
	buf := make([]byte, ringStart+len(src))
	for i := range ringStart {
		buf[i] = ringFill
	}
	copy(buf[ringStart:], src)

	var head2 [1 << 16]int32 // newest position of each byte pair
	for i := range head2 {
		head2[i] = -1
	}
	head3 := make([]int32, 1<<hashBits) // newest position of each 3-byte hash
	for i := range head3 {
		head3[i] = -1
	}
	prev3 := make([]int32, len(buf)) // older positions with the same 3-byte hash

	insert := func(p int) {
		if p+1 < len(buf) {
			head2[int(buf[p])<<8|int(buf[p+1])] = int32(p)
		}
		if p+2 < len(buf) {
			h := hash3(buf[p:])
			prev3[p], head3[h] = head3[h], int32(p)
		}
	}
	for p := range ringStart {
		insert(p)
	}

	lens := make([]uint8, len(src))
	srcs := make([]uint16, len(src))
	for p := ringStart; p < len(buf); p++ {
		n, q := longestAt(buf, p, head2[:], head3, prev3)
		if n >= minMatch {
			lens[p-ringStart], srcs[p-ringStart] = uint8(n), uint16(q&(ringSize-1))
		}
		insert(p)
	}
	return lens, srcs
}

func hash3(b []byte) uint32 {
	v := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
	return (v * 2654435761) >> (32 - hashBits)
}

// longestAt finds the longest match for buf[p:] among earlier positions at
// most maxDist back, nearest first among equals. Matches may run past p
// into the bytes being encoded, as decoders copy byte by byte.
func longestAt(buf []byte, p int, head2, head3, prev3 []int32) (int, int) {
	limit := min(maxMatch, len(buf)-p)
	if limit < minMatch {
		return 0, 0
	}
	best, bestQ := 0, 0
	if limit >= 3 {
		steps := 0
		for q := int(head3[hash3(buf[p:])]); q >= 0 && p-q <= maxDist && steps < chainLimit; q = int(prev3[q]) {
			steps++
			if buf[q+best] != buf[p+best] {
				continue // cannot beat best
			}
			n := 0
			for n < limit && buf[q+n] == buf[p+n] {
				n++
			}
			if n > best {
				best, bestQ = n, q
				if n == limit {
					break
				}
			}
		}
	}
	if best < minMatch {
		// No 3-byte match: the nearest occurrence of the pair is the only
		// candidate left, and it matches exactly two bytes.
		q := int(head2[int(buf[p])<<8|int(buf[p+1])])
		if q >= 0 && p-q <= maxDist {
			best, bestQ = minMatch, q
		}
	}
	return best, bestQ
}

// cheapestParse returns for each position the length of the token to emit
// there (1 for a literal) in a parse of least total bits; positions inside
// a token are left as they are. Among equally cheap choices it takes the
// longer token, which decodes in fewer steps.
func cheapestParse(lens []uint8) []uint8 {
	n := len(lens)
	cost := make([]uint32, n+1)
	choice := make([]uint8, n)
	for i := n - 1; i >= 0; i-- {
		best, pick := cost[i+1]+literalLen, uint8(1)
		for l := int(lens[i]); l >= minMatch; l-- {
			if c := cost[i+l] + refLen; c < best {
				best, pick = c, uint8(l)
			}
		}
		cost[i], choice[i] = best, pick
	}
	return choice
}

// bitWriter packs tokens most significant bit first.
type bitWriter struct {
	out  []byte
	acc  uint64
	bits uint
}

func (w *bitWriter) put(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.bits += n
	for w.bits >= 8 {
		w.bits -= 8
		w.out = append(w.out, byte(w.acc>>w.bits))
	}
}

// flush writes the last partial byte, zero-padded: a decoder reads the
// padding as the start of a reference it cannot finish, and stops.
func (w *bitWriter) flush() []byte {
	if w.bits > 0 {
		w.out = append(w.out, byte(w.acc<<(8-w.bits)))
		w.bits = 0
	}
	return w.out
}

// ErrCorrupt is returned by DecodeLZSS for a stream no encoder of this
// format would write.
var ErrCorrupt = errors.New("corrupt LZSS stream")

// DecodeLZSS decodes stream as the loaders do, refusing to produce more
// than limit bytes. Ferry decodes every stream it makes before storing it:
// the loaders check nothing, so an encoder fault would be flashed as is.
// It is stricter than the loaders: a reference to a ring byte that was
// neither prefilled nor written yet, and padding that is not zero or not
// shorter than a byte, are ErrCorrupt.
func DecodeLZSS(stream []byte, limit int) ([]byte, error) {
	var ring [ringSize]byte
	for i := range ringStart {
		ring[i] = ringFill
	}
	r := bitReader{in: stream}
	out := make([]byte, 0, min(limit, 4*len(stream)))
	cursor := ringStart
	emit := func(c byte) error {
		if len(out) == limit {
			return fmt.Errorf("%w: decodes to more than %d bytes", ErrCorrupt, limit)
		}
		out = append(out, c)
		ring[cursor] = c
		cursor = (cursor + 1) & (ringSize - 1)
		return nil
	}

	for r.left() > 0 {
		literal := r.peek1() == 1
		if literal && r.left() < literalLen || !literal && r.left() < refLen {
			break // what the loaders read as the end of the stream
		}
		if r.get(1) == 1 {
			if err := emit(byte(r.get(8))); err != nil {
				return nil, err
			}
			continue
		}
		pos, n := int(r.get(indexBits)), int(r.get(lengthBits))+minMatch
		for k := range n {
			slot := (pos + k) & (ringSize - 1)
			if slot >= ringStart && slot-ringStart >= len(out) {
				return nil, fmt.Errorf("%w: byte %d refers to ring slot %d before it was written",
					ErrCorrupt, len(out), slot)
			}
			if err := emit(ring[slot]); err != nil {
				return nil, err
			}
		}
	}
	if r.left() >= 8 || r.rest() != 0 {
		return nil, fmt.Errorf("%w: %d bits of trailing padding are not a zero-filled last byte",
			ErrCorrupt, r.left())
	}
	return out, nil
}

// bitReader reads bits most significant first.
type bitReader struct {
	in  []byte
	pos int // bit position
}

func (r *bitReader) left() int { return len(r.in)*8 - r.pos }

func (r *bitReader) peek1() uint32 { return uint32(r.in[r.pos/8]>>(7-r.pos%8)) & 1 }

func (r *bitReader) get(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.peek1()
		r.pos++
	}
	return v
}

// rest returns the bits left, which the caller knows to be fewer than 32.
func (r *bitReader) rest() uint32 { return r.get(r.left()) }
