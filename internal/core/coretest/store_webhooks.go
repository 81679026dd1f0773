package coretest

import (
	"errors"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of webhooks and their delivery outbox.

func testWebhook(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	if got, err := s.Webhook(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Webhook(%d) before SetWebhook = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}

	// A second SetWebhook replaces the first; the other product's stays.
	bystander := core.Webhook{ProductID: other.ID, URL: "https://b.example/hook", Secret: "s0",
		UpdatedAt: at(1)}
	for _, w := range []core.Webhook{
		bystander,
		{ProductID: p.ID, URL: "https://a.example/hook", Secret: "s1", UpdatedAt: at(2)},
		{ProductID: p.ID, URL: "https://a.example/v2/hook?x=1", Secret: "s2", UpdatedAt: at(3)},
	} {
		if err := s.SetWebhook(ctx, w); err != nil {
			t.Fatalf("SetWebhook(%+v) = %v, want nil", w, err)
		}
		got, err := s.Webhook(ctx, w.ProductID)
		if err != nil || !same(got, w, normWebhook) {
			t.Errorf("Webhook(%d) after SetWebhook = %+v, %v, want %+v, nil", w.ProductID, got, err, w)
		}
	}

	// Deleting twice is fine, and leaves the other product's webhook.
	for i := range 2 {
		if err := s.DeleteWebhook(ctx, p.ID); err != nil {
			t.Errorf("DeleteWebhook(%d) #%d = %v, want nil", p.ID, i+1, err)
		}
	}
	if got, err := s.Webhook(ctx, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Webhook(%d) after DeleteWebhook = %+v, %v, want %v", p.ID, got, err, core.ErrNotFound)
	}
	if got, err := s.Webhook(ctx, other.ID); err != nil || !same(got, bystander, normWebhook) {
		t.Errorf("Webhook(%d) = %+v, %v, want %+v, nil", other.ID, got, err, bystander)
	}
}

// delivery returns an event of p created at at(minute) and due at
// at(due).
func delivery(p core.Product, event string, minute, due int) core.Delivery {
	return core.Delivery{
		ProductID: p.ID,
		Event:     event,
		Body:      []byte(`{"event":"` + event + `"}`),
		NextAt:    at(due),
		CreatedAt: at(minute),
	}
}

func mkDelivery(t testing.TB, s core.Store, d core.Delivery) core.Delivery {
	t.Helper()
	if err := s.AddDelivery(t.Context(), &d); err != nil {
		t.Fatalf("AddDelivery(%+v) = %v, want nil", d, err)
	}
	return d
}

func testDeliveries(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	d1 := mkDelivery(t, s, delivery(p, "update.succeeded", 1, 1))
	mkDelivery(t, s, delivery(other, "update.failed", 2, 2))
	d2 := mkDelivery(t, s, delivery(p, "rollout.paused", 3, 3))
	empty := delivery(p, "rollout.finished", 4, 4)
	empty.Body = nil
	d3 := mkDelivery(t, s, empty)
	if d1.ID == 0 {
		t.Errorf("AddDelivery(%+v) left ID 0, want it set", d1)
	}

	tests := []struct {
		name  string
		limit int
		want  []core.Delivery
	}{
		{"All", 10, []core.Delivery{d3, d2, d1}},
		{"Limit", 2, []core.Delivery{d3, d2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Deliveries(ctx, p.ID, tt.limit)
			if err != nil || !same(got, tt.want, normDeliveries) {
				t.Errorf("Deliveries(%d, %d) = %+v, %v, want %+v, nil", p.ID, tt.limit, got, err, tt.want)
			}
		})
	}
	idle := mkProduct(t, s, "idle")
	if got, err := s.Deliveries(ctx, idle.ID, 10); err != nil || len(got) != 0 {
		t.Errorf("Deliveries(%d, 10) = %+v, %v, want none, nil", idle.ID, got, err)
	}
}

func testDueDeliveries(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	// Created in the order they fall due, so that "oldest" by creation and
	// by due time agree.
	a := mkDelivery(t, s, delivery(p, "update.succeeded", 1, 1))
	b := mkDelivery(t, s, delivery(other, "update.failed", 2, 2))
	done := mkDelivery(t, s, delivery(p, "update.failed", 3, 3))
	c := mkDelivery(t, s, delivery(p, "rollout.paused", 4, 5))
	mkDelivery(t, s, delivery(p, "rollout.finished", 6, 30))

	done.Attempts, done.DeliveredAt = 1, at(3)
	if err := s.SaveDelivery(ctx, done); err != nil {
		t.Fatalf("SaveDelivery(%+v) = %v, want nil", done, err)
	}

	tests := []struct {
		name  string
		now   int // minutes, as for at
		limit int
		want  []core.Delivery
	}{
		{"DueExactly", 5, 10, []core.Delivery{a, b, c}},
		{"Limit", 5, 2, []core.Delivery{a, b}},
		{"NotYet", 4, 10, []core.Delivery{a, b}},
		{"NothingDue", 0, 10, []core.Delivery{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueDeliveries(ctx, at(tt.now), tt.limit)
			if err != nil || !same(got, tt.want, normDeliveries) {
				t.Errorf("DueDeliveries(%v, %d) = %+v, %v, want %+v, nil",
					at(tt.now), tt.limit, got, err, tt.want)
			}
		})
	}
}

func testSaveDelivery(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDelivery(t, s, delivery(p, "update.failed", 1, 1))

	// Only attempts, next attempt, delivered time and last error are
	// written; the event stays as queued.
	saved := d
	saved.Attempts = 3
	saved.NextAt = at(9)
	saved.LastError = "post https://a.example/hook: 502 Bad Gateway"
	saved.Event, saved.Body, saved.CreatedAt = "forged", []byte("{}"), at(-5)
	if err := s.SaveDelivery(ctx, saved); err != nil {
		t.Fatalf("SaveDelivery(%+v) = %v, want nil", saved, err)
	}

	want := d
	want.Attempts, want.NextAt, want.LastError = saved.Attempts, saved.NextAt, saved.LastError
	got, err := s.Deliveries(ctx, p.ID, 10)
	if err != nil || !same(got, []core.Delivery{want}, normDeliveries) {
		t.Errorf("Deliveries(%d, 10) after SaveDelivery = %+v, %v, want [%+v], nil", p.ID, got, err, want)
	}
	if due, err := s.DueDeliveries(ctx, at(8), 10); err != nil || len(due) != 0 {
		t.Errorf("DueDeliveries(%v, 10) before the new NextAt = %+v, %v, want none, nil", at(8), due, err)
	}
}

func normWebhook(w core.Webhook) core.Webhook {
	w.UpdatedAt = normTime(w.UpdatedAt)
	return w
}

// normDelivery also makes an empty body nil, since the contract does not
// tell them apart.
func normDelivery(d core.Delivery) core.Delivery {
	d.NextAt = normTime(d.NextAt)
	d.DeliveredAt = normTime(d.DeliveredAt)
	d.CreatedAt = normTime(d.CreatedAt)
	d.Body = nilIfEmpty(d.Body)
	return d
}

func normDeliveries(ds []core.Delivery) []core.Delivery { return normAll(ds, normDelivery) }
