package ddi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// ddiServer is a Ferry server with product "gw" (key access) holding
// release 1.0.0 on stable, and devices d1 and d2 holding tokens.
type ddiServer struct {
	svc      *core.Service
	url      string
	key      string
	tok, tk2 string
	img      []byte
}

func startDDI(t *testing.T) *ddiServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ferry.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, core.Config{}, log)
	t.Cleanup(func() { _ = svc.Close() })
	ts := httptest.NewServer(server.New(svc, server.Config{}, log).Handler())
	t.Cleanup(ts.Close)

	s := &ddiServer{svc: svc, url: ts.URL, img: bytes.Repeat([]byte("0123456789abcdef"), 1024)}
	ctx := t.Context()
	if _, s.key, err = svc.CreateProduct(ctx, "gw", core.AccessKey); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PublishRelease(ctx, core.Publish{Product: "gw", Version: "1.0.0", Channel: "stable",
		Image: bytes.NewReader(s.img)}); err != nil {
		t.Fatal(err)
	}
	if s.tok, err = svc.IssueDeviceToken(ctx, "gw", "d1"); err != nil {
		t.Fatal(err)
	}
	if s.tk2, err = svc.IssueDeviceToken(ctx, "gw", "d2"); err != nil {
		t.Fatal(err)
	}
	return s
}

type answer struct {
	code int
	hdr  http.Header
	body string
}

func (s *ddiServer) do(t *testing.T, method, path, auth, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (s *ddiServer) poll(t *testing.T, dev, tok string) map[string]any {
	t.Helper()
	a := s.do(t, "GET", "/gw/controller/v1/"+dev, "TargetToken "+tok, "")
	if a.code != http.StatusOK {
		t.Fatalf("poll of %s = %d %s", dev, a.code, a.body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// state is what a hostile request must not change: every device of the
// product with its attributes, updates and history.
func (s *ddiServer) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	ds, err := s.svc.Devices(t.Context(), core.DeviceQuery{Product: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		full, err := s.svc.Device(t.Context(), "gw", d.Name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %q %v\n", full.Name, full.Version, full.Attributes)
		for _, u := range full.Updates {
			fmt.Fprintf(&b, "  update %d %s %s pending=%v\n", u.ID, u.Version, u.State, u.CancelPending)
		}
		for _, e := range full.Events {
			fmt.Fprintf(&b, "  event %s %s %q\n", e.Kind, e.State, e.Detail)
		}
	}
	return b.String()
}

var sleepRe = regexp.MustCompile(`^\d\d:\d\d:\d\d$`)

func TestPollAndDeployment(t *testing.T) {
	s := startDDI(t)
	v := s.poll(t, "d1", s.tok)
	sleep, _ := v["config"].(map[string]any)["polling"].(map[string]any)["sleep"].(string)
	if !sleepRe.MatchString(sleep) {
		t.Errorf("config.polling.sleep = %q, want HH:MM:SS", sleep)
	}
	links, _ := v["_links"].(map[string]any)
	dep, _ := links["deploymentBase"].(map[string]any)["href"].(string)
	if !strings.HasPrefix(dep, s.url+"/gw/controller/v1/d1/deploymentBase/") || links["configData"] == nil {
		t.Fatalf("poll links = %v, want deploymentBase and configData under the device", links)
	}

	a := s.do(t, "GET", strings.TrimPrefix(dep, s.url), "TargetToken "+s.tok, "")
	var d struct {
		ID         any `json:"id"`
		Deployment struct {
			Download, Update string
			Chunks           []struct {
				Part, Version, Name string
				Artifacts           []struct {
					Filename string
					Hashes   map[string]string
					Size     any
					Links    map[string]map[string]string `json:"_links"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(a.body), &d); err != nil || a.code != 200 {
		t.Fatalf("deploymentBase = %d %s, %v", a.code, a.body, err)
	}
	if _, ok := d.ID.(string); !ok {
		t.Errorf("deployment id = %#v, want a JSON string", d.ID)
	}
	if len(d.Deployment.Chunks) != 1 || len(d.Deployment.Chunks[0].Artifacts) != 1 {
		t.Fatalf("deployment = %+v, want one chunk with one artifact", d.Deployment)
	}
	c := d.Deployment.Chunks[0]
	art := c.Artifacts[0]
	if c.Part != "bApp" || c.Version != "1.0.0" || c.Name != "gw" || art.Filename != "gw-1.0.0.bin" {
		t.Errorf("chunk = %s %s %s, artifact %s; want bApp 1.0.0 gw, gw-1.0.0.bin", c.Part, c.Version, c.Name,
			art.Filename)
	}
	if size, ok := art.Size.(float64); !ok || int(size) != len(s.img) || !strings.Contains(a.body, `"size":16384,`) {
		t.Errorf("artifact size = %#v, want the integer %d", art.Size, len(s.img))
	}
	for _, h := range []string{"sha1", "md5", "sha256"} {
		if art.Hashes[h] == "" {
			t.Errorf("artifact hashes = %v, want %s", art.Hashes, h)
		}
	}

	// The download: whole, ranged, with a stale If-Range, and its .MD5SUM.
	href := strings.TrimPrefix(art.Links["download-http"]["href"], s.url)
	whole := s.do(t, "GET", href, "TargetToken "+s.tok, "")
	if whole.code != 200 || whole.body != string(s.img) || whole.hdr.Get("ETag") != `"`+art.Hashes["sha1"]+`"` {
		t.Errorf("artifact GET = %d, %d bytes, ETag %s", whole.code, len(whole.body), whole.hdr.Get("ETag"))
	}
	part := s.do(t, "GET", href, "TargetToken "+s.tok, "", "Range", "bytes=100-")
	if part.code != 206 || part.body != string(s.img[100:]) {
		t.Errorf("artifact GET from byte 100 = %d with %d bytes, want 206 with %d", part.code, len(part.body),
			len(s.img)-100)
	}
	stale := s.do(t, "GET", href, "TargetToken "+s.tok, "", "Range", "bytes=100-", "If-Range", `"old"`)
	if stale.code != 200 || len(stale.body) != len(s.img) {
		t.Errorf("artifact GET with a stale If-Range = %d with %d bytes, want the whole image", stale.code,
			len(stale.body))
	}
	md5 := s.do(t, "GET", strings.TrimPrefix(art.Links["md5sum-http"]["href"], s.url), "TargetToken "+s.tok, "")
	if md5.code != 200 || md5.body != art.Hashes["md5"]+"  gw-1.0.0.bin" {
		t.Errorf(".MD5SUM = %d %q, want the md5, two spaces and the file name", md5.code, md5.body)
	}
}

func TestFeedbackAndConfigData(t *testing.T) {
	s := startDDI(t)
	s.poll(t, "d1", s.tok)
	base := "/gw/controller/v1/d1"
	auth := "TargetToken " + s.tok
	dev, _ := s.svc.Device(t.Context(), "gw", "d1")
	id := fmt.Sprint(dev.Updates[0].ID)

	// SWUpdate's configData, with its legacy fields.
	cfg := `{"id":"","time":"20261204T150020","status":{"result":{"finished":"success"},"execution":"closed",` +
		`"details":[""]},"data":{"hwRevision":"1.0","board":"fakeboard"}}`
	if a := s.do(t, "PUT", base+"/configData", auth, cfg); a.code != 200 {
		t.Fatalf("configData = %d %s", a.code, a.body)
	}
	if links := s.poll(t, "d1", s.tok)["_links"].(map[string]any); links["configData"] != nil {
		t.Errorf("poll after configData links %v, want no configData", links)
	}

	steps := []struct {
		body  string
		code  int
		state core.State
	}{
		{`{"id":1,"time":"20261204T150020","status":{"execution":"proceeding","result":{"finished":"none",` +
			`"progress":{"cnt":0,"of":1}},"details":["Installing Update Chunk Artifacts."]},"extra":true}`,
			200, core.StateDownloading},
		{`{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":1,"of":1}},` +
			`"details":["All Chunks Installed."]}}`, 200, core.StateInstalling},
		{`{"status":{"execution":"closed","result":{"finished":"success"},"code":200,"details":["Update Installed."]}}`,
			200, core.StateSucceeded},
		// The same again, a retry after a lost answer: 200.
		{`{"status":{"execution":"closed","result":{"finished":"success"},"code":200,"details":["Update Installed."]}}`,
			200, core.StateSucceeded},
		// Anything else on a closed action: 410, kept in the history.
		{`{"status":{"execution":"closed","result":{"finished":"failure"},"details":["Update Failed."]}}`,
			410, core.StateSucceeded},
	}
	for i, st := range steps {
		a := s.do(t, "POST", base+"/deploymentBase/"+id+"/feedback", auth, st.body)
		d, _ := s.svc.Device(t.Context(), "gw", "d1")
		if a.code != st.code || d.Updates[0].State != st.state {
			t.Errorf("feedback %d = %d, update %s; want %d, %s (%s)", i, a.code, d.Updates[0].State, st.code,
				st.state, a.body)
		}
	}
	d, _ := s.svc.Device(t.Context(), "gw", "d1")
	if d.Version != "1.0.0" || d.Attributes["board"] != "fakeboard" {
		t.Errorf("d1 = version %q attributes %v, want 1.0.0 and board=fakeboard", d.Version, d.Attributes)
	}
	last := d.Events[len(d.Events)-1]
	if last.State != core.StateFailed || last.Detail != "Update Failed." {
		t.Errorf("last event = %+v, want the late failure", last)
	}
	links := s.poll(t, "d1", s.tok)["_links"].(map[string]any)
	inst, _ := links["installedBase"].(map[string]any)["href"].(string)
	if !strings.HasSuffix(inst, "/installedBase/"+id) || links["deploymentBase"] != nil {
		t.Errorf("poll after success links %v, want installedBase/%s alone", links, id)
	}
	if a := s.do(t, "GET", base+"/installedBase/"+id, auth, ""); a.code != 200 {
		t.Errorf("installedBase = %d %s", a.code, a.body)
	}
	if a := s.do(t, "GET", base+"/confirmationBase", auth, ""); a.code != 200 ||
		!strings.Contains(a.body, `"active":true`) {
		t.Errorf("confirmationBase = %d %s, want auto-confirm active", a.code, a.body)
	}
}

func TestGatewayToken(t *testing.T) {
	s := startDDI(t)
	a := s.do(t, "GET", "/gw/controller/v1/new-device", "GatewayToken "+s.key, "")
	if a.code != 200 || !strings.Contains(a.body, "deploymentBase") {
		t.Errorf("poll of a new device with the gateway token = %d %s, want an offer", a.code, a.body)
	}
}

// TestHostileRequests sends what a broken or malicious client might: each
// must get a clear 4xx and leave everything stored as it was.
func TestHostileRequests(t *testing.T) {
	s := startDDI(t)
	s.poll(t, "d1", s.tok)
	s.poll(t, "d2", s.tk2)
	d1, _ := s.svc.Device(t.Context(), "gw", "d1")
	d2, _ := s.svc.Device(t.Context(), "gw", "d2")
	mine, theirs := fmt.Sprint(d1.Updates[0].ID), fmt.Sprint(d2.Updates[0].ID)
	auth := "TargetToken " + s.tok
	fb := `{"status":{"execution":"closed","result":{"finished":"success"}}}`
	base := "/gw/controller/v1/d1"
	before := s.state(t)

	tests := []struct {
		name, method, path, auth, body string
		code                           int
	}{
		{"no token", "GET", base, "", "", 401},
		{"wrong target token", "GET", base, "TargetToken nope", "", 401},
		{"enrollment key as target token", "GET", base, "TargetToken " + s.key, "", 401},
		{"wrong gateway token", "GET", base, "GatewayToken nope", "", 401},
		{"other device's token", "GET", base, "TargetToken " + s.tk2, "", 403},
		{"other device's action", "GET", base + "/deploymentBase/" + theirs, auth, "", 404},
		{"feedback on other device's action", "POST", base + "/deploymentBase/" + theirs + "/feedback", auth, fb,
			404},
		{"unknown action", "GET", base + "/deploymentBase/999999", auth, "", 404},
		{"action not a number", "GET", base + "/deploymentBase/1x", auth, "", 400},
		{"negative action", "POST", base + "/deploymentBase/-1/feedback", auth, fb, 400},
		{"cancel of an open action", "GET", base + "/cancelAction/" + mine, auth, "", 404},
		{"cancel answer on an open action", "POST", base + "/cancelAction/" + mine + "/feedback", auth, fb, 409},
		{"malformed feedback", "POST", base + "/deploymentBase/" + mine + "/feedback", auth, `{"status":`, 400},
		{"feedback of wrong type", "POST", base + "/deploymentBase/" + mine + "/feedback", auth,
			`{"status":{"execution":7}}`, 400},
		{"unknown execution", "POST", base + "/deploymentBase/" + mine + "/feedback", auth,
			`{"status":{"execution":"exploded","result":{"finished":"none"}}}`, 400},
		{"unknown result", "POST", base + "/deploymentBase/" + mine + "/feedback", auth,
			`{"status":{"execution":"closed","result":{"finished":"maybe"}}}`, 400},
		{"two JSON objects", "POST", base + "/deploymentBase/" + mine + "/feedback", auth, fb + fb, 400},
		{"huge feedback", "POST", base + "/deploymentBase/" + mine + "/feedback", auth,
			`{"status":{"details":["` + strings.Repeat("x", 70<<10) + `"]}}`, 413},
		{"huge configData", "PUT", base + "/configData", auth,
			`{"data":{"k":"` + strings.Repeat("x", 70<<10) + `"}}`, 413},
		{"attribute too long", "PUT", base + "/configData", auth,
			`{"data":{"k":"` + strings.Repeat("x", 300) + `"}}`, 400},
		{"bad attribute mode", "PUT", base + "/configData", auth, `{"mode":"explode","data":{"k":"v"}}`, 400},
		{"installedBase without version", "PUT", base + "/installedBase", auth, `{"name":"gw"}`, 400},
		{"installedBase bad version", "PUT", base + "/installedBase", auth, `{"version":"not a version!"}`, 400},
		{"unknown tenant", "GET", "/nowhere/controller/v1/d1", auth, "", 404},
		{"bad controller id", "GET", "/gw/controller/v1/-d1", auth, "", 400},
		{"escaped slash in controller id", "GET", "/gw/controller/v1/d1%2Fx", auth, "", 400},
		{"dot-dot controller id", "GET", "/gw/controller/v1/a..b", auth, "", 400},
		{"long controller id", "GET", "/gw/controller/v1/" + strings.Repeat("a", 200), auth, "", 400},
		{"dot-dot path", "GET", "/gw/controller/v1/../../api/v1/products", auth, "", 307},
		{"HEAD poll", "HEAD", base, auth, "", 405},
		{"module it was not given", "GET", base + "/softwaremodules/999/artifacts/gw-1.0.0.bin", auth, "", 404},
		{"wrong artifact name", "GET", base + "/softwaremodules/1/artifacts/other.bin", auth, "", 404},
		{"module not a number", "GET", base + "/softwaremodules/x/artifacts", auth, "", 400},
		{"empty suffix range", "GET", base + "/softwaremodules/1/artifacts/gw-1.0.0.bin", auth, "", 416},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.code == 416 {
				hdr = []string{"Range", "bytes=-0"}
			}
			a := s.do(t, tt.method, tt.path, tt.auth, tt.body, hdr...)
			if a.code != tt.code {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, a.code, a.body, tt.code)
			}
			if a.code >= 400 && tt.method != "HEAD" && a.code != 416 && !strings.Contains(a.body, `"error":`) {
				t.Errorf("%s %s answered %q, want a JSON reason", tt.method, tt.path, a.body)
			}
			if len(a.body) > 400 {
				t.Errorf("%s %s answered %d bytes, want a short reason", tt.method, tt.path, len(a.body))
			}
			if after := s.state(t); after != before {
				t.Errorf("%s %s changed stored state:\nbefore:\n%s\nafter:\n%s", tt.method, tt.path, before, after)
			}
		})
	}
}
