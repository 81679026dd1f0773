package sim

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"log/slog"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// testServer is a real Ferry server on a loopback port.
type testServer struct {
	svc *core.Service
	url string
}

func startServer(t testing.TB, cfg core.Config) *testServer {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, cfg, log)
	t.Cleanup(func() { _ = svc.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(svc, server.Config{}, log)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{svc: svc, url: "http://" + ln.Addr().String()}
}

// product creates a product with releases 1.0.0 and 1.1.0 on stable and
// returns its enrollment key (empty when public) and the 1.1.0 image.
func (ts *testServer) product(t testing.TB, name string, access core.Access, size int) (string, []byte) {
	t.Helper()
	_, key, err := ts.svc.CreateProduct(t.Context(), name, access)
	if err != nil {
		t.Fatal(err)
	}
	var img []byte
	for i, v := range []string{"1.0.0", "1.1.0"} {
		img = image(size+i*100, uint32(i+1))
		_, err := ts.svc.PublishRelease(t.Context(), core.Publish{
			Product: name, Version: v, Channel: core.DefaultChannel, Image: bytes.NewReader(img),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return key, img
}

// image makes test firmware that does not repeat.
func image(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func run(t *testing.T, cfg Config) Report {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.Run(t.Context())
}

// failLimit is the server's limit in the fleet test: failing devices are
// offered the release this many times, then held back by the cool-down.
const failLimit = 2

// fleet is a mixed fleet. Its poll interval is short, but long enough
// that the check-ins of idle devices leave a server built with -race room
// for the devices that are updating. Duration only guards against a run
// that never settles.
func fleet(url string) Config {
	return Config{
		Server: url, Product: "p", Devices: 60, Prefix: "sim-", Version: "1.0.0",
		PlainShare: 0.2, CutShare: 0.1, FailInstall: 0.1, Rollback: 0.05, Silent: 0.05, Seed: 1,
		Poll: 200 * time.Millisecond, PollMax: 200 * time.Millisecond, Concurrency: 16,
		Duration: time.Minute,
	}
}

func TestFleetMatchesServerRecords(t *testing.T) {
	// The server's poll hint stays at its default of an hour, so native
	// devices show they cap it with PollMax.
	ts := startServer(t, core.Config{FailLimit: failLimit})
	_, img := ts.product(t, "p", core.AccessPublic, 4_000)
	cfg := fleet(ts.url)

	// The seed must give every behaviour and both protocols a few devices,
	// or the test would prove little.
	count := map[string]int{}
	for i := 1; i <= cfg.Devices; i++ {
		id := deviceID(cfg.Prefix, i)
		count[BehaviourOf(cfg, id).String()]++
		if Plain(cfg, id) {
			count["plain"]++
		}
		if Cut(cfg, id, "1.1.0") {
			count["cut"]++
		}
	}
	for _, k := range []string{"succeed", "fail-install", "rollback", "silent", "plain", "cut"} {
		if count[k] == 0 {
			t.Fatalf("seed %d gives no %s device among %d: %v", cfg.Seed, k, cfg.Devices, count)
		}
	}

	r := run(t, cfg)
	if r.Ended != "settled" {
		t.Fatalf("Run ended %q, want settled; report %+v", r.Ended, r)
	}
	if err := ts.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	var want Report
	want.Versions = map[string]int{}
	var served int64
	for i := 1; i <= cfg.Devices; i++ {
		id := deviceID(cfg.Prefix, i)
		d, err := ts.svc.Device(t.Context(), "p", id)
		if err != nil {
			t.Fatalf("Device(%s): %v", id, err)
		}
		checkDevice(t, cfg, d)
		tally(&want, cfg, d)
		served += d.BytesServed
	}

	got := r
	if got.Offers != want.Offers || got.Succeeded != want.Succeeded || got.Failed != want.Failed ||
		got.RolledBack != want.RolledBack || got.Silent != want.Silent || got.Cuts != want.Cuts {
		t.Errorf("report offers/succeeded/failed/rolled back/silent/cut = %d/%d/%d/%d/%d/%d, "+
			"server records %d/%d/%d/%d/%d/%d",
			got.Offers, got.Succeeded, got.Failed, got.RolledBack, got.Silent, got.Cuts,
			want.Offers, want.Succeeded, want.Failed, want.RolledBack, want.Silent, want.Cuts)
	}
	if !maps.Equal(got.Versions, want.Versions) {
		t.Errorf("report versions = %v, server records %v", got.Versions, want.Versions)
	}
	if got.Plain != count["plain"] || got.Devices != cfg.Devices {
		t.Errorf("report devices = %d (%d plain), want %d (%d plain)", got.Devices, got.Plain, cfg.Devices,
			count["plain"])
	}
	// Every offer was downloaded whole exactly once, cut or not; the server
	// may have sent a little more into a link that was being cut.
	if wantBytes := got.Offers * int64(len(img)); got.Bytes != wantBytes || served < got.Bytes {
		t.Errorf("report bytes = %d, want %d offers × %d = %d; server counted %d (want at least as many)",
			got.Bytes, got.Offers, len(img), wantBytes, served)
	}
	if len(got.Errors) != 0 || got.Corrupt != 0 {
		t.Errorf("report errors = %v, corrupt = %d, want none", got.ErrorSamples, got.Corrupt)
	}

	var out strings.Builder
	if err := got.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1.1.0") || !strings.Contains(out.String(), "settled") {
		t.Errorf("WriteText = %q, want the versions and how the run ended", out.String())
	}
}

// checkDevice compares one device's server record with its behaviour.
func checkDevice(t *testing.T, cfg Config, d core.DeviceDetail) {
	t.Helper()
	act := BehaviourOf(cfg, d.Name)
	if len(d.Updates) == 0 {
		t.Errorf("device %s (%s) has no updates", d.Name, act)
		return
	}
	wantVersion, limit := "1.0.0", failLimit
	for _, u := range d.Updates {
		var ok bool
		switch act {
		case Succeed:
			wantVersion, limit = "1.1.0", 1
			ok = u.State == core.StateSucceeded
		case FailInstall:
			ok = u.State == core.StateFailed && u.Reason == "device reported failure: "+failDetail
		case Rollback:
			ok = u.State == core.StateFailed && strings.HasPrefix(u.Reason, "rolled back")
		case Silent:
			limit = 1
			ok = u.State == core.StateDownloaded && u.FinishedAt.IsZero()
		}
		if !ok {
			t.Errorf("device %s (%s): update %d is %s (%q)", d.Name, act, u.ID, u.State, u.Reason)
		}
	}
	if d.Version != wantVersion || len(d.Updates) != limit {
		t.Errorf("device %s (%s) runs %s with %d updates, want %s with %d",
			d.Name, act, d.Version, len(d.Updates), wantVersion, limit)
	}

	wantProto := "native"
	if Plain(cfg, d.Name) {
		wantProto = "plain"
	}
	for _, e := range d.Events {
		if e.Protocol != wantProto {
			t.Errorf("device %s: event %s %s came over %q, want %q", d.Name, e.Kind, e.State, e.Protocol, wantProto)
			break
		}
	}
}

// tally adds one device's server record to a report built the sim's way.
func tally(r *Report, cfg Config, d core.DeviceDetail) {
	r.Versions[d.Version]++
	r.Offers += int64(len(d.Updates))
	if Cut(cfg, d.Name, "1.1.0") {
		r.Cuts += int64(len(d.Updates))
	}
	for _, u := range d.Updates {
		switch {
		case u.State == core.StateSucceeded:
			r.Succeeded++
		case u.State == core.StateFailed && strings.HasSuffix(u.Reason, failDetail):
			r.Failed++
		case u.State == core.StateFailed && strings.HasPrefix(u.Reason, "rolled back"):
			r.RolledBack++
		case u.State == core.StateDownloaded:
			r.Silent++
		}
	}
}

func TestKeyProductAndSlowLink(t *testing.T) {
	ts := startServer(t, core.Config{})
	key, _ := ts.product(t, "private", core.AccessKey, 3_000)
	cfg := Config{
		Server: ts.url, Product: "private", Token: key, Devices: 6, Prefix: "k-", Version: "1.0.0",
		PlainShare: 0.4, ESPShare: 0.3, Link: 2 << 10, Seed: 7, Poll: 20 * time.Millisecond,
		PollMax: 20 * time.Millisecond, Duration: time.Minute,
	}

	r := run(t, cfg)
	if r.Ended != "settled" || r.Succeeded != 6 || r.Versions["1.1.0"] != 6 || len(r.Errors) != 0 ||
		r.Plain == 0 || r.ESP == 0 {
		t.Errorf("Run = %+v, want settled with 6 devices, plain and ESP ones among them, on 1.1.0 and no errors", r)
	}

	// A wrong key fails enrollment, and every device is turned away; the
	// run ends on its duration because nothing is ever offered.
	cfg.Token, cfg.Prefix, cfg.Duration = "wrong", "w-", 300*time.Millisecond
	r = run(t, cfg)
	if r.Ended != "duration reached" || r.Offers != 0 || r.Errors["401"] == 0 || len(r.Errors) != 1 {
		t.Errorf("Run with a wrong key = %+v, want only 401 errors and no offers", r)
	}
	if s := r.ErrorSamples["401"]; !strings.Contains(s, "unknown device token") {
		t.Errorf("Run with a wrong key: first 401 says %q, want the server's reason", s)
	}
}

func TestBehaviourIsStableAndProportional(t *testing.T) {
	cfg := Config{FailInstall: 0.05, Rollback: 0.1, Silent: 0.02, PlainShare: 0.2, ESPShare: 0.25, CutShare: 0.3,
		Seed: 1}
	const n = 20_000
	count := map[Behaviour]int{}
	plain, esp, cut := 0, 0, 0
	for i := 1; i <= n; i++ {
		id := deviceID("sim-", i)
		b := BehaviourOf(cfg, id)
		if again := BehaviourOf(cfg, id); again != b {
			t.Fatalf("BehaviourOf(%s) = %s, then %s", id, b, again)
		}
		count[b]++
		if Plain(cfg, id) {
			plain++
		}
		if ESP(cfg, id) {
			esp++
			if Plain(cfg, id) || Cut(cfg, id, "1.1.0") {
				t.Fatalf("ESP device %s is also plain (%v) or cut (%v)", id, Plain(cfg, id), Cut(cfg, id, "1.1.0"))
			}
		}
		if Cut(cfg, id, "1.1.0") {
			cut++
		}
	}

	checks := []struct {
		name  string
		got   int
		share float64
	}{
		{"fail-install", count[FailInstall], cfg.FailInstall},
		{"rollback", count[Rollback], cfg.Rollback},
		{"silent", count[Silent], cfg.Silent},
		{"plain", plain, cfg.PlainShare},
		{"esp", esp, cfg.ESPShare},
		// ESP devices are never cut.
		{"cut", cut, cfg.CutShare * (1 - cfg.ESPShare)},
	}
	for _, c := range checks {
		want := c.share * n
		if d := float64(c.got) - want; d < -0.1*want || d > 0.1*want {
			t.Errorf("%s devices = %d of %d, want about %.0f", c.name, c.got, n, want)
		}
	}

	other := cfg
	other.Seed = 2
	same := 0
	for i := 1; i <= 1000; i++ {
		id := deviceID("sim-", i)
		if BehaviourOf(cfg, id) != Succeed && BehaviourOf(cfg, id) == BehaviourOf(other, id) {
			same++
		}
	}
	if same > 60 {
		t.Errorf("seeds 1 and 2 share %d misbehaving devices of 1000, want another draw", same)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Server: "http://127.0.0.1:8080", Product: "p", Devices: 10, Prefix: "sim-", Version: "1.0.0"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no product", func(c *Config) { c.Product = "" }, "product"},
		{"no devices", func(c *Config) { c.Devices = 0 }, "devices"},
		{"server not http", func(c *Config) { c.Server = "127.0.0.1:8080" }, "server URL"},
		{"bad prefix", func(c *Config) { c.Prefix = "a b" }, "prefix"},
		{"bad version", func(c *Config) { c.Version = "one" }, "version"},
		{"share above 1", func(c *Config) { c.PlainShare = 1.5 }, "plain share"},
		{"negative share", func(c *Config) { c.CutShare = -0.1 }, "cut share"},
		{"behaviours above 1", func(c *Config) { c.FailInstall, c.Rollback, c.Silent = 0.5, 0.4, 0.2 }, "add up"},
		{"esp share above 1", func(c *Config) { c.ESPShare = 2 }, "esp share"},
		{"protocols above 1", func(c *Config) { c.PlainShare, c.ESPShare = 0.6, 0.5 }, "add up"},
		{"negative link", func(c *Config) { c.Link = -1 }, "link"},
		{"hold too long", func(c *Config) { c.LongPoll, c.Hold = true, 601*time.Second }, "hold"},
		{"hold in fractions", func(c *Config) { c.LongPoll, c.Hold = true, 1500*time.Millisecond }, "hold"},
	}
	if _, err := New(good); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSinkCutsOnceAndRestarts(t *testing.T) {
	s := &Sim{}
	k := newSink(t.Context(), crc32.NewIEEE(), newLink(1<<20), &s.c.bytes)
	k.cutAt = 5
	n, err := k.Write([]byte("0123456789"))
	if n != 5 || !errors.Is(err, errCut) {
		t.Fatalf("Write past the cut = %d, %v, want 5, errCut", n, err)
	}
	if n, err := k.Write([]byte("56789")); n != 5 || err != nil || k.n != 10 {
		t.Fatalf("Write after the cut = %d, %v (held %d), want 5, nil (held 10)", n, err, k.n)
	}
	if err := k.Truncate(0); err != nil || k.n != 0 {
		t.Fatalf("Truncate(0) = %v (held %d), want nil (held 0)", err, k.n)
	}
	if got := s.c.bytes.Load(); got != 10 {
		t.Errorf("fleet bytes = %d, want 10: what was downloaded stays counted", got)
	}
}
