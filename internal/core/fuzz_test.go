package core_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/internal/core"
)

// FuzzParsePhases feeds arbitrary phase lists, as an operator types them,
// to ParsePhases. A list is refused with ErrInvalid, or every phase is a
// percentage in (0, 100] or a count in [1, 10,000,000], the percentages
// and the counts each strictly grow, and 100% can only come last.
func FuzzParsePhases(f *testing.F) {
	for _, s := range []string{
		"", "all", "1%,10%,50%,100%", "20,200,all", "5, 10%, 50", "0.5%,1e1%",
		"10%,10%", "50%,10%", "100%,200", "0%", "101%", "NaN%", "-5", "10000001",
		"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21", "10%,,20%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		phases, err := core.ParsePhases(s)
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("ParsePhases(%q) = %v, want an error wrapping ErrInvalid", s, err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("ParsePhases(%q) error is %d bytes long, want at most 200", s, len(err.Error()))
			}
			return
		}
		if len(phases) == 0 || len(phases) > core.MaxPhases {
			t.Fatalf("ParsePhases(%q) = %d phases, want 1 to %d", s, len(phases), core.MaxPhases)
		}
		var lastPct float64
		var lastCount int
		for i, ph := range phases {
			switch {
			case ph.Count == 0 && ph.Percent > lastPct && ph.Percent <= 100:
				lastPct = ph.Percent
			case ph.Percent == 0 && ph.Count > lastCount && ph.Count <= 10_000_000:
				lastCount = ph.Count
			default:
				t.Fatalf("ParsePhases(%q) phase %d = %+v after %g%% and %d devices: not a growing phase",
					s, i, ph, lastPct, lastCount)
			}
			if ph.Percent == 100 && i != len(phases)-1 {
				t.Errorf("ParsePhases(%q) = %+v: 100%% is phase %d of %d", s, phases, i+1, len(phases))
			}
		}
	})
}

// FuzzValidateNames feeds one string to every name validator. What a
// validator accepts is non-empty valid UTF-8 within its length limit, with
// no control character or space; product names, channel names and device
// IDs, which appear in URL paths, also never hold "/" or "..". A refusal
// wraps ErrInvalid and stays short, whatever it quotes.
func FuzzValidateNames(f *testing.F) {
	for _, s := range []string{
		"p", "MKR-GSM", "stable", "beta.2", "AA:BB:CC:DD:EE:FF", "imei-356938035643809",
		"rack=a/3", "modem=sara-u201", "..", "a..b", "../etc", "a/b", ".hidden", "-flag",
		"a b", "a\x00b", "a\nb", "a\x7f", "\u00e9t\u00e9", "\xff", strings.Repeat("a", 64),
		strings.Repeat("b", 129),
	} {
		f.Add(s)
	}
	validators := []struct {
		name   string
		fn     func(string) error
		max    int
		inPath bool
	}{
		{"ValidateProductName", core.ValidateProductName, 63, true},
		{"ValidateChannelName", core.ValidateChannelName, 32, true},
		{"ValidateDeviceID", core.ValidateDeviceID, 128, true},
		{"ValidateTag", core.ValidateTag, core.MaxTagLen, false},
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range validators {
			err := v.fn(s)
			if err != nil {
				if !errors.Is(err, core.ErrInvalid) {
					t.Errorf("%s(%q) = %v, want an error wrapping ErrInvalid", v.name, s, err)
				}
				if len(err.Error()) > 500 {
					t.Errorf("%s(%q) error is %d bytes long, want at most 500", v.name, s, len(err.Error()))
				}
				continue
			}
			if bad := fuzzNameFault(s, v.max, v.inPath); bad != "" {
				t.Errorf("%s(%q) = nil, but the name %s", v.name, s, bad)
			}
		}
	})
}

// fuzzNameFault says what makes s unfit to be a name of at most limit bytes,
// or returns "". inPath names need no escaping in a URL path.
func fuzzNameFault(s string, limit int, inPath bool) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > limit:
		return "is longer than the limit"
	case !utf8.ValidString(s):
		return "is not UTF-8"
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r >= 0x80 }):
		return "holds a space, control or non-ASCII character"
	case inPath && (strings.Contains(s, "/") || strings.Contains(s, "..")):
		return `holds "/" or ".."`
	}
	return ""
}
