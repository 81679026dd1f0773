package main

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// mkrSketch is a crafted exported sketch for an MKR GSM 1400 with a loader
// stub of stub bytes (0: none). Its bytes repeat within LZSS's window, as
// code does, so that the derived files come out smaller.
func mkrSketch(stub uint32, size int) []byte {
	img := bytes.Repeat(firmware(1000, 7), size/1000+1)[:size]
	binary.LittleEndian.PutUint32(img[0:], 0x20008000)
	binary.LittleEndian.PutUint32(img[4:], 0x2151)
	if stub > 0 {
		binary.LittleEndian.PutUint32(img[stub:], 0x20008000)
		binary.LittleEndian.PutUint32(img[stub+4:], 0x2000+stub+0x1E5)
	}
	return img
}

// TestBoardProfileEndToEnd sets a board profile with the CLI, pushes a
// sketch built without the SSU stub (refused, with the reason) and one
// built with it (published with its .ota and LZSS files).
func TestBoardProfileEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.must(t, "product", "create", "mkr", "--public")
	out := s.must(t, "product", "set", "mkr", "--board", "mkrgsm1400", "--loader", "ssu")
	if !strings.Contains(out, "board mkrgsm1400 (loader ssu)") {
		t.Errorf("product set --board printed %q, want the board and loader", out)
	}
	if out := s.must(t, "product", "show", "mkr"); !strings.Contains(out, "mkrgsm1400 (loader ssu)") {
		t.Errorf("product show printed %q, want the board profile", out)
	}
	if out := s.must(t, "product", "list"); !strings.Contains(out, "mkrgsm1400/ssu") {
		t.Errorf("product list printed %q, want the board profile", out)
	}

	bad := writeFile(t, "plain.bin", mkrSketch(0, 40000))
	_, err := s.ferry(t, "release", "push", "--product", "mkr", "--version", "1.0.0", bad)
	if err == nil || !strings.Contains(err.Error(), "built without SSU.h?") {
		t.Errorf("push of a sketch without the SSU stub = %v, want the reason", err)
	}

	good := writeFile(t, "ssu.bin", mkrSketch(0x8000, 0x8000+40000))
	out = s.must(t, "release", "push", "--product", "mkr", "--version", "1.0.0", good)
	for _, want := range []string{"\nota  ", "\nlzss  ", "against the image", "channel stable -> 1.0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("release push printed %q, want %q in it", out, want)
		}
	}
	out = s.must(t, "release", "show", "--product", "mkr", "1.0.0")
	for _, want := range []string{"lzss sha256", "ota crc32", "saves"} {
		if !strings.Contains(out, want) {
			t.Errorf("release show printed %q, want %q in it", out, want)
		}
	}

	out = s.must(t, "product", "set", "mkr", "--board", "none")
	if !strings.Contains(out, "board none") {
		t.Errorf("product set --board none printed %q", out)
	}
}

func TestProductSetBoardFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--loader", "ssu", "p"}, "--loader needs --board"},
		{[]string{"--board", "mkrgsm1400", "p"}, "--board needs --loader"},
		{[]string{"--board", "none", "--loader", "ssu", "p"}, "removes the profile"},
	}
	for _, tt := range tests {
		f := newFakeAPI(t, nil)
		_, _, err := f.run(t, append([]string{"product", "set"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("product set %q = %v, want an error containing %q", tt.args, err, tt.want)
		}
		f.mu.Lock()
		if len(f.reqs) != 0 {
			t.Errorf("product set %q sent %d requests, want none", tt.args, len(f.reqs))
		}
		f.mu.Unlock()
	}
}
