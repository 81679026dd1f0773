package httpkit

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// writeChunk is the largest piece written under one deadline. At 100 bytes
// per second a 2 KiB piece drains in about 20 seconds, well inside any
// sensible stall timeout, so a slow but steady device is never cut off.
const writeChunk = 2 << 10

// Image is what ServeImage needs to know about a firmware image.
type Image struct {
	Content     io.ReadSeeker
	ETag        string // quoted strong validator
	ContentType string
	// CacheControl, when set, is sent as is.
	CacheControl string
}

// ServeImage answers a GET or HEAD for an image with Content-Length, a
// single Range and If-Range, as net/http.ServeContent does, but extends the
// write deadline for every piece written: a connection that makes no
// progress for stall is closed, one that progresses is never cut. It
// returns how many body bytes were written.
func ServeImage(w http.ResponseWriter, r *http.Request, img Image, stall time.Duration) int64 {
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("ETag", img.ETag)
	if img.CacheControl != "" {
		h.Set("Cache-Control", img.CacheControl)
	}
	rc := http.NewResponseController(w)
	sw := &stallWriter{w: w, rc: rc, stall: stall}
	if !rangeUsable(w, r, img.Content, img.ETag) {
		return 0
	}
	http.ServeContent(sw, r, "", time.Time{}, img.Content)
	// What the server still buffers of an image goes out under a deadline
	// too, so a client that stops reading just before the end is cut as
	// well. Only image bodies are flushed: they carry a Content-Length,
	// while flushing a short error answer would make it chunked.
	if sw.code == http.StatusOK || sw.code == http.StatusPartialContent {
		if s := stallDeadline(stall); !s.IsZero() {
			_ = rc.SetWriteDeadline(s) // unsupported only on non-net connections
		}
		_ = rc.Flush()
	}
	// The server does not reset write deadlines between requests on a
	// kept-alive connection, so clear ours.
	_ = rc.SetWriteDeadline(time.Time{})
	return sw.n
}

// emptySuffix reports whether spec, one range without its "bytes=" unit,
// is a suffix of zero bytes, trimmed and parsed the way net/http reads it.
func emptySuffix(spec string) bool {
	start, end, ok := strings.Cut(spec, "-")
	if !ok || strings.TrimSpace(start) != "" {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(end), 10, 64)
	return err == nil && n == 0
}

func stallDeadline(stall time.Duration) time.Time {
	if stall <= 0 {
		return time.Time{}
	}
	return time.Now().Add(stall)
}

// rangeUsable prepares r's Range header for ServeContent: a unit other than
// bytes is ignored, as RFC 9110 allows; a multi-range is ignored too, since
// multipart bodies are something no device asks for and every answer stays
// one byte run with a Content-Length; and a zero-length suffix
// ("bytes=-0"), which ServeContent would answer with an impossible range,
// is refused with 416 here. It reports whether to go on serving.
func rangeUsable(w http.ResponseWriter, r *http.Request, content io.Seeker, etag string) bool {
	rng := strings.TrimSpace(r.Header.Get("Range"))
	if ifr := r.Header.Get("If-Range"); rng != "" && ifr != "" && ifr != etag {
		// A stale If-Range means "send it all", whatever the Range says.
		r.Header.Del("Range")
		return true
	}
	switch {
	case rng == "":
		return true
	case !strings.HasPrefix(rng, "bytes="), strings.Contains(rng, ","):
		r.Header.Del("Range")
		return true
	case emptySuffix(strings.TrimPrefix(rng, "bytes=")):
		size, err := content.Seek(0, io.SeekEnd)
		if err != nil {
			Text(w, http.StatusInternalServerError, "internal server error")
			return false
		}
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		Text(w, http.StatusRequestedRangeNotSatisfiable, "invalid range: empty suffix")
		return false
	}
	return true
}

// stallWriter hides the ResponseWriter's ReadFrom, so that io.Copy inside
// ServeContent writes through Write in bounded pieces, each under a fresh
// deadline.
type stallWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	n     int64
	code  int
}

func (s *stallWriter) Header() http.Header { return s.w.Header() }

func (s *stallWriter) WriteHeader(code int) {
	s.code = code
	s.w.WriteHeader(code)
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		if s.stall > 0 {
			_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall)) // see ServeImage
		}
		n, err := s.w.Write(chunk)
		written += n
		s.n += int64(n)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// StallReader returns a reader of r's body that extends the connection's
// read deadline before every read, so a slow body that progresses is not
// cut while one that stops for stall is.
func StallReader(w http.ResponseWriter, r *http.Request, stall time.Duration) io.ReadCloser {
	return &stallReader{r: r.Body, rc: http.NewResponseController(w), stall: stall}
}

type stallReader struct {
	r     io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallReader) Close() error { return s.r.Close() }

func (s *stallReader) Read(p []byte) (int, error) {
	if s.stall > 0 {
		_ = s.rc.SetReadDeadline(time.Now().Add(s.stall)) // see ServeImage
	}
	return s.r.Read(p)
}
