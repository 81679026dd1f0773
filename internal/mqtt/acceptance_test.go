package mqtt_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"log/slog"

	"github.com/ferry-ota/ferry/internal/agent"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/mqtt/mqtttest"
	"github.com/ferry-ota/ferry/internal/server"
)

// serveHTTP serves the fixture's service over HTTP on loopback, for image
// downloads, and returns its base URL.
func (f *fixture) serveHTTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(f.svc, server.Config{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// eventually polls cond until it holds, failing after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentAcceptance: an agent in MQTT mode, polling once an hour, is
// offered a release when a rollout reaches it, downloads it over HTTP,
// reports over MQTT and answers commands; Ferry's record matches.
func TestAgentAcceptance(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := t.Context()
	base := f.serveHTTP(t)
	state := t.TempDir()
	a, err := agent.New(agent.Config{
		Server: base, Product: product, DeviceID: "d1", Version: "1.0.0", StateDir: state, PollMin: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.RunMQTT(actx, agent.MQTTConfig{Broker: f.broker.URL(), Password: mqtttest.Password("d1")})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunMQTT: %v", err)
		}
	})
	eventually(t, "d1 checks in and is held", func() bool {
		_, err := f.svc.Device(ctx, product, "d1")
		return err == nil && f.held(t, "d1")
	})

	ro, err := f.svc.CreateRollout(ctx, core.RolloutSpec{
		Product: product, Version: "1.1.0", Selector: core.Selector{Channel: "stable"},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the update succeeds", func() bool {
		d := f.detail(t, "d1")
		return len(d.Updates) == 1 && d.Updates[0].State == core.StateSucceeded
	})
	d := f.detail(t, "d1")
	if d.Version != "1.1.0" || d.Updates[0].RolloutID != ro.ID {
		t.Errorf("device runs %s after update of rollout %d, want 1.1.0 by rollout %d",
			d.Version, d.Updates[0].RolloutID, ro.ID)
	}
	var states []core.State
	for _, e := range d.Events {
		if e.Kind == core.EventReport && e.Protocol == mqtt.Protocol && !slices.Contains(states, e.State) {
			states = append(states, e.State)
		}
	}
	want := []core.State{core.StateDownloading, core.StateDownloaded, core.StateVerified, core.StateInstalling,
		core.StateRebooting}
	if !slices.Equal(states, want) {
		t.Errorf("states reported over MQTT = %v, want %v", states, want)
	}
	img, err := os.ReadFile(filepath.Join(state, "firmware.bin"))
	rel, _ := f.svc.Release(ctx, product, "1.1.0")
	if err != nil || int64(len(img)) != rel.Size {
		t.Errorf("installed image has %d bytes (%v), want %d", len(img), err, rel.Size)
	}

	p, err := f.svc.Product(ctx, product)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, payload string
		state         core.CommandState
		result        string
	}{
		{"set-poll-interval", "90s", core.CommandAcknowledged, "poll interval 1m30s"},
		{"self-destruct", "", core.CommandFailed, "unknown command self-destruct"},
	} {
		c, err := f.svc.QueueCommand(ctx, p, "d1", core.CommandRequest{Name: tc.name, Payload: tc.payload})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, tc.name+" is answered", func() bool {
			got, err := f.svc.Command(ctx, c.ID)
			return err == nil && !got.State.Open()
		})
		got, _ := f.svc.Command(ctx, c.ID)
		if got.State != tc.state || got.ResultPayload != tc.result || got.Via != mqtt.Protocol {
			t.Errorf("command %s = %s %q via %s, want %s %q via mqtt",
				tc.name, got.State, got.ResultPayload, got.Via, tc.state, tc.result)
		}
	}
}
