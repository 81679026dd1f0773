package sim

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// espFreeSpace is the room for a new sketch an ESP device says it has: what
// an ESP32 with 16 MB of flash has in an OTA partition of the usual layout.
const espFreeSpace = 6 << 20

// espMAC is the station MAC of ESP device n (1-based) of a fleet whose
// ids start with prefix: locally administered, with two bytes from the
// prefix so that fleets with different prefixes do not collide, and n in
// the last three.
func espMAC(prefix string, n int) string {
	h := sha256.Sum256([]byte(prefix))
	return fmt.Sprintf("02:%02X:%02X:%02X:%02X:%02X", h[0], h[1], byte(n>>16), byte(n>>8), byte(n))
}

// espCycle is one wake-up of an ESP device, as the cores' httpUpdate does
// it: one GET with the board's headers; 304 means sleep, 200 brings the
// whole image, whose MD5 must match x-MD5, and then a "restart" into it.
// The updater reports nothing, so every behaviour but Silent shows only
// in what the next check-in says the board runs. It returns the wait
// before the next cycle and whether the device has gone silent.
func (s *Sim) espCycle(ctx context.Context, d *device) (time.Duration, bool) {
	wait := s.cfg.Poll
	var got espImage
	err := s.call(ctx, func() error {
		var err error
		got, err = s.espUpdate(ctx, d)
		return err
	})
	if err != nil {
		s.fail(ctx, err)
		return wait, false
	}
	s.checkedIn(d)
	if got.version == "" {
		s.idle(d)
		return wait, false
	}

	s.offered(d, got.md5, got.version)
	if got.sum != got.md5 {
		s.c.corrupt.Add(1)
		d.open = false
		d.setPhase(phaseFailed)
		return wait, false
	}
	switch d.act {
	case Silent:
		s.c.silent.Add(1)
		d.setPhase(phaseSilent)
		return 0, true
	case FailInstall, Rollback:
		// A failed flash write and a sketch that falls back look the
		// same to the server: the board comes back on its old image.
		d.setPhase(phaseInstalling)
		d.pending = outcomeRollback
	default:
		d.setPhase(phaseInstalling)
		d.pending = outcomeSuccess
		d.setVersion(got.version)
		d.md5 = got.md5
	}
	return 0, false
}

// espImage is what one httpUpdate exchange brought: nothing (version
// empty) or an image of that version, with the x-MD5 the server sent and
// the MD5 of the bytes received.
type espImage struct {
	version, md5, sum string
}

// espUpdate sends the updater's request over a connection of its own and
// reads the answer. It reads on until the server closes the connection:
// the server does that once it has recorded the exchange, and a real
// board's restart takes longer than that anyway.
func (s *Sim) espUpdate(ctx context.Context, d *device) (espImage, error) {
	u, err := url.Parse(strings.TrimRight(s.cfg.Server, "/") + "/esp/" + url.PathEscape(s.cfg.Product))
	if err != nil {
		return espImage{}, err
	}
	conn, err := espDial(ctx, u)
	if err != nil {
		return espImage{}, err
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	if _, err := io.WriteString(conn, s.espRequest(d, u)); err != nil {
		return espImage{}, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return espImage{}, err
	}
	defer func() { _ = resp.Body.Close() }()

	var got espImage
	switch resp.StatusCode {
	case http.StatusNotModified:
	case http.StatusOK:
		if got, err = s.espBody(ctx, d, resp); err != nil {
			return espImage{}, err
		}
	default:
		return espImage{}, textError(resp)
	}
	_, err = io.Copy(io.Discard, br)
	return got, err
}

// espBody takes the image of a 200 answer at the device's link speed.
func (s *Sim) espBody(ctx context.Context, d *device, resp *http.Response) (espImage, error) {
	got := espImage{md5: resp.Header.Get("x-MD5")}
	_, params, _ := strings.Cut(resp.Header.Get("Content-Disposition"), "filename=")
	name := strings.Trim(params, `"`)
	got.version = strings.TrimSuffix(strings.TrimPrefix(name, s.cfg.Product+"-"), ".bin")
	if resp.ContentLength <= 0 || got.version == "" || got.version == name {
		return espImage{}, fmt.Errorf("200 answer without Content-Length or a file name: %q", name)
	}
	k := newSink(ctx, md5.New(), d.link, &s.c.bytes)
	n, err := io.Copy(k, resp.Body)
	if err != nil {
		return espImage{}, err
	}
	if n != resp.ContentLength {
		return espImage{}, fmt.Errorf("image cut at %d of %d bytes", n, resp.ContentLength)
	}
	got.sum = hex.EncodeToString(k.sum.Sum(nil))
	return got, nil
}

// espRequest returns the request an ESP8266 updater sends: HTTP/1.0, the
// connection closed after the answer, and the board's x-ESP8266 headers.
func (s *Sim) espRequest(d *device, u *url.URL) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: ESP8266-http-Update\r\nConnection: close\r\n",
		u.EscapedPath(), u.Host)
	for _, h := range [][2]string{
		{"STA-MAC", d.mac}, {"free-space", strconv.Itoa(espFreeSpace)}, {"sketch-md5", d.md5},
		{"chip-size", "16777216"}, {"sdk-version", "sim"}, {"mode", "sketch"}, {"version", d.running()},
	} {
		fmt.Fprintf(&b, "x-ESP8266-%s: %s\r\n", h[0], h[1])
	}
	if d.token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", d.token)
	}
	b.WriteString("\r\n")
	return b.String()
}

// espDial connects to the server of u, over TLS for https.
func espDial(ctx context.Context, u *url.URL) (net.Conn, error) {
	port, tlsConf := "80", (*tls.Config)(nil)
	if u.Scheme == "https" {
		port, tlsConf = "443", &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	if p := u.Port(); p != "" {
		port = p
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if tlsConf != nil {
		return (&tls.Dialer{NetDialer: dialer, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	}
	return dialer.DialContext(ctx, "tcp", addr)
}

// espFactoryMD5 is the MD5 an ESP device reports before its first update:
// that of an image the server does not know, so only the version it
// states says what it runs.
func espFactoryMD5(id string) string {
	sum := md5.Sum([]byte("factory image of " + id))
	return hex.EncodeToString(sum[:])
}
