package nudge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// TestUrgentCommandNudgesDevice goes from the operator's urgent command
// through the core's outbox to the local receiver: the device that holds
// no connection is nudged once however many urgent commands it gets within
// the window; the device that holds a long-poll is not nudged at all.
func TestUrgentCommandNudgesDevice(t *testing.T) {
	rc := newReceiver(t, 201)
	f := newFixture(t)
	ctx := t.Context()
	kicked := make(chan struct{}, 10)
	svc := core.NewService(f.store, nil, core.Config{Now: f.clock.Now,
		KickNudges: func() { kicked <- struct{}{} }}, discard())
	t.Cleanup(func() { _ = svc.Close() })
	if _, err := svc.SetNudge(ctx, f.p.Name, twilio(rc.srv.URL)); err != nil {
		t.Fatalf("SetNudge() = %v", err)
	}
	holder := core.Device{ProductID: f.p.ID, Name: "mkr-2", Channel: core.DefaultChannel,
		Attributes: map[string]string{"msisdn": "+491700000002"}, FirstSeen: f.clock.Now()}
	if err := f.store.CreateDevice(ctx, &holder); err != nil {
		t.Fatal(err)
	}
	_, stop := svc.Hub().Watch(f.p.ID, holder.ID) // mkr-2 waits in a long-poll
	defer stop()

	var first core.Command
	for i := range 5 {
		c, err := svc.QueueCommand(ctx, f.p, "mkr-1", core.CommandRequest{Name: "reboot", Urgent: true})
		if err != nil {
			t.Fatalf("QueueCommand(mkr-1) = %v", err)
		}
		if i == 0 {
			first = c
		}
		_, err = svc.QueueCommand(ctx, f.p, "mkr-2", core.CommandRequest{Name: "reboot", Urgent: true})
		if err != nil {
			t.Fatalf("QueueCommand(mkr-2) = %v", err)
		}
	}
	select {
	case <-kicked:
	default:
		t.Error("queuing a nudge did not kick the sender")
	}

	d := f.dispatcher(nil)
	for range 3 {
		if _, err := d.SendDue(ctx); err != nil {
			t.Fatalf("SendDue() = %v", err)
		}
		f.clock.Advance(time.Minute)
	}

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1 (the rate limit's worth)", len(reqs))
	}
	if body := string(reqs[0].body); !strings.HasPrefix(body, "To=%2B491701234567&") ||
		!strings.Contains(body, "ferry+wake+reboot") {
		t.Errorf("body = %s, want the SMS to mkr-1's number naming the command", body)
	}
	ns, err := svc.Nudges(ctx, f.p.Name, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	states := map[core.NudgeState]int{}
	for _, n := range ns {
		states[n.State]++
		if n.Device != "mkr-1" {
			t.Errorf("nudge %d is for %s, which holds a connection", n.ID, n.Device)
		}
	}
	if states[core.NudgeSent] != 1 || states[core.NudgeSuppressed] != 4 || len(ns) != 5 {
		t.Errorf("nudge states = %v, want 1 sent and 4 suppressed", states)
	}
	if last := ns[len(ns)-1]; last.CommandID != first.ID || last.State != core.NudgeSent {
		t.Errorf("first nudge = %+v, want the sent one, for command %d", last, first.ID)
	}
}
