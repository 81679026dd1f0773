package server_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

type env struct {
	svc   *core.Service
	url   string
	token string
	key   string // enrollment key of product "private"
}

func newEnv(t *testing.T, stall time.Duration, wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	return newEnvConfig(t, server.Config{Stall: stall}, wrap)
}

func newEnvConfig(t *testing.T, cfg server.Config, wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, core.Config{MaxImageSize: 1 << 20}, log)
	t.Cleanup(func() { svc.Close() })
	tok, _, err := svc.CreateToken(ctx, "test", core.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateProduct(ctx, "p", core.AccessPublic); err != nil {
		t.Fatal(err)
	}
	_, key, err := svc.CreateProduct(ctx, "private", core.AccessKey)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	srv := server.New(svc, cfg, log)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{svc: svc, url: "http://" + ln.Addr().String(), token: tok, key: key}
}

func (e *env) push(t *testing.T, product, version string, img []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/products/"+product+"/releases?version="+version,
		bytes.NewReader(img))
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp := do(t, req)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push %s %s: %d %s", product, version, resp.StatusCode, resp.body)
	}
}

type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{resp, b}
}

func get(t *testing.T, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func testImage(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestPlainProtocol(t *testing.T) {
	e := newEnv(t, 0, nil)
	v1, v2 := testImage(5000, 1), testImage(7000, 2)
	e.push(t, "p", "1.0.0", v1)
	e.push(t, "p", "1.1.0", v2)
	fw := e.url + "/fw/p/"

	r := get(t, fw+"version")
	if string(r.body) != "1.1.0" || r.Header.Get("Content-Length") != "5" {
		t.Errorf("version = %q (Content-Length %s), want 1.1.0 with length 5", r.body, r.Header.Get("Content-Length"))
	}
	r = get(t, fw+"bin")
	if !bytes.Equal(r.body, v2) || r.ContentLength != int64(len(v2)) || len(r.TransferEncoding) != 0 {
		t.Errorf("bin = %d bytes, Content-Length %d, Transfer-Encoding %v; want the 1.1.0 image, unchunked",
			len(r.body), r.ContentLength, r.TransferEncoding)
	}
	md5sum, shasum := md5.Sum(v2), sha256.Sum256(v2)
	digests := map[string]string{
		"hash":   fmt.Sprintf("%08x", crc32.ChecksumIEEE(v2)),
		"md5":    hex.EncodeToString(md5sum[:]),
		"sha256": hex.EncodeToString(shasum[:]),
	}
	for name, want := range digests {
		if r := get(t, fw+name); string(r.body) != want {
			t.Errorf("%s = %q, want %q", name, r.body, want)
		}
	}

	r = get(t, fw+"bin", "Range", "bytes=100-611")
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, v2[100:612]) {
		t.Errorf("Range 100-611 = %d with %d bytes, want 206 with those 512 bytes", r.StatusCode, len(r.body))
	}
	r = get(t, fw+"bin", "Range", "bytes=7000-")
	if r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end = %d, want 416", r.StatusCode)
	}
	etag := get(t, fw+"bin").Header.Get("ETag")
	r = get(t, fw+"bin", "Range", "bytes=10-19", "If-Range", etag)
	if r.StatusCode != http.StatusPartialContent {
		t.Errorf("If-Range with the current ETag = %d, want 206", r.StatusCode)
	}
	r = get(t, fw+"bin", "Range", "bytes=10-19", "If-Range", `"0000000000000000"`)
	if r.StatusCode != http.StatusOK || len(r.body) != len(v2) {
		t.Errorf("If-Range with a stale ETag = %d with %d bytes, want 200 with the whole image",
			r.StatusCode, len(r.body))
	}
	req, _ := http.NewRequest("HEAD", fw+"bin", nil)
	if r := do(t, req); r.ContentLength != int64(len(v2)) || len(r.body) != 0 {
		t.Errorf("HEAD bin = Content-Length %d body %d, want %d and none", r.ContentLength, len(r.body), len(v2))
	}
}

func TestPlainDeviceSticksToItsOffer(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	v11 := testImage(3000, 2)
	e.push(t, "p", "1.1.0", v11)
	fw := e.url + "/fw/p/"

	if r := get(t, fw+"version?device=d1&version=1.0.0"); string(r.body) != "1.1.0" {
		t.Fatalf("version check-in = %q, want 1.1.0", r.body)
	}
	e.push(t, "p", "1.2.0", testImage(3000, 3))
	if r := get(t, fw+"bin?device=d1"); !bytes.Equal(r.body, v11) {
		t.Error("bin after the channel moved is not the offered 1.1.0 image")
	}
	if r := get(t, fw+"hash?device=d1"); string(r.body) != fmt.Sprintf("%08x", crc32.ChecksumIEEE(v11)) {
		t.Errorf("hash after the channel moved = %s, want 1.1.0's", r.body)
	}
	if r := get(t, fw+"version"); string(r.body) != "1.2.0" {
		t.Errorf("anonymous version = %q, want the channel's 1.2.0", r.body)
	}
}

func TestPlainStatusAndOutcome(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	e.push(t, "p", "1.1.0", testImage(3000, 2))
	fw := e.url + "/fw/p/"
	get(t, fw+"version?device=d1&version=1.0.0")
	for _, s := range []string{"downloading", "downloaded", "installing"} {
		if r := get(t, fw+"status?device=d1&state="+s); string(r.body) != "ok" {
			t.Fatalf("status %s = %d %q, want ok", s, r.StatusCode, r.body)
		}
	}
	req, _ := http.NewRequest("POST", fw+"status", strings.NewReader("device=d1&state=rebooting"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); string(r.body) != "ok" {
		t.Fatalf("POST status = %d %q, want ok", r.StatusCode, r.body)
	}
	get(t, fw+"version?device=d1&version=1.1.0")

	d, err := e.svc.Device(t.Context(), "p", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "1.1.0" || d.Updates[0].State != core.StateSucceeded {
		t.Errorf("device = %s with update %s, want 1.1.0 succeeded", d.Version, d.Updates[0].State)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	get(t, e.url+"/fw/p/version?device=d1&version=1.0.0")
	auth := []string{"Authorization", "Bearer " + e.token}
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header []string
		want   int
	}{
		{"unknown product", "GET", "/fw/nope/version", "", nil, 404},
		{"traversal product", "GET", "/fw/..%2F..%2Fetc/version", "", nil, 400},
		{"dotted product", "GET", "/fw/a..b/bin", "", nil, 400},
		{"malformed device version", "GET", "/fw/p/version?device=d1&version=1..0", "", nil, 400},
		{"bad device id", "GET", "/fw/p/version?device=%3Cscript%3E", "", nil, 400},
		{"unknown status state", "GET", "/fw/p/status?device=d1&state=exploded", "", nil, 400},
		{"status without device", "GET", "/fw/p/status?state=downloading", "", nil, 400},
		{"status of unknown device", "GET", "/fw/p/status?device=ghost&state=downloading", "", nil, 404},
		{"range past the end", "GET", "/fw/p/bin", "", []string{"Range", "bytes=3000-3100"}, 416},
		{"private without key", "GET", "/fw/private/version", "", nil, 401},
		{"private with wrong key", "GET", "/fw/private/version?token=wrong", "", nil, 401},
		{"api without token", "GET", "/api/v1/products", "", nil, 401},
		{"api with wrong token", "GET", "/api/v1/products", "", []string{"Authorization", "Bearer nope"}, 401},
		{"api token in query is ignored", "GET", "/api/v1/products?token=" + e.token, "", nil, 401},
		{"duplicate version", "POST", "/api/v1/products/p/releases?version=1.0.0", "x", auth, 409},
		{"malformed version", "POST", "/api/v1/products/p/releases?version=v1..2", "x", auth, 400},
		{"over the limit", "POST", "/api/v1/products/p/releases?version=9.0.0",
			strings.Repeat("x", 1<<20+1), auth, 413},
		{"traversal product upload", "POST", "/api/v1/products/..%2F..%2Fetc/releases?version=2.0.0", "x", auth, 400},
		{"bad product json", "POST", "/api/v1/products", `{"name":`, auth, 400},
		{"unknown field", "POST", "/api/v1/products", `{"name":"q","acess":"public"}`, auth, 400},
		{"bad access", "POST", "/api/v1/products", `{"name":"q","access":"open"}`, auth, 400},
		{"duplicate product", "POST", "/api/v1/products", `{"name":"p","access":"public"}`, auth, 409},
		{"traversal product name", "POST", "/api/v1/products", `{"name":"../../etc","access":"public"}`, auth, 400},
		{"native bad json", "POST", "/device/v1/p/checkin", `{"id":`, nil, 400},
		{"native unknown state", "POST", "/device/v1/p/status", `{"id":"d1","state":"boom"}`, nil, 400},
		{"native wrong update", "POST", "/device/v1/p/status",
			`{"id":"d1","update":999,"state":"downloading"}`, nil, 404},
		{"native image of other product", "GET", "/device/v1/private/img/" + strings.Repeat("a", 64), "", nil, 401},
		{"native unknown image", "GET", "/device/v1/p/img/" + strings.Repeat("a", 64), "", nil, 404},
		{"native malformed image", "GET", "/device/v1/p/img/..%2F..%2Fetc%2Fpasswd", "", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, e.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			r := do(t, req)
			if r.StatusCode != tt.want || len(r.body) == 0 {
				t.Errorf("%s %s = %d %q, want %d with a reason", tt.method, tt.path, r.StatusCode, r.body, tt.want)
			}
		})
	}

	rs, _ := e.svc.Releases(t.Context(), "p")
	ps, _ := e.svc.Products(t.Context())
	d, _ := e.svc.Device(t.Context(), "p", "d1")
	if len(rs) != 1 || len(ps) != 2 || len(d.Updates) != 0 || d.Version != "1.0.0" {
		t.Errorf("after bad requests: %d releases, %d products, %d updates, version %s; want 1, 2, 0, 1.0.0",
			len(rs), len(ps), len(d.Updates), d.Version)
	}
}

func TestNativeProtocol(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(3000, 1))
	img := testImage(4000, 2)
	e.push(t, "private", "1.1.0", img)
	tok := e.enroll(t, "n1")
	post := func(path, body string) response {
		req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		return do(t, req)
	}

	r := post("/device/v1/private/checkin", `{"id":"n1","version":"1.0.0","attrs":{"rssi":"-70"},"future":1}`)
	var resp struct {
		Poll   int64
		Update struct {
			ID      int64
			Version string
			Size    int64
			SHA256  string
			URL     string
		}
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || r.StatusCode != 200 {
		t.Fatalf("checkin = %d %s (%v)", r.StatusCode, r.body, err)
	}
	// With an update in flight the device is told to come back in about
	// five minutes, give or take the 10% jitter.
	if resp.Update.Version != "1.1.0" || resp.Update.Size != 4000 || resp.Poll < 270 || resp.Poll > 330 {
		t.Fatalf("checkin = %s, want an offer of 1.1.0 (4000 bytes) and poll about 300", r.body)
	}
	if g := get(t, e.url+resp.Update.URL); g.StatusCode != 401 {
		t.Errorf("image without key = %d, want 401", g.StatusCode)
	}
	g := get(t, e.url+resp.Update.URL, "Authorization", "Bearer "+tok)
	if !bytes.Equal(g.body, img) || !strings.Contains(g.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("image = %d bytes, Cache-Control %q", len(g.body), g.Header.Get("Cache-Control"))
	}
	st := fmt.Sprintf(`{"id":"n1","update":%d,"state":"installing"}`, resp.Update.ID)
	if r := post("/device/v1/private/status", st); r.StatusCode != http.StatusNoContent {
		t.Errorf("status = %d %s, want 204", r.StatusCode, r.body)
	}
	r = post("/device/v1/private/checkin", `{"id":"n1","version":"1.1.0"}`)
	var idle map[string]int64
	err := json.Unmarshal(r.body, &idle)
	if err != nil || len(idle) != 1 || idle["poll"] < 3240 || idle["poll"] > 3960 {
		t.Errorf("check-in on the new version = %s, want only a poll of about 3600", r.body)
	}
	d, _ := e.svc.Device(t.Context(), "private", "n1")
	if d.Updates[0].State != core.StateSucceeded || d.BytesServed == 0 && !flushed(t, e) {
		t.Errorf("update = %s, want succeeded", d.Updates[0].State)
	}
	if d.Attributes["rssi"] != "-70" {
		t.Errorf("attributes = %v, want rssi -70", d.Attributes)
	}
}

func flushed(t *testing.T, e *env) bool {
	t.Helper()
	if err := e.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, _ := e.svc.Device(t.Context(), "private", "n1")
	return d.BytesServed == 4000
}

func TestHeadChangesNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	e.push(t, "p", "1.1.0", testImage(3000, 2))
	for _, path := range []string{"/fw/p/version?device=h1&version=1.0.0", "/fw/p/status?device=h1&state=installing"} {
		req, _ := http.NewRequest("HEAD", e.url+path, nil)
		do(t, req)
	}
	if _, err := e.svc.Device(t.Context(), "p", "h1"); err == nil {
		t.Error("HEAD requests registered a device; want no effect")
	}
}

func TestNativeErrorsStayShort(t *testing.T) {
	e := newEnv(t, 0, nil)
	body := `{"id":"d1","update":` + strings.Repeat("9", 600) + `,"state":"downloading"}`
	req, _ := http.NewRequest("POST", e.url+"/device/v1/p/status", strings.NewReader(body))
	r := do(t, req)
	if r.StatusCode != http.StatusBadRequest || len(r.body) > 200 {
		t.Errorf("status with a 600-digit update id = %d with %d bytes %q, want a short 400", r.StatusCode,
			len(r.body), r.body)
	}
}

// TestReflashedDeviceIsOfferedAgain: a device the native agent moved to
// 1.1.0, naming its image by SHA-256, then flashed back to 1.0.0 over USB
// and asking with a plain sketch that sends only its version, is offered
// 1.1.0 again, and the digest of the image it left is no longer shown.
func TestReflashedDeviceIsOfferedAgain(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(3000, 1))
	img := testImage(4000, 2)
	e.push(t, "private", "1.1.0", img)
	sum := sha256.Sum256(img)
	tok := e.enroll(t, "r1")
	post := func(path, body string) response {
		return e.deviceRequest(t, "POST", path, body, tok)
	}

	r := post("/device/v1/private/checkin", `{"id":"r1","version":"1.0.0"}`)
	var resp struct{ Update struct{ ID int64 } }
	if err := json.Unmarshal(r.body, &resp); err != nil || resp.Update.ID == 0 {
		t.Fatalf("checkin on 1.0.0 = %d %s (%v), want an offer", r.StatusCode, r.body, err)
	}
	st := fmt.Sprintf(`{"id":"r1","update":%d,"state":"installing"}`, resp.Update.ID)
	if r := post("/device/v1/private/status", st); r.StatusCode != http.StatusNoContent {
		t.Fatalf("status = %d %s, want 204", r.StatusCode, r.body)
	}
	r = post("/device/v1/private/checkin", fmt.Sprintf(`{"id":"r1","version":"1.1.0","sha256":"%x"}`, sum))
	if r.StatusCode != http.StatusOK || strings.Contains(string(r.body), "update") {
		t.Fatalf("checkin on 1.1.0 = %d %s, want no offer", r.StatusCode, r.body)
	}

	r = get(t, e.url+"/fw/private/version?device=r1&version=1.0.0", "Authorization", "Bearer "+tok)
	if r.StatusCode != http.StatusOK || string(r.body) != "1.1.0" {
		t.Errorf("plain version check-in on 1.0.0 after 1.1.0 = %d %q, want 1.1.0", r.StatusCode, r.body)
	}
	d, err := e.svc.Device(t.Context(), "private", "r1")
	if err != nil || d.Version != "1.0.0" || d.ImageSHA256 != "" {
		t.Errorf("Device(r1) = version %q sha %q (%v), want 1.0.0 and no digest",
			d.Version, d.ImageSHA256, err)
	}
}
