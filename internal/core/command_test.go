package core_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

func (f *fixture) queue(t *testing.T, dev string, req core.CommandRequest) core.Command {
	t.Helper()
	c, err := f.svc.QueueCommand(t.Context(), f.p, dev, req)
	if err != nil {
		t.Fatalf("QueueCommand(%s, %+v): %v", dev, req, err)
	}
	return c
}

func (f *fixture) command(t *testing.T, id int64) core.Command {
	t.Helper()
	c, err := f.svc.Command(t.Context(), id)
	if err != nil {
		t.Fatalf("Command(%d): %v", id, err)
	}
	return c
}

func kinds(es []core.CommandEvent) []core.CommandEventKind {
	out := make([]core.CommandEventKind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

func TestCommandLifecycle(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	c := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	if c.State != core.CommandQueued || c.Device != "dev-1" || c.ProductID != f.p.ID {
		t.Fatalf("QueueCommand = %+v, want queued for dev-1 of %s", c, f.p.Name)
	}
	if want := c.CreatedAt.Add(core.DefaultCommandExpiry); !c.ExpiresAt.Equal(want) {
		t.Errorf("QueueCommand ExpiresAt = %v, want the default %v", c.ExpiresAt, want)
	}

	// Delivered once, and again while unanswered, without a second event.
	for i := range 2 {
		got, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "plain", 0)
		if err != nil || len(got) != 1 || got[0].ID != c.ID || got[0].State != core.CommandDelivered ||
			got[0].Via != "plain" {
			t.Fatalf("DeliverCommands #%d = %+v, %v, want command %d delivered via plain", i+1, got, err, c.ID)
		}
	}
	f.clock.Add(time.Minute)

	// An answer, then the same answer again: the second changes nothing.
	for i := range 2 {
		got, err := f.svc.AckCommand(ctx, f.p, "dev-1", c.ID, true, "rebooting")
		if err != nil || got.State != core.CommandAcknowledged || got.Result != core.ResultOK ||
			got.ResultPayload != "rebooting" {
			t.Fatalf("AckCommand #%d = %+v, %v, want acknowledged ok: rebooting", i+1, got, err)
		}
	}
	// A contradicting answer is recorded once and changes nothing.
	for range 3 {
		if _, err := f.svc.AckCommand(ctx, f.p, "dev-1", c.ID, false, "no"); err != nil {
			t.Fatalf("AckCommand(contradicting) = %v, want nil", err)
		}
	}

	got := f.command(t, c.ID)
	want := []core.CommandEventKind{core.CommandEventQueued, core.CommandEventDelivered,
		core.CommandEventAcked, core.CommandEventIgnored}
	if got.State != core.CommandAcknowledged || !slices.Equal(kinds(got.History), want) {
		t.Errorf("Command(%d) = %s with history %v, want acknowledged with %v",
			c.ID, got.State, kinds(got.History), want)
	}
	if got.DeliveredAt.IsZero() || !got.FinishedAt.After(got.DeliveredAt) {
		t.Errorf("Command(%d) delivered %v finished %v, want delivery before the answer",
			c.ID, got.DeliveredAt, got.FinishedAt)
	}
	if open, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "plain", 0); err != nil || len(open) != 0 {
		t.Errorf("DeliverCommands after the answer = %+v, %v, want none", open, err)
	}
}

func TestCommandDeliveredWithCheckIn(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.checkIn(t, "dev-1", "1.0.0")
	a := f.queue(t, "dev-1", core.CommandRequest{Name: "check-update"})
	b := f.queue(t, "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "15m"})
	if b.Payload != "900s" {
		t.Errorf("QueueCommand(set-poll-interval 15m).Payload = %q, want %q", b.Payload, "900s")
	}

	// A check-in that does not carry commands leaves them queued.
	f.checkIn(t, "dev-1", "1.0.0")
	if c := f.command(t, a.ID); c.State != core.CommandQueued {
		t.Errorf("Command(%d) after a check-in without commands = %s, want queued", a.ID, c.State)
	}
	dec, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{Device: "dev-1", Protocol: "native", Commands: true})
	if err != nil {
		t.Fatalf("CheckIn(Commands) = %v", err)
	}
	if len(dec.Commands) != 2 || dec.Commands[0].ID != a.ID || dec.Commands[1].ID != b.ID {
		t.Fatalf("CheckIn(Commands).Commands = %+v, want %d then %d", dec.Commands, a.ID, b.ID)
	}
	for _, c := range dec.Commands {
		if c.State != core.CommandDelivered || c.Via != "native" {
			t.Errorf("CheckIn delivered command %d as %s via %q, want delivered via native", c.ID, c.State, c.Via)
		}
	}
}

// A protocol that answers one command at a time marks only that one
// delivered: the next stays queued, with no delivery in its history,
// until the first is answered.
func TestCommandDeliveredOneAtATime(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	a := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	b := f.queue(t, "dev-1", core.CommandRequest{Name: "check-update"})

	for i := range 2 { // unanswered, the first comes again and the second waits
		got, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "plain", 1)
		if err != nil || len(got) != 1 || got[0].ID != a.ID || got[0].State != core.CommandDelivered {
			t.Fatalf("DeliverCommands(limit 1) #%d = %+v, %v, want only %d, delivered", i+1, got, err, a.ID)
		}
		next := f.command(t, b.ID)
		want := []core.CommandEventKind{core.CommandEventQueued}
		if next.State != core.CommandQueued || !next.DeliveredAt.IsZero() || !slices.Equal(kinds(next.History), want) {
			t.Fatalf("Command(%d) after DeliverCommands(limit 1) = %s delivered %v history %v, want queued with %v",
				b.ID, next.State, next.DeliveredAt, kinds(next.History), want)
		}
	}

	if _, err := f.svc.AckCommand(ctx, f.p, "dev-1", a.ID, true, ""); err != nil {
		t.Fatalf("AckCommand(%d) = %v", a.ID, err)
	}
	got, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "plain", 1)
	if err != nil || len(got) != 1 || got[0].ID != b.ID || got[0].State != core.CommandDelivered ||
		got[0].Via != "plain" {
		t.Fatalf("DeliverCommands(limit 1) after the answer = %+v, %v, want %d delivered via plain", got, err, b.ID)
	}
}

func TestCommandExpiry(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	lazy := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot", Expires: time.Minute})
	swept := f.queue(t, "dev-1", core.CommandRequest{Name: "check-update", Expires: time.Minute})
	kept := f.queue(t, "dev-1", core.CommandRequest{Name: "blink", Expires: time.Hour})
	if _, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "native", 0); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)

	// The sweep expires what is due, of every device, and nothing else.
	if err := f.svc.ExpireCommands(ctx); err != nil {
		t.Fatalf("ExpireCommands() = %v", err)
	}
	for _, tt := range []struct {
		id   int64
		want core.CommandState
	}{{lazy.ID, core.CommandExpired}, {swept.ID, core.CommandExpired}, {kept.ID, core.CommandDelivered}} {
		if c := f.command(t, tt.id); c.State != tt.want {
			t.Errorf("Command(%d) a minute later = %s, want %s", tt.id, c.State, tt.want)
		}
	}

	// A late answer is kept in the history, once, and changes nothing.
	for range 2 {
		c, err := f.svc.AckCommand(ctx, f.p, "dev-1", lazy.ID, true, "")
		if err != nil || c.State != core.CommandExpired {
			t.Errorf("AckCommand(expired) = %+v, %v, want it still expired, nil", c, err)
		}
	}
	c := f.command(t, lazy.ID)
	want := []core.CommandEventKind{core.CommandEventQueued, core.CommandEventDelivered,
		core.CommandEventExpired, core.CommandEventIgnored}
	if !slices.Equal(kinds(c.History), want) || c.Result != "" {
		t.Errorf("Command(%d) history %v result %q, want %v and no result", lazy.ID, kinds(c.History), c.Result, want)
	}

	// Without the sweep, the expiry applies when the device next asks,
	// and when its answer arrives late.
	f.clock.Add(time.Hour)
	if open, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "native", 0); err != nil || len(open) != 0 {
		t.Errorf("DeliverCommands after every expiry = %+v, %v, want none", open, err)
	}
	if c := f.command(t, kept.ID); c.State != core.CommandExpired {
		t.Errorf("Command(%d) after its expiry = %s, want expired", kept.ID, c.State)
	}
	late := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot", Expires: time.Minute})
	f.clock.Add(2 * time.Minute)
	if c, err := f.svc.AckCommand(ctx, f.p, "dev-1", late.ID, true, "done"); err != nil ||
		c.State != core.CommandExpired {
		t.Errorf("AckCommand after ExpiresAt, before the sweep = %+v, %v, want expired", c, err)
	}
}

func TestCommandHostileInput(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	tests := []struct {
		name   string
		device string
		req    core.CommandRequest
		want   error
	}{
		{"EmptyName", "dev-1", core.CommandRequest{}, core.ErrInvalid},
		{"UpperCase", "dev-1", core.CommandRequest{Name: "Reboot"}, core.ErrInvalid},
		{"Space", "dev-1", core.CommandRequest{Name: "re boot"}, core.ErrInvalid},
		{"LongName", "dev-1", core.CommandRequest{Name: strings.Repeat("a", 33)}, core.ErrInvalid},
		{"DotDot", "dev-1", core.CommandRequest{Name: "a..b"}, core.ErrInvalid},
		{"LeadingDash", "dev-1", core.CommandRequest{Name: "-x"}, core.ErrInvalid},
		{"Oversized", "dev-1", core.CommandRequest{Name: "x", Payload: strings.Repeat("p", 1025)}, core.ErrInvalid},
		{"Newline", "dev-1", core.CommandRequest{Name: "x", Payload: "a\nb"}, core.ErrInvalid},
		{"Tab", "dev-1", core.CommandRequest{Name: "x", Payload: "a\tb"}, core.ErrInvalid},
		{"NUL", "dev-1", core.CommandRequest{Name: "x", Payload: "a\x00b"}, core.ErrInvalid},
		{"BadUTF8", "dev-1", core.CommandRequest{Name: "x", Payload: "a\xffb"}, core.ErrInvalid},
		{"BidiOverride", "dev-1", core.CommandRequest{Name: "x", Payload: "a\u202eb"}, core.ErrInvalid},
		{"ShortExpiry", "dev-1", core.CommandRequest{Name: "x", Expires: time.Second}, core.ErrInvalid},
		{"NegativeExpiry", "dev-1", core.CommandRequest{Name: "x", Expires: -time.Hour}, core.ErrInvalid},
		{"LongExpiry", "dev-1", core.CommandRequest{Name: "x", Expires: 31 * 24 * time.Hour}, core.ErrInvalid},
		{"RebootPayload", "dev-1", core.CommandRequest{Name: "reboot", Payload: "now"}, core.ErrInvalid},
		{"CheckUpdatePayload", "dev-1", core.CommandRequest{Name: "check-update", Payload: "1"}, core.ErrInvalid},
		{"PollNotDuration", "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "soon"}, core.ErrInvalid},
		{"PollBare", "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "90"}, core.ErrInvalid},
		{"PollTooShort", "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "1s"}, core.ErrInvalid},
		{"PollTooLong", "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "800h"}, core.ErrInvalid},
		{"PollFraction", "dev-1", core.CommandRequest{Name: "set-poll-interval", Payload: "90.5s"}, core.ErrInvalid},
		{"UnknownDevice", "dev-9", core.CommandRequest{Name: "reboot"}, core.ErrNotFound},
		{"BadDevice", "../x", core.CommandRequest{Name: "reboot"}, core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.svc.QueueCommand(ctx, f.p, tt.device, tt.req)
			if !errors.Is(err, tt.want) {
				t.Errorf("QueueCommand(%q, %+v) = %+v, %v, want %v", tt.device, tt.req, c, err, tt.want)
			}
		})
	}
	if cs, err := f.svc.Commands(ctx, f.p, "dev-1"); err != nil || len(cs) != 0 {
		t.Errorf("Commands(dev-1) after refused requests = %+v, %v, want none", cs, err)
	}
	if es, err := f.svc.AuditLog(ctx, core.AuditFilter{}); err != nil || slices.ContainsFunc(es,
		func(e core.AuditEntry) bool { return e.Action == "device.command" }) {
		t.Errorf("AuditLog after refused requests = %+v, %v, want no device.command entry", es, err)
	}
}

func TestCommandAckHostile(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	f.checkIn(t, "dev-2", "1.0.0")
	mine := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	theirs := f.queue(t, "dev-2", core.CommandRequest{Name: "reboot"})

	tests := []struct {
		name   string
		device string
		id     int64
		result string
		want   error
	}{
		{"UnknownID", "dev-1", 999, "", core.ErrNotFound},
		{"ZeroID", "dev-1", 0, "", core.ErrNotFound},
		{"OtherDevicesID", "dev-1", theirs.ID, "", core.ErrNotFound},
		{"UnknownDevice", "dev-9", mine.ID, "", core.ErrNotFound},
		{"BadDevice", "dev 1", mine.ID, "", core.ErrInvalid},
		{"OversizedResult", "dev-1", mine.ID, strings.Repeat("r", 257), core.ErrInvalid},
		{"ControlResult", "dev-1", mine.ID, "ok\r\nX-Injected: 1", core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.svc.AckCommand(ctx, f.p, tt.device, tt.id, true, tt.result)
			if !errors.Is(err, tt.want) {
				t.Errorf("AckCommand(%q, %d, %q) = %+v, %v, want %v", tt.device, tt.id, tt.result, c, err, tt.want)
			}
		})
	}
	for _, c := range []core.Command{mine, theirs} {
		if got := f.command(t, c.ID); got.State != core.CommandQueued || len(got.History) != 1 {
			t.Errorf("Command(%d) after refused answers = %s with %d events, want queued with 1",
				c.ID, got.State, len(got.History))
		}
	}
}

func TestCommandOpenBound(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	var first core.Command
	for i := range core.MaxOpenCommands {
		c := f.queue(t, "dev-1", core.CommandRequest{Name: "blink"})
		if i == 0 {
			first = c
		}
	}
	c, err := f.svc.QueueCommand(ctx, f.p, "dev-1", core.CommandRequest{Name: "blink"})
	if !errors.Is(err, core.ErrState) {
		t.Fatalf("QueueCommand beyond %d open = %+v, %v, want %v", core.MaxOpenCommands, c, err, core.ErrState)
	}
	// An answer makes room.
	if _, err := f.svc.AckCommand(ctx, f.p, "dev-1", first.ID, false, "unknown command"); err != nil {
		t.Fatal(err)
	}
	f.queue(t, "dev-1", core.CommandRequest{Name: "blink"})
}

func TestCommandCancel(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	f.checkIn(t, "dev-1", "1.0.0")
	c := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	got, err := f.svc.CancelCommand(ctx, f.p, "dev-1", c.ID)
	if err != nil || got.State != core.CommandCanceled {
		t.Fatalf("CancelCommand = %+v, %v, want canceled", got, err)
	}
	if _, err := f.svc.CancelCommand(ctx, f.p, "dev-1", c.ID); !errors.Is(err, core.ErrState) {
		t.Errorf("CancelCommand again = %v, want %v", err, core.ErrState)
	}
	if _, err := f.svc.CancelCommand(ctx, f.p, "dev-1", 999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("CancelCommand(999) = %v, want %v", err, core.ErrNotFound)
	}
	if open, err := f.svc.DeliverCommands(ctx, f.p, "dev-1", "plain", 0); err != nil || len(open) != 0 {
		t.Errorf("DeliverCommands after cancel = %+v, %v, want none", open, err)
	}
	got, err = f.svc.AckCommand(ctx, f.p, "dev-1", c.ID, true, "")
	if err != nil || got.State != core.CommandCanceled {
		t.Errorf("AckCommand after cancel = %+v, %v, want still canceled", got, err)
	}
}

func TestCommandWebhookEvents(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	if _, err := f.svc.SetWebhook(ctx, "sensor", "https://hooks.example/ferry", ""); err != nil {
		t.Fatal(err)
	}
	f.checkIn(t, "dev-1", "1.0.0")
	ok := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	bad := f.queue(t, "dev-1", core.CommandRequest{Name: "blink"})
	f.queue(t, "dev-1", core.CommandRequest{Name: "check-update", Expires: time.Minute})
	for _, a := range []struct {
		id int64
		ok bool
	}{{ok.ID, true}, {ok.ID, true}, {bad.ID, false}} {
		if _, err := f.svc.AckCommand(ctx, f.p, "dev-1", a.id, a.ok, "r"); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Add(time.Minute)
	if err := f.svc.ExpireCommands(ctx); err != nil {
		t.Fatal(err)
	}

	ds, err := f.svc.Deliveries(ctx, "sensor", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Event)
	}
	// Newest first; the repeated answer queued nothing.
	want := []string{"command.expired", "command.failed", "command.acknowledged"}
	if !slices.Equal(got, want) {
		t.Errorf("Deliveries = %v, want %v", got, want)
	}
	if len(ds) > 0 && !strings.Contains(string(ds[len(ds)-1].Body), `"command":"reboot"`) {
		t.Errorf("command.acknowledged body = %s, want it to name the command", ds[len(ds)-1].Body)
	}
}

func TestCommandWakesHeldDevice(t *testing.T) {
	var kicks atomic.Int32
	f := newFixture(t, core.Config{KickNudges: func() { kicks.Add(1) }})
	if _, err := f.svc.SetNudge(t.Context(), "sensor", core.NudgeConfig{URL: "https://127.0.0.1/sms",
		PerDevice: 10}); err != nil {
		t.Fatal(err)
	}
	held := f.checkIn(t, "dev-1", "1.0.0").Device
	idle := f.checkIn(t, "dev-2", "1.0.0").Device
	hub := f.svc.Hub()
	wake, stop := hub.Watch(f.p.ID, held.ID)
	defer stop()

	f.queue(t, "dev-1", core.CommandRequest{Name: "check-update", Urgent: true})
	select {
	case <-wake:
	default:
		t.Fatalf("QueueCommand did not wake the held device")
	}
	idleCmd := f.queue(t, "dev-2", core.CommandRequest{Name: "reboot", Urgent: true})
	f.queue(t, "dev-2", core.CommandRequest{Name: "blink"})
	select {
	case <-wake:
		t.Errorf("a command for dev-2 woke dev-1")
	default:
	}
	ns, err := f.svc.Nudges(t.Context(), "sensor", "", 0)
	if err != nil || len(ns) != 1 || ns[0].CommandID != idleCmd.ID || ns[0].State != core.NudgeQueued {
		t.Errorf("Nudges() = %+v, %v, want one queued, for the urgent command %d to the device not held",
			ns, err, idleCmd.ID)
	}
	if kicks.Load() != 1 {
		t.Errorf("KickNudges called %d times, want once", kicks.Load())
	}

	// A channel move concerns every device of the product.
	f.publish(t, "1.1.0")
	select {
	case <-wake:
	default:
		t.Errorf("publishing to the channel did not wake the held device")
	}
	if hub.Held(idle.ID) || !hub.Held(held.ID) {
		t.Errorf("Held(dev-2), Held(dev-1) = %v, %v, want false, true", hub.Held(idle.ID), hub.Held(held.ID))
	}
}

// TestCommandsSurviveRestart queues and delivers a command, closes the
// service and its store, and answers it on a new service over the same
// database file.
func TestCommandsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	open := func() (*core.Service, func()) {
		st, err := sqlite.Open(t.Context(), filepath.Join(dir, "ferry.db"), log)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := disk.New(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		svc := core.NewService(st, bl, core.Config{}, log)
		return svc, func() {
			if err := svc.Close(); err != nil {
				t.Error(err)
			}
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	ctx := t.Context()
	svc, closeSvc := open()
	p, _, err := svc.CreateProduct(ctx, "sensor", core.AccessPublic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CheckIn(ctx, p, core.CheckIn{Device: "dev-1"}); err != nil {
		t.Fatal(err)
	}
	c, err := svc.QueueCommand(ctx, p, "dev-1", core.CommandRequest{Name: "reboot"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeliverCommands(ctx, p, "dev-1", "plain", 0); err != nil {
		t.Fatal(err)
	}
	closeSvc()

	svc, closeSvc = open()
	defer closeSvc()
	if p, err = svc.Product(ctx, "sensor"); err != nil {
		t.Fatal(err)
	}
	open2, err := svc.DeliverCommands(ctx, p, "dev-1", "native", 0)
	if err != nil || len(open2) != 1 || open2[0].ID != c.ID || open2[0].Via != "plain" {
		t.Fatalf("DeliverCommands after restart = %+v, %v, want command %d delivered via plain", open2, err, c.ID)
	}
	got, err := svc.AckCommand(ctx, p, "dev-1", c.ID, true, "")
	if err != nil || got.State != core.CommandAcknowledged {
		t.Errorf("AckCommand after restart = %+v, %v, want acknowledged", got, err)
	}
}
