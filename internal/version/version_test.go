package version

import (
	"errors"
	"testing"
)

func TestParseValid(t *testing.T) {
	valid := []string{"1", "1.2", "1.2.3", "v1.2.3", "0.0.0", "1.0.0-rc.1", "1.0.0+g12ab", "2.10.0-beta-2+x.y"}
	for _, in := range valid {
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%q) = %v, want nil", in, err)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"", "abc", "1..0", "1.2.3.4", "01.2", "1.2.3-", "1.2.3-01", "1.2.3+", "1.0; rm",
		"../1", "1.0.0\n", "99999999999999999999.0", "1.0.0-a..b", " 1.0",
		"1.0.0-" + string(make([]byte, 70)),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1.2", "1.2.0", 0},
		{"v1.2.0", "1.2.0", 0},
		{"1.0.0", "1.1.0", -1},
		{"1.10.0", "1.9.0", 1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-rc.2", "1.0.0-rc.10", -1},
		{"1.0.0-alpha", "1.0.0-1", 1},
		{"1.0.0-a", "1.0.0-a.1", -1},
		{"1.0.0+b1", "1.0.0+b2", 0},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func mustParse(t testing.TB, s string) V {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return v
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.2.3", "v1.0.0-rc.1+b", "1..2", "", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, v.String())
		}
		if Compare(v, v) != 0 {
			t.Errorf("Compare(%q, itself) != 0", s)
		}
	})
}
