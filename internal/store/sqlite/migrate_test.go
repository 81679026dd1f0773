package sqlite

import (
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// TestMigration0002OnOldData builds a database at version 1, fills it as a
// released server would have, and checks that opening it applies 0002
// without losing a row, and that the old rows read back with the new
// fields at their zero values and take the new writes.
func TestMigration0002OnOldData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ferry.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations() = %v, want nil", err)
	}

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatalf("sql.Open(%q) = %v, want nil", path, err)
	}
	if err := applyMigrations(ctx, db, slog.New(slog.DiscardHandler), ms[:1]); err != nil {
		t.Fatalf("applyMigrations(0001) = %v, want nil", err)
	}
	for _, stmt := range version1Rows {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("insert version 1 row: %v\n%s", err, stmt)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close version 1 database: %v", err)
	}

	s := openTest(t, path, nil)
	var version int
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).
		Scan(&version); err != nil || version != len(ms) {
		t.Fatalf("schema version after Open = %d, %v, want %d, nil", version, err, len(ms))
	}
	checkVersion1Rows(t, s)
}

// version1Rows is what a server at schema version 1 stored: a product with
// a release on its channel, a device with a finished and an open update,
// an event and a token. Times are unix milliseconds.
var version1Rows = []string{
	`INSERT INTO products (id, name, access, key_hash, created_at)
		VALUES (1, 'widget', 'public', '', 1773500000000)`,
	`INSERT INTO releases (id, product_id, version, size, crc32, md5, sha256, notes, created_at)
		VALUES (1, 1, '1.1', 4096, 1, 'md5', 'sha', 'first', 1773500060000)`,
	`INSERT INTO channels (product_id, name, release_id, updated_at)
		VALUES (1, 'stable', 1, 1773500060000)`,
	`INSERT INTO devices (id, product_id, name, channel, version, image_sha256, attributes,
		first_seen, last_seen, bytes_served)
		VALUES (1, 1, 'dev-1', 'stable', '1.0', 'img', '{"board":"rev-b"}',
		1773500000000, 1773500120000, 2048)`,
	`INSERT INTO updates (id, device_id, release_id, version, from_version, state, reason,
		progress, created_at, updated_at, finished_at)
		VALUES (1, 1, 1, '1.1', '1.0', 'failed', 'checksum mismatch', 100,
		1773500060000, 1773500070000, 1773500070000)`,
	`INSERT INTO updates (id, device_id, release_id, version, from_version, state,
		progress, created_at, updated_at)
		VALUES (2, 1, 1, '1.1', '1.0', 'downloading', 512, 1773500080000, 1773500090000)`,
	`INSERT INTO events (id, device_id, update_id, at, kind)
		VALUES (1, 1, 2, 1773500080000, 'offer')`,
	`INSERT INTO tokens (id, name, role, hash, created_at)
		VALUES (1, 'ci', 'admin', 'hash', 1773500000000)`,
}

func checkVersion1Rows(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	p, err := s.ProductByName(ctx, "widget")
	if err != nil || p.ID != 1 || p.PollIdle != 0 || p.PollActive != 0 {
		t.Errorf("ProductByName(%q) = %+v, %v, want ID 1 with default polls, nil", "widget", p, err)
	}

	d, err := s.Device(ctx, 1, "dev-1")
	if err != nil {
		t.Fatalf("Device(1, %q) = %v, want nil", "dev-1", err)
	}
	if d.BytesServed != 2048 || d.Attributes["board"] != "rev-b" || d.Tags != nil ||
		d.PinnedReleaseID != 0 || d.Excluded || d.Poll != 0 ||
		d.AssignedReleaseID != 0 || d.AssignedRolloutID != 0 || !d.AssignedAt.IsZero() {
		t.Errorf("Device(1, %q) = %+v, want version 1 fields kept and new ones zero", "dev-1", d)
	}

	open, err := s.OpenUpdate(ctx, d.ID)
	if err != nil || open.ID != 2 || open.Progress != 512 || open.RolloutID != 0 || open.Served != 0 {
		t.Errorf("OpenUpdate(%d) = %+v, %v, want update 2 with no rollout or served bytes, nil",
			d.ID, open, err)
	}
	if tk, err := s.TokenByHash(ctx, "hash"); err != nil || tk.Name != "ci" {
		t.Errorf("TokenByHash(%q) = %+v, %v, want token ci, nil", "hash", tk, err)
	}

	// The old rows take part in the new features: a rollout of the old
	// release, the device assigned to it, its open update served bytes.
	r := core.Rollout{ProductID: 1, ReleaseID: 1, Version: "1.1", State: core.RolloutRunning,
		CreatedAt: time.UnixMilli(1773500100000).UTC()}
	if err := s.CreateRollout(ctx, &r); err != nil {
		t.Fatalf("CreateRollout(release 1) = %v, want nil", err)
	}
	d.Tags, d.AssignedReleaseID, d.AssignedRolloutID = []string{"lab"}, 1, r.ID
	if err := s.SaveDevice(ctx, d); err != nil {
		t.Errorf("SaveDevice(%+v) = %v, want nil", d, err)
	}
	if err := s.TouchDevices(ctx, map[int64]core.Touch{d.ID: {Bytes: 10, ReleaseID: 1}}); err != nil {
		t.Errorf("TouchDevices() = %v, want nil", err)
	}
	if u, err := s.Update(ctx, 2); err != nil || u.Served != 10 {
		t.Errorf("Update(2).Served after a touch = %d, %v, want 10, nil", u.Served, err)
	}
	if u, err := s.Update(ctx, 1); err != nil || u.Served != 0 || u.State != core.StateFailed {
		t.Errorf("Update(1) = %+v, %v, want failed with nothing served, nil", u, err)
	}
}

// TestQueryPlans checks that each hot query of the tables and columns that
// 0002 added is served by an index, not by a scan of the table. The
// queries have the shape of the store's; the partial-index conditions are
// the very constants the store uses.
func TestQueryPlans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "ferry.db"), nil)
	tests := []struct {
		name  string
		query string
		index string
	}{
		{"Rollouts", `SELECT * FROM rollouts WHERE product_id = 1 ORDER BY id DESC`,
			"rollouts_product"},
		{"ActiveRollout", `SELECT * FROM rollouts WHERE product_id = 1 AND ` + activeRollout,
			"rollouts_one_active"},
		{"RolloutUpdates", `SELECT * FROM updates WHERE rollout_id = 1 ORDER BY created_at, id`,
			"updates_rollout"},
		{"RolloutOpen", `SELECT COUNT(*) FROM updates WHERE rollout_id = 1 AND ` + openUpdate,
			"updates_rollout_open"},
		{"RolloutRecent", `SELECT COUNT(*) FROM updates WHERE rollout_id = 1 AND created_at >= 5`,
			"updates_rollout"},
		{"AuditAll", `SELECT * FROM audit WHERE at >= 5 ORDER BY at DESC, id DESC LIMIT 10`,
			"audit_at"},
		{"AuditProduct", `SELECT * FROM audit WHERE product = 'widget' ORDER BY at DESC, id DESC LIMIT 10`,
			"audit_product"},
		{"DueDeliveries", `SELECT * FROM deliveries WHERE delivered_at = 0 AND next_at <= 5
			ORDER BY next_at, id LIMIT 10`, "deliveries_due"},
		{"Deliveries", `SELECT * FROM deliveries WHERE product_id = 1 ORDER BY id DESC LIMIT 10`,
			"deliveries_product"},
		{"ProductDevices", `SELECT * FROM devices WHERE product_id = 1 ORDER BY name`,
			"sqlite_autoindex_devices"},
		{"Commands", `SELECT * FROM commands WHERE device_id = 1 ORDER BY id DESC LIMIT 10`,
			"commands_device"},
		{"OpenCommands", `SELECT * FROM commands WHERE device_id = 1 AND finished_at = 0 ORDER BY id`,
			"commands_device"},
		{"DueCommands", `SELECT * FROM commands WHERE finished_at = 0 AND expires_at <= 5
			ORDER BY expires_at, id LIMIT 10`, "commands_due"},
		{"CommandEvents", `SELECT * FROM command_events WHERE command_id = 1 ORDER BY at, id`,
			"command_events_command"},
		{"DueNudges", `SELECT * FROM nudges WHERE state = 'queued' AND next_at <= 5
			ORDER BY next_at, id LIMIT 10`, "nudges_due"},
		{"NudgesProduct", `SELECT * FROM nudges WHERE product_id = 1
			ORDER BY created_at DESC, id DESC LIMIT 10`, "nudges_product"},
		{"NudgesDevice", `SELECT * FROM nudges WHERE device_id = 1
			ORDER BY created_at DESC, id DESC LIMIT 10`, "nudges_device"},
		{"CountNudgesDevice", `SELECT COUNT(*) FROM nudges WHERE device_id = 1 AND created_at >= 5
			AND state != 'suppressed'`, "nudges_device"},
		{"CountNudgesProduct", `SELECT COUNT(*) FROM nudges WHERE product_id = 1 AND created_at >= 5
			AND state != 'suppressed'`, "nudges_product"},
		{"NudgeAttempts", `SELECT * FROM nudge_attempts WHERE nudge_id = 1 ORDER BY id`,
			"nudge_attempts_nudge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := queryPlan(t, s.db, tt.query)
			if err != nil {
				t.Fatalf("EXPLAIN QUERY PLAN %s = %v, want nil", tt.query, err)
			}
			if !strings.Contains(plan, "INDEX "+tt.index) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of %s =\n%s\nwant it to use index %s and sort nothing",
					tt.query, plan, tt.index)
			}
		})
	}
}

// queryPlan returns the detail lines of query's plan, one a line.
func queryPlan(t testing.TB, db *sql.DB, query string) (_ string, err error) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query)
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()

	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// TestMigration0004OnOldData builds a database at version 3 with a
// released server's rows and checks that 0004 applies on it: the old
// device has no commands and takes new ones with their history.
func TestMigration0004OnOldData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ferry.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations() = %v, want nil", err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatalf("sql.Open(%q) = %v, want nil", path, err)
	}
	if err := applyMigrations(ctx, db, slog.New(slog.DiscardHandler), ms[:3]); err != nil {
		t.Fatalf("applyMigrations(0001-0003) = %v, want nil", err)
	}
	for _, stmt := range version1Rows {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("insert version 3 row: %v\n%s", err, stmt)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close version 3 database: %v", err)
	}

	s := openTest(t, path, nil)
	checkVersion1Rows(t, s)
	if cs, err := s.Commands(ctx, 1, 0); err != nil || len(cs) != 0 {
		t.Errorf("Commands(1) after 0004 = %+v, %v, want none, nil", cs, err)
	}
	c := core.Command{DeviceID: 1, Name: "reboot", State: core.CommandQueued,
		CreatedAt: time.UnixMilli(1773500200000).UTC(), ExpiresAt: time.UnixMilli(1773500300000).UTC()}
	if err := s.CreateCommand(ctx, &c); err != nil {
		t.Fatalf("CreateCommand(device 1) after 0004 = %v, want nil", err)
	}
	e := core.CommandEvent{CommandID: c.ID, At: c.CreatedAt, Kind: core.CommandEventQueued}
	if err := s.AddCommandEvent(ctx, &e); err != nil {
		t.Fatalf("AddCommandEvent(command %d) = %v, want nil", c.ID, err)
	}
	got, err := s.Command(ctx, c.ID)
	if err != nil || got.Device != "dev-1" || got.ProductID != 1 || got.State != core.CommandQueued {
		t.Errorf("Command(%d) = %+v, %v, want dev-1 of product 1, queued", c.ID, got, err)
	}
}

// TestMigration0006OnOldData builds a database at version 5, fills it as a
// released server would have, and checks that 0006 keeps every row, that
// old releases read back without a SHA-1 and old updates with no pending
// cancel, and that both take the new writes.
func TestMigration0006OnOldData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ferry.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations() = %v, want nil", err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatalf("sql.Open(%q) = %v, want nil", path, err)
	}
	if err := applyMigrations(ctx, db, slog.New(slog.DiscardHandler), ms[:5]); err != nil {
		t.Fatalf("applyMigrations(0001-0005) = %v, want nil", err)
	}
	for _, stmt := range version1Rows {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("insert version 5 row: %v\n%s", err, stmt)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close version 5 database: %v", err)
	}

	s := openTest(t, path, nil)
	checkVersion1Rows(t, s)
	if r, err := s.Release(ctx, 1); err != nil || r.SHA1 != "" {
		t.Errorf("Release(1) after 0006 = SHA1 %q, %v, want none, nil", r.SHA1, err)
	}
	if err := s.SetReleaseSHA1(ctx, 1, strings.Repeat("a", 40)); err != nil {
		t.Fatalf("SetReleaseSHA1(1) after 0006 = %v, want nil", err)
	}
	if r, err := s.Release(ctx, 1); err != nil || r.SHA1 != strings.Repeat("a", 40) {
		t.Errorf("Release(1) after SetReleaseSHA1 = SHA1 %q, %v, want %q", r.SHA1, err, strings.Repeat("a", 40))
	}
	u, err := s.Update(ctx, 1)
	if err != nil || u.CancelPending {
		t.Fatalf("Update(1) after 0006 = CancelPending %v, %v, want false, nil", u.CancelPending, err)
	}
	u.CancelPending = true
	if err := s.SaveUpdate(ctx, u); err != nil {
		t.Fatalf("SaveUpdate(1) = %v, want nil", err)
	}
	if got, err := s.Update(ctx, 1); err != nil || !got.CancelPending {
		t.Errorf("Update(1) after saving a pending cancel = CancelPending %v, %v, want true, nil",
			got.CancelPending, err)
	}
}

// TestMigration0007OnOldData opens a database at version 6 that has a
// product and a device, and checks that 0007 lets them take nudges.
func TestMigration0007OnOldData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ferry.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations() = %v, want nil", err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatalf("sql.Open(%q) = %v, want nil", path, err)
	}
	if err := applyMigrations(ctx, db, slog.New(slog.DiscardHandler), ms[:6]); err != nil {
		t.Fatalf("applyMigrations(0001-0006) = %v, want nil", err)
	}
	for _, stmt := range version1Rows[:4] {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("insert version 6 row: %v\n%s", err, stmt)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close version 6 database: %v", err)
	}

	s := openTest(t, path, nil)
	c := core.NudgeConfig{ProductID: 1, URL: "https://a.example/sms", Method: "POST", PerDevice: 1,
		PerDeviceWindow: time.Minute, PerMinute: 1, MaxAttempts: 1, BackoffBase: time.Second,
		BackoffCap: time.Second}
	if err := s.SetNudgeConfig(ctx, c); err != nil {
		t.Errorf("SetNudgeConfig(product 1) = %v, want nil", err)
	}
	n := core.Nudge{ProductID: 1, DeviceID: 1, Device: "dev-1", Trigger: core.TriggerUrgentCommand,
		Data: []byte("{}"), State: core.NudgeQueued, CreatedAt: time.UnixMilli(1773500200000)}
	if err := s.AddNudge(ctx, &n); err != nil {
		t.Fatalf("AddNudge(device 1) = %v, want nil", err)
	}
	if got, err := s.CountNudges(ctx, 1, 1, time.UnixMilli(1773500000000)); err != nil || got != 1 {
		t.Errorf("CountNudges(1, 1) = %d, %v, want 1, nil", got, err)
	}
}
