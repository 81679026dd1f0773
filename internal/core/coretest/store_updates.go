package coretest

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of updates and device history.

func testUpdateCreate(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	d := mkDevice(t, s, p.ID, "dev-1")
	u := mkUpdate(t, s, update(d, r, core.StateDownloading, 2))
	if u.ID == 0 {
		t.Errorf("CreateUpdate(%+v) left ID 0, want it set", u)
	}

	got, err := s.Update(t.Context(), u.ID)
	if err != nil || !same(got, u, normUpdate) {
		t.Errorf("Update(%d) = %+v, %v, want %+v, nil", u.ID, got, err, u)
	}
	if !got.FinishedAt.IsZero() {
		t.Errorf("Update(%d).FinishedAt = %v, want the zero time", u.ID, got.FinishedAt)
	}
}

func testOpenUpdate(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	d := mkDevice(t, s, p.ID, "dev-1")
	other := mkDevice(t, s, p.ID, "dev-2")
	mkUpdate(t, s, update(d, r, core.StateFailed, 2))
	mkUpdate(t, s, update(d, r, core.StateCanceled, 3))
	open := mkUpdate(t, s, update(d, r, core.StateInstalling, 4))
	mkUpdate(t, s, update(other, r, core.StateOffered, 5))

	got, err := s.OpenUpdate(ctx, d.ID)
	if err != nil || !same(got, open, normUpdate) {
		t.Errorf("OpenUpdate(%d) = %+v, %v, want %+v, nil", d.ID, got, err, open)
	}

	open.State, open.UpdatedAt, open.FinishedAt = core.StateSucceeded, at(6), at(6)
	if err := s.SaveUpdate(ctx, open); err != nil {
		t.Fatalf("SaveUpdate(%+v) = %v, want nil", open, err)
	}
	if got, err := s.OpenUpdate(ctx, d.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenUpdate(%d) after success = %+v, %v, want %v", d.ID, got, err, core.ErrNotFound)
	}
}

func testOneOpenUpdate(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	d := mkDevice(t, s, p.ID, "dev-1")
	mkUpdate(t, s, update(d, r, core.StateOffered, 2))
	second := update(d, r, core.StateOffered, 3)
	if err := s.CreateUpdate(t.Context(), &second); !errors.Is(err, core.ErrConflict) {
		t.Errorf("CreateUpdate(second open update) = %v, want %v", err, core.ErrConflict)
	}
}

func testUpdates(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r1 := mkRelease(t, s, p.ID, "1.1", 1)
	r2 := mkRelease(t, s, p.ID, "1.2", 2)
	d := mkDevice(t, s, p.ID, "dev-1")
	other := mkDevice(t, s, p.ID, "dev-2")
	u1 := mkUpdate(t, s, update(d, r1, core.StateFailed, 3))
	mkUpdate(t, s, update(other, r1, core.StateSucceeded, 4))
	u2 := mkUpdate(t, s, update(d, r1, core.StateSucceeded, 5))
	u3 := mkUpdate(t, s, update(d, r2, core.StateOffered, 6))

	got, err := s.Updates(ctx, d.ID)
	want := []core.Update{u3, u2, u1}
	if err != nil || !same(got, want, normUpdates) {
		t.Errorf("Updates(%d) = %+v, %v, want %+v, nil", d.ID, got, err, want)
	}
	idle := mkDevice(t, s, p.ID, "dev-3")
	if got, err := s.Updates(ctx, idle.ID); err != nil || len(got) != 0 {
		t.Errorf("Updates(%d) = %+v, %v, want none, nil", idle.ID, got, err)
	}
}

func testSaveUpdate(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	d := mkDevice(t, s, p.ID, "dev-1")
	u := mkUpdate(t, s, update(d, r, core.StateOffered, 2))

	// Only state, reason, progress, the updated and finished times and the
	// pending cancel are written; what the update is about stays as created.
	saved := u
	saved.State = core.StateFailed
	saved.Reason = "rolled back"
	saved.Progress = 65536
	saved.UpdatedAt = at(9)
	saved.FinishedAt = at(10)
	saved.CancelPending = true
	saved.Version = "6.6.6"
	saved.FromVersion = "0.0"
	saved.CreatedAt = at(-5)
	if err := s.SaveUpdate(ctx, saved); err != nil {
		t.Fatalf("SaveUpdate(%+v) = %v, want nil", saved, err)
	}

	want := saved
	want.Version, want.FromVersion, want.CreatedAt = u.Version, u.FromVersion, u.CreatedAt
	got, err := s.Update(ctx, u.ID)
	if err != nil || !same(got, want, normUpdate) {
		t.Errorf("Update(%d) after SaveUpdate = %+v, %v, want %+v, nil", u.ID, got, err, want)
	}
}

func testFailures(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	other := mkRelease(t, s, p.ID, "1.2", 2)
	d := mkDevice(t, s, p.ID, "dev-1")
	d2 := mkDevice(t, s, p.ID, "dev-2")

	// Failures of d on r at -1, 0 and 60 minutes; everything else is noise.
	mkUpdate(t, s, update(d, r, core.StateFailed, -1))
	mkUpdate(t, s, update(d, r, core.StateFailed, 0))
	mkUpdate(t, s, update(d, r, core.StateFailed, 60))
	mkUpdate(t, s, update(d, r, core.StateSucceeded, 120))
	mkUpdate(t, s, update(d, r, core.StateCanceled, 130))
	mkUpdate(t, s, update(d, other, core.StateFailed, 180))
	mkUpdate(t, s, update(d2, r, core.StateFailed, 180))
	mkUpdate(t, s, update(d, r, core.StateDownloading, 200))

	tests := []struct {
		name      string
		since     time.Time
		wantCount int
		wantLast  time.Time
	}{
		{"FromExactFinish", at(0), 2, at(60)},
		{"JustAfterFinish", at(0).Add(time.Millisecond), 1, at(60)},
		{"AllTime", time.Time{}, 3, at(60)},
		{"AfterLast", at(61), 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, last, err := s.Failures(t.Context(), d.ID, r.ID, tt.since)
			if err != nil || n != tt.wantCount || !normTime(last).Equal(tt.wantLast) {
				t.Errorf("Failures(%d, %d, %v) = %d, %v, %v, want %d, %v, nil",
					d.ID, r.ID, tt.since, n, last, err, tt.wantCount, tt.wantLast)
			}
		})
	}
}

// history is a device with an update and the events added for it, in the
// order they were added.
type history struct {
	device core.Device
	update core.Update
	events []core.Event
}

func mkHistory(t testing.TB, s core.Store) history {
	t.Helper()
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	d := mkDevice(t, s, p.ID, "dev-1")
	other := mkDevice(t, s, p.ID, "dev-2")
	u := mkUpdate(t, s, update(d, r, core.StateOffered, 1))
	otherU := mkUpdate(t, s, update(other, r, core.StateOffered, 1))

	h := history{device: d, update: u}
	for _, e := range []core.Event{
		{UpdateID: u.ID, At: at(1), Kind: core.EventOffer, State: core.StateOffered},
		{UpdateID: u.ID, At: at(2), Kind: core.EventReport, Progress: 4096, Protocol: "plain"},
		// Same time as the report: the order added breaks the tie.
		{At: at(2), Kind: core.EventCheckIn, Version: "1.0", Detail: "version changed"},
		{UpdateID: u.ID, At: at(3), Kind: core.EventDecision, State: core.StateFailed, Detail: "timed out"},
		// Added last but happened first, as a late report can.
		{UpdateID: u.ID, At: at(0), Kind: core.EventReport, State: core.StateDownloading},
	} {
		e.DeviceID = d.ID
		h.events = append(h.events, mkEvent(t, s, e))
	}
	mkEvent(t, s, core.Event{DeviceID: other.ID, UpdateID: otherU.ID, At: at(9), Kind: core.EventOffer})
	return h
}

func testEvents(t *testing.T, s core.Store) {
	h := mkHistory(t, s)
	for _, e := range h.events {
		if e.ID == 0 {
			t.Errorf("AddEvent(%+v) left ID 0, want it set", e)
		}
	}

	got, err := s.Events(t.Context(), h.device.ID)
	ev := h.events
	want := []core.Event{ev[4], ev[0], ev[1], ev[2], ev[3]}
	if err != nil || !same(got, want, normEvents) {
		t.Errorf("Events(%d) = %+v, %v, want %+v, nil", h.device.ID, got, err, want)
	}
}

func testLastEvent(t *testing.T, s core.Store) {
	h := mkHistory(t, s)
	got, err := s.LastEvent(t.Context(), h.update.ID)
	want := h.events[3]
	if err != nil || !same(got, want, normEvent) {
		t.Errorf("LastEvent(%d) = %+v, %v, want %+v, nil", h.update.ID, got, err, want)
	}
}

func normUpdates(us []core.Update) []core.Update { return normAll(us, normUpdate) }
func normEvents(es []core.Event) []core.Event    { return normAll(es, normEvent) }
