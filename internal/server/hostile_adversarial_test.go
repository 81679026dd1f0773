package server_test

// Adversarial tests: hostile and malformed input from devices and operators
// is refused cleanly and changes nothing, and races end in a consistent
// state.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func advReq(t *testing.T, method, url, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func TestAdversarialRangeHeaders(t *testing.T) {
	e := newEnv(t, 0, nil)
	img := testImage(7000, 3)
	e.push(t, "p", "1.0.0", img)
	bin := e.url + "/fw/p/bin"
	etag := get(t, bin).Header.Get("ETag")

	tests := []struct {
		name, rng, ifRange string
		status             int
		body               []byte
	}{
		{"suffix", "bytes=-10", "", 206, img[len(img)-10:]},
		{"suffix longer than image", "bytes=-99999", "", 206, img},
		{"open end", "bytes=0-", "", 206, img},
		{"last byte", "bytes=6999-", "", 206, img[6999:]},
		{"end past size is clamped", "bytes=6990-100000", "", 206, img[6990:]},
		{"multi-range is ignored", "bytes=0-0,5-9", "", 200, img},
		{"overlapping multi-range is ignored", "bytes=0-100,50-150", "", 200, img},
		{"start past size", "bytes=7000-", "", 416, nil},
		{"reversed", "bytes=5-2", "", 416, nil},
		{"negative", "bytes=--1", "", 416, nil},
		{"overflowing start", "bytes=99999999999999999999-", "", 416, nil},
		{"overflowing suffix", "bytes=-99999999999999999999", "", 416, nil},
		{"matching If-Range", "bytes=0-9", etag, 206, img[:10]},
		{"stale If-Range", "bytes=0-9", `"0000000000000000"`, 200, img},
		{"weak If-Range", "bytes=0-9", "W/" + etag, 200, img},
		{"date If-Range (no Last-Modified)", "bytes=0-9", "Mon, 01 Jan 2024 00:00:00 GMT", 200, img},
		{"garbage If-Range", "bytes=0-9", "garbage", 200, img},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := []string{"Range", tt.rng}
			if tt.ifRange != "" {
				h = append(h, "If-Range", tt.ifRange)
			}
			r := get(t, bin, h...)
			if r.StatusCode != tt.status {
				t.Fatalf("Range %q If-Range %q: status %d, want %d", tt.rng, tt.ifRange, r.StatusCode, tt.status)
			}
			if r.Header.Get("Transfer-Encoding") != "" || r.ContentLength != int64(len(r.body)) {
				t.Errorf("answer not a plain byte run: TE %q, Content-Length %d, body %d",
					r.Header.Get("Transfer-Encoding"), r.ContentLength, len(r.body))
			}
			if tt.body != nil && !bytes.Equal(r.body, tt.body) {
				t.Errorf("body = %d bytes, want %d", len(r.body), len(tt.body))
			}
		})
	}

	req, _ := http.NewRequest("HEAD", bin, nil)
	req.Header.Set("Range", "bytes=0-9")
	r := do(t, req)
	if r.StatusCode != 206 || r.ContentLength != 10 || len(r.body) != 0 {
		t.Errorf("HEAD with Range = %d, Content-Length %d, body %d; want 206, 10, none",
			r.StatusCode, r.ContentLength, len(r.body))
	}
}

// rawExchange writes raw bytes to the server and reads until it closes the
// connection or goes quiet.
func rawExchange(t *testing.T, e *env, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestAdversarialHTTP10AndPipelining(t *testing.T) {
	e := newEnv(t, 0, nil)
	img := testImage(3000, 4)
	e.push(t, "p", "1.0.0", img)

	out := rawExchange(t, e, "GET /fw/p/version HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.0 200") || !strings.HasSuffix(out, "\r\n\r\n1.0.0") ||
		!strings.Contains(out, "Content-Length: 5\r\n") {
		t.Errorf("HTTP/1.0 version = %q, want 200 with Content-Length 5 and 1.0.0", out)
	}
	out = rawExchange(t, e, "GET /fw/p/bin HTTP/1.0\r\nRange: bytes=0-3\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.0 206") || !strings.HasSuffix(out, "\r\n\r\n"+string(img[:4])) {
		t.Errorf("HTTP/1.0 ranged bin = %q, want 206 with 4 bytes", out)
	}

	// Four pipelined requests come back complete and in order.
	out = rawExchange(t, e, "GET /fw/p/version HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /fw/p/bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n"+
		"GET /fw/p/nope HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /fw/p/sha256 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(strings.NewReader(out))
	sum := sha256.Sum256(img)
	want := []struct {
		status int
		body   string
	}{{200, "1.0.0"}, {206, string(img[10:20])}, {404, ""}, {200, hex.EncodeToString(sum[:])}}
	for i, w := range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined answer %d: %v (all: %q)", i, err, out)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != w.status || (w.body != "" && string(b) != w.body) {
			t.Errorf("pipelined answer %d = %d %q, want %d %q", i, resp.StatusCode, b, w.status, w.body)
		}
	}

	// Not HTTP at all: refused, nothing served.
	for _, raw := range []string{"GET /fw/p/version HTTP/0.9\r\n\r\n", "GET /fw/p/version\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
		if out := rawExchange(t, e, raw); strings.Contains(out, "1.0.0") || strings.Contains(out, " 200 ") {
			t.Errorf("%q answered %q, want a refusal", raw, out)
		}
	}
}

func TestAdversarialHostileNamesChangeNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 5))
	long := strings.Repeat("a", 129)
	huge := strings.Repeat("a", 12000)
	paths := []string{
		"/fw/..%2f..%2fetc/version", "/fw/%2e%2e/version", "/fw/p%2fx/version", "/fw/p%00/version",
		"/fw/%ff%fe/version", "/fw/P/version",
		"/fw/p/version?device=%ff%fe&version=1.0.0", "/fw/p/version?device=" + long + "&version=1.0.0",
		"/fw/p/version?device=" + huge, "/fw/p/version?device=a%0d%0aX:y", "/fw/p/version?device=d..1",
		"/fw/p/version?device=.hidden", "/fw/p/version?device=-x", "/fw/p/version?device=d1&version=" + long,
		"/fw/p/version?device=d1&version=1.0.0%00", "/fw/p/version?device=d1&version=%ff",
		"/fw/p/bin?device=%2e%2e%2f", "/fw/p/hash?device=" + long,
		"/device/v1/p/img/..%2f..%2fferry.db", "/device/v1/p/img/" + strings.Repeat("A", 64),
		"/device/v1/p/img/" + strings.Repeat("a", 63) + "g", "/device/v1/p/img/" + strings.Repeat("0", 64),
		"/device/v1/..%2fp/checkin",
	}
	for _, p := range paths {
		r := get(t, e.url+p)
		if r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("GET %.80s = %d %q, want a 4xx", p, r.StatusCode, r.body)
		}
		if len(r.body) > 400 {
			t.Errorf("GET %.80s answered %d bytes; hostile input should not bloat errors", p, len(r.body))
		}
	}
	// A 128-character ID is the longest allowed, and works.
	if r := get(t, e.url+"/fw/p/version?device="+long[:128]+"&version=0.9"); r.StatusCode != 200 {
		t.Errorf("128-character device id = %d %s, want 200", r.StatusCode, r.body)
	}
	ds, err := e.svc.Devices(t.Context(), core.DeviceQuery{})
	if err != nil || len(ds) != 1 {
		t.Errorf("devices after hostile requests = %d (%v), want only the valid one", len(ds), err)
	}
}

func TestAdversarialStatusInputChangesNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 6))
	e.push(t, "p", "1.1.0", testImage(2000, 7))
	fw := e.url + "/fw/p/"
	if r := get(t, fw+"version?device=d1&version=1.0.0"); string(r.body) != "1.1.0" {
		t.Fatalf("check-in = %q", r.body)
	}
	before, _ := e.svc.Device(t.Context(), "p", "d1")
	bad := []string{
		"state=downloading&progress=9223372036854775808", "state=downloading&progress=-1",
		"state=downloading&progress=1e5", "state=downloading&progress=0x10",
		"state=offered", "state=canceled", "state=DOWNLOADING", "state=", "state=downloading%00",
		"state=downloading&detail=" + strings.Repeat("x", 1025),
	}
	for _, q := range bad {
		if r := get(t, fw+"status?device=d1&"+q); r.StatusCode != 400 {
			t.Errorf("status %.60s = %d %q, want 400", q, r.StatusCode, r.body)
		}
	}
	r := advReq(t, "POST", fw+"status", "device=d1&state=downloaded&detail="+strings.Repeat("x", 5000),
		"Content-Type", "application/x-www-form-urlencoded")
	if r.StatusCode != 400 && r.StatusCode != 413 {
		t.Errorf("oversized status form = %d %q, want 400 or 413", r.StatusCode, r.body)
	}
	after, _ := e.svc.Device(t.Context(), "p", "d1")
	if len(after.Events) != len(before.Events) || after.Updates[0].State != core.StateOffered {
		t.Errorf("bad status reports changed the device: %d -> %d events, state %s",
			len(before.Events), len(after.Events), after.Updates[0].State)
	}
}

func TestAdversarialNativeBodiesChangeNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 8))
	attrs := func(n, klen, vlen int) string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("%0*d", klen, i)] = strings.Repeat("v", vlen)
		}
		b, _ := json.Marshal(map[string]any{"id": "n1", "version": "0.9.0", "attrs": m})
		return string(b)
	}
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"oversized", "checkin", `{"id":"n1","x":"` + strings.Repeat("a", 20000) + `"}`, 413},
		{"deeply nested", "checkin", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 400},
		{"id a number", "checkin", `{"id":1,"version":"1.0.0"}`, 400},
		{"version a number", "checkin", `{"id":"n1","version":1.0}`, 400},
		{"attrs an array", "checkin", `{"id":"n1","attrs":["a"]}`, 400},
		{"attr value a number", "checkin", `{"id":"n1","attrs":{"a":1}}`, 400},
		{"33 attrs", "checkin", attrs(33, 2, 1), 400},
		{"attr name too long", "checkin", attrs(1, 65, 1), 400},
		{"attr value too long", "checkin", attrs(1, 2, 257), 400},
		{"null", "checkin", `null`, 400},
		{"array", "checkin", `[]`, 400},
		{"empty", "checkin", ``, 400},
		{"two objects", "checkin", `{"id":"n1"} {"id":"n2"}`, 400},
		{"trailing garbage", "checkin", `{"id":"n1"}x`, 400},
		{"bad sha256", "checkin", `{"id":"n1","sha256":"ABC"}`, 400},
		{"report before check-in", "status", `{"id":"n1","state":"downloading"}`, 404},
		{"negative update", "status", `{"id":"n1","update":-1,"state":"downloading"}`, 400},
		{"float update", "status", `{"id":"n1","update":1e3,"state":"downloading"}`, 400},
		{"overflowing update", "status", `{"id":"n1","update":9223372036854775808,"state":"downloading"}`, 400},
		{"string update", "status", `{"id":"n1","update":"1","state":"downloading"}`, 400},
		{"float progress", "status", `{"id":"n1","state":"downloading","progress":1.5}`, 400},
	}
	for _, tt := range tests {
		r := advReq(t, "POST", e.url+"/device/v1/p/"+tt.path, tt.body)
		if r.StatusCode != tt.status {
			t.Errorf("%s: %d %.120s, want %d", tt.name, r.StatusCode, r.body, tt.status)
		}
		var er struct{ Error string }
		if json.Unmarshal(r.body, &er) != nil || er.Error == "" || len(r.body) > 400 {
			t.Errorf("%s: error body %.120q, want a short {\"error\":…}", tt.name, r.body)
		}
	}
	if ds, _ := e.svc.Devices(t.Context(), core.DeviceQuery{}); len(ds) != 0 {
		t.Errorf("%d devices recorded from bad bodies, want none", len(ds))
	}
	// The largest valid attributes still fit the body limit.
	if r := advReq(t, "POST", e.url+"/device/v1/p/checkin", attrs(32, 64, 256)); r.StatusCode != 200 {
		t.Errorf("32 attributes of the largest size = %d %s, want 200", r.StatusCode, r.body)
	}
}

func TestAdversarialForeignUpdateReports(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 9))
	e.push(t, "p", "1.1.0", testImage(1500, 10))
	checkIn := func(id string) int64 {
		r := advReq(t, "POST", e.url+"/device/v1/p/checkin", `{"id":"`+id+`","version":"1.0.0"}`)
		var resp struct{ Update struct{ ID int64 } }
		if err := json.Unmarshal(r.body, &resp); err != nil || resp.Update.ID == 0 {
			t.Fatalf("check-in %s = %d %s", id, r.StatusCode, r.body)
		}
		return resp.Update.ID
	}
	a := checkIn("a")
	checkIn("b")
	for _, st := range []string{"failed", "installing", "downloading"} {
		r := advReq(t, "POST", e.url+"/device/v1/p/status",
			fmt.Sprintf(`{"id":"b","update":%d,"state":%q}`, a, st))
		if r.StatusCode != 404 {
			t.Errorf("b reporting %s on a's update = %d %s, want 404", st, r.StatusCode, r.body)
		}
	}
	// The same update id through another product is not found either.
	if _, _, err := e.svc.CreateProduct(t.Context(), "q", core.AccessPublic); err != nil {
		t.Fatal(err)
	}
	r := advReq(t, "POST", e.url+"/device/v1/q/status", fmt.Sprintf(`{"id":"a","update":%d,"state":"failed"}`, a))
	if r.StatusCode != 404 {
		t.Errorf("report through another product = %d %s, want 404", r.StatusCode, r.body)
	}
	d, _ := e.svc.Device(t.Context(), "p", "a")
	if d.Updates[0].State != core.StateOffered || len(d.Events) != 2 {
		t.Errorf("a's update after foreign reports: %s with %d events, want offered and 2", d.Updates[0].State,
			len(d.Events))
	}
}

func TestAdversarialConcurrentCheckInsAndReports(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 11))
	e.push(t, "p", "1.1.0", testImage(1500, 12))
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 40 {
		wg.Go(func() {
			var r *http.Response
			var err error
			if i%2 == 0 {
				r, err = http.Post(e.url+"/device/v1/p/checkin", "application/json",
					strings.NewReader(`{"id":"race","version":"1.0.0"}`))
			} else {
				r, err = http.Get(e.url + "/fw/p/version?device=race&version=1.0.0")
			}
			if err != nil {
				errs <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != 200 {
				errs <- fmt.Sprintf("check-in %d: %d", i, r.StatusCode)
			}
		})
	}
	wg.Wait()
	d, err := e.svc.Device(t.Context(), "p", "race")
	if err != nil || len(d.Updates) != 1 {
		t.Fatalf("after 40 concurrent check-ins: %d updates (%v), want exactly one", len(d.Updates), err)
	}

	for i := range 40 {
		wg.Go(func() {
			r, err := http.Post(e.url+"/device/v1/p/status", "application/json",
				strings.NewReader(fmt.Sprintf(`{"id":"race","state":"downloading","progress":%d}`, (i+1)*10)))
			if err != nil {
				errs <- err.Error()
				return
			}
			r.Body.Close()
			if r.StatusCode != 204 {
				errs <- fmt.Sprintf("report %d: %d", i, r.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	d, _ = e.svc.Device(t.Context(), "p", "race")
	reports := 0
	for _, ev := range d.Events {
		if ev.Kind == core.EventReport {
			reports++
		}
	}
	if u := d.Updates[0]; u.State != core.StateDownloading || u.Progress != 400 || reports != 40 {
		t.Errorf("after 40 concurrent reports: %s, progress %d, %d reports; want downloading, 400, 40",
			u.State, u.Progress, reports)
	}
}

func TestAdversarialOperatorAuth(t *testing.T) {
	e := newEnv(t, 0, nil)
	u := e.url + "/api/v1/products"
	for _, tc := range []struct{ name, url, auth string }{
		{"none", u, ""},
		{"token in query", u + "?token=" + e.token, ""},
		{"access_token in query", u + "?access_token=" + e.token, ""},
		{"empty bearer", u, "Bearer "},
		{"bare scheme", u, "Bearer"},
		{"no scheme", u, e.token},
		{"basic", u, "Basic " + e.token},
		{"token with a prefix cut", u, "Bearer " + e.token[:len(e.token)-1]},
		{"token with junk", u, "Bearer " + e.token + "x"},
		{"enrollment key", u, "Bearer " + e.key},
		{"nul", u, "Bearer " + e.token + "\x00"},
	} {
		h := []string{}
		if tc.auth != "" {
			h = []string{"Authorization", tc.auth}
		}
		req, err := http.NewRequest("GET", tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header[h[i]] = []string{h[i+1]}
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			continue // the client refused to send it: fine
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s: %d, want 401", tc.name, resp.StatusCode)
		}
	}
	// Writes without a valid token change nothing, and are refused before
	// the body is read.
	r := advReq(t, "POST", u, `{"name":"evil","access":"public"}`, "Authorization", "Bearer nope")
	if r.StatusCode != 401 {
		t.Errorf("create product with a bad token = %d", r.StatusCode)
	}
	if ps, _ := e.svc.Products(t.Context()); len(ps) != 2 {
		t.Errorf("%d products after refused writes, want 2", len(ps))
	}
	// A path that looks like another adapter's does not skip the check.
	for _, p := range []string{"/fw/../api/v1/products", "/api/v1/../v1/products", "/API/v1/products"} {
		req, _ := http.NewRequest("GET", e.url+p, nil)
		req.URL.Opaque = p // send the path as written
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || bytes.Contains(b, []byte(`"products"`)) {
			t.Errorf("GET %s without a token = %d %s", p, resp.StatusCode, b)
		}
	}
}

func TestAdversarialOperatorInputChangesNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 13))
	auth := []string{"Authorization", "Bearer " + e.token}
	rel := e.url + "/api/v1/products/p/releases?"
	img := string(testImage(2000, 14))
	tests := []struct {
		name, method, url, body string
		status                  int
	}{
		{"notes over the limit", "POST", rel + "version=2.0.0&notes=" + strings.Repeat("n", 4097), img, 400},
		{"notes far over the limit", "POST", rel + "version=2.0.0&notes=" + strings.Repeat("n", 12000), img, 400},
		{"empty image", "POST", rel + "version=2.0.0", "", 400},
		{"existing version", "POST", rel + "version=1.0.0", img, 409},
		{"wrong sha256", "POST", rel + "version=2.0.0&sha256=" + strings.Repeat("0", 64), img, 400},
		{"malformed sha256", "POST", rel + "version=2.0.0&sha256=xyz", img, 400},
		{"bad version", "POST", rel + "version=../../x", img, 400},
		{"bad channel", "POST", rel + "version=2.0.0&channel=Stable", img, 400},
		{"channel to a missing version", "PUT", e.url + "/api/v1/products/p/channels/stable",
			`{"version":"9.9.9"}`, 404},
		{"channel to a bad version", "PUT", e.url + "/api/v1/products/p/channels/stable", `{"version":"x"}`, 400},
		{"channel with extra field", "PUT", e.url + "/api/v1/products/p/channels/stable",
			`{"version":"1.0.0","x":1}`, 400},
		{"channel body too large", "PUT", e.url + "/api/v1/products/p/channels/stable",
			`{"version":"` + strings.Repeat("1", 3<<20) + `"}`, 413},
		{"channel of another product's version", "PUT", e.url + "/api/v1/products/private/channels/stable",
			`{"version":"1.0.0"}`, 404},
		{"bad product access", "POST", e.url + "/api/v1/products", `{"name":"x","access":"none"}`, 400},
		{"device limit overflow", "GET", e.url + "/api/v1/devices?limit=99999999999999999999", "", 400},
	}
	for _, tt := range tests {
		r := advReq(t, tt.method, tt.url, tt.body, auth...)
		if r.StatusCode != tt.status {
			t.Errorf("%s: %d %.100s, want %d", tt.name, r.StatusCode, r.body, tt.status)
		}
	}
	rs, _ := e.svc.Releases(t.Context(), "p")
	cs, _ := e.svc.Channels(t.Context(), "p")
	if len(rs) != 1 || len(cs) != 1 || cs[0].Release.Version != "1.0.0" {
		t.Errorf("after refused operator requests: %d releases, channels %v", len(rs), cs)
	}
	if cs, _ := e.svc.Channels(t.Context(), "private"); len(cs) != 0 {
		t.Errorf("private got channels %v", cs)
	}
}

func TestAdversarialUploadCutMidwayPublishesNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	img := testImage(200000, 15)
	sum := sha256.Sum256(img)
	head := func(extra string) string {
		return "POST /api/v1/products/p/releases?version=1.0.0 HTTP/1.1\r\nHost: x\r\n" +
			"Authorization: Bearer " + e.token + "\r\n" + extra + "\r\n"
	}
	cuts := []string{
		head(fmt.Sprintf("Content-Length: %d\r\n", len(img))) + string(img[:100000]),
		head("Transfer-Encoding: chunked\r\n") + "1000\r\n" + string(img[:4096]) + "\r\n",
		head("Transfer-Encoding: chunked\r\n") + "1000\r\n" + string(img[:100]),
	}
	for i, raw := range cuts {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		c.Close()
		// The server notices the cut; give it a moment.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if rs, _ := e.svc.Releases(t.Context(), "p"); len(rs) != 0 {
				t.Fatalf("cut upload %d published a release: %+v", i, rs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if r := get(t, e.url+"/device/v1/p/img/"+hex.EncodeToString(sum[:])); r.StatusCode != 404 {
		t.Errorf("image of a cut upload = %d, want 404", r.StatusCode)
	}
	// The version is still free, and a whole upload takes it.
	e.push(t, "p", "1.0.0", img)
	if r := get(t, e.url+"/fw/p/bin"); !bytes.Equal(r.body, img) {
		t.Errorf("bin after cut uploads and a whole one = %d bytes, want the whole image", len(r.body))
	}
}

func TestAdversarialConcurrentSameVersionUploads(t *testing.T) {
	e := newEnv(t, 0, nil)
	const n = 8
	codes := make([]int, n)
	sums := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			img := testImage(300000, byte(100+i))
			s := sha256.Sum256(img)
			sums[i] = hex.EncodeToString(s[:])
			req, _ := http.NewRequest("POST", e.url+"/api/v1/products/p/releases?version=1.0.0", bytes.NewReader(img))
			req.Header.Set("Authorization", "Bearer "+e.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	created, winner := 0, -1
	for i, c := range codes {
		switch c {
		case 201:
			created++
			winner = i
		case 409:
		default:
			t.Errorf("upload %d = %d, want 201 or 409", i, c)
		}
	}
	if created != 1 {
		t.Fatalf("concurrent uploads of one version: %d created (%v), want exactly one", created, codes)
	}
	rs, _ := e.svc.Releases(t.Context(), "p")
	if len(rs) != 1 || rs[0].SHA256 != sums[winner] {
		t.Errorf("release after the race = %+v, want the winner's image %s", rs, sums[winner])
	}
	if r := get(t, e.url+"/fw/p/sha256"); string(r.body) != sums[winner] {
		t.Errorf("served sha256 %s, want the winner's %s", r.body, sums[winner])
	}
}

func TestAdversarialKeepAliveAfterBigDownload(t *testing.T) {
	stall := 500 * time.Millisecond
	e := newEnv(t, stall, nil)
	img := testImage(1000<<10, 16)
	e.push(t, "p", "1.0.0", img)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	reused := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}}
	for i, path := range []string{"/fw/p/bin", "/fw/p/version", "/fw/p/bin", "/api/v1/products"} {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			"GET", e.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("request %d %s on a kept-alive connection: %v", i, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d %s = %d, %v", i, path, resp.StatusCode, err)
		}
		if path == "/fw/p/bin" && !bytes.Equal(b, img) {
			t.Fatalf("request %d: %d bytes, want the image", i, len(b))
		}
		// Idle well past the stall timeout: a write deadline left over
		// from the download must not kill the next answer.
		time.Sleep(3 * stall)
	}
	if reused != 3 {
		t.Errorf("%d of 3 later requests reused the connection", reused)
	}
}
