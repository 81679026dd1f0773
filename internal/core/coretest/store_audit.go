package coretest

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of the audit log.

func mkAudit(t testing.TB, s core.Store, e core.AuditEntry) core.AuditEntry {
	t.Helper()
	if err := s.AddAudit(t.Context(), &e); err != nil {
		t.Fatalf("AddAudit(%+v) = %v, want nil", e, err)
	}
	return e
}

func testAuditAdd(t *testing.T, s core.Store) {
	e := mkAudit(t, s, core.AuditEntry{
		At:      at(1),
		Actor:   "alice",
		Action:  "rollout.pause",
		Product: "widget",
		Object:  "7",
		Detail:  `{"reason":"too many \"failures\"","note":"Grüße"}`,
	})
	if e.ID == 0 {
		t.Errorf("AddAudit(%+v) left ID 0, want it set", e)
	}

	got, err := s.Audit(t.Context(), core.AuditFilter{})
	want := []core.AuditEntry{e}
	if err != nil || !same(got, want, normAudits) {
		t.Errorf("Audit({}) = %+v, %v, want %+v, nil", got, err, want)
	}
}

func testAuditFilter(t *testing.T, s core.Store) {
	// Added out of time order, as concurrent requests may add them; a
	// tie in time is broken by the order added.
	var es []core.AuditEntry
	for _, e := range []core.AuditEntry{
		{At: at(1), Actor: "alice", Action: "product.create", Product: "widget"},
		{At: at(3), Actor: "bob", Action: "release.push", Product: "gadget", Object: "2.0"},
		{At: at(2), Actor: "alice", Action: "release.push", Product: "widget", Object: "1.1"},
		{At: at(4), Actor: "carol", Action: "token.create"},
		{At: at(4), Actor: "alice", Action: "rollout.start", Product: "widget", Object: "1"},
	} {
		es = append(es, mkAudit(t, s, e))
	}

	tests := []struct {
		name   string
		filter core.AuditFilter
		want   []core.AuditEntry
	}{
		{"All", core.AuditFilter{}, []core.AuditEntry{es[4], es[3], es[1], es[2], es[0]}},
		{"Product", core.AuditFilter{Product: "widget"}, []core.AuditEntry{es[4], es[2], es[0]}},
		{"NoSuchProduct", core.AuditFilter{Product: "gizmo"}, []core.AuditEntry{}},
		{"SinceExact", core.AuditFilter{Since: at(3)}, []core.AuditEntry{es[4], es[3], es[1]}},
		{"SinceJustAfter", core.AuditFilter{Since: at(3).Add(time.Millisecond)},
			[]core.AuditEntry{es[4], es[3]}},
		{"Limit", core.AuditFilter{Limit: 2}, []core.AuditEntry{es[4], es[3]}},
		{"Everything", core.AuditFilter{Product: "widget", Since: at(2), Limit: 1},
			[]core.AuditEntry{es[4]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Audit(t.Context(), tt.filter)
			if err != nil || !same(got, tt.want, normAudits) {
				t.Errorf("Audit(%+v) = %+v, %v, want %+v, nil", tt.filter, got, err, tt.want)
			}
		})
	}
}

func testAuditDefaultLimit(t *testing.T, s core.Store) {
	ctx := t.Context()
	const n = 1001
	err := s.Tx(ctx, func(tx core.Store) error {
		for i := range n {
			e := core.AuditEntry{At: at(i), Actor: "ci", Action: fmt.Sprintf("test.%d", i)}
			if err := tx.AddAudit(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx(add %d audit entries) = %v, want nil", n, err)
	}

	tests := []struct {
		limit int
		want  int
	}{
		{0, 1000},
		{n, n},
		{10, 10},
	}
	for _, tt := range tests {
		got, err := s.Audit(ctx, core.AuditFilter{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Errorf("Audit(Limit: %d) returned %d entries, %v, want %d, nil",
				tt.limit, len(got), err, tt.want)
		}
	}
}

func normAudit(e core.AuditEntry) core.AuditEntry {
	e.At = normTime(e.At)
	return e
}

func normAudits(es []core.AuditEntry) []core.AuditEntry { return normAll(es, normAudit) }
