package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ferry-ota/ferry/internal/core"
)

// busyTimeout is how long a writer waits for the write lock before giving
// up with SQLITE_BUSY. Transactions are short, so reaching it means the
// database is stuck rather than merely busy.
const busyTimeout = 10 * time.Second

// Store is a core.Store kept in one SQLite database file.
type Store struct {
	db *sql.DB
	// q is db outside a transaction and the *sql.Tx inside one, so that
	// every method runs unchanged in both.
	q    querier
	inTx bool
}

var _ core.Store = (*Store)(nil)

// querier is what *sql.DB and *sql.Tx have in common that the store uses.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// Open opens the database at path, creating the file if needed, and applies
// any migrations it lacks, logging each one to logger. A nil logger logs
// nothing. The caller must Close the Store.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The driver takes everything after the first '?' as its own options.
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("open database %q: %w: path must be non-empty and contain no '?'",
			path, core.ErrInvalid)
	}

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	// One connection: SQLite lets one writer in at a time anyway, and with
	// several connections the others wait in the driver's busy loop, which
	// under a burst of check-ins gives up with SQLITE_BUSY. With one, they
	// queue fairly in database/sql instead, bounded by their contexts.
	// Callers must therefore never use the Store outside a transaction from
	// inside Tx's fn: that would wait for the connection fn holds.
	//
	// TODO(sqlite): reads queue behind writes too. A second, read-only pool
	// for lookups outside transactions would let listings and status pages
	// run beside check-ins; it matters once a fleet's check-ins keep the
	// one connection busy.
	db.SetMaxOpenConns(1)

	if err := migrate(ctx, db, logger); err != nil {
		// The migration error matters; a close error on top of it would not.
		_ = db.Close()
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	return &Store{db: db, q: db}, nil
}

// dsn is the driver's name for the database at path with our pragmas.
// Pragmas go in the DSN because the driver applies them to every new
// connection of the pool, not just the first.
func dsn(path string) string {
	opts := url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
			"foreign_keys(on)",
			"journal_mode(WAL)",
			// FULL: a commit is on disk before the device hears "ok", even
			// across a power cut, as DESIGN.md promises for status reports.
			// Hot-path writes are batched, so the fsync it costs is paid
			// per report and decision, not per idle check-in.
			"synchronous(FULL)",
		},
		"_txlock": {"immediate"},
	}
	return path + "?" + opts.Encode()
}

// Close closes the database. Calls made after Close fail.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Tx implements core.Store. Nested calls reuse the transaction without a
// savepoint: if an inner fn fails and the outer fn ignores that error, the
// inner fn's writes up to its failure are committed with the rest.
func (s *Store) Tx(ctx context.Context, fn func(core.Store) error) error {
	return s.tx(ctx, func(ts *Store) error { return fn(ts) })
}

// tx is Tx for the store's own multi-statement writes.
func (s *Store) tx(ctx context.Context, fn func(*Store) error) error {
	if s.inTx {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Rolling back after a commit is a no-op; the deferred call only
	// matters when fn fails or panics, and then fn's outcome is what the
	// caller needs, not the rollback's.
	defer func() { _ = tx.Rollback() }()

	if err := fn(&Store{db: s.db, q: tx, inTx: true}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// wrapErr names the operation in err and maps what the driver reports to
// core's sentinels: no rows and a missing referenced row become ErrNotFound,
// a taken unique key becomes ErrConflict.
func wrapErr(err error, op string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, core.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", op, core.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: referenced row: %w", op, core.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// mustAffect turns an UPDATE that matched no row into ErrNotFound.
func mustAffect(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, core.ErrNotFound)
	}
	return nil
}

// list runs a query and scans every row with scan. It never returns a nil
// slice, so that empty lists encode as [] rather than null.
func list[T any](
	ctx context.Context,
	q querier,
	scan func(scanner) (T, error),
	query string,
	args ...any,
) (_ []T, err error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// millis encodes t for an INTEGER column; see the package comment.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis decodes what millis encoded.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// fromMS decodes a duration stored as INTEGER milliseconds with
// time.Duration.Milliseconds, which drops finer precision.
func fromMS(ms int64) time.Duration {
	return time.Duration(ms) * time.Millisecond
}

// nullID stores the ID 0, which means "none", as NULL so that the column's
// foreign key is not checked.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// encodeAttributes stores a nil or empty map as "{}".
func encodeAttributes(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

// decodeAttributes reads an empty object back as a nil map.
func decodeAttributes(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	if len(m) == 0 {
		m = nil
	}
	return m, nil
}

// encodeList stores a nil or empty slice as "[]" rather than "null", so a
// column never holds two spellings of "none". what names the list in errors.
func encodeList[T any](xs []T, what string) (string, error) {
	if len(xs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(xs)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", what, err)
	}
	return string(b), nil
}

// decodeList reads an empty array back as a nil slice.
func decodeList[T any](s, what string) ([]T, error) {
	var xs []T
	if err := json.Unmarshal([]byte(s), &xs); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	if len(xs) == 0 {
		xs = nil
	}
	return xs, nil
}
