package httpkit

import (
	"io"
	"net/http"
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
	// Multi-range answers are multipart bodies no device asks for; refusing
	// them keeps every answer a plain byte run with a Content-Length.
	if rng := r.Header.Get("Range"); rng != "" && containsComma(rng) {
		r.Header.Del("Range")
	}
	http.ServeContent(sw, r, "", time.Time{}, img.Content)
	// The server does not reset write deadlines between requests on a
	// kept-alive connection, so clear ours.
	_ = rc.SetWriteDeadline(time.Time{}) // unsupported only on non-net connections
	return sw.n
}

func containsComma(s string) bool {
	for i := range len(s) {
		if s[i] == ',' {
			return true
		}
	}
	return false
}

// stallWriter hides the ResponseWriter's ReadFrom, so that io.Copy inside
// ServeContent writes through Write in bounded pieces, each under a fresh
// deadline.
type stallWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	n     int64
}

func (s *stallWriter) Header() http.Header { return s.w.Header() }

func (s *stallWriter) WriteHeader(code int) { s.w.WriteHeader(code) }

func (s *stallWriter) Write(p []byte) (int, error) {
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
// read deadline before every read, so a slow upload that progresses is not
// cut while one that stops for stall is.
func StallReader(w http.ResponseWriter, r *http.Request, stall time.Duration) io.Reader {
	return &stallReader{r: r.Body, rc: http.NewResponseController(w), stall: stall}
}

type stallReader struct {
	r     io.Reader
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.stall > 0 {
		_ = s.rc.SetReadDeadline(time.Now().Add(s.stall)) // see ServeImage
	}
	return s.r.Read(p)
}
