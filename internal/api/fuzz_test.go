package api_test

import (
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

// fuzzOperator is the operator API over a real core, SQLite store and disk
// blob store, built once per fuzz process. Product p has 1.0.0 (on stable)
// and 1.1.0, and devices d1-d4 run 1.0.0.
type fuzzOperator struct {
	h     http.Handler
	svc   *core.Service
	token string
}

func newFuzzOperator(f *testing.F) *fuzzOperator {
	f.Helper()
	ctx := f.Context()
	dir := f.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "ferry.db"), log)
	if err != nil {
		f.Fatalf("sqlite.Open: %v", err)
	}
	f.Cleanup(func() { _ = st.Close() })
	blobs, err := disk.New(filepath.Join(dir, "images"))
	if err != nil {
		f.Fatalf("disk.New: %v", err)
	}
	svc := core.NewService(st, blobs, core.Config{RolloutTick: time.Hour}, log)
	f.Cleanup(func() { _ = svc.Close() })

	fo := &fuzzOperator{h: api.New(svc, time.Minute, log), svc: svc}
	if fo.token, _, err = svc.CreateToken(ctx, "fuzz", core.RoleAdmin); err != nil {
		f.Fatalf("CreateToken: %v", err)
	}
	p, _, err := svc.CreateProduct(ctx, "p", core.AccessPublic)
	if err != nil {
		f.Fatalf("CreateProduct: %v", err)
	}
	for _, v := range []struct{ version, channel string }{{"1.0.0", "stable"}, {"1.1.0", ""}} {
		in := core.Publish{Product: "p", Version: v.version, Channel: v.channel,
			Image: strings.NewReader("firmware " + v.version)}
		if _, err := svc.PublishRelease(ctx, in); err != nil {
			f.Fatalf("PublishRelease(%s): %v", v.version, err)
		}
	}
	for _, d := range []string{"d1", "d2", "d3", "d4"} {
		if _, err := svc.CheckIn(ctx, p, core.CheckIn{Device: d, Version: "1.0.0", Protocol: "fuzz"}); err != nil {
			f.Fatalf("CheckIn(%s): %v", d, err)
		}
	}
	return fo
}

// post sends body with the admin token and returns the status and answer.
func (fo *fuzzOperator) post(path, body string) (int, []byte) {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+fo.token)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	fo.h.ServeHTTP(w, r)
	resp := w.Result()
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body) // a recorder's body cannot fail
	return resp.StatusCode, answer
}

// checkOperatorAnswer holds for every answer: 2xx or 4xx, and a 4xx
// says why in {"error": REASON}.
func checkOperatorAnswer(t *testing.T, path, body string, code int, answer []byte) {
	t.Helper()
	if code < 200 || code >= 500 || code/100 == 3 {
		t.Fatalf("POST %s %q = %d %s, want 2xx or 4xx", path, body, code, answer)
	}
	if code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(answer, &e); err != nil || e.Error == "" {
			t.Errorf("POST %s %q = %d %s, want {\"error\":REASON}", path, body, code, answer)
		}
	}
}

// FuzzCreateProduct posts arbitrary bodies to POST /api/v1/products.
func FuzzCreateProduct(f *testing.F) {
	for _, s := range []string{
		`{"name":"q","access":"public"}`,
		`{"name":"MKR-GSM","access":"key"}`,
		`{"name":"p","access":"public"}`,
		`{"name":"P","access":"public"}`,
		`{"name":"../x","access":"public"}`,
		`{"name":"q2","access":"open"}`,
		`{"name":"","access":"public"}`,
		`{"name":"q3","access":"public","owner":"x"}`,
		`{"name":"q4"} {}`,
		`{"name":1}`,
		`null`,
		``,
	} {
		f.Add(s)
	}
	fo := newFuzzOperator(f)
	f.Fuzz(func(t *testing.T, body string) {
		code, answer := fo.post("/api/v1/products", body)
		checkOperatorAnswer(t, "/api/v1/products", body, code, answer)
		if code/100 == 2 && code != http.StatusCreated {
			t.Errorf("POST /api/v1/products %q = %d, want 201 or a 4xx", body, code)
		}
	})
}

// FuzzCreateRollout posts arbitrary bodies to POST
// /api/v1/products/p/rollouts. A rollout that starts is canceled at once,
// so the next input may start one again.
func FuzzCreateRollout(f *testing.F) {
	for _, s := range []string{
		`{"version":"1.1.0"}`,
		`{"version":"1.1.0","phases":"1%,10%,50%,100%","auto_advance":true,"soak":"1h","success_rate":0.95}`,
		`{"version":"1.1.0","phases":"1,2,all","devices":["d1","d2","d3"]}`,
		`{"version":"1.1.0","channel":"stable","tags":["rack=a/3"]}`,
		`{"version":"1.1.0","max_concurrent":2,"offers_per_minute":10,"fail_percent":20,"fail_min_finished":3,` +
			`"fail_count":2}`,
		`{"version":"1.1.0","phases":"50%,10%"}`,
		`{"version":"1.1.0","soak":"-1s"}`,
		`{"version":"1.1.0","soak":"forever"}`,
		`{"version":"1.1.0","success_rate":2}`,
		`{"version":"1.1.0","fail_percent":-1}`,
		`{"version":"1.1.0","devices":["nobody"]}`,
		`{"version":"1.1.0","devices":["../d1"]}`,
		`{"version":"9.9.9"}`,
		`{"version":"1.1.0","max_concurrent":1e400}`,
		`{"version":"1.1.0","phases":"` + strings.Repeat("1%,", 30) + `"}`,
		`{"version":"1.1.0","unknown":1}`,
		``,
	} {
		f.Add(s)
	}
	fo := newFuzzOperator(f)
	const path = "/api/v1/products/p/rollouts"
	f.Fuzz(func(t *testing.T, body string) {
		code, answer := fo.post(path, body)
		checkOperatorAnswer(t, path, body, code, answer)
		if code/100 != 2 {
			return
		}
		var ro struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(answer, &ro); code != http.StatusCreated || err != nil || ro.ID == 0 {
			t.Fatalf("POST %s %q = %d %s, want 201 and a rollout", path, body, code, answer)
		}
		ctx := core.WithActor(t.Context(), "fuzz")
		if _, err := fo.svc.ChangeRollout(ctx, ro.ID, core.ActionCancel, "fuzz"); err != nil {
			t.Fatalf("ChangeRollout(%d, cancel): %v", ro.ID, err)
		}
	})
}
