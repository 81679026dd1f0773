package coretest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of transactions and of how values survive a round trip.

var errRollback = errors.New("roll back on purpose")

func testTxCommit(t *testing.T, s core.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx core.Store) error {
		p := mkProduct(t, tx, "widget")
		mkRelease(t, tx, p.ID, "1.0", 0)
		// The bound store reads its own writes.
		_, err := tx.ReleaseByVersion(ctx, p.ID, "1.0")
		return err
	})
	if err != nil {
		t.Fatalf("Tx() = %v, want nil", err)
	}

	p, err := s.ProductByName(ctx, "widget")
	if err != nil {
		t.Fatalf("ProductByName(%q) after commit = %v, want nil", "widget", err)
	}
	if _, err := s.ReleaseByVersion(ctx, p.ID, "1.0"); err != nil {
		t.Errorf("ReleaseByVersion(%d, %q) after commit = %v, want nil", p.ID, "1.0", err)
	}
}

func testTxRollback(t *testing.T, s core.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx core.Store) error {
		p := mkProduct(t, tx, "widget")
		mkRelease(t, tx, p.ID, "1.0", 0)
		return fmt.Errorf("publish: %w", errRollback)
	})
	if !errors.Is(err, errRollback) {
		t.Errorf("Tx() = %v, want %v", err, errRollback)
	}

	if _, err := s.ProductByName(ctx, "widget"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ProductByName(%q) after rollback = %v, want %v", "widget", err, core.ErrNotFound)
	}
	if ps, err := s.Products(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Products() after rollback = %+v, %v, want none, nil", ps, err)
	}
}

func testTxNested(t *testing.T, s core.Store) {
	tests := []struct {
		name     string
		innerErr error // what the nested fn returns
		outerErr error // what the outer fn returns when the nested Tx succeeded
		want     error
	}{
		{"BothCommit", nil, nil, nil},
		{"OuterFails", nil, errRollback, errRollback},
		{"InnerFails", errRollback, nil, errRollback},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			outer, inner := fmt.Sprintf("outer-%d", i), fmt.Sprintf("inner-%d", i)
			err := s.Tx(ctx, func(tx core.Store) error {
				mkProduct(t, tx, outer)
				err := tx.Tx(ctx, func(tx2 core.Store) error {
					mkProduct(t, tx2, inner)
					return tt.innerErr
				})
				if err != nil {
					return err
				}
				// The outer transaction sees the nested one's write.
				if _, err := tx.ProductByName(ctx, inner); err != nil {
					return err
				}
				return tt.outerErr
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Tx() = %v, want %v", err, tt.want)
			}

			// Nested writes commit or roll back with the outer transaction.
			wantFound := tt.want == nil
			for _, name := range []string{outer, inner} {
				_, err := s.ProductByName(ctx, name)
				found := err == nil
				if found != wantFound || !found && !errors.Is(err, core.ErrNotFound) {
					t.Errorf("ProductByName(%q) = %v, want found %t", name, err, wantFound)
				}
			}
		})
	}
}

func testTimeRoundTrip(t *testing.T, s core.Store) {
	tests := []struct {
		name string
		in   time.Time
	}{
		{"Zero", time.Time{}},
		{"SubMillisecond", time.Date(2026, 3, 14, 15, 9, 26, 535_897_932, time.UTC)},
		{"OtherZone", time.Date(2026, 3, 14, 20, 39, 26, 535_000_000, time.FixedZone("IST", 19800))},
		{"FarFuture", time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		{"Before1970", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p := core.Product{Name: fmt.Sprintf("p%d", i), Access: core.AccessPublic, CreatedAt: tt.in}
			if err := s.CreateProduct(ctx, &p); err != nil {
				t.Fatalf("CreateProduct(%q) = %v, want nil", p.Name, err)
			}
			got, err := s.ProductByName(ctx, p.Name)
			if err != nil {
				t.Fatalf("ProductByName(%q) = %v, want nil", p.Name, err)
			}

			// The contract promises the millisecond; a store may keep more.
			diff := got.CreatedAt.Sub(tt.in).Abs()
			if got.CreatedAt.IsZero() != tt.in.IsZero() || diff >= time.Millisecond {
				t.Errorf("ProductByName(%q).CreatedAt = %v, want %v to the millisecond",
					p.Name, got.CreatedAt, tt.in)
			}
		})
	}
}

func testAttributesRoundTrip(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("key-%02d", i)] = strings.Repeat("v", i)
	}
	tests := []struct {
		name string
		in   map[string]string
	}{
		{"Nil", nil},
		{"Empty", map[string]string{}},
		{"One", map[string]string{"battery_mv": "3712"}},
		{"Awkward", map[string]string{
			"quote":   `say "hi"` + "\n\t\\",
			"unicode": "Grüße, 世界 ✓",
			"":        "empty key",
			"empty":   "",
		}},
		{"Many", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			d := core.Device{ProductID: p.ID, Name: "dev-" + tt.name, Attributes: tt.in}
			if err := s.CreateDevice(ctx, &d); err != nil {
				t.Fatalf("CreateDevice(%q) = %v, want nil", d.Name, err)
			}
			got, err := s.Device(ctx, p.ID, d.Name)
			if err != nil || !same(got, d, normDevice) {
				t.Errorf("Device(%d, %q).Attributes = %q, %v, want %q, nil",
					p.ID, d.Name, got.Attributes, err, tt.in)
			}
		})
	}
}
