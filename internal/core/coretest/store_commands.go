package coretest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of device commands and their history.

// command returns a queued command for d created at at(minute), expiring
// an hour later.
func command(d core.Device, name string, minute int) core.Command {
	return core.Command{
		ProductID: d.ProductID,
		DeviceID:  d.ID,
		Device:    d.Name,
		Name:      name,
		Payload:   "payload of " + name,
		State:     core.CommandQueued,
		CreatedBy: "ops",
		CreatedAt: at(minute),
		ExpiresAt: at(minute + 60),
	}
}

func mkCommand(t testing.TB, s core.Store, c core.Command) core.Command {
	t.Helper()
	if err := s.CreateCommand(t.Context(), &c); err != nil {
		t.Fatalf("CreateCommand(%+v) = %v, want nil", c, err)
	}
	return c
}

func normCommand(c core.Command) core.Command {
	c.CreatedAt = normTime(c.CreatedAt)
	c.ExpiresAt = normTime(c.ExpiresAt)
	c.DeliveredAt = normTime(c.DeliveredAt)
	c.FinishedAt = normTime(c.FinishedAt)
	c.History = nilIfEmpty(c.History)
	return c
}

func normCommands(cs []core.Command) []core.Command { return normAll(cs, normCommand) }

func normCommandEvent(e core.CommandEvent) core.CommandEvent {
	e.At = normTime(e.At)
	return e
}

func testCommandCreate(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "dev-1")
	c := command(d, "reboot", 1)
	c.Urgent = true
	c = mkCommand(t, s, c)
	if c.ID == 0 {
		t.Fatalf("CreateCommand left ID 0, want it set")
	}
	got, err := s.Command(ctx, c.ID)
	if err != nil || !same(got, c, normCommand) {
		t.Errorf("Command(%d) = %+v, %v, want %+v, nil", c.ID, got, err, c)
	}

	// The product and device name come from the device, not the caller.
	lying := command(d, "reboot", 2)
	lying.ProductID, lying.Device = 999, "someone-else"
	lying = mkCommand(t, s, lying)
	got, err = s.Command(ctx, lying.ID)
	if err != nil || got.ProductID != p.ID || got.Device != d.Name {
		t.Errorf("Command(%d) = product %d device %q, %v, want %d %q, nil",
			lying.ID, got.ProductID, got.Device, err, p.ID, d.Name)
	}

	orphan := command(core.Device{ID: 999, ProductID: p.ID, Name: "ghost"}, "reboot", 3)
	if err := s.CreateCommand(ctx, &orphan); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("CreateCommand(unknown device) = %v, want %v", err, core.ErrNotFound)
	}
	if got, err := s.Command(ctx, 999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Command(999) = %+v, %v, want %v", got, err, core.ErrNotFound)
	}
}

func testCommandLists(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "dev-1")
	other := mkDevice(t, s, p.ID, "dev-2")
	a := mkCommand(t, s, command(d, "a", 1))
	mkCommand(t, s, command(other, "x", 2))
	b := command(d, "b", 3)
	b.State, b.DeliveredAt, b.FinishedAt, b.Via = core.CommandAcknowledged, at(4), at(5), "native"
	b.Result, b.ResultPayload = core.ResultOK, "done"
	b = mkCommand(t, s, b)
	c := mkCommand(t, s, command(d, "c", 6))

	tests := []struct {
		name  string
		limit int
		want  []core.Command
	}{
		{"All", 10, []core.Command{c, b, a}},
		{"Limit", 2, []core.Command{c, b}},
		{"DefaultLimit", 0, []core.Command{c, b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Commands(ctx, d.ID, tt.limit)
			if err != nil || !same(got, tt.want, normCommands) {
				t.Errorf("Commands(%d, %d) = %+v, %v, want %+v, nil", d.ID, tt.limit, got, err, tt.want)
			}
		})
	}

	got, err := s.OpenCommands(ctx, d.ID)
	if want := []core.Command{a, c}; err != nil || !same(got, want, normCommands) {
		t.Errorf("OpenCommands(%d) = %+v, %v, want %+v, nil", d.ID, got, err, want)
	}
	for _, f := range []func() ([]core.Command, error){
		func() ([]core.Command, error) { return s.Commands(ctx, 999, 10) },
		func() ([]core.Command, error) { return s.OpenCommands(ctx, 999) },
	} {
		if got, err := f(); err != nil || len(got) != 0 {
			t.Errorf("listing commands of unknown device 999 = %+v, %v, want none, nil", got, err)
		}
	}
}

func testSaveCommand(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "dev-1")
	c := mkCommand(t, s, command(d, "reboot", 1))
	bystander := mkCommand(t, s, command(d, "check-update", 2))

	c.State, c.DeliveredAt, c.Via = core.CommandDelivered, at(3), "plain"
	if err := s.SaveCommand(ctx, c); err != nil {
		t.Fatalf("SaveCommand(%+v) = %v, want nil", c, err)
	}
	c.State, c.FinishedAt, c.Result, c.ResultPayload = core.CommandFailed, at(4), core.ResultError, "no power"
	// Fields SaveCommand does not own keep their stored values.
	changed := c
	changed.Name, changed.Payload, changed.ExpiresAt = "other", "other", at(99)
	if err := s.SaveCommand(ctx, changed); err != nil {
		t.Fatalf("SaveCommand(%+v) = %v, want nil", changed, err)
	}
	if got, err := s.Command(ctx, c.ID); err != nil || !same(got, c, normCommand) {
		t.Errorf("Command(%d) after SaveCommand = %+v, %v, want %+v, nil", c.ID, got, err, c)
	}
	if got, err := s.Command(ctx, bystander.ID); err != nil || !same(got, bystander, normCommand) {
		t.Errorf("Command(%d) = %+v, %v, want it untouched: %+v", bystander.ID, got, err, bystander)
	}
	if got, err := s.OpenCommands(ctx, d.ID); err != nil || len(got) != 1 || got[0].ID != bystander.ID {
		t.Errorf("OpenCommands(%d) after finishing %d = %+v, %v, want only %d", d.ID, c.ID, got, err, bystander.ID)
	}

	missing := c
	missing.ID = 999
	if err := s.SaveCommand(ctx, missing); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SaveCommand(ID 999) = %v, want %v", err, core.ErrNotFound)
	}
}

func testDueCommands(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	d := mkDevice(t, s, p.ID, "dev-1")
	e := mkDevice(t, s, other.ID, "dev-1")

	mk := func(dev core.Device, minute, expires int, finished bool) core.Command {
		c := command(dev, fmt.Sprintf("c%d", minute), minute)
		c.ExpiresAt = at(expires)
		if finished {
			c.State, c.FinishedAt = core.CommandAcknowledged, at(minute)
		}
		return mkCommand(t, s, c)
	}
	late := mk(d, 1, 30, false)
	early := mk(e, 2, 10, false)
	mk(d, 3, 5, true) // finished: never due
	sameTime := mk(d, 4, 10, false)
	mk(e, 5, 50, false) // not due yet

	tests := []struct {
		name  string
		now   int
		limit int
		want  []core.Command
	}{
		{"None", 9, 10, []core.Command{}},
		{"AtExpiry", 10, 10, []core.Command{early, sameTime}},
		{"Several", 40, 10, []core.Command{early, sameTime, late}},
		{"Limit", 40, 2, []core.Command{early, sameTime}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueCommands(ctx, at(tt.now), tt.limit)
			if err != nil || !same(got, tt.want, normCommands) {
				t.Errorf("DueCommands(at(%d), %d) = %+v, %v, want %+v, nil", tt.now, tt.limit, got, err, tt.want)
			}
		})
	}
}

func testCommandEvents(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "dev-1")
	c := mkCommand(t, s, command(d, "reboot", 1))
	other := mkCommand(t, s, command(d, "check-update", 1))

	add := func(e core.CommandEvent) core.CommandEvent {
		t.Helper()
		if err := s.AddCommandEvent(ctx, &e); err != nil {
			t.Fatalf("AddCommandEvent(%+v) = %v, want nil", e, err)
		}
		if e.ID == 0 {
			t.Errorf("AddCommandEvent(%+v) left ID 0, want it set", e)
		}
		return e
	}
	// Added out of time order: the history is by time, then by ID.
	later := add(core.CommandEvent{CommandID: c.ID, At: at(5), Kind: core.CommandEventAcked, Detail: "ok"})
	add(core.CommandEvent{CommandID: other.ID, At: at(2), Kind: core.CommandEventQueued})
	first := add(core.CommandEvent{CommandID: c.ID, At: at(1), Kind: core.CommandEventQueued, Detail: "by ops"})
	tie := add(core.CommandEvent{CommandID: c.ID, At: at(5), Kind: core.CommandEventIgnored, Via: "plain",
		Detail: "contradicts"})

	got, err := s.CommandEvents(ctx, c.ID)
	want := []core.CommandEvent{first, later, tie}
	if err != nil || !same(got, want, func(es []core.CommandEvent) []core.CommandEvent {
		return normAll(es, normCommandEvent)
	}) {
		t.Errorf("CommandEvents(%d) = %+v, %v, want %+v, nil", c.ID, got, err, want)
	}
	if got, err := s.CommandEvents(ctx, 999); err != nil || len(got) != 0 {
		t.Errorf("CommandEvents(999) = %+v, %v, want none, nil", got, err)
	}
	bad := core.CommandEvent{CommandID: 999, At: at(1), Kind: core.CommandEventQueued}
	if err := s.AddCommandEvent(ctx, &bad); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AddCommandEvent(unknown command) = %v, want %v", err, core.ErrNotFound)
	}
}
