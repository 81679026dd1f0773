package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// TestDDIFleet runs devices that speak hawkBit DDI against a key product:
// they poll with their device tokens, download with cuts resumed by Range,
// and their closed/success feedback puts them on the release, which the
// server records as their version. One device fails its installs and is
// recorded as failed.
func TestDDIFleet(t *testing.T) {
	ts := startServer(t, core.Config{PollInterval: time.Second, PollActive: time.Second})
	key, _ := ts.product(t, "hawk", core.AccessKey, 20_000)
	cfg := Config{
		Server: ts.url, Product: "hawk", Token: key, Devices: 8, Prefix: "h-", Version: "1.0.0",
		DDIShare: 1, CutShare: 0.5, FailInstall: 0.2, Seed: 1, Poll: 50 * time.Millisecond,
		PollMax: 50 * time.Millisecond, Duration: time.Minute,
	}
	failing := 0
	for i := 1; i <= cfg.Devices; i++ {
		if !DDI(cfg, deviceID(cfg.Prefix, i)) {
			t.Fatalf("DDI(%s) = false with a DDI share of 1", deviceID(cfg.Prefix, i))
		}
		if BehaviourOf(cfg, deviceID(cfg.Prefix, i)) == FailInstall {
			failing++
		}
	}
	if failing == 0 || failing == cfg.Devices {
		t.Fatalf("%d of %d devices fail their installs with seed %d: pick a seed that mixes both", failing,
			cfg.Devices, cfg.Seed)
	}

	r := run(t, cfg)
	if r.Ended != "settled" || r.Succeeded != int64(cfg.Devices-failing) || len(r.Errors) != 0 || r.Cuts == 0 {
		t.Errorf("Run = %+v, want settled, %d succeeded, some cuts and no errors", r, cfg.Devices-failing)
	}
	for i := 1; i <= cfg.Devices; i++ {
		id := deviceID(cfg.Prefix, i)
		d, err := ts.svc.Device(t.Context(), "hawk", id)
		if err != nil || len(d.Updates) == 0 {
			t.Fatalf("Device(%s) = %+v, %v", id, d, err)
		}
		want, wantVersion := core.StateSucceeded, "1.1.0"
		if BehaviourOf(cfg, id) == FailInstall {
			want, wantVersion = core.StateFailed, ""
		}
		if u := d.Updates[0]; u.State != want || d.Version != wantVersion {
			t.Errorf("%s: update %s, version %q; want %s, %q", id, u.State, d.Version, want, wantVersion)
		}
		for _, e := range d.Events {
			if e.Kind == core.EventReport && e.Protocol != core.ProtocolDDI {
				t.Errorf("%s: report over %q, want ddi", id, e.Protocol)
			}
			if e.Kind == core.EventReport && e.State == core.StateFailed &&
				!strings.Contains(e.Detail, failDetail) {
				t.Errorf("%s: failure %q, want the simulated install failure", id, e.Detail)
			}
		}
	}
}

// TestDDIDeviceAcknowledgesCancel gives a DDI device an update, then moves
// the channel on before the device ran: its next poll is told of the
// cancel, which it acknowledges, and the poll after that offers the new
// release, which it installs.
func TestDDIDeviceAcknowledgesCancel(t *testing.T) {
	ts := startServer(t, core.Config{PollInterval: time.Second, PollActive: time.Second})
	ts.product(t, "hawk", core.AccessPublic, 5_000)
	ctx := t.Context()
	p, err := ts.svc.Product(ctx, "hawk")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Server: ts.url, Product: "hawk", Devices: 1, Prefix: "c-", Version: "1.0.0", DDIShare: 1,
		Seed: 1, Poll: 50 * time.Millisecond, PollMax: 50 * time.Millisecond, Duration: time.Minute}
	id := deviceID(cfg.Prefix, 1)
	dec, err := ts.svc.CheckIn(ctx, p, core.CheckIn{Device: id, Protocol: core.ProtocolDDI})
	if err != nil || dec.Update == nil {
		t.Fatalf("first DDI check-in of %s = %+v, %v, want an offer", id, dec.Update, err)
	}
	if _, err := ts.svc.PublishRelease(ctx, core.Publish{Product: "hawk", Version: "1.2.0", Channel: "stable",
		Image: strings.NewReader(strings.Repeat("new firmware ", 400))}); err != nil {
		t.Fatal(err)
	}

	r := run(t, cfg)
	if r.Ended != "settled" || r.Succeeded != 1 || len(r.Errors) != 0 {
		t.Errorf("Run = %+v, want settled with the device updated and no errors", r)
	}
	d, err := ts.svc.Device(ctx, "hawk", id)
	if err != nil {
		t.Fatal(err)
	}
	old := d.Updates[len(d.Updates)-1]
	if old.ID != dec.Update.ID || old.State != core.StateCanceled || old.CancelPending {
		t.Errorf("first update = %d %s pending %v, want %d canceled and answered", old.ID, old.State,
			old.CancelPending, dec.Update.ID)
	}
	if d.Version != "1.2.0" || d.Updates[0].State != core.StateSucceeded {
		t.Errorf("%s runs %q, latest update %s; want 1.2.0 succeeded", id, d.Version, d.Updates[0].State)
	}
	acked := false
	for _, e := range d.Events {
		acked = acked || (e.UpdateID == old.ID && strings.HasPrefix(e.Detail, "cancel acknowledged"))
	}
	if !acked {
		t.Errorf("history of %s has no acknowledged cancel of update %d", id, old.ID)
	}
}
