//go:build !race

// The rollout acceptance runs a fleet of 2000 simulated devices; under the
// race detector the in-process server is too slow for that, so this file
// runs in the plain `go test` pass of `make check` instead.

package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
	"github.com/ferry-ota/ferry/internal/webhook"
)

const fleetSize = 2000

// fleetServer is a real Ferry server with its webhook sender running.
type fleetServer struct {
	svc   *core.Service
	url   string
	token string
	img   []byte
}

func startFleetServer(t *testing.T, cfg core.Config) *fleetServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.New(st, webhook.Config{PollInterval: 50 * time.Millisecond, BackoffBase: 100 * time.Millisecond},
		log)
	cfg.Kick = hooks.Kick
	svc := core.NewService(st, bl, cfg, log)
	t.Cleanup(func() { _ = svc.Close() })
	tok, _, err := svc.CreateToken(t.Context(), "test", core.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = hooks.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := server.New(svc, server.Config{}, log).Serve(ctx, ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	fs := &fleetServer{svc: svc, url: "http://" + ln.Addr().String(), token: tok}
	fs.setup(t)
	return fs
}

// setup publishes 1.0.0 on stable, registers the fleet on it, and
// publishes 1.1.0 without moving any channel, ready for a rollout.
func (fs *fleetServer) setup(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	p, _, err := fs.svc.CreateProduct(ctx, "p", core.AccessPublic)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(v, channel string, img []byte) {
		_, err := fs.svc.PublishRelease(ctx, core.Publish{Product: "p", Version: v, Channel: channel,
			Image: bytes.NewReader(img)})
		if err != nil {
			t.Fatal(err)
		}
	}
	publish("1.0.0", core.DefaultChannel, image(4000, 1))
	for i := 1; i <= fleetSize; i++ {
		_, err := fs.svc.CheckIn(ctx, p, core.CheckIn{Device: fmt.Sprintf("sim-%05d", i), Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
	}
	fs.img = image(4096, 2)
	publish("1.1.0", "", fs.img)
}

// simulate runs the fleet until done reports true or the deadline passes,
// then lets in-flight devices finish for a moment and stops the fleet.
func (fs *fleetServer) simulate(t *testing.T, cfg Config, deadline time.Duration, done func() bool) Report {
	t.Helper()
	cfg.Server, cfg.Product, cfg.Devices, cfg.Prefix, cfg.Version = fs.url, "p", fleetSize, "sim-", "1.0.0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	rc := make(chan Report, 1)
	go func() { rc <- s.Run(ctx) }()
	limit := time.Now().Add(deadline)
	for !done() && time.Now().Before(limit) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	cancel()
	return <-rc
}

func (fs *fleetServer) rollout(t *testing.T, id int64) core.Rollout {
	t.Helper()
	ro, err := fs.svc.Rollout(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func fleetConfig() Config {
	return Config{
		PlainShare: 0.05, CutShare: 0.05, Seed: 7, Poll: 2 * time.Second, PollMax: 2 * time.Second,
		Ramp: time.Second, Concurrency: 64,
	}
}

// expectedShares are the phases' own shares of the selected devices.
var expectedShares = []float64{0.01, 0.09, 0.40, 0.50}

func TestAcceptanceRolloutPausesOnFailures(t *testing.T) {
	fs := startFleetServer(t, core.Config{PollInterval: 2 * time.Second, PollActive: time.Second,
		RolloutTick: 100 * time.Millisecond})
	rx := newReceiver(t, "fwh_acceptance-secret-1234")
	if _, err := fs.svc.SetWebhook(t.Context(), "p", rx.srv.URL, rx.secret); err != nil {
		t.Fatal(err)
	}
	ro, err := fs.svc.CreateRollout(t.Context(), core.RolloutSpec{
		Product: "p", Version: "1.1.0", Selector: core.Selector{Channel: "stable"}, Phases: "1%,10%,50%,100%",
		AutoAdvance: true, SuccessRate: 0.9, FailPercent: 3, FailMinFinished: 20,
	})
	if err != nil {
		t.Fatal(err)
	}

	cfg := fleetConfig()
	cfg.FailInstall = 0.05
	rep := fs.simulate(t, cfg, 90*time.Second, func() bool { return fs.rollout(t, ro.ID).State != core.RolloutRunning })
	got := fs.rollout(t, ro.ID)
	t.Logf("rollout %s in phase %d: %s; fleet: %d check-ins, %d offers, %d succeeded, %d failed",
		got.State, got.Phase, got.Reason, rep.CheckIns, rep.Offers, rep.Succeeded, rep.Failed)
	if got.State != core.RolloutPaused || got.Phase > 2 {
		t.Fatalf("rollout = %s in phase %d (%q), want paused by its failure threshold in an early phase",
			got.State, got.Phase, got.Reason)
	}

	st, err := fs.svc.RolloutStatus(t.Context(), ro.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total.Selected != fleetSize {
		t.Errorf("rollout selects %d devices, want %d", st.Total.Selected, fleetSize)
	}
	for i, ph := range st.Phases {
		want := expectedShares[i] * fleetSize
		// Four standard deviations of a binomial count.
		if tol := 4 * math.Sqrt(want*(1-expectedShares[i])); math.Abs(float64(ph.Selected)-want) > tol {
			t.Errorf("phase %s has %d devices, want %.0f ± %.0f", ph.Label, ph.Selected, want, tol)
		}
	}
	offeredOutside := 0
	for _, d := range fs.devices(t) {
		for _, u := range d.Updates {
			if u.RolloutID == ro.ID && core.DevicePhase(got, d.Name) > got.Phase {
				offeredOutside++
			}
		}
	}
	if offeredOutside > 0 {
		t.Errorf("%d devices outside the reached phases were offered the release", offeredOutside)
	}
	rx.check(t, "rollout.paused", "update.failed", "update.succeeded")
}

func TestAcceptanceRolloutCompletesAndStatusMatchesHistories(t *testing.T) {
	fs := startFleetServer(t, core.Config{PollInterval: 2 * time.Second, PollActive: time.Second,
		RolloutTick: 100 * time.Millisecond})
	ro, err := fs.svc.CreateRollout(t.Context(), core.RolloutSpec{
		Product: "p", Version: "1.1.0", Selector: core.Selector{Channel: "stable"}, Phases: "1%,10%,50%,100%",
		AutoAdvance: true, SuccessRate: 0.9, FailPercent: 3, FailMinFinished: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := fs.simulate(t, fleetConfig(), 150*time.Second,
		func() bool { return fs.rollout(t, ro.ID).State != core.RolloutRunning })
	got := fs.rollout(t, ro.ID)
	t.Logf("rollout %s: %s; fleet: %d check-ins, %d offers, %d succeeded", got.State, got.Reason,
		rep.CheckIns, rep.Offers, rep.Succeeded)
	if got.State != core.RolloutFinished || got.Phase != 3 {
		t.Fatalf("rollout = %s in phase %d (%q), want finished after reaching 100%%", got.State, got.Phase, got.Reason)
	}

	// What the operator sees (the API behind `ferry rollout status`) must
	// equal a recount of every device's own update records.
	op := client.NewOperator(fs.url, fs.token, nil)
	api, err := op.Rollout(t.Context(), ro.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]recount, len(got.Phases))
	for _, d := range fs.devices(t) {
		i := core.DevicePhase(got, d.Name)
		want[i].add(d, ro.ID)
	}
	for i, ph := range api.Status {
		g := recount{selected: ph.Selected, pending: ph.Pending, succeeded: ph.Succeeded, failed: ph.Failed}
		for _, n := range ph.States {
			g.inFlight += n
		}
		if g != want[i] {
			t.Errorf("phase %s: status says %+v, device records say %+v", ph.Label, g, want[i])
		}
	}
	if api.Total.Succeeded != fleetSize {
		t.Errorf("total succeeded = %d, want every one of the %d devices", api.Total.Succeeded, fleetSize)
	}
	c, _ := fs.svc.ChannelRelease(t.Context(), core.Product{ID: 1, Name: "p"}, "stable")
	if c.Version != "1.1.0" {
		t.Errorf("stable after the rollout = %s, want 1.1.0", c.Version)
	}
}

// recount is one phase's counts, made from device records alone.
type recount struct{ selected, pending, inFlight, succeeded, failed int }

func (r *recount) add(d core.DeviceDetail, rolloutID int64) {
	r.selected++
	var state core.State
	for i := len(d.Updates) - 1; i >= 0; i-- { // oldest first
		u := d.Updates[i]
		if u.RolloutID != rolloutID || state == core.StateSucceeded {
			continue
		}
		state = u.State
	}
	switch state {
	case "":
		r.pending++
	case core.StateSucceeded:
		r.succeeded++
	case core.StateFailed:
		r.failed++
	default:
		r.inFlight++
	}
}

func TestAcceptanceBrakesAndCoolDown(t *testing.T) {
	// The server's clock runs sixty times faster than the wall's, so a
	// minute of offers and a cool-down take seconds.
	start := time.Now()
	dilated := func() time.Time { return start.Add(time.Since(start) * 60) }
	const limit, perMinute, failLimit = 10, 30, 2
	fs := startFleetServer(t, core.Config{PollInterval: 2 * time.Second, PollActive: time.Second,
		RolloutTick: 100 * time.Millisecond, FailLimit: failLimit, CoolDown: 24 * time.Hour, Now: dilated})
	ro, err := fs.svc.CreateRollout(t.Context(), core.RolloutSpec{
		Product: "p", Version: "1.1.0", MaxConcurrent: limit, OffersPerMinute: perMinute,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fleetConfig()
	cfg.FailInstall, cfg.CutShare, cfg.Concurrency = 0.1, 0, 32
	// The run lasts until the brakes have had enough to hold back: four
	// minutes' worth of offers on the server's clock and a failing device.
	// How long that takes depends on the machine, so only an upper bound
	// is set.
	var next time.Time
	fs.simulate(t, cfg, 120*time.Second, func() bool {
		if time.Now().Before(next) {
			return false
		}
		next = time.Now().Add(time.Second)
		st, err := fs.svc.RolloutStatus(t.Context(), ro.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.Total.Selected-st.Total.Pending >= 4*perMinute && st.Total.Failed > 0
	})

	var spans [][2]time.Time
	var offers []time.Time
	failing := 0
	for _, d := range fs.devices(t) {
		fails := 0
		for _, u := range d.Updates {
			if u.RolloutID != ro.ID {
				continue
			}
			spans = append(spans, [2]time.Time{u.CreatedAt, u.FinishedAt})
			offers = append(offers, u.CreatedAt)
			if u.State == core.StateFailed {
				fails++
			}
		}
		if fails > 0 {
			failing++
			// Bytes served prove it: the release is downloaded at most
			// failLimit times within the cool-down.
			if max := int64(failLimit * len(fs.img)); d.BytesServed > max {
				t.Errorf("device %s failed %d times and was served %d bytes, more than %d", d.Name, fails,
					d.BytesServed, max)
			}
		}
	}
	if failing == 0 || len(offers) < 3*perMinute {
		t.Fatalf("only %d offers and %d failing devices: the run was too short to test the brakes", len(offers),
			failing)
	}
	if got := maxOverlap(spans); got > limit {
		t.Errorf("%d devices were in flight at once, want at most %d", got, limit)
	}
	if got := maxInWindow(offers, time.Minute); got > perMinute {
		t.Errorf("%d offers in one minute, want at most %d", got, perMinute)
	}
	t.Logf("%d offers, at most %d in flight, at most %d in a minute, %d failing devices",
		len(offers), maxOverlap(spans), maxInWindow(offers, time.Minute), failing)
}

// maxOverlap is the most spans open at one instant; an open span's end is
// zero and counts as open until now.
func maxOverlap(spans [][2]time.Time) int {
	best := 0
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if !o[0].After(s[0]) && (o[1].IsZero() || o[1].After(s[0])) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// maxInWindow is the most times within any window of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best := 0
	for _, a := range ts {
		n := 0
		for _, b := range ts {
			if !b.Before(a) && b.Sub(a) < w {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

func (fs *fleetServer) devices(t *testing.T) []core.DeviceDetail {
	t.Helper()
	out := make([]core.DeviceDetail, 0, fleetSize)
	for i := 1; i <= fleetSize; i++ {
		d, err := fs.svc.Device(t.Context(), "p", fmt.Sprintf("sim-%05d", i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// receiver is a webhook endpoint that refuses each delivery's first
// attempt, so that every event is retried, and checks signatures.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	attempts map[string]int
	events   map[string]int
	badSig   int
}

func newReceiver(t *testing.T, secret string) *receiver {
	rx := &receiver{secret: secret, attempts: map[string]int{}, events: map[string]int{}}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rx.mu.Lock()
		defer rx.mu.Unlock()
		err := webhook.Verify(rx.secret, r.Header.Get("X-Ferry-Signature"), r.Header.Get("X-Ferry-Timestamp"),
			body, time.Now(), time.Minute)
		if err != nil {
			rx.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("X-Ferry-Delivery")
		rx.attempts[id]++
		if rx.attempts[id] == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if rx.attempts[id] == 2 {
			var e struct{ Event string }
			_ = json.Unmarshal(body, &e)
			rx.events[e.Event]++
		}
	}))
	t.Cleanup(rx.srv.Close)
	return rx
}

// check waits for the events to have arrived, each after a retry.
func (rx *receiver) check(t *testing.T, events ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rx.mu.Lock()
		missing := ""
		for _, e := range events {
			if rx.events[e] == 0 {
				missing = e
			}
		}
		bad := rx.badSig
		rx.mu.Unlock()
		if bad > 0 {
			t.Errorf("%d webhook deliveries had a bad signature", bad)
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("webhook event %s never arrived after a retry", missing)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
