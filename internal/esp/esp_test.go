package esp_test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/esp"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// mac is the station MAC of the test board, as the cores print it.
const mac = "5C:CF:7F:01:02:03"

// fleet is the esp handler over a real core, SQLite store and disk blob
// store, served on a loopback listener.
type fleet struct {
	svc  *core.Service
	addr string
	imgs map[string][]byte
	rels map[string]core.Release
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ferry.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, blobs, core.Config{RolloutTick: time.Hour}, log)
	t.Cleanup(func() { _ = svc.Close() })
	if _, _, err := svc.CreateProduct(ctx, "sensor", core.AccessPublic); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(esp.New(svc, time.Minute, log))
	t.Cleanup(srv.Close)
	return &fleet{svc: svc, addr: srv.Listener.Addr().String(), imgs: map[string][]byte{},
		rels: map[string]core.Release{}}
}

// publish pushes an image for version v and moves stable to it.
func (f *fleet) publish(t *testing.T, v string, size int) core.Release {
	t.Helper()
	img := bytes.Repeat([]byte("sketch "+v+" "), size/(8+len(v))+1)[:size]
	r, err := f.svc.PublishRelease(t.Context(), core.Publish{
		Product: "sensor", Version: v, Channel: core.DefaultChannel, Image: bytes.NewReader(img),
	})
	if err != nil {
		t.Fatalf("PublishRelease(%s): %v", v, err)
	}
	f.imgs[v], f.rels[v] = img, r
	return r
}

// board describes what an httpUpdate client sends about itself.
type board struct {
	chip    string // "ESP8266" or "ESP32"
	mac     string
	md5     string
	version string // the x-…-version header; empty sends none
	free    string // the x-…-free-space header
	extra   []string
}

// request returns the bytes the chip's updater sends: the ESP8266 core
// asks with HTTP/1.0, the ESP32 core with HTTP/1.1; both close the
// connection after the answer.
func (b board) request(host, target string) string {
	proto := "HTTP/1.1"
	if b.chip == "ESP8266" {
		proto = "HTTP/1.0"
	}
	x := "x-" + b.chip + "-"
	var s strings.Builder
	fmt.Fprintf(&s, "GET %s %s\r\nHost: %s\r\nUser-Agent: %s-http-Update\r\nConnection: close\r\n",
		target, proto, host, b.chip)
	lines := []string{"STA-MAC", b.mac, "AP-MAC", "5E:CF:7F:01:02:03", "free-space", b.free,
		"sketch-size", "301456", "sketch-md5", b.md5, "chip-size", "4194304", "sdk-version", "2.2.2-dev(38a443e)",
		"mode", "sketch", "version", b.version}
	lines = append(lines, b.extra...)
	for i := 0; i+1 < len(lines); i += 2 {
		if lines[i+1] != "" {
			fmt.Fprintf(&s, "%s%s: %s\r\n", x, lines[i], lines[i+1])
		}
	}
	s.WriteString("\r\n")
	return s.String()
}

// exchange sends raw bytes and reads the answer until the server closes
// the connection, which it does only once the handler has returned: by
// then whatever the request recorded is stored.
func exchange(t *testing.T, addr, raw string) answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("answer %q: %v", all, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	if rest := len(all) - headerLen(all) - len(body); resp.ContentLength >= 0 && rest != 0 {
		t.Errorf("answer has %d bytes after its Content-Length", rest)
	}
	return answer{resp, body}
}

// answer is a response read whole.
type answer struct {
	*http.Response
	body []byte
}

func headerLen(b []byte) int { return bytes.Index(b, []byte("\r\n\r\n")) + 4 }

func (f *fleet) ask(t *testing.T, b board) answer {
	t.Helper()
	return exchange(t, f.addr, b.request(f.addr, "/esp/sensor"))
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func (f *fleet) device(t *testing.T, name string) core.DeviceDetail {
	t.Helper()
	d, err := f.svc.Device(t.Context(), "sensor", name)
	if err != nil {
		t.Fatalf("Device(%s): %v", name, err)
	}
	return d
}

// wantImage checks a 200 answer carrying release v the way httpUpdate
// needs it.
func wantImage(t *testing.T, f *fleet, a answer, v string) {
	t.Helper()
	resp, body := a.Response, a.body
	img := f.imgs[v]
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %q, want 200 with %s", resp.StatusCode, body, v)
	}
	if resp.ContentLength != int64(len(img)) || len(resp.TransferEncoding) != 0 || !bytes.Equal(body, img) {
		t.Errorf("answer: Content-Length %d, transfer encoding %v, %d body bytes; want the %d-byte image of %s",
			resp.ContentLength, resp.TransferEncoding, len(body), len(img), v)
	}
	if got := resp.Header.Get("x-MD5"); got != md5Hex(img) {
		t.Errorf("x-MD5 = %q, want %q", got, md5Hex(img))
	}
	if got := resp.Header.Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type = %q, want application/octet-stream", got)
	}
	got, want := resp.Header.Get("Content-Disposition"), `filename="sensor-`+v+`.bin"`
	if !strings.Contains(got, want) {
		t.Errorf("Content-Disposition = %q, want one with %s", got, want)
	}
}

func TestESP8266HTTP10(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	b := board{chip: "ESP8266", mac: mac, md5: old.MD5, version: "1.0.0", free: "1000000"}

	a := f.ask(t, b)
	resp, body := a.Response, a.body
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Proto != "HTTP/1.0" {
		t.Fatalf("current board: %s %d with %d body bytes, want HTTP/1.0 304 and no body",
			resp.Proto, resp.StatusCode, len(body))
	}

	f.publish(t, "1.1.0", 5000)
	a = f.ask(t, b)
	wantImage(t, f, a, "1.1.0")
	if a.Proto != "HTTP/1.0" || !a.Close {
		t.Errorf("answer %s, close %v; want HTTP/1.0 and the connection closed", a.Proto, a.Close)
	}
}

func TestESP32(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	// No version header: the sketch's MD5 alone says what runs.
	b := board{chip: "ESP32", mac: mac, md5: old.MD5, free: "1310720"}

	if a := f.ask(t, b); a.StatusCode != http.StatusNotModified || len(a.body) != 0 {
		t.Fatalf("current board: %d with %d body bytes, want 304 and no body", a.StatusCode, len(a.body))
	}
	d := f.device(t, mac)
	if d.Version != "1.0.0" || d.Attributes["chip"] != "ESP32" || d.Attributes["chip_size"] != "4194304" ||
		d.Attributes["sdk_version"] != "2.2.2-dev(38a443e)" {
		t.Errorf("device = version %q, attributes %v; want 1.0.0 and the board's chip, chip size, SDK",
			d.Version, d.Attributes)
	}

	f.publish(t, "1.1.0", 5000)
	a := f.ask(t, b)
	wantImage(t, f, a, "1.1.0")
}

// TestOutcomes: the board that comes back on the new image is recorded as
// succeeded; the one that comes back unchanged after receiving the whole
// image is recorded as failed, and is offered the image again after that.
func TestOutcomes(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	good := board{chip: "ESP8266", mac: "5C:CF:7F:00:00:01", md5: old.MD5, free: "1000000"}
	bad := board{chip: "ESP32", mac: "5C:CF:7F:00:00:02", md5: old.MD5, free: "1000000"}
	f.ask(t, good)
	f.ask(t, bad)
	next := f.publish(t, "1.1.0", 5000)

	for _, b := range []board{good, bad} {
		wantImage(t, f, f.ask(t, b), "1.1.0")
		u := f.device(t, b.mac).Updates[0]
		if u.State != core.StateInstalling || u.Progress != next.Size {
			t.Errorf("%s after the image: update %s at %d bytes, want installing at %d", b.mac, u.State,
				u.Progress, next.Size)
		}
	}

	good.md5 = next.MD5
	if a := f.ask(t, good); a.StatusCode != http.StatusNotModified {
		t.Errorf("board back on the new image: %d, want 304", a.StatusCode)
	}
	if d := f.device(t, good.mac); d.Updates[0].State != core.StateSucceeded || d.Version != "1.1.0" {
		t.Errorf("board back on the new image: update %s, version %q; want succeeded on 1.1.0",
			d.Updates[0].State, d.Version)
	}

	if a := f.ask(t, bad); a.StatusCode != http.StatusNotModified {
		t.Errorf("board back unchanged: %d, want 304 once", a.StatusCode)
	}
	u := f.device(t, bad.mac).Updates[0]
	if u.State != core.StateFailed || !strings.Contains(u.Reason, "running 1.0.0 after installing 1.1.0") {
		t.Errorf("board back unchanged: update %s %q, want failed, running 1.0.0 after installing", u.State, u.Reason)
	}
	a := f.ask(t, bad)
	wantImage(t, f, a, "1.1.0")
}

func TestFreeSpace(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	b := board{chip: "ESP8266", mac: mac, md5: old.MD5, free: "4999"}
	f.ask(t, b)
	f.publish(t, "1.1.0", 5000)

	a := f.ask(t, b)
	resp, body := a.Response, a.body
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "does not fit") {
		t.Fatalf("image larger than free space: %d %q, want 413 saying it does not fit", resp.StatusCode, body)
	}
	d := f.device(t, mac)
	if u := d.Updates[0]; u.State != core.StateFailed || u.Reason != string(body) || u.Served != 0 {
		t.Errorf("update = %s %q, %d bytes served; want failed with %q, nothing served", u.State, u.Reason,
			u.Served, body)
	}

	b.free = "5000"
	wantImage(t, f, f.ask(t, b), "1.1.0")
}

func TestKeyProduct(t *testing.T) {
	f := newFleet(t)
	ctx := t.Context()
	_, key, err := f.svc.CreateProduct(ctx, "vault", core.AccessKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PublishRelease(ctx, core.Publish{Product: "vault", Version: "1.0.0",
		Channel: core.DefaultChannel, Image: strings.NewReader("vault image")}); err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.Enroll(ctx, "vault", key, mac)
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Enroll(ctx, "vault", key, "5C:CF:7F:09:09:09")
	if err != nil {
		t.Fatal(err)
	}
	b := board{chip: "ESP32", mac: mac, md5: md5Hex([]byte("old")), free: "100000"}
	basic := func(user, pass string) string {
		req := httptest.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}

	// want 0 is a request let through: 200 or 304, whichever the
	// requests before it make the answer.
	tests := []struct {
		name   string
		target string
		auth   string
		want   int
	}{
		{"basic auth", "/esp/vault", basic("ferry", tok), 0},
		{"token parameter", "/esp/vault?token=" + tok, "", 0},
		{"bearer", "/esp/vault", "Bearer " + tok, 0},
		{"no credential", "/esp/vault", "", http.StatusUnauthorized},
		{"enrollment key", "/esp/vault", basic("ferry", key), http.StatusUnauthorized},
		{"wrong password", "/esp/vault", basic("ferry", "nope"), http.StatusUnauthorized},
		{"another device's token", "/esp/vault", basic("ferry", other), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := b.request(f.addr, tt.target)
			if tt.auth != "" {
				raw = strings.Replace(raw, "\r\n\r\n", "\r\nAuthorization: "+tt.auth+"\r\n\r\n", 1)
			}
			a := exchange(t, f.addr, raw)
			resp, body := a.Response, a.body
			if tt.want == 0 && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotModified) {
				return
			}
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s: %d %q, want %d", tt.target, resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestNotCheckIns: requests that are not about the sketch record nothing.
func TestNotCheckIns(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	b := board{chip: "ESP8266", mac: mac, md5: old.MD5, free: "1000000"}

	spiffs := strings.Replace(b.request(f.addr, "/esp/sensor"), "mode: sketch", "mode: spiffs", 1)
	if a := exchange(t, f.addr, spiffs); a.StatusCode != http.StatusNotModified || len(a.body) != 0 {
		t.Errorf("spiffs request: %d %q, want 304", a.StatusCode, a.body)
	}
	head := strings.Replace(b.request(f.addr, "/esp/sensor"), "GET ", "HEAD ", 1)
	if a := exchange(t, f.addr, head); a.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD: %d, want 405", a.StatusCode)
	}
	if _, err := f.svc.Device(t.Context(), "sensor", mac); err == nil {
		t.Errorf("Device(%s) exists after a spiffs request and a HEAD, want none", mac)
	}
}

func TestIdentity(t *testing.T) {
	f := newFleet(t)
	f.publish(t, "1.0.0", 3000)
	tests := []struct {
		name   string
		b      board
		target string
		want   string
	}{
		{"lowercase MAC", board{chip: "ESP32", mac: "5c:cf:7f:0a:0b:0c", version: "1.0.0"}, "/esp/sensor",
			"5C:CF:7F:0A:0B:0C"},
		{"hyphens", board{chip: "ESP32", mac: "5c-cf-7f-0a-0b-0d", version: "1.0.0"}, "/esp/sensor",
			"5C:CF:7F:0A:0B:0D"},
		{"bare hex", board{chip: "ESP8266", mac: "5ccf7f0a0b0e", version: "1.0.0"}, "/esp/sensor",
			"5C:CF:7F:0A:0B:0E"},
		{"MAC wins over the parameter", board{chip: "ESP8266", mac: "5C:CF:7F:0A:0B:0F"},
			"/esp/sensor?device=kitchen&version=0.9.0", "5C:CF:7F:0A:0B:0F"},
		{"parameter without headers", board{}, "/esp/sensor?device=porch&version=1.0.0", "porch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.b.request(f.addr, tt.target)
			if tt.b.chip == "" {
				raw = "GET " + tt.target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
			}
			if a := exchange(t, f.addr, raw); a.StatusCode != http.StatusNotModified &&
				a.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %q", tt.target, a.StatusCode, a.body)
			}
			f.device(t, tt.want)
		})
	}
	if d := f.device(t, "porch"); d.Version != "1.0.0" {
		t.Errorf("porch version = %q, want 1.0.0 from the version parameter", d.Version)
	}
}

func TestParseMAC(t *testing.T) {
	good := map[string]string{
		"5C:CF:7F:01:02:03": "5C:CF:7F:01:02:03",
		"5c:cf:7f:01:02:03": "5C:CF:7F:01:02:03",
		"5c-cf-7f-01-02-03": "5C:CF:7F:01:02:03",
		"5ccf7f010203":      "5C:CF:7F:01:02:03",
	}
	for in, want := range good {
		if got, err := esp.ParseMAC(in); err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5C:CF:7F:01:02", "5C:CF:7F:01:02:03:04", "5C:CF:7F-01:02:03",
		"5C:CF:7F:01:02:0G", "5CCF7F01020", "5C::F7F:01:02:03", "5C:CF:7F:01:02:03 ", "5C CF 7F 01 02 03",
		"+5:CF:7F:01:02:03", "ZZZZZZZZZZZZ"} {
		if got, err := esp.ParseMAC(in); err == nil {
			t.Errorf("ParseMAC(%q) = %q, want an error", in, got)
		}
	}
}

// TestHostileChangesNothing: requests no updater sends are refused with a
// reason and leave the board's record as it was.
func TestHostileChangesNothing(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	b := board{chip: "ESP8266", mac: mac, md5: old.MD5, free: "1000000"}
	f.ask(t, b)
	f.publish(t, "1.1.0", 5000)
	f.ask(t, b)
	before := f.device(t, mac)

	good := b.request(f.addr, "/esp/sensor")
	tests := []struct{ name, raw string }{
		{"MAC sent twice", strings.Replace(good, "\r\n\r\n", "\r\nx-ESP8266-STA-MAC: 5C:CF:7F:09:09:09\r\n\r\n", 1)},
		{"free space sent twice", strings.Replace(good, "\r\n\r\n", "\r\nx-ESP8266-free-space: 1\r\n\r\n", 1)},
		{"ESP32 header beside ESP8266 ones", strings.Replace(good, "\r\n\r\n", "\r\nx-ESP32-mode: sketch\r\n\r\n", 1)},
		{"free space with a sign", strings.Replace(good, "free-space: 1000000", "free-space: +1000000", 1)},
		{"free space with a space inside", strings.Replace(good, "free-space: 1000000", "free-space: 1 000", 1)},
		{"sketch size negative", strings.Replace(good, "sketch-size: 301456", "sketch-size: -5", 1)},
		{"MAC of the wrong length", strings.Replace(good, mac, mac+":04", 1)},
		{"version with a NUL", strings.Replace(good, "GET /esp/sensor ", "GET /esp/sensor?version=1.0%00 ", 1)},
		{"neither version nor sketch MD5", strings.Replace(good, "x-ESP8266-sketch-md5: "+old.MD5+"\r\n", "", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := exchange(t, f.addr, tt.raw)
			resp, body := a.Response, a.body
			if resp.StatusCode != http.StatusBadRequest || len(body) == 0 || bytes.ContainsRune(body, '\n') {
				t.Errorf("answer %d %q, want 400 with a one-line reason", resp.StatusCode, body)
			}
		})
	}
	after := f.device(t, mac)
	if len(after.Events) != len(before.Events) || after.Updates[0].State != before.Updates[0].State ||
		after.Version != before.Version || len(after.Updates) != len(before.Updates) {
		t.Errorf("hostile requests changed the board: %d -> %d events, update %s -> %s",
			len(before.Events), len(after.Events), before.Updates[0].State, after.Updates[0].State)
	}
	if _, err := f.svc.Device(t.Context(), "sensor", "5C:CF:7F:09:09:09"); err == nil {
		t.Error("a board named by a repeated MAC header was registered")
	}
}
