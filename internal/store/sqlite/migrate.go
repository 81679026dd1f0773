package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema history. Files are named NNNN_what.sql,
// numbered from 0001 without gaps, and never edited once released: a
// database that applied a file keeps what it applied, so a change needs a
// new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}

	// Glob sorts names, and zero-padded numbers sort as numbers do.
	var ms []migration
	for i, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want number %04d", base, i+1)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the migrations db lacks, each in its own transaction that
// also records its version, so a failure leaves the schema at the last
// version that applied in full.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return applyMigrations(ctx, db, logger, ms)
}

// applyMigrations is migrate with the migrations given, so that a test can
// build a database at an older version by passing a prefix of them.
func applyMigrations(ctx context.Context, db *sql.DB, logger *slog.Logger, ms []migration) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}

	// A database migrated by a newer binary has tables this one does not
	// know how to keep consistent.
	var current int
	err = db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).
		Scan(&current)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("schema version %d is newer than this program's %d", current, len(ms))
	}

	for _, m := range ms[current:] {
		applied, err := applyMigration(ctx, db, m)
		if err != nil {
			return err
		}
		if applied {
			logger.InfoContext(ctx, "migration applied", "version", m.version, "name", m.name)
		}
	}
	return nil
}

// applyMigration runs m unless the database already has it. It checks again
// inside the transaction because another process may have migrated the same
// file since the version was read; the immediate transaction makes the
// check and the change one step.
func applyMigration(ctx context.Context, db *sql.DB, m migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	// A no-op after Commit; otherwise it undoes the partial migration.
	defer func() { _ = tx.Rollback() }()

	var n int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`,
		m.version).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("migration %s: check version: %w", m.name, err)
	}
	if n > 0 {
		return false, nil
	}

	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("migration %s: record version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return true, nil
}
