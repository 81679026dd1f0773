// Package sqlite is the embedded core.Store: Ferry's metadata in one SQLite
// file, through the pure Go driver modernc.org/sqlite, so the server needs
// no cgo and no database service.
//
// The database runs in WAL mode so readers never wait for the writer, and
// every transaction begins IMMEDIATE so writers queue on the busy timeout
// instead of failing when two of them race to upgrade a read lock.
//
// Times are stored as INTEGER unix milliseconds in UTC; the zero time.Time
// is stored as 0 and read back as the zero time.Time, so the instant of the
// Unix epoch itself cannot be stored. Durations are INTEGER milliseconds.
// Device attributes and tags, and a rollout's selector, phases and
// thresholds, are stored as JSON text. The schema is created by the numbered, append-only migrations in
// migrations/, which Open applies.
package sqlite
