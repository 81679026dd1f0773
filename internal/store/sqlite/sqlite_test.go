package sqlite

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/core/coretest"
)

func openTest(t testing.TB, path string, logger *slog.Logger) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, logger)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

func TestStoreSuite(t *testing.T) {
	coretest.StoreSuite(t, func(t *testing.T) core.Store {
		return openTest(t, filepath.Join(t.TempDir(), "ferry.db"), nil)
	})
}

func TestOpenPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "ferry.db"), nil)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
	}
	for _, tt := range tests {
		var got string
		err := s.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got)
		if err != nil || got != tt.want {
			t.Errorf("PRAGMA %s = %q, %v, want %q, nil", tt.pragma, got, err, tt.want)
		}
	}
}

func TestMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations() = %v, want nil", err)
	}
	path := filepath.Join(t.TempDir(), "ferry.db")

	// The first open applies every migration and logs each; the second
	// finds nothing to do.
	tests := []struct {
		name     string
		wantLogs int
	}{
		{"Empty", len(ms)},
		{"Reopen", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := Open(t.Context(), path, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Open(%q) = %v, want nil", path, err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v, want nil", err)
				}
			}()

			if got := strings.Count(logs.String(), "migration applied"); got != tt.wantLogs {
				t.Errorf("Open(%q) logged %d migrations, want %d:\n%s",
					path, got, tt.wantLogs, logs.String())
			}
			var version, rows int
			err = s.db.QueryRowContext(t.Context(),
				`SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&version, &rows)
			if err != nil || version != len(ms) || rows != len(ms) {
				t.Errorf("schema_migrations max, count = %d, %d, %v, want %d, %d, nil",
					version, rows, err, len(ms), len(ms))
			}
		})
	}
}

func TestMigrationsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.db")
	s := openTest(t, path, nil)
	_, err := s.db.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`)
	if err != nil {
		t.Fatalf("record a future version: %v", err)
	}

	if s2, err := Open(t.Context(), path, nil); err == nil {
		_ = s2.Close()
		t.Errorf("Open(%q) of a newer schema = nil error, want one", path)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "x.db?_pragma=foo")} {
		if s, err := Open(t.Context(), path, nil); !errors.Is(err, core.ErrInvalid) {
			if err == nil {
				_ = s.Close()
			}
			t.Errorf("Open(%q) = %v, want %v", path, err, core.ErrInvalid)
		}
	}
}

// TestConcurrentTx checks that writers queue rather than fail: every
// goroutine reads a counter and writes it back incremented, which loses
// increments unless transactions serialise, and fails with SQLITE_BUSY
// unless they wait for the lock.
func TestConcurrentTx(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ferry.db"), nil)
	p := core.Product{Name: "widget", Access: core.AccessPublic}
	if err := s.CreateProduct(ctx, &p); err != nil {
		t.Fatalf("CreateProduct() = %v, want nil", err)
	}
	d := core.Device{ProductID: p.ID, Name: "dev-1", Attributes: map[string]string{"n": "0"}}
	if err := s.CreateDevice(ctx, &d); err != nil {
		t.Fatalf("CreateDevice() = %v, want nil", err)
	}

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for range workers {
		wg.Go(func() {
			for range rounds {
				errs <- s.Tx(ctx, func(tx core.Store) error {
					return increment(ctx, tx, p.ID)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Tx(increment) = %v, want nil", err)
		}
	}

	got, err := s.Device(ctx, p.ID, "dev-1")
	if want := strconv.Itoa(workers * rounds); err != nil || got.Attributes["n"] != want {
		t.Errorf("Device() counter = %q, %v, want %q, nil", got.Attributes["n"], err, want)
	}
}

// increment adds one to the counter kept in dev-1's attributes.
func increment(ctx context.Context, tx core.Store, productID int64) error {
	d, err := tx.Device(ctx, productID, "dev-1")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(d.Attributes["n"])
	if err != nil {
		return err
	}
	d.Attributes["n"] = strconv.Itoa(n + 1)
	return tx.SaveDevice(ctx, d)
}
