package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/api"
	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// testAPI is the operator API over a real core, SQLite store and disk blob
// store in a temporary directory. Product p has releases 1.0.0 (on stable)
// and 1.1.0 (on no channel), and devices d1-d4 that run 1.0.0.
type testAPI struct {
	svc   *core.Service
	srv   *httptest.Server
	token string // named alice
	bob   string // a second token, named bob
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "ferry.db"), nil)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := disk.New(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatalf("disk.New: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	// A long rollout tick keeps the background controller out of the way.
	svc := core.NewService(st, blobs, core.Config{RolloutTick: time.Hour}, log)
	t.Cleanup(func() { _ = svc.Close() })

	a := &testAPI{svc: svc}
	if a.token, _, err = svc.CreateToken(ctx, "alice", core.RoleAdmin); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if a.bob, _, err = svc.CreateToken(ctx, "bob", core.RoleAdmin); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	a.srv = httptest.NewServer(api.New(svc, time.Minute, log))
	t.Cleanup(a.srv.Close)

	a.must(t, "POST", "/api/v1/products", `{"name":"p","access":"public"}`, http.StatusCreated)
	a.push(t, "1.0.0", "stable")
	a.push(t, "1.1.0", "")
	for _, d := range []string{"d1", "d2", "d3", "d4"} {
		a.checkIn(t, d)
	}
	return a
}

func (a *testAPI) push(t *testing.T, version, channel string) {
	t.Helper()
	path := "/api/v1/products/p/releases?version=" + version + "&channel=" + channel
	a.must(t, "POST", path, "firmware "+version, http.StatusCreated)
}

// checkIn checks device d in running 1.0.0 and returns the ID of the
// update it is offered, or 0.
func (a *testAPI) checkIn(t *testing.T, d string) int64 {
	t.Helper()
	p, err := a.svc.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := a.svc.CheckIn(t.Context(), p, core.CheckIn{Device: d, Version: "1.0.0", Protocol: "native"})
	if err != nil {
		t.Fatalf("CheckIn(%s): %v", d, err)
	}
	if dec.Update == nil {
		return 0
	}
	return dec.Update.ID
}

// call sends a request with token and returns the status and body.
func (a *testAPI) call(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// must sends a request as alice, checks the status and returns the body.
func (a *testAPI) must(t *testing.T, method, path, body string, want int) []byte {
	t.Helper()
	status, b := a.call(t, a.token, method, path, body)
	if status != want {
		t.Fatalf("%s %s %s = %d %s, want %d", method, path, body, status, b, want)
	}
	return b
}

// decodeJSON decodes b into v, failing the test if it is not JSON.
func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
}

type rolloutJSON struct {
	ID          int64    `json:"id"`
	Product     string   `json:"product"`
	Version     string   `json:"version"`
	Devices     []string `json:"devices"`
	Phases      string   `json:"phases"`
	Phase       int      `json:"phase"`
	State       string   `json:"state"`
	Reason      string   `json:"reason"`
	Soak        string   `json:"soak"`
	SuccessRate float64  `json:"success_rate"`
	FailCount   int      `json:"fail_count"`
	CreatedBy   string   `json:"created_by"`
	FinishedAt  *string  `json:"finished_at"`
	Status      []phaseJSON
	Total       phaseJSON
}

type phaseJSON struct {
	Label       string         `json:"label"`
	Reached     bool           `json:"reached"`
	Selected    int            `json:"selected"`
	Pending     int            `json:"pending"`
	States      map[string]int `json:"states"`
	Succeeded   int            `json:"succeeded"`
	Failed      int            `json:"failed"`
	Reasons     map[string]int `json:"reasons"`
	SuccessRate float64        `json:"success_rate"`
}

const rolloutBody = `{"version":"1.1.0","devices":["d1","d2","d3","d4"],"phases":"1,100%",` +
	`"soak":"1h","success_rate":0.9,"fail_count":5}`

func (a *testAPI) createRollout(t *testing.T) rolloutJSON {
	t.Helper()
	var ro rolloutJSON
	decodeJSON(t, a.must(t, "POST", "/api/v1/products/p/rollouts", rolloutBody, http.StatusCreated), &ro)
	return ro
}

func TestAuthenticationRequired(t *testing.T) {
	a := newTestAPI(t)
	for _, tok := range []string{"", "fop_wrong"} {
		if status, b := a.call(t, tok, "GET", "/api/v1/rollouts", ""); status != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/rollouts with token %q = %d %s, want 401", tok, status, b)
		}
	}
}

func TestCreateRollout(t *testing.T) {
	a := newTestAPI(t)
	ro := a.createRollout(t)
	if ro.ID == 0 || ro.Product != "p" || ro.Version != "1.1.0" || ro.Phases != "1,100%" || ro.Phase != 0 ||
		ro.State != "running" || ro.Soak != "1h0m0s" || ro.SuccessRate != 0.9 || ro.FailCount != 5 ||
		ro.CreatedBy != "alice" || len(ro.Devices) != 4 {
		t.Errorf("POST rollouts = %+v, want rollout of p 1.1.0 by alice, running in phase 0 of 1,100%%", ro)
	}

	tests := []struct {
		name    string
		product string
		body    string
		want    int
	}{
		{"unknown field", "p", `{"version":"1.1.0","phase":"1%"}`, http.StatusBadRequest},
		{"bad soak", "p", `{"version":"1.1.0","soak":"an hour"}`, http.StatusBadRequest},
		{"bad phases", "p", `{"version":"1.1.0","phases":"0%"}`, http.StatusBadRequest},
		{"bad success rate", "p", `{"version":"1.1.0","success_rate":95}`, http.StatusBadRequest},
		{"bad tag", "p", `{"version":"1.1.0","tags":["a b"]}`, http.StatusBadRequest},
		{"no body", "p", ``, http.StatusBadRequest},
		{"unknown release", "p", `{"version":"9.9.9"}`, http.StatusNotFound},
		{"unknown product", "q", `{"version":"1.1.0"}`, http.StatusNotFound},
		{"second active rollout", "p", `{"version":"1.1.0"}`, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/products/" + tt.product + "/rollouts"
			if status, b := a.call(t, a.token, "POST", path, tt.body); status != tt.want {
				t.Errorf("POST %s %s = %d %s, want %d", path, tt.body, status, b, tt.want)
			}
		})
	}
}

func TestListRollouts(t *testing.T) {
	a := newTestAPI(t)
	ro := a.createRollout(t)
	a.must(t, "POST", "/api/v1/products", `{"name":"q","access":"public"}`, http.StatusCreated)

	for _, path := range []string{"/api/v1/rollouts", "/api/v1/rollouts?product=p"} {
		var got struct{ Rollouts []rolloutJSON }
		decodeJSON(t, a.must(t, "GET", path, "", http.StatusOK), &got)
		if len(got.Rollouts) != 1 || got.Rollouts[0].ID != ro.ID || got.Rollouts[0].Product != "p" {
			t.Errorf("GET %s = %+v, want rollout %d of p", path, got.Rollouts, ro.ID)
		}
	}
	if b := a.must(t, "GET", "/api/v1/rollouts?product=q", "", http.StatusOK); string(b) != `{"rollouts":[]}` {
		t.Errorf("GET rollouts of q = %s, want none", b)
	}
	if status, b := a.call(t, a.token, "GET", "/api/v1/rollouts?product=nope", ""); status != http.StatusNotFound {
		t.Errorf("GET rollouts of an unknown product = %d %s, want 404", status, b)
	}
}

// failReason is how the core records a device's failure report "boom".
const failReason = "device reported failure: boom"

func TestRolloutStatus(t *testing.T) {
	a := newTestAPI(t)
	ro := a.createRollout(t)

	// Phase 0 holds exactly one device; it alone gets an offer, and fails.
	var offered []string
	for _, d := range []string{"d1", "d2", "d3", "d4"} {
		if id := a.checkIn(t, d); id != 0 {
			offered = append(offered, d)
			p, _ := a.svc.Product(t.Context(), "p")
			in := core.Report{Device: d, UpdateID: id, State: "failed", Detail: "boom", Protocol: "native"}
			if _, err := a.svc.Report(t.Context(), p, in); err != nil {
				t.Fatalf("Report: %v", err)
			}
		}
	}
	if len(offered) != 1 {
		t.Fatalf("devices offered the rollout's release = %v, want exactly one", offered)
	}

	var got rolloutJSON
	path := "/api/v1/rollouts/" + itoa(ro.ID)
	decodeJSON(t, a.must(t, "GET", path, "", http.StatusOK), &got)
	if len(got.Status) != 2 {
		t.Fatalf("GET %s status = %+v, want 2 phases", path, got.Status)
	}
	p0, p1 := got.Status[0], got.Status[1]
	if p0.Label != "1" || !p0.Reached || p0.Selected != 1 || p0.Failed != 1 || p0.Reasons[failReason] != 1 {
		t.Errorf("phase 0 = %+v, want 1 device, reached, failed with boom", p0)
	}
	if p1.Label != "100%" || p1.Reached || p1.Selected != 3 || p1.Pending != 3 {
		t.Errorf("phase 1 = %+v, want 3 pending devices, not reached", p1)
	}
	if tot := got.Total; tot.Selected != 4 || tot.Failed != 1 || tot.Pending != 3 || tot.SuccessRate != 0 ||
		tot.Reasons[failReason] != 1 || tot.States == nil {
		t.Errorf("total = %+v, want 4 selected, 1 failed (boom), 3 pending", tot)
	}

	for path, want := range map[string]int{
		"/api/v1/rollouts/999": http.StatusNotFound,
		"/api/v1/rollouts/x":   http.StatusBadRequest,
		"/api/v1/rollouts/-1":  http.StatusBadRequest,
	} {
		if status, b := a.call(t, a.token, "GET", path, ""); status != want {
			t.Errorf("GET %s = %d %s, want %d", path, status, b, want)
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestChangeRollout(t *testing.T) {
	a := newTestAPI(t)
	ro := a.createRollout(t)
	base := "/api/v1/rollouts/" + itoa(ro.ID)

	steps := []struct {
		action, body string
		want         int
		state        string
		phase        int
	}{
		{"pause", `{"reason":"looks odd"}`, http.StatusOK, "paused", 0},
		{"pause", ``, http.StatusConflict, "", 0},
		{"resume", ``, http.StatusOK, "running", 0},
		{"resume", `{}`, http.StatusConflict, "", 0},
		{"advance", `{"reason":"canary fine"}`, http.StatusOK, "running", 1},
		{"advance", ``, http.StatusConflict, "", 0},
		{"pause", `{"reason":7}`, http.StatusBadRequest, "", 0},
		{"pause", `{"why":"x"}`, http.StatusBadRequest, "", 0},
		{"cancel", `{"reason":"wrong build"}`, http.StatusOK, "canceled", 1},
		{"cancel", ``, http.StatusConflict, "", 0},
		{"resume", ``, http.StatusConflict, "", 0},
	}
	for i, s := range steps {
		status, b := a.call(t, a.token, "POST", base+"/"+s.action, s.body)
		if status != s.want {
			t.Fatalf("step %d: POST %s/%s %s = %d %s, want %d", i, base, s.action, s.body, status, b, s.want)
		}
		if s.want != http.StatusOK {
			continue
		}
		var got rolloutJSON
		decodeJSON(t, b, &got)
		if got.State != s.state || got.Phase != s.phase || got.Product != "p" {
			t.Errorf("step %d: POST %s = state %s phase %d product %q, want %s %d p",
				i, s.action, got.State, got.Phase, got.Product, s.state, s.phase)
		}
	}

	var got rolloutJSON
	decodeJSON(t, a.must(t, "GET", base, "", http.StatusOK), &got)
	if !strings.Contains(got.Reason, "alice") || !strings.Contains(got.Reason, "wrong build") ||
		got.FinishedAt == nil {
		t.Errorf("canceled rollout reason %q, finished %v; want alice's reason and a finish time",
			got.Reason, got.FinishedAt)
	}
	for path, want := range map[string]int{
		"/api/v1/rollouts/999/pause":  http.StatusNotFound,
		"/api/v1/rollouts/x/pause":    http.StatusBadRequest,
		base + "/explode":             http.StatusNotFound,
		"/api/v1/rollouts/999/resume": http.StatusNotFound,
	} {
		if status, b := a.call(t, a.token, "POST", path, ""); status != want {
			t.Errorf("POST %s = %d %s, want %d", path, status, b, want)
		}
	}
}

type deviceJSON struct {
	ID            string   `json:"id"`
	Channel       string   `json:"channel"`
	Tags          []string `json:"tags"`
	PinnedVersion string   `json:"pinned_version"`
	Excluded      bool     `json:"excluded"`
	Poll          string   `json:"poll"`
}

func TestConfigureDevice(t *testing.T) {
	a := newTestAPI(t)
	path := "/api/v1/products/p/devices/d1"

	if status, b := a.call(t, a.token, "PATCH", path, `{"channel":"beta"}`); status != http.StatusNotFound {
		t.Errorf("PATCH to a channel with no release = %d %s, want 404", status, b)
	}
	a.must(t, "PUT", "/api/v1/products/p/channels/beta", `{"version":"1.0.0"}`, http.StatusOK)

	var got deviceJSON
	body := `{"add_tags":["eu","lab","x"],"remove_tags":["x"],"channel":"beta","pin":"1.0.0","excluded":true,` +
		`"poll":"30m"}`
	decodeJSON(t, a.must(t, "PATCH", path, body, http.StatusOK), &got)
	want := deviceJSON{ID: "d1", Channel: "beta", Tags: []string{"eu", "lab"}, PinnedVersion: "1.0.0",
		Excluded: true, Poll: "30m0s"}
	if !equalDevice(got, want) {
		t.Errorf("PATCH %s = %+v, want %+v", path, got, want)
	}
	var shown deviceJSON
	decodeJSON(t, a.must(t, "GET", "/api/v1/devices/d1?product=p", "", http.StatusOK), &shown)
	if !equalDevice(shown, want) {
		t.Errorf("GET device d1 = %+v, want %+v", shown, want)
	}
	var listed struct{ Devices []deviceJSON }
	decodeJSON(t, a.must(t, "GET", "/api/v1/devices?product=p", "", http.StatusOK), &listed)
	for _, d := range listed.Devices {
		if d.ID == "d1" && !equalDevice(d, want) {
			t.Errorf("GET devices lists d1 as %+v, want %+v", d, want)
		}
	}

	body = `{"remove_tags":["eu"],"pin":"","excluded":false,"poll":"0s"}`
	got = deviceJSON{}
	decodeJSON(t, a.must(t, "PATCH", path, body, http.StatusOK), &got)
	want = deviceJSON{ID: "d1", Channel: "beta", Tags: []string{"lab"}}
	if !equalDevice(got, want) {
		t.Errorf("PATCH %s %s = %+v, want %+v", path, body, got, want)
	}

	tests := []struct {
		name, path, body string
		want             int
	}{
		{"unknown field", path, `{"tag":"a"}`, http.StatusBadRequest},
		{"bad tag", path, `{"add_tags":["a,b"]}`, http.StatusBadRequest},
		{"bad channel", path, `{"channel":"Beta!"}`, http.StatusBadRequest},
		{"bad poll", path, `{"poll":"soon"}`, http.StatusBadRequest},
		{"poll too short", path, `{"poll":"1s"}`, http.StatusBadRequest},
		{"unknown pin", path, `{"pin":"9.9.9"}`, http.StatusNotFound},
		{"unknown device", "/api/v1/products/p/devices/d9", `{"excluded":true}`, http.StatusNotFound},
		{"unknown product", "/api/v1/products/q/devices/d1", `{"excluded":true}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, b := a.call(t, a.token, "PATCH", tt.path, tt.body); status != tt.want {
				t.Errorf("PATCH %s %s = %d %s, want %d", tt.path, tt.body, status, b, tt.want)
			}
		})
	}
}

func equalDevice(a, b deviceJSON) bool {
	return a.ID == b.ID && a.Channel == b.Channel && strings.Join(a.Tags, ",") == strings.Join(b.Tags, ",") &&
		a.Tags != nil && a.PinnedVersion == b.PinnedVersion && a.Excluded == b.Excluded && a.Poll == b.Poll
}

func TestConfigureProduct(t *testing.T) {
	a := newTestAPI(t)
	type productJSON struct {
		Name       string  `json:"name"`
		PollIdle   *string `json:"poll_idle"`
		PollActive *string `json:"poll_active"`
	}

	var got productJSON
	b := a.must(t, "PATCH", "/api/v1/products/p", `{"poll_idle":"2h","poll_active":"5m"}`, http.StatusOK)
	decodeJSON(t, b, &got)
	if got.PollIdle == nil || *got.PollIdle != "2h0m0s" || got.PollActive == nil || *got.PollActive != "5m0s" {
		t.Errorf("PATCH product = %s, want poll_idle 2h0m0s and poll_active 5m0s", b)
	}
	b = a.must(t, "PATCH", "/api/v1/products/p", `{"poll_active":"0s"}`, http.StatusOK)
	got = productJSON{}
	decodeJSON(t, b, &got)
	if got.PollIdle == nil || *got.PollIdle != "2h0m0s" || got.PollActive != nil {
		t.Errorf("PATCH product poll_active 0s = %s, want poll_idle kept and poll_active gone", b)
	}
	got = productJSON{}
	decodeJSON(t, a.must(t, "GET", "/api/v1/products/p", "", http.StatusOK), &got)
	if got.PollIdle == nil || *got.PollIdle != "2h0m0s" {
		t.Errorf("GET product poll_idle = %v, want 2h0m0s", got.PollIdle)
	}

	for body, want := range map[string]int{
		`{"poll_idle":"1s"}`:    http.StatusBadRequest,
		`{"poll_idle":"often"}`: http.StatusBadRequest,
		`{"poll":"1h"}`:         http.StatusBadRequest,
	} {
		if status, b := a.call(t, a.token, "PATCH", "/api/v1/products/p", body); status != want {
			t.Errorf("PATCH product %s = %d %s, want %d", body, status, b, want)
		}
	}
	if status, b := a.call(t, a.token, "PATCH", "/api/v1/products/q", `{}`); status != http.StatusNotFound {
		t.Errorf("PATCH unknown product = %d %s, want 404", status, b)
	}
}

func TestWebhook(t *testing.T) {
	a := newTestAPI(t)
	path := "/api/v1/products/p/webhook"

	var wh struct{ URL, Secret string }
	decodeJSON(t, a.must(t, "PUT", path, `{"url":"http://127.0.0.1:9/hook"}`, http.StatusOK), &wh)
	if wh.URL != "http://127.0.0.1:9/hook" || !strings.HasPrefix(wh.Secret, "fwh_") {
		t.Errorf("PUT webhook = %+v, want the URL and a new fwh_ secret", wh)
	}
	body := `{"url":"https://127.0.0.1/h","secret":"0123456789abcdef"}`
	decodeJSON(t, a.must(t, "PUT", path, body, http.StatusOK), &wh)
	if wh.Secret != "0123456789abcdef" {
		t.Errorf("PUT webhook with a secret = %+v, want that secret back", wh)
	}

	// A rollout pause is an event the webhook gets.
	ro := a.createRollout(t)
	a.must(t, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/pause", "", http.StatusOK)
	var got struct {
		Deliveries []struct {
			ID       int64  `json:"id"`
			Event    string `json:"event"`
			Attempts int    `json:"attempts"`
			NextAt   string `json:"next_at"`
		}
	}
	b := a.must(t, "GET", path+"/deliveries?limit=10", "", http.StatusOK)
	decodeJSON(t, b, &got)
	if len(got.Deliveries) != 1 || got.Deliveries[0].Event != "rollout.paused" || got.Deliveries[0].NextAt == "" {
		t.Errorf("GET deliveries = %s, want one rollout.paused delivery", b)
	}
	if bytes.Contains(b, []byte("0123456789abcdef")) {
		t.Errorf("GET deliveries = %s, shows the secret", b)
	}

	a.must(t, "DELETE", path, "", http.StatusNoContent)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"no URL", "PUT", path, `{}`, http.StatusBadRequest},
		{"ftp URL", "PUT", path, `{"url":"ftp://127.0.0.1/x"}`, http.StatusBadRequest},
		{"user in URL", "PUT", path, `{"url":"http://u:p@127.0.0.1/x"}`, http.StatusBadRequest},
		{"short secret", "PUT", path, `{"url":"http://127.0.0.1/x","secret":"short"}`, http.StatusBadRequest},
		{"unknown field", "PUT", path, `{"url":"http://127.0.0.1/x","events":[]}`, http.StatusBadRequest},
		{"unknown product", "PUT", "/api/v1/products/q/webhook", `{"url":"http://127.0.0.1/x"}`,
			http.StatusNotFound},
		{"remove unknown product", "DELETE", "/api/v1/products/q/webhook", "", http.StatusNotFound},
		{"bad limit", "GET", path + "/deliveries?limit=0", "", http.StatusBadRequest},
		{"limit too large", "GET", path + "/deliveries?limit=1001", "", http.StatusBadRequest},
		{"deliveries of unknown product", "GET", "/api/v1/products/q/webhook/deliveries", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, b := a.call(t, a.token, tt.method, tt.path, tt.body); status != tt.want {
				t.Errorf("%s %s %s = %d %s, want %d", tt.method, tt.path, tt.body, status, b, tt.want)
			}
		})
	}
}

type auditJSON struct {
	Entries []struct {
		ID      int64           `json:"id"`
		At      time.Time       `json:"at"`
		Actor   string          `json:"actor"`
		Action  string          `json:"action"`
		Product string          `json:"product"`
		Object  string          `json:"object"`
		Detail  json.RawMessage `json:"detail"`
	}
}

func TestAuditNamesTheActor(t *testing.T) {
	a := newTestAPI(t)
	ro := a.createRollout(t)
	if status, b := a.call(t, a.bob, "POST", "/api/v1/rollouts/"+itoa(ro.ID)+"/pause",
		`{"reason":"bob looks"}`); status != http.StatusOK {
		t.Fatalf("pause as bob = %d %s", status, b)
	}
	a.must(t, "PATCH", "/api/v1/products/p/devices/d2", `{"add_tags":["eu"]}`, http.StatusOK)
	a.must(t, "PUT", "/api/v1/products/p/webhook", `{"url":"http://127.0.0.1:9/h","secret":"0123456789abcdefXYZ"}`,
		http.StatusOK)

	var got auditJSON
	b := a.must(t, "GET", "/api/v1/audit?product=p", "", http.StatusOK)
	decodeJSON(t, b, &got)
	actors := map[string]string{}
	for _, e := range got.Entries {
		actors[e.Action] = e.Actor
		if !json.Valid(e.Detail) || !bytes.HasPrefix(e.Detail, []byte("{")) {
			t.Errorf("audit entry %s detail = %s, want a JSON object", e.Action, e.Detail)
		}
	}
	want := map[string]string{"rollout.create": "alice", "rollout.pause": "bob", "device.configure": "alice",
		"webhook.set": "alice"}
	for action, actor := range want {
		if actors[action] != actor {
			t.Errorf("audit %s actor = %q, want %q (entries %s)", action, actors[action], actor, b)
		}
	}
	if bytes.Contains(b, []byte("0123456789abcdefXYZ")) {
		t.Errorf("audit log shows the webhook secret: %s", b)
	}

	got = auditJSON{}
	decodeJSON(t, a.must(t, "GET", "/api/v1/audit?limit=1", "", http.StatusOK), &got)
	if len(got.Entries) != 1 || got.Entries[0].Action != "webhook.set" {
		t.Errorf("GET audit?limit=1 = %+v, want the newest entry only (webhook.set)", got.Entries)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if b := a.must(t, "GET", "/api/v1/audit?since="+future, "", http.StatusOK); string(b) != `{"entries":[]}` {
		t.Errorf("GET audit since an hour ahead = %s, want no entries", b)
	}

	for _, q := range []string{"since=yesterday", "limit=0", "limit=x", "limit=10001"} {
		if status, b := a.call(t, a.token, "GET", "/api/v1/audit?"+q, ""); status != http.StatusBadRequest {
			t.Errorf("GET audit?%s = %d %s, want 400", q, status, b)
		}
	}
}

// TestActorIsTheToken checks that the actor reaches the core itself, not
// only its audit log: a rollout records who created it.
func TestActorIsTheToken(t *testing.T) {
	a := newTestAPI(t)
	status, b := a.call(t, a.bob, "POST", "/api/v1/products/p/rollouts", `{"version":"1.1.0"}`)
	var ro rolloutJSON
	decodeJSON(t, b, &ro)
	if status != http.StatusCreated || ro.CreatedBy != "bob" {
		t.Errorf("POST rollouts as bob = %d %s, want 201 created_by bob", status, b)
	}
}
