package nudge_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/nudge"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// The real store must keep satisfying the interface the package declares.
var _ nudge.Source = core.Store(nil)

// received is one request a receiver got.
type received struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// receiver is a local carrier API on 127.0.0.1 that answers with the
// status codes in codes, one per request (the last repeats), and records
// what it got.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes []int
	got   []received
}

func newReceiver(t testing.TB, codes ...int) *receiver {
	t.Helper()
	rc := &receiver{codes: codes}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		code := rc.codes[min(len(rc.got), len(rc.codes)-1)]
		rc.got = append(rc.got, received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// fixture is a SQLite store with one product and one device with a SIM.
type fixture struct {
	path   string
	store  *sqlite.Store
	p      core.Product
	dev    core.Device
	clock  *clock
	closed bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "ferry.db"), clock: newClock()}
	f.open(t)
	ctx := t.Context()
	f.p = core.Product{Name: "sensor", Access: core.AccessPublic, CreatedAt: f.clock.Now()}
	if err := f.store.CreateProduct(ctx, &f.p); err != nil {
		t.Fatalf("CreateProduct() = %v", err)
	}
	f.dev = core.Device{ProductID: f.p.ID, Name: "mkr-1", Channel: core.DefaultChannel,
		Attributes: map[string]string{"msisdn": "+491701234567", "iccid": "8949000000000000001"},
		FirstSeen:  f.clock.Now(), LastSeen: f.clock.Now()}
	if err := f.store.CreateDevice(ctx, &f.dev); err != nil {
		t.Fatalf("CreateDevice() = %v", err)
	}
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), f.path, nil)
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	f.store, f.closed = s, false
	t.Cleanup(func() {
		if !f.closed {
			_ = s.Close()
		}
	})
}

func (f *fixture) reopen(t *testing.T) {
	t.Helper()
	if err := f.store.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	f.closed = true
	f.open(t)
}

// configure sets the product's nudge through the core, which checks it as
// the API would.
func (f *fixture) configure(t *testing.T, c core.NudgeConfig) core.NudgeConfig {
	t.Helper()
	svc := core.NewService(f.store, nil, core.Config{Now: f.clock.Now}, discard())
	defer svc.Close()
	c, err := svc.SetNudge(t.Context(), f.p.Name, c)
	if err != nil {
		t.Fatalf("SetNudge() = %v", err)
	}
	return c
}

// queue puts a nudge for the device into the outbox, as the core does
// when an urgent command is queued, and returns its ID.
func (f *fixture) queue(t *testing.T, cmd core.NudgeCommand) int64 {
	t.Helper()
	data, _ := json.Marshal(core.NudgeData{Product: f.p.Name, Device: f.dev.Name,
		Attributes: f.dev.Attributes, Trigger: core.TriggerUrgentCommand, Command: cmd})
	n := core.Nudge{ProductID: f.p.ID, DeviceID: f.dev.ID, Device: f.dev.Name,
		Trigger: core.TriggerUrgentCommand, CommandID: cmd.ID, Data: data, State: core.NudgeQueued,
		NextAt: f.clock.Now(), CreatedAt: f.clock.Now()}
	if err := f.store.AddNudge(t.Context(), &n); err != nil {
		t.Fatalf("AddNudge() = %v", err)
	}
	return n.ID
}

func (f *fixture) get(t *testing.T, id int64) (core.Nudge, []core.NudgeAttempt) {
	t.Helper()
	n, err := f.store.Nudge(t.Context(), id)
	if err != nil {
		t.Fatalf("Nudge(%d) = %v", id, err)
	}
	as, err := f.store.NudgeAttempts(t.Context(), id)
	if err != nil {
		t.Fatalf("NudgeAttempts(%d) = %v", id, err)
	}
	return n, as
}

func (f *fixture) dispatcher(logs io.Writer) *nudge.Dispatcher {
	return nudge.New(f.store, nudge.Config{Now: f.clock.Now}, textLogger(logs))
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func textLogger(w io.Writer) *slog.Logger {
	if w == nil {
		return discard()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
