package sim

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// TestLongPollFleetAnswersCommands runs native devices that hold their
// check-ins for ten minutes and plain devices that poll: commands queued
// once they have checked in are answered, over long-poll and plain, as
// the report and the server's records agree.
func TestLongPollFleetAnswersCommands(t *testing.T) {
	ts := startServer(t, core.Config{})
	ts.product(t, "p", core.AccessPublic, 1000)
	cfg := Config{
		Server: ts.url, Product: "p", Devices: 12, Prefix: "lp-", Version: "1.1.0", PlainShare: 0.5,
		LongPoll: true, PlainCommands: true, Hold: 600 * time.Second,
		Poll: 200 * time.Millisecond, Ramp: 100 * time.Millisecond,
		Concurrency: 4, Seed: 3,
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Report, 1)
	go func() { done <- s.Run(ctx) }()
	defer cancel()

	p, err := ts.svc.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	for {
		ds, err := ts.svc.Devices(t.Context(), core.DeviceQuery{Product: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == cfg.Devices {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	var cmds []core.Command
	for _, d := range s.devices {
		name := "set-poll-interval"
		if d.id == deviceID(cfg.Prefix, 1) {
			name = "reboot"
		}
		payload := ""
		if name == "set-poll-interval" {
			payload = "90s"
		}
		c, err := ts.svc.QueueCommand(t.Context(), p, d.id, core.CommandRequest{Name: name, Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for i, c := range cmds {
		for c.State.Open() {
			time.Sleep(10 * time.Millisecond)
			if c, err = ts.svc.Command(t.Context(), c.ID); err != nil {
				t.Fatal(err)
			}
		}
		d := s.devices[i]
		want, via := core.CommandAcknowledged, "longpoll"
		if c.Name == "reboot" {
			want = core.CommandFailed
		}
		if d.plain {
			via = "plain"
		}
		if c.State != want || c.Via != via {
			t.Errorf("command %s of %s = %s via %s, want %s via %s", c.Name, d.id, c.State, c.Via, want, via)
		}
	}
	cancel()
	r := <-done
	if r.HTTPAcks != int64(len(cmds)) || r.Plain == 0 {
		t.Errorf("report: %d answers over HTTP from %d plain devices, want %d with some plain", r.HTTPAcks, r.Plain,
			len(cmds))
	}
}
