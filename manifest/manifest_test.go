package manifest

import (
	"errors"
	"strings"
	"testing"
)

func example() Manifest {
	return Manifest{
		Product: "mkr-gsm-sensor",
		Version: "1.4.2",
		Size:    148496,
		SHA256:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Counter: 5,
		Created: 1767225600,
	}
}

// exampleText is the example of docs/manifest.md, byte for byte.
const exampleText = "ferry-manifest 1\n" +
	"product mkr-gsm-sensor\n" +
	"version 1.4.2\n" +
	"size 148496\n" +
	"sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n" +
	"counter 5\n" +
	"created 1767225600\n"

func TestEncode(t *testing.T) {
	if got := string(Encode(example())); got != exampleText {
		t.Errorf("Encode(example) = %q, want %q", got, exampleText)
	}
}

func TestParseRoundTrip(t *testing.T) {
	longest := Manifest{
		Product: "p" + strings.Repeat("x", MaxProductLen-1),
		Version: "v" + strings.Repeat("9", MaxVersionLen-1),
		Size:    1<<63 - 1, SHA256: strings.Repeat("f", 64), Counter: 1<<63 - 1, Created: 1<<63 - 1,
	}
	zeros := example()
	zeros.Counter, zeros.Created = 0, 0
	for name, m := range map[string]Manifest{"example": example(), "longest": longest, "zeros": zeros} {
		t.Run(name, func(t *testing.T) {
			b := Encode(m)
			if len(b) > MaxSize {
				t.Fatalf("len(Encode(%+v)) = %d, want at most %d", m, len(b), MaxSize)
			}
			got, err := Parse(b)
			if err != nil || got != m {
				t.Errorf("Parse(%q) = %+v, %v, want %+v", b, got, err, m)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, old, new string }{
		{"other header", "ferry-manifest 1", "ferry-manifest 2"},
		{"crlf", "size 148496\n", "size 148496\r\n"},
		{"double space", "version 1.4.2", "version  1.4.2"},
		{"trailing space", "counter 5\n", "counter 5 \n"},
		{"order", "product mkr-gsm-sensor\nversion 1.4.2\n", "version 1.4.2\nproduct mkr-gsm-sensor\n"},
		{"leading zero", "counter 5", "counter 05"},
		{"plus sign", "counter 5", "counter +5"},
		{"negative", "counter 5", "counter -5"},
		{"overflow", "created 1767225600", "created 9223372036854775808"},
		{"zero size", "size 148496", "size 0"},
		{"upper hex", "sha256 9f86", "sha256 9F86"},
		{"short hex", "0a08\n", "0a0\n"},
		{"space in version", "version 1.4.2", "version 1.4 2"},
		{"slash in product", "product mkr-gsm-sensor", "product mkr/gsm"},
		{"empty product", "product mkr-gsm-sensor", "product "},
		{"no final newline", "created 1767225600\n", "created 1767225600"},
		{"extra line", "created 1767225600\n", "created 1767225600\nnote x\n"},
		{"blank line", "created 1767225600\n", "created 1767225600\n\n"},
		{"unknown key", "counter 5", "counted 5"},
		{"nul", "version 1.4.2", "version 1.4.2\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(exampleText, tt.old, tt.new, 1)
			if in == exampleText {
				t.Fatalf("the case changes nothing: %q not in the example", tt.old)
			}
			if m, err := Parse([]byte(in)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) = %+v, %v, want an error wrapping ErrInvalid", in, m, err)
			}
		})
	}
	if _, err := Parse([]byte(exampleText + strings.Repeat("x", MaxSize))); !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(oversized) error = %v, want ErrInvalid", err)
	}
}

func TestMatches(t *testing.T) {
	m := example()
	if err := m.Matches(m.Product, m.Version, m.Size, m.SHA256); err != nil {
		t.Errorf("Matches(its own values) = %v, want nil", err)
	}
	if err := m.Matches(m.Product, m.Version, m.Size+1, m.SHA256); err == nil {
		t.Errorf("Matches(size+1) = nil, want an error")
	}
	if err := m.Matches(m.Product, "1.4.3", m.Size, m.SHA256); err == nil {
		t.Errorf("Matches(other version) = nil, want an error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleText))
	f.Add(Encode(Manifest{Product: "a", Version: "0", Size: 1, SHA256: strings.Repeat("0", 64)}))
	f.Add([]byte("ferry-manifest 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// Canonical: whatever parses is exactly what Encode writes.
		if got := Encode(m); string(got) != string(b) {
			t.Fatalf("Encode(Parse(%q)) = %q, want the input", b, got)
		}
	})
}
