package core_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// fleet checks in n devices on 1.0.0 and returns their names.
func (f *fixture) fleet(t *testing.T, n int) []string {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("dev-%04d", i)
		f.checkIn(t, names[i], "1.0.0")
	}
	return names
}

// rolloutFixture publishes 1.0.0 on stable, checks in a fleet on it, and
// publishes 1.1.0 without moving any channel.
func rolloutFixture(t *testing.T, cfg core.Config, n int) (*fixture, []string) {
	t.Helper()
	f := newFixture(t, cfg)
	f.publish(t, "1.0.0")
	names := f.fleet(t, n)
	_, err := f.svc.PublishRelease(t.Context(), core.Publish{
		Product: "sensor", Version: "1.1.0", Image: strings.NewReader(string(image("1.1.0"))),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, names
}

func (f *fixture) rollout(t *testing.T, spec core.RolloutSpec) core.Rollout {
	t.Helper()
	spec.Product, spec.Version = "sensor", "1.1.0"
	ro, err := f.svc.CreateRollout(core.WithActor(t.Context(), "alice"), spec)
	if err != nil {
		t.Fatalf("CreateRollout(%+v): %v", spec, err)
	}
	return ro
}

// offered checks every device in and returns those offered 1.1.0.
func (f *fixture) offered(t *testing.T, names []string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		if d := f.checkIn(t, n, "1.0.0"); d.Update != nil && d.Release.Version == "1.1.0" {
			out = append(out, n)
		}
	}
	return out
}

// succeed takes a device through a successful update.
func (f *fixture) succeed(t *testing.T, name string) {
	t.Helper()
	f.report(t, name, "installing")
	f.checkIn(t, name, "1.1.0")
}

func TestRolloutPhasesByPercent(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 400)
	ro := f.rollout(t, core.RolloutSpec{Selector: core.Selector{Channel: "stable"}, Phases: "10%,50%,100%"})

	first := f.offered(t, names)
	if len(first) != 40 {
		t.Errorf("phase 10%% offered %d of 400 devices, want exactly 40", len(first))
	}
	again := f.offered(t, names)
	if len(again) != len(first) {
		t.Errorf("second round offered %d devices, want the same %d", len(again), len(first))
	}

	if _, err := f.svc.ChangeRollout(t.Context(), ro.ID, core.ActionAdvance, ""); err != nil {
		t.Fatal(err)
	}
	second := f.offered(t, names)
	if len(second) != 200 {
		t.Errorf("phase 50%% offered %d of 400 devices, want exactly 200", len(second))
	}
	for _, n := range first {
		if !containsStr(second, n) {
			t.Errorf("device %s of phase 1 is not in phase 2", n)
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRolloutPhasesByCount(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 100)
	f.rollout(t, core.RolloutSpec{Phases: "7,30,all"})
	if got := len(f.offered(t, names)); got != 7 {
		t.Errorf("count phase 7 offered %d devices, want exactly 7", got)
	}
}

func TestRolloutPausesOnFailures(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 200)
	ro := f.rollout(t, core.RolloutSpec{Phases: "50%,100%", FailPercent: 10, FailMinFinished: 10})

	offered := f.offered(t, names)
	if len(offered) < 40 {
		t.Fatalf("only %d devices offered", len(offered))
	}
	// Eight succeed, then failures start: the threshold applies from the
	// tenth finished device on.
	for _, n := range offered[:8] {
		f.succeed(t, n)
	}
	for _, n := range offered[8:11] {
		f.report(t, n, "failed")
	}
	got, _ := f.svc.Rollout(t.Context(), ro.ID)
	if got.State != core.RolloutPaused || !strings.Contains(got.Reason, "failure threshold") {
		t.Fatalf("rollout = %s %q, want paused by the failure threshold", got.State, got.Reason)
	}

	// A paused rollout offers nothing new, not even to reached devices
	// that have not been offered yet or whose update failed.
	var fresh []string
	for _, n := range names {
		if !containsStr(offered, n) {
			fresh = append(fresh, n)
		}
	}
	if n := len(f.offered(t, append(fresh, offered[8:11]...))); n != 0 {
		t.Errorf("paused rollout offered %d devices", n)
	}
	st, _ := f.svc.RolloutStatus(t.Context(), ro.ID)
	if st.Total.Failed != 3 || st.Total.Succeeded != 8 {
		t.Errorf("status = %d succeeded %d failed, want 8 and 3", st.Total.Succeeded, st.Total.Failed)
	}
}

func TestRolloutConcurrencyAndRate(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 60)
	f.rollout(t, core.RolloutSpec{MaxConcurrent: 5})
	offered := f.offered(t, names)
	if len(offered) != 5 {
		t.Fatalf("MaxConcurrent 5 offered %d devices at once", len(offered))
	}
	f.succeed(t, offered[0])
	f.succeed(t, offered[1])
	if more := f.offered(t, names); len(more) != 5 {
		t.Errorf("after two successes %d devices are in flight, want 5", len(more))
	}

	g, names2 := rolloutFixture(t, core.Config{}, 30)
	g.rollout(t, core.RolloutSpec{OffersPerMinute: 4})
	if got := len(g.offered(t, names2)); got != 4 {
		t.Errorf("OffersPerMinute 4 offered %d in the first minute", got)
	}
	g.clock.Add(61 * time.Second)
	if got := len(g.offered(t, names2)); got != 8 {
		t.Errorf("after a minute %d devices are offered, want 8", got)
	}
}

func TestRolloutCancel(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 20)
	ro := f.rollout(t, core.RolloutSpec{})
	offered := f.offered(t, names)
	done, installing, waiting, rolling := offered[0], offered[1], offered[2], offered[3]
	f.succeed(t, done)
	f.report(t, installing, "installing")
	f.report(t, rolling, "installing")

	if _, err := f.svc.ChangeRollout(t.Context(), ro.ID, core.ActionCancel, "bad build"); err != nil {
		t.Fatal(err)
	}
	if d := f.checkIn(t, waiting, "1.0.0"); d.Update != nil {
		t.Errorf("after cancel a waiting device got %+v", d.Update)
	}
	u, _ := f.latest(t, waiting)
	if u.State != core.StateCanceled || !strings.Contains(u.Reason, "canceled") {
		t.Errorf("waiting device's update = %s %q, want canceled", u.State, u.Reason)
	}
	f.checkIn(t, installing, "1.1.0")
	if u, _ := f.latest(t, installing); u.State != core.StateSucceeded {
		t.Errorf("device installing at cancel = %s, want its success recorded", u.State)
	}
	if d := f.checkIn(t, done, "1.1.0"); d.Update != nil {
		t.Errorf("updated device was offered %s after cancel, want it left on 1.1.0", d.Release.Version)
	}
	f.checkIn(t, rolling, "1.0.0")
	if u, _ := f.latest(t, rolling); u.State != core.StateFailed {
		t.Errorf("device that rolled back after cancel = %s, want failed", u.State)
	}
	if d := f.checkIn(t, rolling, "1.0.0"); d.Update != nil {
		t.Errorf("rolled-back device was offered %s by a canceled rollout", d.Release.Version)
	}
}

func TestRolloutAutoAdvanceAndFinish(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 30)
	ro := f.rollout(t, core.RolloutSpec{
		Selector: core.Selector{Channel: "stable"}, Phases: "20%,100%",
		AutoAdvance: true, Soak: time.Hour, SuccessRate: 1,
	})
	for _, n := range f.offered(t, names) {
		f.succeed(t, n)
	}
	eval := func() core.Rollout {
		t.Helper()
		if err := f.svc.EvaluateRollouts(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, _ := f.svc.Rollout(t.Context(), ro.ID)
		return got
	}
	if got := eval(); got.Phase != 0 {
		t.Errorf("phase advanced before the soak time")
	}
	f.clock.Add(time.Hour)
	if got := eval(); got.Phase != 1 {
		t.Fatalf("phase = %d after the soak with every device succeeded, want 1", got.Phase)
	}
	for _, n := range f.offered(t, names) {
		f.succeed(t, n)
	}
	got := eval()
	if got.State != core.RolloutFinished {
		t.Fatalf("rollout = %s %q, want finished", got.State, got.Reason)
	}
	c, _ := f.svc.ChannelRelease(t.Context(), f.p, "stable")
	if c.Version != "1.1.0" {
		t.Errorf("stable after the rollout = %s, want 1.1.0", c.Version)
	}
}

func TestRolloutTargeting(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 6)
	ctx := t.Context()
	pin, exclude, tagged := names[0], names[1], names[2]
	if _, err := f.svc.ConfigureDevice(ctx, "sensor", pin, core.DeviceSettings{Pin: ptr("1.0.0")}); err != nil {
		t.Fatal(err)
	}
	f.configure(t, exclude, core.DeviceSettings{Excluded: ptr(true), AddTags: []string{"lab"}})
	f.configure(t, tagged, core.DeviceSettings{AddTags: []string{"lab"}})

	f.rollout(t, core.RolloutSpec{Selector: core.Selector{Tags: []string{"lab"}}})
	if got := f.offered(t, names); len(got) != 1 || got[0] != tagged {
		t.Errorf("tag selector offered %v, want only %s", got, tagged)
	}
	_, err := f.svc.ConfigureDevice(ctx, "sensor", "ghost", core.DeviceSettings{})
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ConfigureDevice(unknown) = %v, want ErrNotFound", err)
	}
	_, err = f.svc.CreateRollout(ctx, core.RolloutSpec{Product: "sensor", Version: "1.1.0"})
	if !errors.Is(err, core.ErrState) {
		t.Errorf("second active rollout = %v, want ErrState", err)
	}
}

func TestRolloutStoppingShortFinishesWithoutMovingTheChannel(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 20)
	ro := f.rollout(t, core.RolloutSpec{Selector: core.Selector{Channel: "stable"}, Phases: "25%"})
	offered := f.offered(t, names)
	if len(offered) != 5 {
		t.Fatalf("a 25%% rollout of 20 devices offered %d, want 5", len(offered))
	}
	st, _ := f.svc.RolloutStatus(t.Context(), ro.ID)
	if st.Total.Selected != 5 || st.Hold == "" {
		t.Errorf("status = %d devices in scope, hold %q; want 5 and a reason to wait", st.Total.Selected, st.Hold)
	}
	for _, n := range offered {
		f.succeed(t, n)
	}
	if err := f.svc.EvaluateRollouts(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Rollout(t.Context(), ro.ID); got.State != core.RolloutFinished {
		t.Errorf("rollout = %s %q, want finished once its 25%% are done", got.State, got.Reason)
	}
	if c, _ := f.svc.ChannelRelease(t.Context(), f.p, "stable"); c.Version != "1.0.0" {
		t.Errorf("stable = %s after a 25%% rollout, want it left on 1.0.0", c.Version)
	}
}

func TestRolloutAttributeTag(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 4)
	_, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{Device: names[3], Version: "1.0.0",
		Attributes: map[string]string{"modem": "sara"}})
	if err != nil {
		t.Fatal(err)
	}
	f.rollout(t, core.RolloutSpec{Selector: core.Selector{Tags: []string{"modem=sara"}}})
	if got := f.offered(t, names); len(got) != 1 || got[0] != names[3] {
		t.Errorf("attribute selector offered %v, want only %s", got, names[3])
	}
}

func ptr[T any](v T) *T { return &v }

func (f *fixture) configure(t *testing.T, dev string, in core.DeviceSettings) {
	t.Helper()
	if _, err := f.svc.ConfigureDevice(t.Context(), "sensor", dev, in); err != nil {
		t.Fatalf("ConfigureDevice(%s, %+v): %v", dev, in, err)
	}
}

func TestRolloutSpecRejects(t *testing.T) {
	f, _ := rolloutFixture(t, core.Config{}, 1)
	for _, spec := range []core.RolloutSpec{
		{Phases: "0%"}, {Phases: "150%"}, {Phases: "abc"}, {Phases: "10%,,20%"},
		{Phases: "1%,1%"}, {Phases: "50%,10%"}, {Phases: "10,5"}, {Phases: "100%,all"},
		{Selector: core.Selector{Tags: []string{"nobody-has-this"}}},
		{Selector: core.Selector{Tags: []string{"bad\u202etag"}}},
		{Selector: core.Selector{Channel: "../x"}}, {Selector: core.Selector{Tags: []string{"a b"}}},
		{FailPercent: 101}, {SuccessRate: 2}, {MaxConcurrent: -1},
	} {
		spec.Product, spec.Version = "sensor", "1.1.0"
		if _, err := f.svc.CreateRollout(t.Context(), spec); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("CreateRollout(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
	spec := core.RolloutSpec{Product: "sensor", Version: "9.9.9"}
	if _, err := f.svc.CreateRollout(t.Context(), spec); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("CreateRollout(unknown version) = %v, want ErrNotFound", err)
	}
}

func TestPollSteering(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{PollInterval: time.Hour, PollActive: 5 * time.Minute}, 2)
	idle := f.checkIn(t, names[0], "1.0.0").Poll
	if idle < 54*time.Minute || idle > 66*time.Minute {
		t.Errorf("idle poll = %s, want an hour give or take 10%%", idle)
	}
	f.rollout(t, core.RolloutSpec{})
	active := f.checkIn(t, names[0], "1.0.0").Poll
	if active < 4*time.Minute || active > 6*time.Minute {
		t.Errorf("poll with an update offered = %s, want about 5m", active)
	}
	poll := 30 * time.Minute
	f.configure(t, names[1], core.DeviceSettings{Poll: &poll, Excluded: ptr(true)})
	if got := f.checkIn(t, names[1], "1.0.0").Poll; got < 27*time.Minute || got > 33*time.Minute {
		t.Errorf("poll with a device override = %s, want about 30m", got)
	}
}

func TestAuditAndWebhookOutbox(t *testing.T) {
	f, names := rolloutFixture(t, core.Config{}, 3)
	ctx := core.WithActor(t.Context(), "alice")
	if _, err := f.svc.SetWebhook(ctx, "sensor", "http://127.0.0.1:9/hook", ""); err != nil {
		t.Fatal(err)
	}
	f.rollout(t, core.RolloutSpec{})
	offered := f.offered(t, names)
	f.succeed(t, offered[0])
	f.report(t, offered[1], "failed")

	ds, err := f.svc.Deliveries(t.Context(), "sensor", 10)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, d := range ds {
		events = append(events, d.Event)
	}
	if len(ds) != 2 || !containsStr(events, "update.succeeded") || !containsStr(events, "update.failed") {
		t.Errorf("queued deliveries = %v, want update.succeeded and update.failed", events)
	}

	log, err := f.svc.AuditLog(t.Context(), core.AuditFilter{Product: "sensor"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	for _, want := range []string{"alice:webhook.set", "alice:rollout.create", "system:release.push"} {
		if !containsStr(actions, want) {
			t.Errorf("audit log %v lacks %s", actions, want)
		}
	}
	if _, err := f.svc.SetWebhook(ctx, "sensor", "file:///etc/passwd", ""); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("SetWebhook(file URL) = %v, want ErrInvalid", err)
	}
}
