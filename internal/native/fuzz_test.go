package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/native"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// maxAnswer bounds every native answer: devices pay per byte, and an
// offer, the largest answer, takes about 300.
const maxAnswer = 512

// fuzzFleet is the native handler over a real core, SQLite store and disk
// blob store. Product p has 1.0.0 and, on stable, 1.1.0; device d1 runs
// 1.0.0 and has been offered 1.1.0.
type fuzzFleet struct {
	h   http.Handler
	svc *core.Service
	st  *sqlite.Store
	p   core.Product
	// seen maps every device to its newest update ID after the last
	// request that succeeded.
	seen map[string]int64
}

// newFuzzFleet builds the fleet once per fuzz process: the fuzz function
// then runs input after input against the same database.
func newFuzzFleet(f *testing.F) *fuzzFleet {
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
	// No fail limit: devices that a fuzzed report fails are offered the
	// release again, so later inputs still meet open updates.
	cfg := core.Config{FailLimit: math.MaxInt32, RolloutTick: time.Hour}
	svc := core.NewService(st, blobs, cfg, log)
	f.Cleanup(func() { _ = svc.Close() })

	ff := &fuzzFleet{h: native.New(svc, time.Minute, log), svc: svc, st: st}
	if ff.p, _, err = svc.CreateProduct(ctx, "p", core.AccessPublic); err != nil {
		f.Fatalf("CreateProduct: %v", err)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		in := core.Publish{Product: "p", Version: v, Channel: core.DefaultChannel,
			Image: strings.NewReader("firmware " + v)}
		if _, err := svc.PublishRelease(ctx, in); err != nil {
			f.Fatalf("PublishRelease(%s): %v", v, err)
		}
	}
	code, body := ff.post("checkin", `{"id":"d1","version":"1.0.0"}`)
	if code != http.StatusOK || !strings.Contains(body, `"update"`) {
		f.Fatalf("check-in of d1 = %d %s, want an offer", code, body)
	}
	if ff.seen, err = ff.snapshot(ctx); err != nil {
		f.Fatal(err)
	}
	return ff
}

// FuzzCheckIn posts arbitrary check-in bodies.
func FuzzCheckIn(f *testing.F) {
	for _, s := range []string{
		`{"id":"d1","version":"1.0.0"}`,
		`{"id":"d2","version":"1.0.0","attrs":{"rssi":"-71","battery":"3.91"}}`,
		`{"id":"d1","version":"1.1.0"}`,
		`{"id":"d1","sha256":"` + strings.Repeat("a", 64) + `"}`,
		`{"id":"d3"}`,
		`{"id":"d1","version":"1.0.0"} {}`,
		`{"id":"d1","version":"1.0"`,
		`{"id":"","version":"1.0.0"}`,
		`{"id":"../d1"}`,
		`{"id":"d4","version":"01.0"}`,
		`{"id":"d4","sha256":"xyz"}`,
		`{"id":"d4","attrs":{"":"x"}}`,
		`{"id":"d4","attrs":{"k":"` + strings.Repeat("v", 257) + `"}}`,
		`{"id":"d4","attrs":{"k":"\udc00"}}`,
		`{"id":5}`,
		`{"ID":"d5","Version":"1.0.0"}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add(s)
	}
	ff := newFuzzFleet(f)
	f.Fuzz(func(t *testing.T, body string) {
		code, answer := ff.post("checkin", body)
		ff.check(t, "checkin", body, code, answer)
		if code == http.StatusOK {
			var resp struct {
				Poll   int64           `json:"poll"`
				Update json.RawMessage `json:"update"`
			}
			if err := json.Unmarshal([]byte(answer), &resp); err != nil || resp.Poll <= 0 {
				t.Errorf("checkin %q = 200 %s, want {\"poll\":N,...}", body, answer)
			}
		}
	})
}

// FuzzReport posts arbitrary status bodies.
func FuzzReport(f *testing.F) {
	for _, s := range []string{
		`{"id":"d1","update":1,"state":"downloading","progress":4}`,
		`{"id":"d1","state":"downloaded","progress":14}`,
		`{"id":"d1","update":1,"state":"installing"}`,
		`{"id":"d1","update":1,"state":"succeeded"}`,
		`{"id":"d1","update":1,"state":"failed","detail":"crc"}`,
		`{"id":"d1","update":1,"state":"offered"}`,
		`{"id":"d1","update":1,"state":"downloading","progress":-1}`,
		`{"id":"d1","update":1,"state":"downloading","progress":1000000}`,
		`{"id":"d1","update":-1,"state":"downloading"}`,
		`{"id":"d1","update":999,"state":"downloading"}`,
		`{"id":"d2","update":1,"state":"downloading"}`,
		`{"id":"d1","update":1,"state":"failed","detail":"` + strings.Repeat("x", 1025) + `"}`,
		`{"id":"d1","update":1e3,"state":"downloading"}`,
		`{"id":"d1","update":1,"state":"downloading"}garbage`,
		`{"id":"d1","update":"1"}`,
		``,
	} {
		f.Add(s)
	}
	ff := newFuzzFleet(f)
	f.Fuzz(func(t *testing.T, body string) {
		code, answer := ff.post("status", body)
		ff.check(t, "status", body, code, answer)
		if code/100 == 2 && (code != http.StatusNoContent || answer != "") {
			t.Errorf("status %q = %d %q, want 204 and no body", body, code, answer)
		}
	})
}

// check holds for every answer: no 5xx, a short body, and a failed request
// leaves every device and update as the last successful one left them.
func (ff *fuzzFleet) check(t *testing.T, what, body string, code int, answer string) {
	t.Helper()
	if code >= 500 || code < 200 {
		t.Fatalf("%s %q = %d %s, want 2xx or 4xx", what, body, code, answer)
	}
	if len(answer) > maxAnswer {
		t.Errorf("%s %q = %d with a %d-byte answer, want at most %d", what, body, code, len(answer), maxAnswer)
	}
	if code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(answer), &e); err != nil || e.Error == "" {
			t.Errorf("%s %q = %d %s, want {\"error\":REASON}", what, body, code, answer)
		}
	}

	now, err := ff.snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if code < 300 {
		ff.seen = now
		return
	}
	for name, id := range now {
		if was, ok := ff.seen[name]; !ok || was != id {
			t.Errorf("%s %q = %d, yet device %q now has update %d (before: known %v, update %d)",
				what, body, code, name, id, ok, was)
		}
	}
}

// snapshot maps every device of p to the ID of its newest update, or 0.
func (ff *fuzzFleet) snapshot(ctx context.Context) (map[string]int64, error) {
	devs, err := ff.st.Devices(ctx, core.DeviceFilter{ProductID: ff.p.ID, Limit: math.MaxInt32})
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(devs))
	for _, d := range devs {
		m[d.Name] = 0
		if d.Latest != nil {
			m[d.Name] = d.Latest.ID
		}
	}
	return m, nil
}

// post sends body to /device/v1/p/{what} and returns the status and answer.
func (ff *fuzzFleet) post(what, body string) (int, string) {
	r := httptest.NewRequest("POST", "/device/v1/p/"+what, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	ff.h.ServeHTTP(w, r)
	resp := w.Result()
	defer resp.Body.Close()
	var answer bytes.Buffer
	_, _ = io.Copy(&answer, resp.Body) // a recorder's body cannot fail
	return resp.StatusCode, answer.String()
}
