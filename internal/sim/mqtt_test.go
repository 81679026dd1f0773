package sim

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/mqtt/mqtttest"
)

// startMQTT runs Ferry's MQTT adapter for ts against an open test broker
// and returns the broker's URL once the adapter has subscribed.
func (ts *testServer) startMQTT(t *testing.T) string {
	t.Helper()
	b := mqtttest.Run(t, mqtttest.Options{Open: true})
	a, err := mqtt.New(ts.svc, mqtt.Config{Broker: b.URL(), RetryMin: 10 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mqtt Run: %v", err)
		}
	})
	select {
	case <-a.Connected():
	case <-time.After(time.Minute):
		t.Fatalf("MQTT adapter did not connect:\n%s", b.Log())
	}
	return b.URL()
}

// TestMQTTFleet runs a fleet where half the native devices keep a broker
// session: all update, and the server records their reports as MQTT.
func TestMQTTFleet(t *testing.T) {
	ts := startServer(t, core.Config{FailLimit: failLimit})
	ts.product(t, "p", core.AccessPublic, 4_000)
	cfg := fleet(ts.url)
	cfg.Devices, cfg.FailInstall, cfg.Rollback, cfg.Silent = 30, 0, 0, 0
	cfg.MQTT, cfg.MQTTShare = ts.startMQTT(t), 0.5

	var mqttIDs []string
	for i := 1; i <= cfg.Devices; i++ {
		if id := deviceID(cfg.Prefix, i); MQTT(cfg, id) {
			mqttIDs = append(mqttIDs, id)
		}
	}
	if len(mqttIDs) == 0 || len(mqttIDs) == cfg.Devices {
		t.Fatalf("seed %d puts %d of %d devices on MQTT; want some, not all", cfg.Seed, len(mqttIDs), cfg.Devices)
	}

	r := run(t, cfg)
	if r.Ended != "settled" || r.Versions["1.1.0"] != cfg.Devices || len(r.Errors) != 0 {
		t.Fatalf("Run ended %q with versions %v and errors %v; want settled, all on 1.1.0, no errors",
			r.Ended, r.Versions, r.ErrorSamples)
	}
	if r.MQTT != int64(len(mqttIDs)) {
		t.Errorf("report has %d MQTT sessions, want %d", r.MQTT, len(mqttIDs))
	}
	for _, id := range mqttIDs {
		d, err := ts.svc.Device(t.Context(), "p", id)
		if err != nil {
			t.Fatal(err)
		}
		reports := 0
		for _, e := range d.Events {
			if e.Kind == core.EventReport {
				reports++
				if e.Protocol != mqtt.Protocol {
					t.Errorf("%s reported %s over %s, want mqtt", id, e.State, e.Protocol)
				}
			}
		}
		if d.Version != "1.1.0" || reports == 0 {
			t.Errorf("%s runs %s after %d reports, want 1.1.0 after some", id, d.Version, reports)
		}
	}
}
