package plain_test

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/plain"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// fuzzFleet is the plain handler over a real core, SQLite store and disk
// blob store. Product p has 1.0.0 and, on stable, 1.1.0; device d1 runs
// 1.0.0 and has been offered 1.1.0.
type fuzzFleet struct {
	h     http.Handler
	svc   *core.Service
	st    *sqlite.Store
	p     core.Product
	devID int64
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
	// No fail limit: after a fuzzed "failed" the device is offered the
	// release again, so later inputs still meet an open update.
	cfg := core.Config{FailLimit: math.MaxInt32, RolloutTick: time.Hour}
	svc := core.NewService(st, blobs, cfg, log)
	f.Cleanup(func() { _ = svc.Close() })

	ff := &fuzzFleet{h: plain.New(svc, time.Minute, log), svc: svc, st: st}
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
	ff.devID = ff.offer(f).DeviceID
	return ff
}

// offer makes sure d1 has an open update and returns it.
func (ff *fuzzFleet) offer(tb testing.TB) core.Update {
	tb.Helper()
	ctx := tb.Context()
	dec, err := ff.svc.CheckIn(ctx, ff.p, core.CheckIn{Device: "d1", Version: "1.0.0", Protocol: "fuzz"})
	if err != nil {
		tb.Fatalf("CheckIn(d1): %v", err)
	}
	if dec.Update == nil {
		tb.Fatalf("CheckIn(d1) offers nothing, want 1.1.0")
	}
	return *dec.Update
}

// FuzzStatus sends status reports with arbitrary fields, as a query or a
// POSTed form, and extra raw parameters. Every answer is 200 "ok" or a
// 4xx with a one-line reason, and the update of d1 never moves backwards.
func FuzzStatus(f *testing.F) {
	for _, s := range []struct {
		post                            bool
		device, state, progress, detail string
		extra                           string
	}{
		{false, "d1", "downloading", "0", "", ""},
		{false, "d1", "downloading", "4", "", ""},
		{true, "d1", "downloaded", "14", "", ""},
		{false, "d1", "verified", "", "crc ok", ""},
		{true, "d1", "installing", "", "", ""},
		{false, "d1", "rebooting", "", "", ""},
		{false, "d1", "succeeded", "", "", ""},
		{false, "d1", "failed", "", "crc", ""},
		{false, "d1", "offered", "", "", ""},
		{false, "d1", "downloading", "-1", "", ""},
		{false, "d1", "downloading", "99999999999999999999", "", ""},
		{false, "d1", "downloading", "1000000", "", ""},
		{false, "d1", "failed", "", strings.Repeat("x", 1025), ""},
		{false, "d1", "failed", "", "\xff\x00\n", ""},
		{false, "", "downloading", "", "", ""},
		{false, "d2", "downloading", "", "", ""},
		{false, "../d1", "downloading", "", "", ""},
		{false, "d1", "", "", "", "state=downloading&state=failed"},
		{false, "d1", "downloading", "", "", "%zz"},
		{false, "d1", "downloading", "", "", "a;b"},
		{true, "d1", "downloading", "", "", strings.Repeat("y", 5000)},
	} {
		f.Add(s.post, s.device, s.state, s.progress, s.detail, s.extra)
	}
	ff := newFuzzFleet(f)
	f.Fuzz(func(t *testing.T, post bool, device, state, progress, detail, extra string) {
		before, err := ff.latest(t)
		if err != nil {
			t.Fatal(err)
		}
		if before.State.Terminal() {
			before = ff.offer(t)
		}

		code, body := ff.send(post, device, state, progress, detail, extra)
		if code == http.StatusOK && body != "ok" || code != http.StatusOK && (code < 400 || code > 499) {
			t.Fatalf("status(%q, %q, %q, %q, %q) = %d %q, want 200 ok or a 4xx",
				device, state, progress, detail, extra, code, body)
		}
		if code != http.StatusOK && (body == "" || strings.ContainsAny(body, "\r\n")) {
			t.Errorf("status(%q, %q, %q) = %d %q, want a one-line reason", device, state, extra, code, body)
		}

		after, err := ff.st.Update(t.Context(), before.ID)
		if err != nil {
			t.Fatalf("Update(%d): %v", before.ID, err)
		}
		moved := before.State.Terminal() && after.State != before.State
		if moved || fuzzRank(after.State) < fuzzRank(before.State) || after.Progress < before.Progress {
			t.Errorf("status(%q, %q, %q) = %d moved update %d from %s at %d to %s at %d",
				device, state, progress, code, before.ID, before.State, before.Progress, after.State, after.Progress)
		}
	})
}

// latest returns d1's newest update.
func (ff *fuzzFleet) latest(tb testing.TB) (core.Update, error) {
	us, err := ff.st.Updates(tb.Context(), ff.devID)
	if err != nil || len(us) == 0 {
		return core.Update{}, err
	}
	return us[0], nil
}

// send makes one status request and returns its status and body.
func (ff *fuzzFleet) send(post bool, device, state, progress, detail, extra string) (int, string) {
	form := url.Values{"device": {device}, "state": {state}, "progress": {progress}, "detail": {detail}}
	raw := form.Encode()
	if extra != "" {
		raw += "&" + extra
	}
	var r *http.Request
	if post {
		r = httptest.NewRequest("POST", "/fw/p/status", strings.NewReader(raw))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		// The query is set as is rather than parsed into a URL first, so
		// that what would not survive a URL parser still reaches the form.
		r = httptest.NewRequest("GET", "/fw/p/status", nil)
		r.URL.RawQuery = raw
	}
	w := httptest.NewRecorder()
	ff.h.ServeHTTP(w, r)
	resp := w.Result()
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = io.Copy(&body, resp.Body) // a recorder's body cannot fail
	return resp.StatusCode, body.String()
}

// fuzzRank orders update states by progress as the protocol documents it:
// the finished states come after every other and never change.
func fuzzRank(s core.State) int {
	order := []core.State{core.StateOffered, core.StateDownloading, core.StateDownloaded, core.StateVerified,
		core.StateInstalling, core.StateRebooting}
	for i, o := range order {
		if s == o {
			return i + 1
		}
	}
	if s.Terminal() {
		return 100
	}
	return 0
}
