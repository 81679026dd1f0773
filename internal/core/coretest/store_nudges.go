package coretest

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of nudge configurations, the nudge outbox and its attempts.

func nudgeConfig(p core.Product, url string, minute int) core.NudgeConfig {
	return core.NudgeConfig{
		ProductID: p.ID,
		URL:       url,
		Method:    "POST",
		Headers: []core.NudgeHeader{
			{Name: "Authorization", Value: `Basic {{basicauth "AC1" .Secret}}`},
			{Name: "Content-Type", Value: "application/x-www-form-urlencoded"},
		},
		Body:            `To={{urlquery (.Attr "msisdn")}}&Body=wake`,
		Secret:          "carrier-secret",
		PerDevice:       1,
		PerDeviceWindow: 10 * time.Minute,
		PerMinute:       60,
		MaxAttempts:     5,
		BackoffBase:     5 * time.Second,
		BackoffCap:      5 * time.Minute,
		Triggers:        []core.NudgeTrigger{core.TriggerUrgentCommand},
		UpdatedAt:       at(minute),
	}
}

func testNudgeConfig(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	if got, err := s.NudgeConfig(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("NudgeConfig(%d) before SetNudgeConfig = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}

	bystander := nudgeConfig(other, "https://b.example/wake", 1)
	second := nudgeConfig(p, "https://a.example/v2/{{.Device}}", 3)
	second.Method, second.Body, second.Headers, second.Triggers = "GET", "", nil, nil
	second.PerDevice, second.PerDeviceWindow, second.PerMinute = 3, time.Hour, 7
	second.MaxAttempts, second.BackoffBase, second.BackoffCap = 2, time.Second, 90*time.Second
	for _, c := range []core.NudgeConfig{bystander, nudgeConfig(p, "https://a.example/wake", 2), second} {
		if err := s.SetNudgeConfig(ctx, c); err != nil {
			t.Fatalf("SetNudgeConfig(%+v) = %v, want nil", c, err)
		}
		got, err := s.NudgeConfig(ctx, c.ProductID)
		if err != nil || !same(got, c, normNudgeConfig) {
			t.Errorf("NudgeConfig(%d) after SetNudgeConfig = %+v, %v, want %+v, nil", c.ProductID, got, err, c)
		}
	}
	ghost := nudgeConfig(core.Product{ID: 999}, "https://x.example/", 4)
	if err := s.SetNudgeConfig(ctx, ghost); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetNudgeConfig(product 999) = %v, want %v", err, core.ErrNotFound)
	}

	for i := range 2 {
		if err := s.DeleteNudgeConfig(ctx, p.ID); err != nil {
			t.Errorf("DeleteNudgeConfig(%d) #%d = %v, want nil", p.ID, i+1, err)
		}
	}
	if got, err := s.NudgeConfig(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("NudgeConfig(%d) after DeleteNudgeConfig = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}
	if got, err := s.NudgeConfig(ctx, other.ID); err != nil || !same(got, bystander, normNudgeConfig) {
		t.Errorf("NudgeConfig(%d) = %+v, %v, want %+v, nil", other.ID, got, err, bystander)
	}
}

// nudge returns a queued nudge of d created and due at at(minute).
func nudge(d core.Device, minute int) core.Nudge {
	return core.Nudge{
		ProductID: d.ProductID, DeviceID: d.ID, Device: d.Name, Trigger: core.TriggerUrgentCommand,
		CommandID: 7, Data: []byte(`{"device":"` + d.Name + `"}`), State: core.NudgeQueued,
		NextAt: at(minute), CreatedAt: at(minute),
	}
}

func mkNudge(t testing.TB, s core.Store, n core.Nudge) core.Nudge {
	t.Helper()
	if err := s.AddNudge(t.Context(), &n); err != nil {
		t.Fatalf("AddNudge(%+v) = %v, want nil", n, err)
	}
	return n
}

func testNudges(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	d1, d2 := mkDevice(t, s, p.ID, "d1"), mkDevice(t, s, p.ID, "d2")
	o1 := mkDevice(t, s, other.ID, "o1")

	a := mkNudge(t, s, nudge(d1, 1))
	b := mkNudge(t, s, nudge(d2, 2))
	suppressed := nudge(d1, 3)
	suppressed.State, suppressed.Reason, suppressed.FinishedAt = core.NudgeSuppressed, "rate limit", at(3)
	c := mkNudge(t, s, suppressed)
	o := mkNudge(t, s, nudge(o1, 4))
	if a.ID == 0 {
		t.Errorf("AddNudge(%+v) left ID 0, want it set", a)
	}
	bad := nudge(core.Device{ID: 999, ProductID: p.ID, Name: "ghost"}, 5)
	if err := s.AddNudge(ctx, &bad); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AddNudge(device 999) = %v, want %v", err, core.ErrNotFound)
	}

	lists := []struct {
		name string
		f    core.NudgeFilter
		want []core.Nudge
	}{
		{"Product", core.NudgeFilter{ProductID: p.ID}, []core.Nudge{c, b, a}},
		{"Device", core.NudgeFilter{ProductID: p.ID, DeviceID: d1.ID}, []core.Nudge{c, a}},
		{"Limit", core.NudgeFilter{ProductID: p.ID, Limit: 1}, []core.Nudge{c}},
		{"Other", core.NudgeFilter{ProductID: other.ID}, []core.Nudge{o}},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Nudges(ctx, tt.f)
			if err != nil || !same(got, tt.want, normNudges) {
				t.Errorf("Nudges(%+v) = %+v, %v, want %+v, nil", tt.f, got, err, tt.want)
			}
		})
	}
	if got, err := s.Nudge(ctx, b.ID); err != nil || !same(got, b, normNudge) {
		t.Errorf("Nudge(%d) = %+v, %v, want %+v, nil", b.ID, got, err, b)
	}
	if _, err := s.Nudge(ctx, 999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Nudge(999) = %v, want %v", err, core.ErrNotFound)
	}

	// Counts leave out suppressed nudges and those created before since.
	counts := []struct {
		name           string
		device, minute int64
		want           int
	}{
		{"ProductAll", 0, 0, 2},
		{"ProductSince", 0, 2, 1},
		{"Device", d1.ID, 0, 1},
		{"DeviceSinceExact", d1.ID, 1, 1},
		{"DeviceAfter", d1.ID, 2, 0},
	}
	for _, tt := range counts {
		t.Run("Count"+tt.name, func(t *testing.T) {
			got, err := s.CountNudges(ctx, p.ID, tt.device, at(int(tt.minute)))
			if err != nil || got != tt.want {
				t.Errorf("CountNudges(%d, %d, %v) = %d, %v, want %d, nil",
					p.ID, tt.device, at(int(tt.minute)), got, err, tt.want)
			}
		})
	}
}

func testDueNudges(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "d1")
	a := mkNudge(t, s, nudge(d, 1))
	sent := mkNudge(t, s, nudge(d, 2))
	b := mkNudge(t, s, nudge(d, 3))
	later := nudge(d, 4)
	later.NextAt = at(30)
	mkNudge(t, s, later)

	sent.State, sent.Attempts, sent.LastStatus, sent.FinishedAt = core.NudgeSent, 1, 202, at(2)
	if err := s.SaveNudge(ctx, sent); err != nil {
		t.Fatalf("SaveNudge(%+v) = %v, want nil", sent, err)
	}

	tests := []struct {
		name  string
		now   int
		limit int
		want  []core.Nudge
	}{
		{"DueExactly", 3, 10, []core.Nudge{a, b}},
		{"Limit", 5, 1, []core.Nudge{a}},
		{"NotYet", 2, 10, []core.Nudge{a}},
		{"NothingDue", 0, 10, []core.Nudge{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueNudges(ctx, at(tt.now), tt.limit)
			if err != nil || !same(got, tt.want, normNudges) {
				t.Errorf("DueNudges(%v, %d) = %+v, %v, want %+v, nil", at(tt.now), tt.limit, got, err, tt.want)
			}
		})
	}
}

func testSaveNudge(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "d1")
	n := mkNudge(t, s, nudge(d, 1))

	// Only the outcome fields are written; what was queued stays.
	saved := n
	saved.State, saved.Reason, saved.Attempts = core.NudgeFailed, "target answered 403", 2
	saved.NextAt, saved.LastStatus, saved.LastError, saved.FinishedAt = at(9), 403, "403 Forbidden", at(8)
	saved.Device, saved.Data, saved.CommandID, saved.CreatedAt = "forged", []byte("{}"), 99, at(-5)
	if err := s.SaveNudge(ctx, saved); err != nil {
		t.Fatalf("SaveNudge(%+v) = %v, want nil", saved, err)
	}
	want := n
	want.State, want.Reason, want.Attempts = saved.State, saved.Reason, saved.Attempts
	want.NextAt, want.LastStatus, want.LastError, want.FinishedAt = at(9), 403, "403 Forbidden", at(8)
	if got, err := s.Nudge(ctx, n.ID); err != nil || !same(got, want, normNudge) {
		t.Errorf("Nudge(%d) after SaveNudge = %+v, %v, want %+v, nil", n.ID, got, err, want)
	}
	if err := s.SaveNudge(ctx, core.Nudge{ID: 999, State: core.NudgeSent}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SaveNudge(999) = %v, want %v", err, core.ErrNotFound)
	}

	// Attempts, oldest first, with their latency kept to the microsecond.
	var want2 []core.NudgeAttempt
	for i, a := range []core.NudgeAttempt{
		{NudgeID: n.ID, At: at(1), Error: "dial tcp: connection refused", Latency: 1500 * time.Microsecond},
		{NudgeID: n.ID, At: at(2), Status: 503, Error: "503 Service Unavailable", Latency: 2 * time.Second},
		{NudgeID: n.ID, At: at(3), Status: 403, Error: "403 Forbidden", Latency: 40 * time.Millisecond},
	} {
		if err := s.AddNudgeAttempt(ctx, &a); err != nil || a.ID == 0 {
			t.Fatalf("AddNudgeAttempt(#%d) = %v, ID %d; want nil and an ID", i+1, err, a.ID)
		}
		want2 = append(want2, a)
	}
	if got, err := s.NudgeAttempts(ctx, n.ID); err != nil || !same(got, want2, normAttempts) {
		t.Errorf("NudgeAttempts(%d) = %+v, %v, want %+v, nil", n.ID, got, err, want2)
	}
	if got, err := s.NudgeAttempts(ctx, 999); err != nil || len(got) != 0 {
		t.Errorf("NudgeAttempts(999) = %+v, %v, want none, nil", got, err)
	}
	if err := s.AddNudgeAttempt(ctx, &core.NudgeAttempt{NudgeID: 999, At: at(1)}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AddNudgeAttempt(nudge 999) = %v, want %v", err, core.ErrNotFound)
	}
}

func normNudgeConfig(c core.NudgeConfig) core.NudgeConfig {
	c.UpdatedAt = normTime(c.UpdatedAt)
	c.Headers = nilIfEmpty(c.Headers)
	c.Triggers = nilIfEmpty(c.Triggers)
	return c
}

func normNudge(n core.Nudge) core.Nudge {
	n.NextAt, n.CreatedAt, n.FinishedAt = normTime(n.NextAt), normTime(n.CreatedAt), normTime(n.FinishedAt)
	n.Data = nilIfEmpty(n.Data)
	return n
}

func normNudges(ns []core.Nudge) []core.Nudge { return normAll(ns, normNudge) }

func normAttempt(a core.NudgeAttempt) core.NudgeAttempt {
	a.At = normTime(a.At)
	return a
}

func normAttempts(as []core.NudgeAttempt) []core.NudgeAttempt { return normAll(as, normAttempt) }
