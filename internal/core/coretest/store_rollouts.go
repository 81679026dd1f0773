package coretest

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of rollouts and of the updates they offer.

// rollout returns a rollout of p to r in state, created at at(minute); one
// that is not active also finished then.
func rollout(p core.Product, r core.Release, state core.RolloutState, minute int) core.Rollout {
	ro := core.Rollout{
		ProductID:      p.ID,
		ReleaseID:      r.ID,
		Version:        r.Version,
		Phases:         []core.Phase{{Percent: 100}},
		Thresholds:     []float64{1},
		State:          state,
		CreatedBy:      "ops",
		CreatedAt:      at(minute),
		UpdatedAt:      at(minute),
		PhaseStartedAt: at(minute),
	}
	if !state.Active() {
		ro.Reason = "operator said so"
		ro.FinishedAt = at(minute)
	}
	return ro
}

func mkRollout(t testing.TB, s core.Store, ro core.Rollout) core.Rollout {
	t.Helper()
	if err := s.CreateRollout(t.Context(), &ro); err != nil {
		t.Fatalf("CreateRollout(product %d, %s) = %v, want nil", ro.ProductID, ro.State, err)
	}
	return ro
}

// rolloutUpdate is update with the offer made by ro.
func rolloutUpdate(d core.Device, r core.Release, ro core.Rollout, state core.State, minute int) core.Update {
	u := update(d, r, state, minute)
	u.RolloutID = ro.ID
	return u
}

func testRolloutCreate(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	ro := core.Rollout{
		ProductID: p.ID,
		ReleaseID: r.ID,
		Version:   r.Version,
		Selector: core.Selector{
			Channel: "beta",
			Tags:    []string{"lab", "board=rev-b", `quote"d`},
			Devices: []string{"dev-1", "Grüße 世界"},
		},
		Phases:          []core.Phase{{Count: 5}, {Percent: 12.5}, {Percent: 100}},
		Thresholds:      []float64{0.001, 0.125, 1},
		Phase:           1,
		State:           core.RolloutPaused,
		Reason:          "3 of 10 failed",
		AutoAdvance:     true,
		Soak:            90 * time.Minute,
		SuccessRate:     0.95,
		MaxConcurrent:   20,
		OffersPerMinute: 6,
		FailPercent:     12.5,
		FailMinFinished: 10,
		FailCount:       3,
		CreatedBy:       "alice",
		CreatedAt:       at(2),
		UpdatedAt:       at(3),
		PhaseStartedAt:  at(4),
	}
	ro = mkRollout(t, s, ro)
	if ro.ID == 0 {
		t.Errorf("CreateRollout(%+v) left ID 0, want it set", ro)
	}

	got, err := s.Rollout(t.Context(), ro.ID)
	if err != nil || !same(got, ro, normRollout) {
		t.Errorf("Rollout(%d) = %+v, %v, want %+v, nil", ro.ID, got, err, ro)
	}
}

func testRolloutEmptyLists(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	ro := rollout(p, r, core.RolloutRunning, 2)
	ro.Phases, ro.Thresholds = nil, []float64{}
	ro = mkRollout(t, s, ro)

	got, err := s.Rollout(t.Context(), ro.ID)
	if err != nil || !same(got, ro, normRollout) {
		t.Errorf("Rollout(%d) = %+v, %v, want %+v, nil", ro.ID, got, err, ro)
	}
}

func testRolloutConflict(t *testing.T, s core.Store) {
	tests := []struct {
		old  core.RolloutState
		new  core.RolloutState
		want error
	}{
		{core.RolloutRunning, core.RolloutRunning, core.ErrConflict},
		{core.RolloutRunning, core.RolloutPaused, core.ErrConflict},
		{core.RolloutPaused, core.RolloutRunning, core.ErrConflict},
		{core.RolloutCanceled, core.RolloutRunning, nil},
		{core.RolloutFinished, core.RolloutPaused, nil},
		// A rollout that is not active conflicts with nothing.
		{core.RolloutRunning, core.RolloutCanceled, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.old)+"Then"+string(tt.new), func(t *testing.T) {
			// Each case has its own product; a bystander product's
			// active rollout must not count.
			p := mkProduct(t, s, "p-"+string(tt.old)+"-"+string(tt.new))
			r := mkRelease(t, s, p.ID, "1.1", 1)
			mkRollout(t, s, rollout(p, r, tt.old, 2))

			ro := rollout(p, r, tt.new, 3)
			if err := s.CreateRollout(t.Context(), &ro); !errors.Is(err, tt.want) {
				t.Errorf("CreateRollout(%s after %s) = %v, want %v", tt.new, tt.old, err, tt.want)
			}
		})
	}
}

func testRollouts(t *testing.T, s core.Store) {
	ctx := t.Context()
	p1 := mkProduct(t, s, "widget")
	p2 := mkProduct(t, s, "gadget")
	r1 := mkRelease(t, s, p1.ID, "1.1", 1)
	r2 := mkRelease(t, s, p2.ID, "2.0", 1)
	a := mkRollout(t, s, rollout(p1, r1, core.RolloutCanceled, 2))
	b := mkRollout(t, s, rollout(p2, r2, core.RolloutRunning, 3))
	c := mkRollout(t, s, rollout(p1, r1, core.RolloutRunning, 4))
	idle := mkProduct(t, s, "idle")

	tests := []struct {
		name      string
		productID int64
		want      []core.Rollout
	}{
		{"Product", p1.ID, []core.Rollout{c, a}},
		{"OtherProduct", p2.ID, []core.Rollout{b}},
		{"All", 0, []core.Rollout{c, b, a}},
		{"None", idle.ID, []core.Rollout{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Rollouts(ctx, tt.productID)
			if err != nil || !same(got, tt.want, normRollouts) {
				t.Errorf("Rollouts(%d) = %+v, %v, want %+v, nil", tt.productID, got, err, tt.want)
			}
		})
	}
}

func testActiveRollout(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	ro := mkRelease(t, s, other.ID, "2.0", 1)
	mkRollout(t, s, rollout(other, ro, core.RolloutRunning, 1))
	mkRollout(t, s, rollout(p, r, core.RolloutFinished, 2))

	if got, err := s.ActiveRollout(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ActiveRollout(%d) with none active = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}

	// The rollout stays the active one while it runs and while paused.
	active := mkRollout(t, s, rollout(p, r, core.RolloutRunning, 3))
	for _, state := range []core.RolloutState{core.RolloutRunning, core.RolloutPaused} {
		active.State = state
		if err := s.SaveRollout(ctx, active); err != nil {
			t.Fatalf("SaveRollout(%s) = %v, want nil", state, err)
		}
		got, err := s.ActiveRollout(ctx, p.ID)
		if err != nil || !same(got, active, normRollout) {
			t.Errorf("ActiveRollout(%d) while %s = %+v, %v, want %+v, nil", p.ID, state, got, err, active)
		}
	}

	active.State, active.FinishedAt = core.RolloutCanceled, at(4)
	if err := s.SaveRollout(ctx, active); err != nil {
		t.Fatalf("SaveRollout(canceled) = %v, want nil", err)
	}
	if got, err := s.ActiveRollout(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ActiveRollout(%d) after cancel = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}
}

func testActiveRollouts(t *testing.T, s core.Store) {
	ctx := t.Context()
	if got, err := s.ActiveRollouts(ctx); err != nil || len(got) != 0 {
		t.Errorf("ActiveRollouts() of an empty store = %+v, %v, want none, nil", got, err)
	}

	p1 := mkProduct(t, s, "widget")
	p2 := mkProduct(t, s, "gadget")
	p3 := mkProduct(t, s, "gizmo")
	r1 := mkRelease(t, s, p1.ID, "1.1", 1)
	r2 := mkRelease(t, s, p2.ID, "2.0", 1)
	r3 := mkRelease(t, s, p3.ID, "3.0", 1)
	mkRollout(t, s, rollout(p1, r1, core.RolloutFinished, 1))
	older := mkRollout(t, s, rollout(p2, r2, core.RolloutPaused, 2))
	mkRollout(t, s, rollout(p3, r3, core.RolloutCanceled, 3))
	newer := mkRollout(t, s, rollout(p1, r1, core.RolloutRunning, 4))

	got, err := s.ActiveRollouts(ctx)
	want := []core.Rollout{older, newer}
	if err != nil || !same(got, want, normRollouts) {
		t.Errorf("ActiveRollouts() = %+v, %v, want %+v, nil", got, err, want)
	}
}

func testSaveRollout(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	r2 := mkRelease(t, s, p.ID, "1.2", 2)
	ro := mkRollout(t, s, rollout(p, r, core.RolloutRunning, 3))

	// Only phase, state, reason and the updated, phase-started and finished
	// times are written; the plan stays as created.
	saved := ro
	saved.Phase = 2
	saved.State = core.RolloutFinished
	saved.Reason = "every phase done"
	saved.UpdatedAt = at(10)
	saved.PhaseStartedAt = at(8)
	saved.FinishedAt = at(10)
	saved.ReleaseID, saved.Version = r2.ID, r2.Version
	saved.Selector = core.Selector{Channel: "beta"}
	saved.Phases, saved.Thresholds = []core.Phase{{Count: 1}}, []float64{0.5}
	saved.MaxConcurrent, saved.SuccessRate, saved.Soak = 99, 0.5, time.Hour
	saved.CreatedBy, saved.CreatedAt = "mallory", at(-5)
	if err := s.SaveRollout(ctx, saved); err != nil {
		t.Fatalf("SaveRollout(%+v) = %v, want nil", saved, err)
	}

	want := ro
	want.Phase, want.State, want.Reason = saved.Phase, saved.State, saved.Reason
	want.UpdatedAt, want.PhaseStartedAt, want.FinishedAt = saved.UpdatedAt, saved.PhaseStartedAt, saved.FinishedAt
	got, err := s.Rollout(ctx, ro.ID)
	if err != nil || !same(got, want, normRollout) {
		t.Errorf("Rollout(%d) after SaveRollout = %+v, %v, want %+v, nil", ro.ID, got, err, want)
	}
}

// rolloutFleet is a product with two rollouts, a device per update, and
// the updates each rollout offered, in the order they were created.
type rolloutFleet struct {
	first, second core.Rollout
	// firstUpdates: offered at 2, succeeded at 3, downloading at 4,
	// failed at 5, canceled at 6, installing at 8.
	firstUpdates []core.Update
}

func mkRolloutFleet(t testing.TB, s core.Store) rolloutFleet {
	t.Helper()
	p := mkProduct(t, s, "widget")
	r1 := mkRelease(t, s, p.ID, "1.1", 1)
	r2 := mkRelease(t, s, p.ID, "1.2", 1)
	var f rolloutFleet
	f.first = mkRollout(t, s, rollout(p, r1, core.RolloutCanceled, 1))
	f.second = mkRollout(t, s, rollout(p, r2, core.RolloutRunning, 1))

	// Devices are named in creation order; each takes one update, since a
	// device has at most one open update.
	dev := func(name string) core.Device { return mkDevice(t, s, p.ID, name) }
	steps := []struct {
		ro     core.Rollout // zero for a channel offer
		state  core.State
		minute int
	}{
		{f.first, core.StateOffered, 2},
		{f.first, core.StateSucceeded, 3},
		{f.first, core.StateDownloading, 4},
		{f.first, core.StateFailed, 5},
		{core.Rollout{}, core.StateOffered, 5},
		{f.first, core.StateCanceled, 6},
		{f.second, core.StateDownloading, 7},
		{f.first, core.StateInstalling, 8},
	}
	for i, st := range steps {
		d := dev(string(rune('a' + i)))
		u := mkUpdate(t, s, rolloutUpdate(d, r1, st.ro, st.state, st.minute))
		if st.ro.ID == f.first.ID {
			f.firstUpdates = append(f.firstUpdates, u)
		}
	}
	return f
}

func testRolloutUpdates(t *testing.T, s core.Store) {
	ctx := t.Context()
	f := mkRolloutFleet(t, s)
	got, err := s.RolloutUpdates(ctx, f.first.ID)
	if err != nil || !same(got, f.firstUpdates, normUpdates) {
		t.Errorf("RolloutUpdates(%d) = %+v, %v, want %+v, nil", f.first.ID, got, err, f.firstUpdates)
	}
	for _, u := range got {
		if u.RolloutID != f.first.ID {
			t.Errorf("RolloutUpdates(%d) has update %d of rollout %d", f.first.ID, u.ID, u.RolloutID)
		}
	}
	if got, err := s.RolloutUpdates(ctx, f.second.ID+1000); err != nil || len(got) != 0 {
		t.Errorf("RolloutUpdates(%d) = %+v, %v, want none, nil", f.second.ID+1000, got, err)
	}
}

func testRolloutLoad(t *testing.T, s core.Store) {
	f := mkRolloutFleet(t, s)
	tests := []struct {
		name       string
		rolloutID  int64
		since      time.Time
		wantOpen   int
		wantRecent int
	}{
		// Open: offered at 2, downloading at 4, installing at 8.
		{"AllTime", f.first.ID, time.Time{}, 3, 6},
		{"FromExactCreate", f.first.ID, at(5), 3, 3},
		{"JustAfterCreate", f.first.ID, at(5).Add(time.Millisecond), 3, 2},
		{"AfterLast", f.first.ID, at(9), 3, 0},
		{"OtherRollout", f.second.ID, at(0), 1, 1},
		{"NoSuchRollout", f.second.ID + 1000, time.Time{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, recent, err := s.RolloutLoad(t.Context(), tt.rolloutID, tt.since)
			if err != nil || open != tt.wantOpen || recent != tt.wantRecent {
				t.Errorf("RolloutLoad(%d, %v) = %d, %d, %v, want %d, %d, nil",
					tt.rolloutID, tt.since, open, recent, err, tt.wantOpen, tt.wantRecent)
			}
		})
	}
}

// normRollout also makes empty phases, thresholds and selector lists nil,
// since the contract does not tell them apart.
func normRollout(r core.Rollout) core.Rollout {
	r.CreatedAt = normTime(r.CreatedAt)
	r.UpdatedAt = normTime(r.UpdatedAt)
	r.PhaseStartedAt = normTime(r.PhaseStartedAt)
	r.FinishedAt = normTime(r.FinishedAt)
	r.Phases = nilIfEmpty(r.Phases)
	r.Thresholds = nilIfEmpty(r.Thresholds)
	r.Selector.Tags = nilIfEmpty(r.Selector.Tags)
	r.Selector.Devices = nilIfEmpty(r.Selector.Devices)
	return r
}

func normRollouts(rs []core.Rollout) []core.Rollout { return normAll(rs, normRollout) }
