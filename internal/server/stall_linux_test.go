package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallBuffers shrinks each accepted connection's send buffer, so a client
// that stops reading blocks the server's writes at once instead of after
// megabytes of loopback buffering.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8192)
	}
	return c, err
}

func TestSlowDownloadIsNotCutButStalledOneIs(t *testing.T) {
	e := newEnv(t, time.Second, func(l net.Listener) net.Listener { return smallBuffers{l} })
	img := testImage(256<<10, 5)
	e.push(t, "p", "1.0.0", img)

	dial := func() net.Conn {
		// Small buffers and an Ethernet-sized segment, so that the client's
		// reading pace, not loopback buffering, paces the server.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192)
			})
		}}
		c, err := d.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /fw/p/bin HTTP/1.1\r\nHost: x\r\n\r\n")
		return c
	}

	// Slow but steady: 4 KiB every 20 ms, far slower than loopback, never
	// pausing anywhere near the stall timeout.
	c := dial()
	defer c.Close()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil || bytes.HasSuffix(got.Bytes(), img[len(img)-64:]) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !bytes.HasSuffix(got.Bytes(), img) {
		t.Errorf("slow download got %d bytes, want the whole %d-byte image after the headers", got.Len(), len(img))
	}

	// Stalled: read a little, then stop for several stall periods.
	s := dial()
	defer s.Close()
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	n, err := io.Copy(io.Discard, s)
	if err == nil && n >= int64(len(img)) {
		t.Errorf("stalled download still received %d bytes; want the server to have closed it", n)
	}
}
