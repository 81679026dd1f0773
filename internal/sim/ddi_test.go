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
