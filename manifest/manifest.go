package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Header is the first line of every manifest, without its newline. The
// number is the format's version; a change to the layout gets a new one.
const Header = "ferry-manifest 1"

// MaxSize bounds an encoded manifest in bytes. The longest valid manifest
// (63-byte product, 64-byte version, three 19-digit numbers) is 315 bytes.
const MaxSize = 512

// Bounds on the text fields.
const (
	MaxProductLen = 63
	MaxVersionLen = 64
)

// ErrInvalid is wrapped by every error Parse and Validate return.
var ErrInvalid = errors.New("invalid manifest")

// Manifest is what a publisher signs about one release. The zero value is
// not valid: Product, Version, a Size of at least one byte and SHA256 are
// required.
type Manifest struct {
	Product string
	Version string
	// Size is the image's length in bytes.
	Size int64
	// SHA256 is the image's digest in lowercase hex.
	SHA256 string
	// Counter is the security counter: a device never installs a release
	// whose counter is below the one it runs.
	Counter int64
	// Created is when the manifest was made, in Unix seconds. Devices may
	// ignore it; it tells releases signed at different times apart.
	Created int64
}

// The field names in the order they appear, one per line after Header.
var keys = [...]string{"product", "version", "size", "sha256", "counter", "created"}

// Encode returns the manifest's canonical bytes: Header and one
// "key value" line per field, each ending in "\n". It does not validate m;
// Parse(Encode(m)) returns m exactly when m.Validate() returns nil.
func Encode(m Manifest) []byte {
	b := make([]byte, 0, 160+len(m.Product)+len(m.Version))
	b = append(b, Header+"\n"...)
	b = append(b, "product "+m.Product+"\n"...)
	b = append(b, "version "+m.Version+"\n"...)
	b = append(b, "size "...)
	b = strconv.AppendInt(b, m.Size, 10)
	b = append(b, "\nsha256 "+m.SHA256+"\ncounter "...)
	b = strconv.AppendInt(b, m.Counter, 10)
	b = append(b, "\ncreated "...)
	b = strconv.AppendInt(b, m.Created, 10)
	return append(b, '\n')
}

// Parse reads a manifest that must be exactly in the canonical form Encode
// writes: the fields in order, single spaces, "\n" line ends (no "\r"), no
// blank or extra lines, numbers in plain decimal without sign or leading
// zeros. Anything else is an error wrapping ErrInvalid, so two different
// byte strings never parse to the same manifest.
func Parse(b []byte) (Manifest, error) {
	if len(b) > MaxSize {
		return Manifest{}, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(b), MaxSize)
	}
	rest, ok := bytes.CutPrefix(b, []byte(Header+"\n"))
	if !ok {
		return Manifest{}, fmt.Errorf("%w: does not start with %q", ErrInvalid, Header)
	}

	var vals [len(keys)]string
	for i, k := range keys {
		line, after, found := bytes.Cut(rest, []byte{'\n'})
		if !found {
			return Manifest{}, fmt.Errorf("%w: line %q missing or not ended by a newline", ErrInvalid, k)
		}
		v, ok := bytes.CutPrefix(line, []byte(k+" "))
		if !ok {
			return Manifest{}, fmt.Errorf("%w: line %d: want %q first", ErrInvalid, i+2, k)
		}
		vals[i], rest = string(v), after
	}
	if len(rest) != 0 {
		return Manifest{}, fmt.Errorf("%w: %d bytes after the last line", ErrInvalid, len(rest))
	}

	m := Manifest{Product: vals[0], Version: vals[1], SHA256: vals[3]}
	var err error
	if m.Size, err = decimal("size", vals[2]); err != nil {
		return Manifest{}, err
	}
	if m.Counter, err = decimal("counter", vals[4]); err != nil {
		return Manifest{}, err
	}
	if m.Created, err = decimal("created", vals[5]); err != nil {
		return Manifest{}, err
	}
	return m, m.Validate()
}

// decimal parses a canonical non-negative decimal that fits an int64.
func decimal(key, s string) (int64, error) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("%w: %s %q: want a decimal without leading zeros", ErrInvalid, key, clip(s))
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %s %q: want decimal digits only", ErrInvalid, key, clip(s))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: out of range", ErrInvalid, key, clip(s))
	}
	return n, nil
}

// Validate reports whether m can be encoded canonically: the product is a
// Ferry product name, the version uses only the characters of a semantic
// version (and a leading "v"), the size is positive, the digest is 64
// lowercase hex digits, and the counter and time are not negative.
func (m Manifest) Validate() error {
	if !token(m.Product, MaxProductLen, "._-") || !alnum(m.Product[0]) {
		return fmt.Errorf("%w: product %q: want 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit",
			ErrInvalid, clip(m.Product), MaxProductLen)
	}
	if !token(m.Version, MaxVersionLen, ".+-") {
		return fmt.Errorf("%w: version %q: want 1-%d letters, digits, '.', '+' or '-'",
			ErrInvalid, clip(m.Version), MaxVersionLen)
	}
	if m.Size < 1 {
		return fmt.Errorf("%w: size %d: want at least 1", ErrInvalid, m.Size)
	}
	if !hex64(m.SHA256) {
		return fmt.Errorf("%w: sha256 %q: want 64 lowercase hex digits", ErrInvalid, clip(m.SHA256))
	}
	if m.Counter < 0 || m.Created < 0 {
		return fmt.Errorf("%w: counter %d, created %d: want neither negative", ErrInvalid, m.Counter, m.Created)
	}
	return nil
}

// Matches reports, as an error naming the first difference, whether m
// describes the given release and image.
func (m Manifest) Matches(product, version string, size int64, sha256 string) error {
	switch {
	case m.Product != product:
		return fmt.Errorf("manifest is for product %q, not %q", m.Product, product)
	case m.Version != version:
		return fmt.Errorf("manifest is for version %q, not %q", m.Version, version)
	case m.Size != size:
		return fmt.Errorf("manifest says %d bytes, the image has %d", m.Size, size)
	case m.SHA256 != sha256:
		return fmt.Errorf("manifest says sha256 %s, the image has %s", m.SHA256, sha256)
	}
	return nil
}

func token(s string, maxLen int, punct string) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		if !alnum(s[i]) && !bytes.ContainsRune([]byte(punct), rune(s[i])) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func hex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		digit, lower := s[i] >= '0' && s[i] <= '9', s[i] >= 'a' && s[i] <= 'f'
		if !digit && !lower {
			return false
		}
	}
	return true
}

// clip keeps hostile input from bloating error messages.
func clip(s string) string {
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}
