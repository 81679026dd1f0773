package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Needs rawExchange, newEnv, get from hostile_adversarial_test.go / server_test.go.

// A device that sends its headers and then stops mid-body must be cut after
// the stall timeout. Today nothing bounds the body read (no ReadTimeout, no
// StallReader on device bodies): the connection is held forever, before any
// credential is checked.
func TestAdversarialStalledRequestBodyIsCut(t *testing.T) {
	e := newEnv(t, time.Second, nil)
	for _, path := range []string{"/device/v1/p/checkin", "/device/v1/private/status", "/fw/p/status"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: 100\r\n\r\n{\"id\":", path)
		_ = c.SetReadDeadline(time.Now().Add(4 * time.Second)) // 4 stall periods
		_, err = c.Read(make([]byte, 512))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("POST %s with a stalled body: connection still open after 4x the stall timeout", path)
		}
	}
}

// pipeListener hands the server one end of in-memory pipes, which have no
// kernel buffers: a server write blocks until the client reads it.
type pipeListener struct {
	net.Listener
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.done) })
	return p.Listener.Close()
}

// A download whose client stops reading within its last few KiB must still
// be cut after the stall timeout. Today ServeImage clears the write deadline
// before net/http flushes its buffered tail, so that final write has no
// deadline and blocks forever.
func TestAdversarialDownloadStalledInLastBytesIsCut(t *testing.T) {
	var pl *pipeListener
	e := newEnv(t, time.Second, func(l net.Listener) net.Listener {
		pl = &pipeListener{Listener: l, conns: make(chan net.Conn), done: make(chan struct{})}
		return pl
	})
	img := testImage(64<<10, 9)
	if _, err := e.svc.PublishRelease(t.Context(), core.Publish{Product: "p", Version: "1.0.0",
		Channel: "stable", Image: bytes.NewReader(img)}); err != nil {
		t.Fatal(err)
	}
	srv, c := net.Pipe()
	pl.conns <- srv
	defer c.Close()
	fmt.Fprintf(c, "GET /fw/p/bin HTTP/1.1\r\nHost: x\r\n\r\n")
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		head = append(head, b[0])
	}
	if _, err := io.ReadFull(c, make([]byte, len(img)-1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // 4 stall periods without reading
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(b); err == nil && n == 1 {
		t.Errorf("server still held the stalled download's last byte after 4x the stall timeout")
	}
}

// Progress is bytes of the image; a report beyond its size must not stick
// to the update forever (progress is kept as a running max).
func TestAdversarialProgressBeyondImageSize(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	e.push(t, "p", "1.1.0", testImage(2000, 2))
	get(t, e.url+"/fw/p/version?device=d1&version=1.0.0")
	r := get(t, e.url+"/fw/p/status?device=d1&state=downloading&progress=9223372036854775807")
	d, _ := e.svc.Device(t.Context(), "p", "d1")
	if r.StatusCode == 200 && d.Updates[0].Progress > 2000 {
		t.Errorf("progress report of MaxInt64 on a 2000-byte image: %d %q, update progress now %d; "+
			"want 400 or progress clamped to the image size", r.StatusCode, r.body, d.Updates[0].Progress)
	}
}

// A malformed or truncated upload body is the client's fault: 400, not a
// 500 logged at Error level.
func TestAdversarialMalformedUploadBodyIs400(t *testing.T) {
	e := newEnv(t, 0, nil)
	raw := "POST /api/v1/products/p/releases?version=1.0.0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
		e.token + "\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n\r\n"
	if out := rawExchange(t, e, raw); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Errorf("malformed chunked upload answered %.60q, want 400", out)
	}
}

// RFC 9110 14.1.1: a suffix range of length 0 is unsatisfiable. Today the
// answer is a 206 with the impossible Content-Range "bytes 1000-999/1000".
func TestAdversarialZeroSuffixRangeIs416(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	r := get(t, e.url+"/fw/p/bin", "Range", "bytes=-0")
	if r.StatusCode != 416 {
		t.Errorf("Range bytes=-0 = %d, Content-Range %q; want 416", r.StatusCode, r.Header.Get("Content-Range"))
	}
}

// RFC 9110 11.1: the auth scheme is case-insensitive.
func TestAdversarialBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(1000, 1))
	dev := e.enroll(t, "d1")
	for _, scheme := range []string{"bearer", "BEARER"} {
		if r := get(t, e.url+"/fw/private/version", "Authorization", scheme+" "+dev); r.StatusCode != 200 {
			t.Errorf("Authorization: %s KEY = %d %s, want 200", scheme, r.StatusCode, r.body)
		}
		if r := get(t, e.url+"/api/v1/products", "Authorization", scheme+" "+e.token); r.StatusCode != 200 {
			t.Errorf("operator Authorization: %s TOKEN = %d, want 200", scheme, r.StatusCode)
		}
	}
}
