package httpkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fuzzETag is the validator of the fuzzed image; an If-Range equal to it
// lets the Range through.
const fuzzETag = `"0123456789abcdef"`

// FuzzServeImage sends arbitrary Range and If-Range headers for a small
// image. Whatever the headers, an answer is 200 with the whole image, 206
// with the bytes its Content-Range names, or 416; a 2xx body has exactly its
// Content-Length. Ranges of the strict forms a device sends must get the
// answer RFC 9110 gives them.
func FuzzServeImage(f *testing.F) {
	for _, s := range []struct{ rng, ifRange string }{
		{"", ""},
		{"bytes=0-9", ""},
		{"bytes=90-", ""},
		{"bytes=-5", ""},
		{"bytes=-0", ""},
		{"bytes=99-200", ""},
		{"bytes=100-", ""},
		{"bytes=5-3", ""},
		{"bytes=0-1,4-5", ""},
		{"items=0-1", ""},
		{"bytes=0-1", fuzzETag},
		{"bytes=0-1", `"stale"`},
		{"bytes=0-1", "Mon, 02 Jan 2006 15:04:05 GMT"},
	} {
		f.Add(s.rng, s.ifRange)
	}
	img := make([]byte, 100)
	for i := range img {
		img[i] = byte(i) // every byte differs, so a body shows where it came from
	}
	f.Fuzz(func(t *testing.T, rng, ifRange string) {
		r := httptest.NewRequest("GET", "/bin", nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		if ifRange != "" {
			r.Header.Set("If-Range", ifRange)
		}
		w := httptest.NewRecorder()
		n := ServeImage(w, r, Image{Content: bytes.NewReader(img), ETag: fuzzETag, ContentType: "x/y"}, 0)

		resp := w.Result()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body) // a recorder's body cannot fail
		checkImageAnswer(t, img, resp, body)
		if code := resp.StatusCode; code/100 == 2 && n != int64(len(body)) {
			t.Errorf("ServeImage(Range %q, If-Range %q) = %d, counted %d bytes of a %d-byte body",
				rng, ifRange, code, n, len(body))
		}
		if want, ok := wantRangeCode(rng, ifRange, int64(len(img))); ok && resp.StatusCode != want {
			t.Errorf("ServeImage(Range %q, If-Range %q) = %d, want %d", rng, ifRange, resp.StatusCode, want)
		}
	})
}

// checkImageAnswer checks what holds for every answer of ServeImage.
func checkImageAnswer(t *testing.T, img []byte, resp *http.Response, body []byte) {
	t.Helper()
	size := int64(len(img))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Fatalf("%d answer has Content-Length %q and %d body bytes", resp.StatusCode, cl, len(body))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// net/http leaves Content-Range out when refusing a malformed
		// Range (RFC 9110 only says SHOULD); when present it must be right.
		got, want := resp.Header.Get("Content-Range"), "bytes */"+strconv.FormatInt(size, 10)
		if got != "" && got != want {
			t.Errorf("416 answer has Content-Range %q, want %q", got, want)
		}
		return
	default:
		t.Fatalf("answer %d, want 200, 206 or 416", resp.StatusCode)
	}

	if resp.StatusCode == http.StatusOK {
		if !bytes.Equal(body, img) {
			t.Errorf("200 answer has %d bytes that are not the %d-byte image", len(body), size)
		}
		return
	}
	cr := resp.Header.Get("Content-Range")
	first, last, ok := parseContentRange(cr, size)
	if !ok {
		t.Fatalf("206 answer has Content-Range %q, want bytes FIRST-LAST/%d within the image", cr, size)
	}
	if !bytes.Equal(body, img[first:last+1]) {
		t.Errorf("206 answer with Content-Range %q has %d bytes that are not those of the image", cr, len(body))
	}
}

// parseContentRange parses "bytes FIRST-LAST/SIZE" in the canonical form,
// and reports whether it names a non-empty run of an image of size bytes.
func parseContentRange(s string, size int64) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	run, total, _ := strings.Cut(spec, "/")
	a, b, _ := strings.Cut(run, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || total != strconv.FormatInt(size, 10) {
		return 0, 0, false
	}
	canonical := "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + total
	return first, last, s == canonical && 0 <= first && first <= last && last < size
}

// wantRangeCode returns the status RFC 9110 gives a Range of one of the
// strict single forms (bytes=A-B, bytes=A-, bytes=-N) over an image of size
// bytes, and false for any other Range, which only checkImageAnswer judges.
// An If-Range other than the image's own ETag makes the Range moot: that
// case is left to checkImageAnswer too, and so is bytes=A-B with A > B, which
// RFC 9110 lets a server ignore or refuse.
func wantRangeCode(rng, ifRange string, size int64) (int, bool) {
	if rng == "" {
		return http.StatusOK, true
	}
	if ifRange != "" && ifRange != fuzzETag {
		return 0, false
	}
	spec, ok := strings.CutPrefix(rng, "bytes=")
	if !ok {
		return 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	first, firstOK := fuzzDecimal(a)
	last, lastOK := fuzzDecimal(b)
	switch {
	case !ok:
		return 0, false
	case a == "" && lastOK:
		if last == 0 {
			return http.StatusRequestedRangeNotSatisfiable, true
		}
		return http.StatusPartialContent, true
	case firstOK && first >= size && (b == "" || lastOK):
		return http.StatusRequestedRangeNotSatisfiable, true
	case firstOK && (b == "" || lastOK && first <= last):
		return http.StatusPartialContent, true
	}
	return 0, false
}

// fuzzDecimal parses 1-18 ASCII digits, a number that cannot overflow.
func fuzzDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
