package arduino

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refDecode is the tests' own decoder, written from the format's
// description rather than from DecodeLZSS, and built differently: it
// expands the stream to single bits and resolves every ring position to
// the linear position of the output it holds, so it fails on any
// reference to a ring byte that was neither prefilled with a space nor
// written. It also insists that the stream ends in fewer than 8 zero bits
// of padding.
func refDecode(stream []byte) ([]byte, error) {
	bits := make([]byte, 0, 8*len(stream))
	for _, b := range stream {
		for i := 7; i >= 0; i-- {
			bits = append(bits, b>>i&1)
		}
	}
	field := func(from, n int) int {
		v := 0
		for _, b := range bits[from : from+n] {
			v = v<<1 | int(b)
		}
		return v
	}

	const spaces = 2031 // ring bytes prefilled before the first output byte
	var out []byte
	at := 0
	for at < len(bits) {
		if bits[at] == 1 {
			if len(bits)-at < 9 {
				break
			}
			out = append(out, byte(field(at+1, 8)))
			at += 9
			continue
		}
		if len(bits)-at < 16 {
			break
		}
		pos, n := field(at+1, 11), field(at+12, 4)+2
		at += 16
		next := spaces + len(out) // linear position of the next byte written
		src := next - 1 - ((next-1-pos)%2048+2048)%2048
		if src < 0 {
			return nil, fmt.Errorf("reference at output %d reads ring slot %d, never written", len(out), pos)
		}
		for k := range n {
			if src+k < spaces {
				out = append(out, ' ')
			} else {
				out = append(out, out[src+k-spaces])
			}
		}
	}
	if pad := len(bits) - at; pad >= 8 || bytes.ContainsRune(bits[at:], 1) {
		return nil, fmt.Errorf("stream ends in %d bits that are not zero padding of the last byte", pad)
	}
	return out, nil
}

// samples are the unit tests' own data: no file is read.
func samples() map[string][]byte {
	rng := rand.New(rand.NewPCG(6, 1400))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	repetitive := bytes.Repeat([]byte("MKR GSM 1400 \x00\x01\x02 "), 3000)
	firmware := make([]byte, 60000) // code-like: small alphabet, short repeats, some noise
	for i := range firmware {
		switch {
		case i%97 < 40:
			firmware[i] = byte(i * 7)
		case i%5 == 0:
			firmware[i] = byte(rng.IntN(4))
		default:
			firmware[i] = firmware[i-rng.IntN(min(i, 3000))]
		}
	}
	return map[string][]byte{
		"one byte":    {0x42},
		"two bytes":   {0x20, 0x20},
		"zeros":       make([]byte, 64<<10),
		"spaces":      bytes.Repeat([]byte{' '}, 5000),
		"random":      random,
		"repetitive":  repetitive,
		"code-like":   firmware,
		"short text":  []byte("the quick brown fox jumps over the lazy dog, the quick brown fox"),
		"0xff filled": bytes.Repeat([]byte{0xff}, 2048*3+5),
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for name, data := range samples() {
		t.Run(name, func(t *testing.T) {
			roundTrip(t, data)
		})
	}
	for n := range 40 { // every short length, where the ends of the stream matter most
		roundTrip(t, bytes.Repeat([]byte("ab "), n)[:n])
	}
}

func roundTrip(t *testing.T, data []byte) {
	t.Helper()
	stream := EncodeLZSS(data)
	got, err := refDecode(stream)
	if err != nil {
		t.Fatalf("%d bytes: own decoder: %v", len(data), err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%d bytes: own decoder gives %d bytes that differ from the input", len(data), len(got))
	}
	got, err = DecodeLZSS(stream, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes: DecodeLZSS: %d bytes, %v", len(data), len(got), err)
	}
}

func TestEncodeKnownStreams(t *testing.T) {
	cases := []struct {
		in   string
		want []byte
	}{
		// Two literals: 1 01000001, 1 01000010, zero-padded.
		{"AB", []byte{0xA0, 0xD0, 0x80}},
		// Four spaces come from the prefilled ring: 0, position 2030
		// (11111101110), length 4-2 (0010).
		{"    ", []byte{0x7E, 0xE2}},
	}
	for _, c := range cases {
		if got := EncodeLZSS([]byte(c.in)); !bytes.Equal(got, c.want) {
			t.Errorf("EncodeLZSS(%q) = % x, want % x", c.in, got, c.want)
		}
	}
}

func TestEncodeCompresses(t *testing.T) {
	s := samples()
	for name, limit := range map[string]float64{"zeros": 0.12, "repetitive": 0.13, "spaces": 0.12} {
		data := s[name]
		if got := float64(len(EncodeLZSS(data))) / float64(len(data)); got > limit {
			t.Errorf("%s: stream is %.3f of the input, want at most %.2f", name, got, limit)
		}
	}
	// Incompressible data costs one flag bit per byte, and no more.
	data := s["random"]
	if n, most := len(EncodeLZSS(data)), (len(data)*9+7)/8; n > most {
		t.Errorf("random: %d bytes, more than %d", n, most)
	}
}

func TestEncodeStaysInsideTheReferenceWindow(t *testing.T) {
	// A byte pattern repeating with a period just over the window: the
	// only exact matches are 2048+ bytes back, which the reference encoder
	// never uses and a decoder may not hold.
	rng := rand.New(rand.NewPCG(1, 2))
	period := make([]byte, 2040)
	for i := range period {
		period[i] = byte(rng.Uint32())
	}
	data := bytes.Repeat(period, 4)
	for _, tok := range tokens(t, EncodeLZSS(data)) {
		if tok.n > 0 && (tok.dist < 1 || tok.dist > 2031) {
			t.Fatalf("reference %d bytes back at output %d, want 1 to 2031", tok.dist, tok.at)
		}
	}
}

type token struct{ at, n, dist int }

// tokens lists the references of a stream with their distances back.
func tokens(t *testing.T, stream []byte) []token {
	t.Helper()
	var out []token
	r := bitReader{in: stream}
	produced := 0
	for r.left() >= 9 && (r.peek1() == 1 || r.left() >= 16) {
		if r.get(1) == 1 {
			r.get(8)
			produced++
			continue
		}
		pos, n := int(r.get(11)), int(r.get(4))+2
		next := 2031 + produced
		out = append(out, token{at: produced, n: n, dist: ((next-pos)%2048+2048-1)%2048 + 1})
		produced += n
	}
	return out
}

func TestDecodeRefusesCorruptStreams(t *testing.T) {
	cases := map[string][]byte{
		// A reference to ring slot 2040 before anything was written there.
		"unwritten slot": {0x7F, 0x80},
		// A whole zero byte after the last token.
		"padding byte": {0xA0, 0xD0, 0x80, 0x00},
		// Padding bits that are not zero: 1 01000001 then 1111111.
		"dirty padding": {0xA0, 0xFF},
	}
	for name, stream := range cases {
		if _, err := DecodeLZSS(stream, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeLZSS: %v, want ErrCorrupt", name, err)
		}
		if _, err := refDecode(stream); err == nil {
			t.Errorf("%s: own decoder accepted it", name)
		}
	}
	if _, err := DecodeLZSS(EncodeLZSS(make([]byte, 1000)), 999); !errors.Is(err, ErrCorrupt) {
		t.Errorf("DecodeLZSS past its limit: %v, want ErrCorrupt", err)
	}
}

func FuzzLZSSRoundTrip(f *testing.F) {
	for _, data := range samples() {
		f.Add(data[:min(len(data), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			if EncodeLZSS(data) != nil {
				t.Fatal("empty input gave a stream")
			}
			return
		}
		roundTrip(t, data)
	})
}

func BenchmarkEncodeLZSS(b *testing.B) {
	data := samples()["code-like"]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		EncodeLZSS(data)
	}
}
