package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// The .ota file answers the Range edge cases a modem's resumed download
// sends as the image does: one byte run with a Content-Length, or 416
// saying the size, never a multipart body.
func TestOTARangeEdges(t *testing.T) {
	e := newEnv(t, 0, nil)
	if r := e.api(t, "POST", "/products", `{"name":"mkr","access":"public"}`); r.StatusCode != http.StatusCreated {
		t.Fatalf("create product: %d %s", r.StatusCode, r.body)
	}
	if r := e.api(t, "PATCH", "/products/mkr", `{"board":"mkrgsm1400","loader":"ssu"}`); r.StatusCode != 200 {
		t.Fatalf("set board: %d %s", r.StatusCode, r.body)
	}
	e.push(t, "mkr", "1.0.0", mkrSketch(0x8000, 0x8000+20000, 4))
	url := e.url + "/fw/mkr/ota?device=d1"
	whole := get(t, url)
	n, etag := len(whole.body), whole.Header.Get("ETag")

	cases := []struct {
		name   string
		header []string
		code   int
		body   []byte
		crange string // Content-Range
	}{
		{"suffix", []string{"Range", "bytes=-5"}, 206, whole.body[n-5:], fmt.Sprintf("bytes %d-%d/%d", n-5, n-1, n)},
		{"suffix longer than the file", []string{"Range", "bytes=-99999999"}, 206, whole.body,
			fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{"empty suffix", []string{"Range", "bytes=-0"}, 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"last byte", []string{"Range", fmt.Sprintf("bytes=%d-", n-1)}, 206, whole.body[n-1:],
			fmt.Sprintf("bytes %d-%d/%d", n-1, n-1, n)},
		{"past the end", []string{"Range", fmt.Sprintf("bytes=%d-", n)}, 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"multi-range", []string{"Range", "bytes=0-9,20-29"}, 200, whole.body, ""},
		{"if-range match", []string{"Range", "bytes=10-", "If-Range", etag}, 206, whole.body[10:],
			fmt.Sprintf("bytes 10-%d/%d", n-1, n)},
		{"if-range stale", []string{"Range", "bytes=10-", "If-Range", `"0000"`}, 200, whole.body, ""},
		{"if-range weak", []string{"Range", "bytes=10-", "If-Range", "W/" + etag}, 200, whole.body, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := get(t, url, c.header...)
			if r.StatusCode != c.code || r.Header.Get("Content-Range") != c.crange {
				t.Errorf("GET ota %v = %d Content-Range %q, want %d %q", c.header, r.StatusCode,
					r.Header.Get("Content-Range"), c.code, c.crange)
			}
			if c.body != nil && (!bytes.Equal(r.body, c.body) || r.ContentLength != int64(len(c.body))) {
				t.Errorf("GET ota %v = %d bytes, Content-Length %d; want %d", c.header, len(r.body),
					r.ContentLength, len(c.body))
			}
			if len(r.TransferEncoding) > 0 {
				t.Errorf("GET ota %v is %v, want a Content-Length", c.header, r.TransferEncoding)
			}
		})
	}
}
