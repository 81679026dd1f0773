package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// fakeServer implements just enough of the native device protocol for
// product "p": it offers release 1.1.0 to every device that runs anything
// else, serves its image and records what devices send.
type fakeServer struct {
	srv   *httptest.Server
	image []byte
	sha   string

	mu sync.Mutex
	// Knobs a test sets before the agent runs.
	offerSHA      string   // sha256 put in the offer; the image's own by default
	cutAt         int      // if > 0, the next image answer stops after this many bytes
	stallAt       int      // if > 0, the next image answer hangs after this many bytes
	ignoreRange   bool     // answer every image request with the whole image
	failCheckIns  int      // answer this many check-ins with 500 first
	withdrawAfter int      // if > 0, check-ins after this many offer nothing
	manifest      []byte   // signed manifest put in the offer, if any
	sig           []byte   // its signature
	tamperAt      int      // if > 0, the image is served with this byte flipped
	counters      []*int64 // the counter each check-in reported; nil when absent
	checkins      []checkinBody
	reports       []reportBody
	imageRequests []http.Header
	auths         []string // the Authorization header of each check-in
	enrolls       []string // the Authorization header of each enrollment
}

type checkinBody struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

type reportBody struct {
	ID       string `json:"id"`
	Update   int64  `json:"update"`
	State    string `json:"state"`
	Progress int64  `json:"progress"`
	Detail   string `json:"detail"`
}

const (
	target    = "1.1.0"
	updateID  = 7
	imageSize = 100_000
)

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	img := make([]byte, imageSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img {
		img[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(img)
	fs := &fakeServer{image: img, sha: hex.EncodeToString(sum[:])}
	fs.offerSHA = fs.sha

	mux := http.NewServeMux()
	mux.HandleFunc("POST /device/v1/p/checkin", fs.handleCheckIn)
	mux.HandleFunc("POST /device/v1/p/enroll", fs.handleEnroll)
	mux.HandleFunc("POST /device/v1/p/status", fs.handleStatus)
	mux.HandleFunc("GET /device/v1/p/img/{sha}", fs.handleImage)
	fs.srv = httptest.NewServer(mux)
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeServer) handleCheckIn(w http.ResponseWriter, r *http.Request) {
	var in checkinBody
	var counter struct {
		Counter *int64 `json:"counter"`
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = errors.Join(json.Unmarshal(body, &in), json.Unmarshal(body, &counter))
	}
	if err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.failCheckIns > 0 {
		fs.failCheckIns--
		http.Error(w, `{"error":"database is locked"}`, http.StatusInternalServerError)
		return
	}
	fs.checkins = append(fs.checkins, in)
	fs.auths = append(fs.auths, r.Header.Get("Authorization"))
	fs.counters = append(fs.counters, counter.Counter)

	w.Header().Set("Content-Type", "application/json")
	if in.Version == target || (fs.withdrawAfter > 0 && len(fs.checkins) > fs.withdrawAfter) {
		_, _ = fmt.Fprint(w, `{"poll":60}`)
		return
	}
	o := client.Offer{
		ID: updateID, Version: target, Size: int64(len(fs.image)), SHA256: fs.offerSHA, CRC32: "00000000",
		URL: "/device/v1/p/img/" + fs.sha + "?id=" + in.ID, Format: "full", Manifest: fs.manifest, Sig: fs.sig,
	}
	_ = json.NewEncoder(w).Encode(client.CheckInResponse{Poll: 60, Offer: &o}) // the agent sees a cut answer
}

func (fs *fakeServer) handleStatus(w http.ResponseWriter, r *http.Request) {
	var in reportBody
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	fs.mu.Lock()
	fs.reports = append(fs.reports, in)
	fs.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (fs *fakeServer) handleImage(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.imageRequests = append(fs.imageRequests, r.Header.Clone())
	cut, stall, ignore := fs.cutAt, fs.stallAt, fs.ignoreRange
	fs.cutAt, fs.stallAt = 0, 0
	img := fs.image
	if fs.tamperAt > 0 {
		img = bytes.Clone(img)
		img[fs.tamperAt] ^= 1
	}
	fs.mu.Unlock()

	w.Header().Set("ETag", `"`+fs.sha[:16]+`"`)
	switch {
	case cut > 0:
		// Promise the whole image, send part of it, then drop the
		// connection, as a modem losing its link would.
		w.Header().Set("Content-Length", fmt.Sprint(len(fs.image)))
		_, _ = w.Write(fs.image[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case stall > 0:
		w.Header().Set("Content-Length", fmt.Sprint(len(fs.image)))
		_, _ = w.Write(fs.image[:stall])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a link that goes quiet without closing
	case ignore:
		w.Header().Set("Content-Length", fmt.Sprint(len(fs.image)))
		_, _ = w.Write(fs.image)
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(img))
	}
}

func (fs *fakeServer) states() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var s []string
	for _, r := range fs.reports {
		s = append(s, r.State)
	}
	return s
}

func (fs *fakeServer) lastImageRequest(t testing.TB) http.Header {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.imageRequests) == 0 {
		t.Fatal("no image request reached the server")
	}
	return fs.imageRequests[len(fs.imageRequests)-1]
}

func newTestAgent(t testing.TB, fs *fakeServer, dir, version string) *Agent {
	t.Helper()
	a, err := New(Config{
		Server: fs.srv.URL, Product: "p", DeviceID: "d1", Version: version, StateDir: dir,
		PollMin: time.Millisecond, HTTPClient: fs.srv.Client(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.backoffMin = time.Millisecond
	return a
}

func readState(t testing.TB, dir string) installed {
	t.Helper()
	var st installed
	if err := (stateDir{dir: dir}).readJSON(stateFile, &st); err != nil {
		t.Fatalf("read state: %v", err)
	}
	return st
}

// checkInstalled asserts that dir holds the fake server's image as the
// installed target version and no download leftovers.
func checkInstalled(t testing.TB, fs *fakeServer, dir string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, firmwareFile))
	if err != nil || !bytes.Equal(got, fs.image) {
		t.Errorf("firmware.bin: %d bytes (err %v), want the %d-byte image", len(got), err, len(fs.image))
	}
	if st := readState(t, dir); st != (installed{Version: target, SHA256: fs.sha}) {
		t.Errorf("state.json = %+v, want version %s and the image's sha256", st, target)
	}
	for _, name := range []string{partFile, pendingFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after install (stat error %v)", name, err)
		}
	}
}

func TestRunOnceUpToDate(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	a := newTestAgent(t, fs, dir, target)

	if err := a.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if st := readState(t, dir); st.Version != target {
		t.Errorf("seeded state version = %q, want %q", st.Version, target)
	}
	if len(fs.checkins) != 1 || len(fs.reports) != 0 {
		t.Errorf("server saw %d check-ins and %d reports, want 1 and 0", len(fs.checkins), len(fs.reports))
	}
}

func TestWithdrawnUpdateIsNotInstalled(t *testing.T) {
	fs := newFakeServer(t)
	fs.withdrawAfter = 1
	dir := t.TempDir()
	a := newTestAgent(t, fs, dir, "1.0.0")

	if err := a.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce with the update withdrawn after download = %v, want nil", err)
	}
	for _, name := range []string{firmwareFile, partFile, pendingFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, iofs.ErrNotExist) {
			t.Errorf("%s exists after a withdrawn update (%v); want nothing installed or kept", name, err)
		}
	}
	if got := strings.Join(fs.states(), " "); strings.Contains(got, "installing") {
		t.Errorf("reported states = %s, want no installing after the withdrawal", got)
	}
}

func TestRunOnceNeedsSeed(t *testing.T) {
	fs := newFakeServer(t)
	a := newTestAgent(t, fs, t.TempDir(), "")

	err := a.RunOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), "state.json") {
		t.Errorf("RunOnce without state or version = %v, want an error naming state.json", err)
	}
}

func TestRunOnceUpdates(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	a := newTestAgent(t, fs, dir, "1.0.0")

	if err := a.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	checkInstalled(t, fs, dir)

	// The second check-in, between download and install, asks whether
	// the update is still wanted.
	want := []checkinBody{{"d1", "1.0.0", ""}, {"d1", "1.0.0", ""}, {"d1", target, fs.sha}}
	if fmt.Sprint(fs.checkins) != fmt.Sprint(want) {
		t.Errorf("check-ins = %v, want %v", fs.checkins, want)
	}
	got := strings.Join(fs.states(), " ")
	if !strings.HasPrefix(got, "downloading") || !strings.HasSuffix(got, "downloaded verified installing rebooting") {
		t.Errorf("reported states = %s, want downloading ... downloaded verified installing rebooting", got)
	}
	if n := strings.Count(got, "downloading"); n < 2 || n > 5 {
		t.Errorf("reported downloading %d times, want the start and a few quarters (2 to 5)", n)
	}
	if h := fs.lastImageRequest(t); h.Get("Range") != "" {
		t.Errorf("first download sent Range %q, want none", h.Get("Range"))
	}
}

func TestResumeAfterCutWithNewAgent(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	const cut = 40_000
	fs.cutAt = cut

	err := newTestAgent(t, fs, dir, "1.0.0").RunOnce(t.Context())
	want := fmt.Sprintf("download interrupted at %d of %d bytes", cut, imageSize)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("RunOnce with a cut download = %v, want %q ... run again to resume", err, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, partFile)); err != nil || fi.Size() != cut {
		t.Fatalf("download.part after the cut: %v (err %v), want %d bytes", fi, err, cut)
	}

	// A new agent, as after a reboot, given no version: the state seeded by
	// the first run says what runs.
	if err := newTestAgent(t, fs, dir, "").RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce resuming: %v", err)
	}
	h := fs.lastImageRequest(t)
	if got := h.Get("Range"); got != fmt.Sprintf("bytes=%d-", cut) {
		t.Errorf("resume Range = %q, want bytes=%d-", got, cut)
	}
	if got, want := h.Get("If-Range"), `"`+fs.sha[:16]+`"`; got != want {
		t.Errorf("resume If-Range = %q, want %s", got, want)
	}
	if got := fs.checkins[1].Version; got != "1.0.0" {
		t.Errorf("second agent checked in running %q, want the seeded 1.0.0", got)
	}
	checkInstalled(t, fs, dir)
}

func TestRestartWhenServerIgnoresRange(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	fs.cutAt = 30_000
	a := newTestAgent(t, fs, dir, "1.0.0")
	if err := a.RunOnce(t.Context()); err == nil {
		t.Fatal("RunOnce with a cut download succeeded, want an error")
	}

	fs.ignoreRange = true
	if err := a.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce after a 200 answer to a range request: %v", err)
	}
	if got := fs.lastImageRequest(t).Get("Range"); got != "bytes=30000-" {
		t.Errorf("resume Range = %q, want bytes=30000-", got)
	}
	checkInstalled(t, fs, dir)
}

func TestSHA256MismatchReportsFailed(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	fs.offerSHA = strings.Repeat("ab", 32)
	a := newTestAgent(t, fs, dir, "1.0.0")

	err := a.RunOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("RunOnce with a wrong sha256 = %v, want a sha256 mismatch", err)
	}

	last := fs.reports[len(fs.reports)-1]
	if last.State != "failed" || last.Update != updateID || !strings.Contains(last.Detail, "sha256 mismatch") {
		t.Errorf("last report = %+v, want failed for update %d with a sha256 mismatch", last, updateID)
	}
	for _, name := range []string{partFile, pendingFile, firmwareFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed verification (stat error %v)", name, err)
		}
	}
	if st := readState(t, dir); st.Version != "1.0.0" {
		t.Errorf("state version after a failed update = %q, want 1.0.0", st.Version)
	}
}

func TestRecoverInterruptedInstall(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	st := stateDir{dir: dir}

	// As if the agent died right after renaming the part over firmware.bin.
	if err := st.writeJSON(stateFile, installed{Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	p := pending{UpdateID: updateID, Version: target, SHA256: fs.sha, Size: imageSize, URL: "/x"}
	if err := st.writeJSON(pendingFile, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.path(firmwareFile), fs.image, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := newTestAgent(t, fs, dir, "").RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if len(fs.checkins) != 1 || fs.checkins[0].Version != target {
		t.Errorf("check-ins = %v, want one running %s", fs.checkins, target)
	}
	checkInstalled(t, fs, dir)
}

func TestRunRetriesAndStops(t *testing.T) {
	fs := newFakeServer(t)
	fs.failCheckIns = 2
	dir := t.TempDir()
	a := newTestAgent(t, fs, dir, "1.0.0")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	// Wait for the check-in that confirms the update, then stop the loop.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		fs.mu.Lock()
		n := len(fs.checkins)
		ok := n > 0 && fs.checkins[n-1].Version == target
		fs.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent never checked in running the new version")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	checkInstalled(t, fs, dir)
}

func TestStalledDownloadKeepsPart(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	fs.stallAt = 20_000
	a := newTestAgent(t, fs, dir, "1.0.0")
	a.stallTimeout = 100 * time.Millisecond

	err := a.RunOnce(t.Context())
	const want = "download interrupted at 20000 of 100000 bytes (no data for 100ms)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("RunOnce with a stalled download = %v, want it interrupted at 20000 for lack of data", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, partFile)); err != nil || fi.Size() != 20_000 {
		t.Errorf("download.part after the stall: %v (err %v), want 20000 bytes", fi, err)
	}
}

func TestFailedFirstRunLeavesNoState(t *testing.T) {
	fs := newFakeServer(t)
	fs.failCheckIns = 1
	dir := t.TempDir()

	if err := newTestAgent(t, fs, dir, "1.0.0").RunOnce(t.Context()); err == nil {
		t.Fatal("RunOnce against a failing server succeeded, want an error")
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after a failed first check-in: stat error %v, want it absent", stateFile, err)
	}

	// The next run's version is the one that counts.
	if err := newTestAgent(t, fs, dir, target).RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if len(fs.checkins) != 1 || fs.checkins[0].Version != target {
		t.Errorf("check-ins = %v, want one running %s", fs.checkins, target)
	}
	if st := readState(t, dir); st != (installed{Version: target, Seeded: true}) {
		t.Errorf("state.json = %+v, want %s seeded", st, target)
	}
}

func TestGivenVersionAgainstState(t *testing.T) {
	tests := []struct {
		name     string
		state    installed
		given    string
		want     string // version of the first check-in
		wantWarn bool
	}{
		{"seeded state yields", installed{Version: "1.0.0", Seeded: true}, "0.9.0", "0.9.0", false},
		{"installed state wins", installed{Version: "1.0.5"}, "1.0.0", "1.0.5", true},
		{"no version given", installed{Version: "1.0.5"}, "", "1.0.5", false},
		{"same version", installed{Version: "1.0.5"}, "1.0.5", "1.0.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			dir := t.TempDir()
			if err := (stateDir{dir: dir}).writeJSON(stateFile, tt.state); err != nil {
				t.Fatal(err)
			}
			a := newTestAgent(t, fs, dir, tt.given)
			var logs bytes.Buffer
			a.log = slog.New(slog.NewTextHandler(&logs, nil))

			if err := a.RunOnce(t.Context()); err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			if got := fs.checkins[0].Version; got != tt.want {
				t.Errorf("state %+v, given %q: checked in running %q, want %q", tt.state, tt.given, got, tt.want)
			}
			warned := strings.Contains(logs.String(), "level=WARN")
			names := strings.Contains(logs.String(), "given_version="+tt.given) &&
				strings.Contains(logs.String(), "installed_version="+tt.state.Version)
			if warned != tt.wantWarn || (warned && !names) {
				t.Errorf("state %+v, given %q: logs %q; want a warning naming both: %v",
					tt.state, tt.given, logs.String(), tt.wantWarn)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("check in: %w", &client.Error{Status: http.StatusUnauthorized}), true},
		{fmt.Errorf("check in: %w", &client.Error{Status: http.StatusNotFound}), true},
		{&client.Error{Status: http.StatusBadRequest}, true},
		{&client.Error{Status: http.StatusRequestTimeout}, false},
		{&client.Error{Status: http.StatusTooManyRequests}, false},
		{&client.Error{Status: http.StatusRequestedRangeNotSatisfiable}, false},
		{&client.Error{Status: http.StatusInternalServerError}, false},
		{&client.Error{Status: http.StatusServiceUnavailable}, false},
		{fmt.Errorf("download interrupted: %w", io.ErrUnexpectedEOF), false},
		{fmt.Errorf("x: %w", ErrNoVersion), true},
	}
	for _, tt := range tests {
		if got := Permanent(tt.err); got != tt.want {
			t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRunOnceRefusedIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	a, err := New(Config{Server: fs.srv.URL, Product: "nope", DeviceID: "d1", Version: "1.0.0",
		StateDir: t.TempDir(), HTTPClient: fs.srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	err = a.RunOnce(t.Context())
	if err == nil || !Permanent(err) {
		t.Errorf("RunOnce for an unknown product = %v, want a permanent error", err)
	}
	if err := newTestAgent(t, fs, t.TempDir(), "").RunOnce(t.Context()); !Permanent(err) {
		t.Errorf("RunOnce without state or version = %v, want a permanent error", err)
	}
}
