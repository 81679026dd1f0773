package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// testServer is the real server, started in-process on 127.0.0.1 with its
// own data directory.
type testServer struct {
	url   string
	token string
	data  string
	stop  func()
}

func startServer(t *testing.T, data string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := serveConfig{addr: "127.0.0.1:0", data: data, ready: func(a string) { ready <- a }}
	log := slog.New(slog.DiscardHandler)
	go func() { done <- serve(ctx, cfg, log) }()

	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(data, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{url: "http://" + addr, token: strings.TrimSpace(string(tok)), data: data}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// ferry runs one CLI command in-process against s and returns its stdout.
func (s *testServer) ferry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runEnv(t.Context(), env{
		args: args, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string {
			switch k {
			case "FERRY_SERVER":
				return s.url
			case "FERRY_TOKEN":
				return s.token
			}
			return ""
		},
	})
	if err != nil {
		return stdout.String(), fmt.Errorf("ferry %s: %w (stderr: %s)", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (s *testServer) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.ferry(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type deviceJSON struct {
	ID          string `json:"id"`
	Version     string `json:"version"`
	BytesServed int64  `json:"bytes_served"`
	Update      *struct {
		Version string `json:"version"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
	} `json:"update"`
	History []struct {
		Kind  string `json:"kind"`
		State string `json:"state"`
	} `json:"history"`
}

func (s *testServer) device(t *testing.T, id string) deviceJSON {
	t.Helper()
	var d deviceJSON
	if err := json.Unmarshal([]byte(s.must(t, "device", "show", id, "--json")), &d); err != nil {
		t.Fatalf("device show %s --json: %v", id, err)
	}
	return d
}

// firmware makes a test image that does not compress to nothing.
func firmware(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir())
	v1, v2 := firmware(150_000, 1), firmware(180_000, 2)
	s.must(t, "product", "create", "p", "--public")
	s.must(t, "release", "push", "--product", "p", "--version", "1.0.0", writeFile(t, "v1.bin", v1))
	out := s.must(t, "release", "push", "--product", "p", "--version", "1.1.0", writeFile(t, "v2.bin", v2))
	if !strings.Contains(out, "1.1.0") || !strings.Contains(out, "180000") {
		t.Errorf("release push printed %q, want the version and size", out)
	}

	t.Run("agent resumes a cut download after a restart", func(t *testing.T) { testAgentResume(t, s, v2) })
	t.Run("sketch-like plain client", func(t *testing.T) { testSketch(t, s, v2) })
	t.Run("roll-back is a failure", func(t *testing.T) { testRollBack(t, s) })

	// Everything survives a restart on the same data directory.
	s.stop()
	s2 := startServer(t, s.data)
	if out := s2.must(t, "release", "list", "--product", "p"); !strings.Contains(out, "1.0.0") ||
		!strings.Contains(out, "1.1.0") {
		t.Errorf("release list after restart = %q, want both releases", out)
	}
	for _, id := range []string{"agent-1", "mkr-1"} {
		d := s2.device(t, id)
		if d.Version != "1.1.0" || d.Update == nil || d.Update.State != "succeeded" || len(d.History) < 4 {
			t.Errorf("device %s after restart = %+v, want 1.1.0, succeeded, with its history", id, d)
		}
	}
	// The sketch fetched every byte exactly once; counters were flushed at
	// shutdown.
	if d := s2.device(t, "mkr-1"); d.BytesServed != int64(len(v2)) {
		t.Errorf("bytes served to mkr-1 = %d, want exactly %d", d.BytesServed, len(v2))
	}
	if d := s2.device(t, "mkr-2"); d.Update == nil || d.Update.State != "failed" {
		t.Errorf("device mkr-2 after restart = %+v, want its failed update", d)
	}
}

// cutProxy forwards to the server and cuts the first image download after
// cut bytes, as a modem losing its link would. It records the Range header
// of every image request and the body bytes it passed on.
type cutProxy struct {
	target string
	cut    int

	mu     sync.Mutex
	cuts   int
	ranges []string
	bytes  int
}

func (p *cutProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)

	image := strings.Contains(r.URL.Path, "/img/")
	limit := int64(-1)
	p.mu.Lock()
	if image {
		p.ranges = append(p.ranges, r.Header.Get("Range"))
		if p.cuts == 0 {
			p.cuts++
			limit = int64(p.cut)
		}
	}
	p.mu.Unlock()

	var src io.Reader = resp.Body
	if limit >= 0 {
		src = io.LimitReader(resp.Body, limit)
	}
	n, _ := io.Copy(w, src)
	if image {
		p.mu.Lock()
		p.bytes += int(n)
		p.mu.Unlock()
	}
	if limit >= 0 {
		// Abort the response so the client sees a short body, not a
		// complete one.
		panic(http.ErrAbortHandler)
	}
}

func testAgentResume(t *testing.T, s *testServer, want []byte) {
	proxy := &cutProxy{target: s.url, cut: 70_000}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	state := t.TempDir()
	agent := []string{"agent", "--server", ps.URL, "--product", "p", "--device", "agent-1",
		"--version", "1.0.0", "--state-dir", state, "--once"}

	_, err := s.ferry(t, agent...)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code == 0 {
		t.Fatalf("first agent run = %v, want a non-zero exit for the cut download", err)
	}
	if _, err := s.ferry(t, agent...); err != nil {
		t.Fatalf("second agent run: %v", err)
	}

	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.ranges) != 2 || proxy.ranges[0] != "" || !strings.HasPrefix(proxy.ranges[1], "bytes=") {
		t.Fatalf("image requests had Range %q, want none and then a resume", proxy.ranges)
	}
	start, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(proxy.ranges[1], "bytes="), "-"))
	if err != nil || start <= 0 || start > proxy.cut {
		t.Errorf("resume Range = %q, want to start after the kept bytes (1..%d)", proxy.ranges[1], proxy.cut)
	}
	if proxy.bytes > len(want)+proxy.cut-start {
		t.Errorf("agent fetched %d image bytes in all, want at most %d", proxy.bytes, len(want)+proxy.cut-start)
	}

	d := s.device(t, "agent-1")
	if d.Version != "1.1.0" || d.Update == nil || d.Update.State != "succeeded" {
		t.Errorf("agent-1 = %+v, want 1.1.0 and the update succeeded", d)
	}
	installed, err := os.ReadFile(filepath.Join(state, "firmware.bin"))
	if err != nil || !bytes.Equal(installed, want) {
		t.Errorf("installed image: %d bytes, %v; want the 1.1.0 image", len(installed), err)
	}
}

// sketch speaks HTTP/1.1 the way an MKR sketch does over its modem: one
// short request at a time on a kept-alive connection, reading exactly
// Content-Length bytes.
type sketch struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

func (k *sketch) get(path string, extra string) (int, []byte) {
	k.t.Helper()
	fmt.Fprintf(k.conn, "GET %s HTTP/1.1\r\nHost: ferry\r\n%s\r\n", path, extra)
	resp, err := http.ReadResponse(k.rd, nil)
	if err != nil {
		k.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) > 0 || resp.ContentLength < 0 {
		k.t.Fatalf("GET %s: Transfer-Encoding %v, Content-Length %d; want a plain length",
			path, resp.TransferEncoding, resp.ContentLength)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		k.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

func dialSketch(t *testing.T, s *testServer) *sketch {
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sketch{t: t, conn: c, rd: bufio.NewReader(c)}
}

func testSketch(t *testing.T, s *testServer, want []byte) {
	k := dialSketch(t, s)
	const q = "?device=mkr-1"
	if _, v := k.get("/fw/p/version"+q+"&version=1.0.0", ""); string(v) != "1.1.0" {
		t.Fatalf("version = %q, want 1.1.0", v)
	}

	var img []byte
	for off := 0; ; off += 512 {
		code, b := k.get("/fw/p/bin"+q, fmt.Sprintf("Range: bytes=%d-%d\r\n", off, off+511))
		if code != http.StatusPartialContent {
			t.Fatalf("bin at %d = %d, want 206", off, code)
		}
		img = append(img, b...)
		if len(b) < 512 {
			break
		}
		if off == 512*20 {
			k.get("/fw/p/status"+q+"&state=downloading&progress="+strconv.Itoa(len(img)), "")
		}
	}
	_, hash := k.get("/fw/p/hash"+q, "")
	if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE(img)); got != string(hash) || !bytes.Equal(img, want) {
		t.Fatalf("downloaded %d bytes with CRC32 %s, hash says %s", len(img), got, hash)
	}
	for _, st := range []string{"downloaded", "verified", "installing"} {
		if _, ok := k.get("/fw/p/status"+q+"&state="+st, ""); string(ok) != "ok" {
			t.Fatalf("status %s = %q, want ok", st, ok)
		}
	}

	// The board resets into the new image and checks in on a new connection.
	k = dialSketch(t, s)
	if _, v := k.get("/fw/p/version"+q+"&version=1.1.0", ""); string(v) != "1.1.0" {
		t.Fatalf("version after the update = %q, want 1.1.0", v)
	}
	d := s.device(t, "mkr-1")
	if d.Version != "1.1.0" || d.Update == nil || d.Update.State != "succeeded" {
		t.Errorf("mkr-1 = %+v, want 1.1.0 with the update succeeded", d)
	}
	var seen []string
	for _, e := range d.History {
		seen = append(seen, e.Kind+":"+e.State)
	}
	wantHist := "checkin:,offer:offered,report:downloading,report:downloaded,report:verified," +
		"report:installing,checkin:,decision:succeeded"
	if got := strings.Join(seen, ","); got != wantHist {
		t.Errorf("mkr-1 history = %s\nwant %s", got, wantHist)
	}
	out := s.must(t, "device", "show", "mkr-1")
	if !strings.Contains(out, "1.1.0") || !strings.Contains(out, "succeeded") {
		t.Errorf("device show mkr-1 = %q, want the version and the outcome", out)
	}
}

func testRollBack(t *testing.T, s *testServer) {
	k := dialSketch(t, s)
	k.get("/fw/p/version?device=mkr-2&version=1.0.0", "")
	k.get("/fw/p/status?device=mkr-2&state=installing", "")
	k.get("/fw/p/version?device=mkr-2&version=1.0.0", "")
	d := s.device(t, "mkr-2")
	if d.Update == nil || d.Update.State != "failed" || !strings.HasPrefix(d.Update.Reason, "rolled back") {
		t.Errorf("mkr-2 update = %+v, want failed: rolled back", d.Update)
	}
}
