// Package version parses and orders the firmware version strings that
// operators publish and devices report.
//
// A version is one to three dot-separated decimal numbers, optionally led by
// "v" and followed by a semver pre-release ("-rc.1") and build ("+g1234")
// suffix. Missing numbers count as zero, so "1.2" orders equal to "1.2.0",
// but the original text is kept: a device compares strings, and the server
// hands back exactly what the publisher wrote.
package version

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxLen bounds a version string. Devices echo it in every check-in, so it
// must stay short.
const MaxLen = 64

// ErrInvalid is returned by Parse for text that is not a version.
var ErrInvalid = errors.New("invalid version")

// V is a parsed version.
type V struct {
	Nums [3]uint64
	Pre  []string
	Text string
}

// String returns the text the version was parsed from.
func (v V) String() string { return v.Text }

// Parse parses s. It returns an error wrapping ErrInvalid that names the
// problem.
func Parse(s string) (V, error) {
	v := V{Text: s}
	if s == "" {
		return v, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > MaxLen {
		return v, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLen)
	}
	rest := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		if err := checkIdents(rest[i+1:], false); err != nil {
			return v, fmt.Errorf("%w %q: build %w", ErrInvalid, s, err)
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		if err := checkIdents(pre, true); err != nil {
			return v, fmt.Errorf("%w %q: pre-release %w", ErrInvalid, s, err)
		}
		v.Pre = strings.Split(pre, ".")
		rest = rest[:i]
	}

	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return v, fmt.Errorf("%w %q: more than three numbers", ErrInvalid, s)
	}
	for i, p := range parts {
		n, err := parseNum(p)
		if err != nil {
			return v, fmt.Errorf("%w %q: %w", ErrInvalid, s, err)
		}
		v.Nums[i] = n
	}
	return v, nil
}

func parseNum(p string) (uint64, error) {
	if p == "" {
		return 0, errors.New("empty number")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", p)
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", p)
	}
	n, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", p)
	}
	return n, nil
}

// checkIdents validates a dot-separated list of semver identifiers.
func checkIdents(s string, noLeadingZero bool) error {
	if s == "" {
		return errors.New("is empty")
	}
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return errors.New("has an empty part")
		}
		numeric := true
		for _, c := range id {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return fmt.Errorf("has character %q", c)
			}
		}
		if noLeadingZero && numeric && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("part %q has a leading zero", id)
		}
	}
	return nil
}

// Compare orders a and b as semver does: numbers first, then a version
// without pre-release above one with it, then pre-release identifiers.
// Build metadata and a leading "v" do not count.
func Compare(a, b V) int {
	for i := range a.Nums {
		if a.Nums[i] != b.Nums[i] {
			if a.Nums[i] < b.Nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.Pre) == 0 && len(b.Pre) == 0:
		return 0
	case len(a.Pre) == 0:
		return 1
	case len(b.Pre) == 0:
		return -1
	}
	for i := 0; i < len(a.Pre) && i < len(b.Pre); i++ {
		if c := compareIdent(a.Pre[i], b.Pre[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(a.Pre), len(b.Pre))
}

func compareIdent(a, b string) int {
	an, aErr := strconv.ParseUint(a, 10, 64)
	bn, bErr := strconv.ParseUint(b, 10, 64)
	switch {
	case aErr == nil && bErr == nil:
		if an < bn {
			return -1
		} else if an > bn {
			return 1
		}
		return 0
	case aErr == nil:
		return -1
	case bErr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
