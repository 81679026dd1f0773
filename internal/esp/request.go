package esp

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferry-ota/ferry/internal/core"
)

// maxHeader bounds one ESP header's value. The longest a core sends is an
// SDK version string of a few dozen bytes.
const maxHeader = 128

// The two header families. Go's http package canonicalizes header names,
// so the spelling here only matters for what is said back to people.
const (
	prefix8266 = "x-ESP8266-"
	prefix32   = "x-ESP32-"
)

// request is what an httpUpdate request says about the board.
type request struct {
	chip    string // "ESP8266", "ESP32", or "" when it sent no ESP header
	mac     string // station MAC in canonical form; "" when not sent
	version string
	md5     string
	free    *int64
	// sketch is false for a file-system image request (mode spiffs).
	sketch bool
	attrs  map[string]string
}

// parseRequest reads the ESP headers and query parameters of r. Headers
// the updater does not always send are optional; a header that is sent
// must be well formed, or the request is refused with ErrInvalid.
func parseRequest(r *http.Request) (request, error) {
	req := request{sketch: true}
	prefix, err := family(r.Header)
	if err != nil {
		return request{}, err
	}
	q := r.URL.Query()
	req.version = q.Get("version")
	if prefix == "" {
		return req, nil
	}
	req.chip = strings.Trim(strings.TrimPrefix(prefix, "x-"), "-")

	get := func(name string) (string, error) { return header(r.Header, prefix+name) }
	var v string
	if v, err = get("STA-MAC"); err != nil {
		return request{}, err
	}
	if v != "" {
		if req.mac, err = ParseMAC(v); err != nil {
			return request{}, fmt.Errorf("%w: %s%s: %w", core.ErrInvalid, prefix, "STA-MAC", err)
		}
	}
	if v, err = get("version"); err != nil {
		return request{}, err
	}
	if v != "" {
		// The header is what the updater sends for the sketch's version
		// argument; the query parameter is a URL's, and yields to it.
		req.version = v
	}
	if req.md5, err = get("sketch-md5"); err != nil {
		return request{}, err
	}
	req.md5 = strings.ToLower(req.md5)
	if v, err = get("free-space"); err != nil {
		return request{}, err
	}
	if v != "" {
		n, err := byteCount(v)
		if err != nil {
			return request{}, fmt.Errorf("%w: %sfree-space %q: %w", core.ErrInvalid, prefix, v, err)
		}
		req.free = &n
	}
	if v, err = get("mode"); err != nil {
		return request{}, err
	}
	req.sketch = v == "" || v == "sketch"
	req.attrs, err = attributes(r.Header, prefix, req.chip)
	return req, err
}

// family returns which header prefix r uses, "" for none. A request with
// both is refused: no core sends that, and its identity would be unclear.
func family(h http.Header) (string, error) {
	var has8266, has32 bool
	for name := range h {
		l := strings.ToLower(name)
		has8266 = has8266 || strings.HasPrefix(l, strings.ToLower(prefix8266))
		has32 = has32 || strings.HasPrefix(l, strings.ToLower(prefix32))
	}
	switch {
	case has8266 && has32:
		return "", fmt.Errorf("%w: both %s and %s headers: send one core's", core.ErrInvalid, prefix8266, prefix32)
	case has8266:
		return prefix8266, nil
	case has32:
		return prefix32, nil
	}
	return "", nil
}

// header returns the one value of a header, "" when absent. A repeated
// header or an overlong value is refused.
func header(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", fmt.Errorf("%w: header %s sent %d times", core.ErrInvalid, name, len(vs))
	case len(vs[0]) > maxHeader:
		return "", fmt.Errorf("%w: header %s is longer than %d bytes", core.ErrInvalid, name, maxHeader)
	}
	return strings.TrimSpace(vs[0]), nil
}

// byteCount parses a size in bytes as the cores print it: decimal digits.
func byteCount(s string) (int64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("want a number of bytes")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a number of bytes below 2^63")
	}
	return n, nil
}

// attributes returns what the board says about itself, for the device's
// attributes: sizes in bytes and the SDK version. The core bounds them.
func attributes(h http.Header, prefix, chip string) (map[string]string, error) {
	attrs := map[string]string{"chip": chip}
	for _, a := range []struct{ header, key string }{
		{"chip-size", "chip_size"},
		{"sdk-version", "sdk_version"},
		{"sketch-size", "sketch_size"},
		{"free-space", "free_space"},
	} {
		v, err := header(h, prefix+a.header)
		if err != nil {
			return nil, err
		}
		if v != "" {
			attrs[a.key] = v
		}
	}
	for _, k := range []string{"chip_size", "sketch_size"} {
		if v, ok := attrs[k]; ok {
			if _, err := byteCount(v); err != nil {
				return nil, fmt.Errorf("%w: %s%s %q: %w", core.ErrInvalid, prefix,
					strings.ReplaceAll(k, "_", "-"), v, err)
			}
		}
	}
	return attrs, nil
}

// ParseMAC returns a MAC address in the form Ferry names ESP devices by:
// six pairs of uppercase hex digits joined by colons, as the cores print
// it (5C:CF:7F:01:02:03). It accepts colons, hyphens or no separators, in
// either case.
//
// TODO(esp): 00:00:00:00:00:00, FF:FF:FF:FF:FF:FF and other MACs no
// station has (group bit set) are accepted, so boards whose MAC reads
// blank all become one device, and each one's update outcome is recorded
// as the others'. Refusing them (400) would keep such boards from
// updating at all; a fix is to refuse them unless the device parameter
// names the board instead.
func ParseMAC(s string) (string, error) {
	hex := s
	switch {
	case len(s) == 17 && (strings.Count(s, ":") == 5 || strings.Count(s, "-") == 5):
		sep := s[2]
		var b strings.Builder
		for i := 0; i < len(s); i += 3 {
			if i+2 < len(s) && s[i+2] != sep {
				return "", fmt.Errorf("MAC %q: want six hex pairs", s)
			}
			b.WriteString(s[i : i+2])
		}
		hex = b.String()
	case len(s) != 12:
		return "", fmt.Errorf("MAC %q: want six hex pairs such as 5C:CF:7F:01:02:03", truncate(s, 40))
	}
	if strings.Trim(strings.ToUpper(hex), "0123456789ABCDEF") != "" {
		return "", fmt.Errorf("MAC %q: want hex digits", s)
	}
	hex = strings.ToUpper(hex)
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex[i : i+2])
	}
	return b.String(), nil
}

// truncate keeps hostile input out of answers at full length.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
