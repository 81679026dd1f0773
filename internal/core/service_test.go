package core_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc   *core.Service
	clock *clock
	p     core.Product
}

func newFixture(t *testing.T, cfg core.Config) *fixture {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.Now = c.Now
	svc := core.NewService(st, bl, cfg, log)
	t.Cleanup(func() { svc.Close() })
	p, _, err := svc.CreateProduct(ctx, "sensor", core.AccessPublic)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, clock: c, p: p}
}

// image returns distinct test firmware for a version.
func image(v string) []byte {
	return bytes.Repeat([]byte("firmware "+v+"\n"), 300)
}

func (f *fixture) publish(t *testing.T, v string) core.Release {
	t.Helper()
	r, err := f.svc.PublishRelease(t.Context(), core.Publish{
		Product: "sensor", Version: v, Channel: core.DefaultChannel, Image: bytes.NewReader(image(v)),
	})
	if err != nil {
		t.Fatalf("PublishRelease(%s): %v", v, err)
	}
	return r
}

func (f *fixture) checkIn(t *testing.T, dev, v string) core.Decision {
	t.Helper()
	d, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{Device: dev, Version: v, Protocol: "test"})
	if err != nil {
		t.Fatalf("CheckIn(%s, %s): %v", dev, v, err)
	}
	return d
}

func (f *fixture) report(t *testing.T, dev, state string) core.Update {
	t.Helper()
	u, err := f.svc.Report(t.Context(), f.p, core.Report{Device: dev, State: state, Protocol: "test"})
	if err != nil {
		t.Fatalf("Report(%s, %s): %v", dev, state, err)
	}
	return u
}

func (f *fixture) latest(t *testing.T, dev string) (core.Update, core.DeviceDetail) {
	t.Helper()
	d, err := f.svc.Device(t.Context(), "sensor", dev)
	if err != nil {
		t.Fatalf("Device(%s): %v", dev, err)
	}
	if len(d.Updates) == 0 {
		t.Fatalf("Device(%s) has no updates", dev)
	}
	return d.Updates[0], d
}

func TestPublishDigests(t *testing.T) {
	f := newFixture(t, core.Config{})
	r := f.publish(t, "1.0.0")
	sum := sha256.Sum256(image("1.0.0"))
	if r.SHA256 != hex.EncodeToString(sum[:]) || r.Size != int64(len(image("1.0.0"))) {
		t.Errorf("PublishRelease = size %d sha %s, want %d %x", r.Size, r.SHA256, len(image("1.0.0")), sum)
	}
	c, err := f.svc.ChannelRelease(t.Context(), f.p, core.DefaultChannel)
	if err != nil || c.ID != r.ID {
		t.Errorf("ChannelRelease(stable) = %d, %v, want release %d", c.ID, err, r.ID)
	}
}

func TestPublishRejects(t *testing.T) {
	f := newFixture(t, core.Config{MaxImageSize: 10000})
	f.publish(t, "1.0.0")
	tests := []struct {
		name string
		in   core.Publish
		want error
	}{
		{"duplicate version", core.Publish{Version: "1.0.0"}, core.ErrConflict},
		{"malformed version", core.Publish{Version: "1..0"}, core.ErrInvalid},
		{"over the limit", core.Publish{Version: "2.0.0", Image: bytes.NewReader(make([]byte, 10001))},
			core.ErrTooLarge},
		{"wrong sha256", core.Publish{Version: "2.0.0", ExpectSHA256: strings.Repeat("0", 64)}, core.ErrInvalid},
		{"bad sha256", core.Publish{Version: "2.0.0", ExpectSHA256: "xyz"}, core.ErrInvalid},
		{"empty image", core.Publish{Version: "2.0.0", Image: bytes.NewReader(nil)}, core.ErrInvalid},
		{"bad channel", core.Publish{Version: "2.0.0", Channel: "../x"}, core.ErrInvalid},
		{"traversal product", core.Publish{Product: "../../etc", Version: "2.0.0"}, core.ErrInvalid},
		{"unknown product", core.Publish{Product: "nope", Version: "2.0.0"}, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.Product == "" {
				in.Product = "sensor"
			}
			if in.Image == nil {
				in.Image = bytes.NewReader(image("2.0.0"))
			}
			_, err := f.svc.PublishRelease(t.Context(), in)
			if !errors.Is(err, tt.want) {
				t.Errorf("PublishRelease(%+v) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	rs, err := f.svc.Releases(t.Context(), "sensor")
	if err != nil || len(rs) != 1 {
		t.Errorf("Releases after rejected uploads = %d releases, %v; want 1", len(rs), err)
	}
	c, _ := f.svc.ChannelRelease(t.Context(), f.p, core.DefaultChannel)
	if c.Version != "1.0.0" {
		t.Errorf("stable after rejected uploads = %s, want 1.0.0", c.Version)
	}
}

func TestUpdateSucceedsOnlyOnCheckIn(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")

	d := f.checkIn(t, "d1", "1.0.0")
	if d.Update == nil || d.Release.Version != "1.1.0" || d.Want() != "1.1.0" {
		t.Fatalf("CheckIn on 1.0.0 = %+v, want an offer of 1.1.0", d)
	}
	again := f.checkIn(t, "d1", "1.0.0")
	if again.Update == nil || again.Update.ID != d.Update.ID {
		t.Fatalf("second CheckIn offered %+v, want the same update %d", again.Update, d.Update.ID)
	}
	for _, s := range []string{"downloading", "downloaded", "installing", "succeeded"} {
		f.report(t, "d1", s)
	}
	if u, _ := f.latest(t, "d1"); u.State != core.StateRebooting {
		t.Errorf("after the device claims success, state = %s, want rebooting until it checks in", u.State)
	}

	after := f.checkIn(t, "d1", "1.1.0")
	if after.Update != nil {
		t.Errorf("CheckIn on 1.1.0 offered %+v, want nothing", after.Update)
	}
	u, dd := f.latest(t, "d1")
	if u.State != core.StateSucceeded || u.FinishedAt.IsZero() {
		t.Errorf("update = %s finished %v, want succeeded and finished", u.State, u.FinishedAt)
	}
	if dd.Version != "1.1.0" {
		t.Errorf("device version = %s, want 1.1.0", dd.Version)
	}
	var kinds []string
	for _, e := range dd.Events {
		kinds = append(kinds, string(e.Kind)+":"+string(e.State))
	}
	want := "checkin:,offer:offered,report:downloading,report:downloaded,report:installing," +
		"report:succeeded,checkin:,decision:succeeded"
	if got := strings.Join(kinds, ","); got != want {
		t.Errorf("history = %s\nwant      %s", got, want)
	}
}

func TestRollBackIsFailure(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	f.checkIn(t, "d1", "1.0.0")
	f.report(t, "d1", "installing")

	d := f.checkIn(t, "d1", "1.0.0")
	if d.Update != nil {
		t.Errorf("CheckIn right after the roll-back offered %+v, want nothing this once", d.Update)
	}
	u, _ := f.latest(t, "d1")
	if u.State != core.StateFailed || !strings.HasPrefix(u.Reason, "rolled back") {
		t.Errorf("update = %s %q, want failed: rolled back", u.State, u.Reason)
	}
	if d := f.checkIn(t, "d1", "1.0.0"); d.Update == nil || d.Update.ID == u.ID {
		t.Errorf("next CheckIn = %+v, want a new offer", d.Update)
	}
}

func TestCheckInWithoutInstallKeepsUpdate(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	first := f.checkIn(t, "d1", "1.0.0")
	f.report(t, "d1", "downloading")
	d := f.checkIn(t, "d1", "1.0.0")
	if d.Update == nil || d.Update.ID != first.Update.ID || d.Update.State != core.StateDownloading {
		t.Errorf("CheckIn mid-download = %+v, want update %d still downloading", d.Update, first.Update.ID)
	}
}

func TestCoolDown(t *testing.T) {
	f := newFixture(t, core.Config{FailLimit: 2, CoolDown: time.Hour})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	for range 2 {
		if d := f.checkIn(t, "d1", "1.0.0"); d.Update == nil {
			t.Fatal("CheckIn before the cool-down offered nothing")
		}
		f.report(t, "d1", "failed")
		f.clock.Add(time.Minute)
	}
	d := f.checkIn(t, "d1", "1.0.0")
	if d.Update != nil || d.Want() != "1.0.0" {
		t.Errorf("CheckIn in cool-down = %+v want %s, want no offer and 1.0.0", d.Update, d.Want())
	}
	f.clock.Add(time.Hour)
	if d := f.checkIn(t, "d1", "1.0.0"); d.Update == nil {
		t.Error("CheckIn after the cool-down offered nothing")
	}
}

func TestReportsIdempotentAndMonotonic(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	f.checkIn(t, "d1", "1.0.0")
	f.report(t, "d1", "installing")
	f.report(t, "d1", "installing")
	u := f.report(t, "d1", "downloading")
	if u.State != core.StateInstalling {
		t.Errorf("state after a late downloading report = %s, want installing", u.State)
	}
	_, dd := f.latest(t, "d1")
	n := 0
	for _, e := range dd.Events {
		if e.Kind == core.EventReport && e.State == core.StateInstalling {
			n++
		}
	}
	if n != 1 {
		t.Errorf("repeated installing report recorded %d times, want 1", n)
	}

	f.checkIn(t, "d1", "1.1.0")
	u = f.report(t, "d1", "failed")
	if u.State != core.StateSucceeded {
		t.Errorf("a late failure report turned a succeeded update into %s", u.State)
	}
}

func TestChannelMoveSupersedesUnstartedUpdate(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	r11 := f.publish(t, "1.1.0")
	first := f.checkIn(t, "d1", "1.0.0")

	f.publish(t, "1.2.0")
	// Until the device checks in again, the plain protocol's separate
	// requests keep answering for the offered release.
	got, _, err := f.svc.Target(t.Context(), f.p, "d1")
	if err != nil || got.ID != r11.ID {
		t.Errorf("Target after the channel moved = %s, %v; want 1.1.0", got.Version, err)
	}
	d := f.checkIn(t, "d1", "1.0.0")
	if d.Update == nil || d.Release.Version != "1.2.0" {
		t.Fatalf("CheckIn after the channel moved = %+v, want an offer of 1.2.0", d.Update)
	}
	dd, _ := f.svc.Device(t.Context(), "sensor", "d1")
	if old := dd.Updates[1]; old.ID != first.Update.ID || old.State != core.StateCanceled {
		t.Errorf("first update = %d %s, want %d canceled", old.ID, old.State, first.Update.ID)
	}
}

func TestReportErrors(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.checkIn(t, "known", "1.0.0")
	tests := []struct {
		name string
		in   core.Report
		want error
	}{
		{"unknown state", core.Report{Device: "known", State: "exploded"}, core.ErrInvalid},
		{"unknown device", core.Report{Device: "ghost", State: "downloading"}, core.ErrNotFound},
		{"no update yet", core.Report{Device: "known", State: "downloading"}, core.ErrNotFound},
		{"bad device id", core.Report{Device: "../x", State: "downloading"}, core.ErrInvalid},
		{"negative progress", core.Report{Device: "known", State: "downloading", Progress: -1}, core.ErrInvalid},
		{"huge detail", core.Report{Device: "known", State: "failed", Detail: strings.Repeat("x", 2000)},
			core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Report(t.Context(), f.p, tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Report(%+v) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestBytesAndLastSeenAreBatched(t *testing.T) {
	f := newFixture(t, core.Config{FlushInterval: time.Hour})
	f.publish(t, "1.0.0")
	d := f.checkIn(t, "d1", "1.0.0")
	f.svc.CountBytes(d.Device.ID, 0, 512)
	f.svc.CountBytes(d.Device.ID, 0, 100)
	if err := f.svc.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dd, _ := f.svc.Device(t.Context(), "sensor", "d1")
	if dd.BytesServed != 612 {
		t.Errorf("BytesServed = %d, want 612", dd.BytesServed)
	}
}

func TestOperatorTokens(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	secret, _, err := f.svc.CreateToken(ctx, "ci", core.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateOperator(ctx, secret); err != nil {
		t.Errorf("AuthenticateOperator(new token) = %v", err)
	}
	for _, s := range []string{"", "fop_wrong"} {
		if _, err := f.svc.AuthenticateOperator(ctx, s); !errors.Is(err, core.ErrUnauthorized) {
			t.Errorf("AuthenticateOperator(%q) = %v, want ErrUnauthorized", s, err)
		}
	}
	if err := f.svc.EnsureToken(ctx, "fop_fromfile", "file", core.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EnsureToken(ctx, "fop_fromfile", "file", core.RoleAdmin); err != nil {
		t.Errorf("EnsureToken twice = %v", err)
	}
	if _, err := f.svc.AuthenticateOperator(ctx, "fop_fromfile"); err != nil {
		t.Errorf("AuthenticateOperator(ensured) = %v", err)
	}
}
