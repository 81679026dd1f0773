package sim

import (
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// TestESPFleet runs a fleet of httpUpdate boards beside native devices and
// compares what the sim saw with what the server recorded for each board:
// the ones that restart into the image succeeded; the ones whose install
// fails or falls back are recorded as failed, rolled back, as often as the
// fail limit lets the server offer the image; silent ones stay installing.
func TestESPFleet(t *testing.T) {
	ts := startServer(t, core.Config{FailLimit: failLimit})
	_, img := ts.product(t, "p", core.AccessPublic, 4_000)
	cfg := fleet(ts.url)
	cfg.PlainShare, cfg.ESPShare, cfg.Devices = 0, 0.7, 40

	count := map[Behaviour]int{}
	esp := 0
	for i := 1; i <= cfg.Devices; i++ {
		id := deviceID(cfg.Prefix, i)
		if ESP(cfg, id) {
			esp++
			count[BehaviourOf(cfg, id)]++
		}
	}
	for _, b := range []Behaviour{Succeed, FailInstall, Rollback, Silent} {
		if count[b] == 0 {
			t.Fatalf("seed %d gives no ESP device that does %s: %v", cfg.Seed, b, count)
		}
	}

	r := run(t, cfg)
	if r.Ended != "settled" || len(r.Errors) != 0 || r.Corrupt != 0 {
		t.Fatalf("Run ended %q with errors %v, %d corrupt; want settled, none", r.Ended, r.ErrorSamples, r.Corrupt)
	}
	t.Logf("report: %+v", r)
	if r.ESP != esp {
		t.Errorf("report has %d ESP devices, want %d", r.ESP, esp)
	}

	var failed, succeeded, silent int
	for i := 1; i <= cfg.Devices; i++ {
		id := deviceID(cfg.Prefix, i)
		if !ESP(cfg, id) {
			continue
		}
		mac := espMAC(cfg.Prefix, i)
		d, err := ts.svc.Device(t.Context(), "p", mac)
		if err != nil {
			t.Fatalf("Device(%s) of %s: %v", mac, id, err)
		}
		if len(d.Updates) == 0 {
			t.Fatalf("board %s (%s) has no update", mac, id)
		}
		u := d.Updates[0]
		switch act := BehaviourOf(cfg, id); act {
		case Succeed:
			succeeded++
			if u.State != core.StateSucceeded || d.Version != "1.1.0" || len(d.Updates) != 1 {
				t.Errorf("board %s (succeed): %d updates, latest %s, version %q; want one, succeeded on 1.1.0",
					mac, len(d.Updates), u.State, d.Version)
			}
		case FailInstall, Rollback:
			for _, u := range d.Updates {
				if u.State == core.StateFailed && strings.HasPrefix(u.Reason, "rolled back") {
					failed++
				}
			}
			if len(d.Updates) != failLimit || u.State != core.StateFailed || d.Version != "1.0.0" {
				t.Errorf("board %s (%s): %d updates, latest %s %q, version %q; want %d, failed, on 1.0.0",
					mac, act, len(d.Updates), u.State, u.Reason, d.Version, failLimit)
			}
		case Silent:
			silent++
			if u.State != core.StateInstalling || u.Progress != int64(len(img)) {
				t.Errorf("board %s (silent): latest update %s, want installing with the whole image", mac, u.State)
			}
		}
		if d.Attributes["chip"] != "ESP8266" {
			t.Errorf("board %s attributes = %v, want the chip the sim says it is", mac, d.Attributes)
		}
	}
	// The native devices of the fleet add to the sim's counts; the ESP
	// boards' share of them is at least what the server recorded.
	if r.Succeeded < int64(succeeded) || r.RolledBack < int64(failed) || r.Silent < int64(silent) {
		t.Errorf("report succeeded/rolled back/silent = %d/%d/%d, ESP boards alone recorded %d/%d/%d",
			r.Succeeded, r.RolledBack, r.Silent, succeeded, failed, silent)
	}
	if failed != failLimit*(count[FailInstall]+count[Rollback]) {
		t.Errorf("server recorded %d roll-backs, want %d per failing board", failed, failLimit)
	}
}
