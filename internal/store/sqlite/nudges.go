package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// SetNudgeConfig implements core.Store. It returns an error wrapping
// ErrNotFound if the product does not exist.
func (s *Store) SetNudgeConfig(ctx context.Context, c core.NudgeConfig) error {
	op := fmt.Sprintf("set nudge of product %d", c.ProductID)
	headers, err := encodeList(c.Headers, "nudge headers")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	triggers, err := encodeList(c.Triggers, "nudge triggers")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = s.q.ExecContext(ctx, `INSERT INTO nudge_configs (product_id, url, method, headers, body,
		secret, per_device, per_device_window, per_minute, max_attempts, backoff_base, backoff_cap,
		triggers, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (product_id) DO UPDATE
		SET url = excluded.url, method = excluded.method, headers = excluded.headers,
			body = excluded.body, secret = excluded.secret, per_device = excluded.per_device,
			per_device_window = excluded.per_device_window, per_minute = excluded.per_minute,
			max_attempts = excluded.max_attempts, backoff_base = excluded.backoff_base,
			backoff_cap = excluded.backoff_cap, triggers = excluded.triggers,
			updated_at = excluded.updated_at`,
		c.ProductID, c.URL, c.Method, headers, c.Body, c.Secret, c.PerDevice,
		c.PerDeviceWindow.Milliseconds(), c.PerMinute, c.MaxAttempts, c.BackoffBase.Milliseconds(),
		c.BackoffCap.Milliseconds(), triggers, millis(c.UpdatedAt))
	if err != nil {
		return wrapErr(err, op)
	}
	return nil
}

// NudgeConfig implements core.Store.
func (s *Store) NudgeConfig(ctx context.Context, productID int64) (core.NudgeConfig, error) {
	op := fmt.Sprintf("nudge of product %d", productID)
	var (
		c                  core.NudgeConfig
		headers, triggers  string
		window, base, capd int64
		updated            int64
	)
	err := s.q.QueryRowContext(ctx, `SELECT product_id, url, method, headers, body, secret,
		per_device, per_device_window, per_minute, max_attempts, backoff_base, backoff_cap,
		triggers, updated_at
		FROM nudge_configs WHERE product_id = ?`, productID).Scan(&c.ProductID, &c.URL, &c.Method,
		&headers, &c.Body, &c.Secret, &c.PerDevice, &window, &c.PerMinute, &c.MaxAttempts, &base,
		&capd, &triggers, &updated)
	if err != nil {
		return core.NudgeConfig{}, wrapErr(err, op)
	}
	if c.Headers, err = decodeList[core.NudgeHeader](headers, "nudge headers"); err != nil {
		return core.NudgeConfig{}, fmt.Errorf("%s: %w", op, err)
	}
	if c.Triggers, err = decodeList[core.NudgeTrigger](triggers, "nudge triggers"); err != nil {
		return core.NudgeConfig{}, fmt.Errorf("%s: %w", op, err)
	}
	c.PerDeviceWindow, c.BackoffBase, c.BackoffCap = fromMS(window), fromMS(base), fromMS(capd)
	c.UpdatedAt = fromMillis(updated)
	return c, nil
}

// DeleteNudgeConfig implements core.Store.
func (s *Store) DeleteNudgeConfig(ctx context.Context, productID int64) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM nudge_configs WHERE product_id = ?`, productID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("delete nudge of product %d", productID))
	}
	return nil
}

const nudgeColumns = `id, product_id, device_id, device, trigger, command_id, data, state, reason,
	attempts, next_at, last_status, last_error, created_at, finished_at`

// AddNudge implements core.Store.
func (s *Store) AddNudge(ctx context.Context, n *core.Nudge) error {
	// The data column is NOT NULL, and the driver stores a nil slice as NULL.
	data := n.Data
	if data == nil {
		data = []byte{}
	}
	err := s.q.QueryRowContext(ctx, `INSERT INTO nudges (product_id, device_id, device, trigger,
		command_id, data, state, reason, attempts, next_at, last_status, last_error, created_at,
		finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		n.ProductID, n.DeviceID, n.Device, n.Trigger, n.CommandID, data, n.State, n.Reason,
		n.Attempts, millis(n.NextAt), n.LastStatus, n.LastError, millis(n.CreatedAt),
		millis(n.FinishedAt)).Scan(&n.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("add nudge of device %d", n.DeviceID))
	}
	return nil
}

// CountNudges implements core.Store.
func (s *Store) CountNudges(ctx context.Context, productID, deviceID int64, since time.Time) (int, error) {
	var n int
	var err error
	if deviceID != 0 {
		err = s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM nudges
			WHERE device_id = ? AND created_at >= ? AND state != 'suppressed'`,
			deviceID, millis(since)).Scan(&n)
	} else {
		err = s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM nudges
			WHERE product_id = ? AND created_at >= ? AND state != 'suppressed'`,
			productID, millis(since)).Scan(&n)
	}
	if err != nil {
		return 0, wrapErr(err, fmt.Sprintf("count nudges of product %d", productID))
	}
	return n, nil
}

// Nudge implements core.Store.
func (s *Store) Nudge(ctx context.Context, id int64) (core.Nudge, error) {
	n, err := scanNudge(s.q.QueryRowContext(ctx, `SELECT `+nudgeColumns+` FROM nudges WHERE id = ?`, id))
	if err != nil {
		return core.Nudge{}, wrapErr(err, fmt.Sprintf("nudge %d", id))
	}
	return n, nil
}

// DueNudges implements core.Store. A limit of zero or less means 1000.
func (s *Store) DueNudges(ctx context.Context, now time.Time, limit int) ([]core.Nudge, error) {
	if limit <= 0 {
		limit = defaultDeliveryLimit
	}
	ns, err := list(ctx, s.q, scanNudge, `SELECT `+nudgeColumns+` FROM nudges
		WHERE state = 'queued' AND next_at <= ? ORDER BY next_at, id LIMIT ?`, millis(now), limit)
	if err != nil {
		return nil, wrapErr(err, "list due nudges")
	}
	return ns, nil
}

// SaveNudge implements core.Store.
func (s *Store) SaveNudge(ctx context.Context, n core.Nudge) error {
	op := fmt.Sprintf("save nudge %d", n.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE nudges
		SET state = ?, reason = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?,
			finished_at = ?
		WHERE id = ?`,
		n.State, n.Reason, n.Attempts, millis(n.NextAt), n.LastStatus, n.LastError,
		millis(n.FinishedAt), n.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// AddNudgeAttempt implements core.Store.
func (s *Store) AddNudgeAttempt(ctx context.Context, a *core.NudgeAttempt) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO nudge_attempts (nudge_id, at, status, error,
		latency_us) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		a.NudgeID, millis(a.At), a.Status, a.Error, a.Latency.Microseconds()).Scan(&a.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("add attempt of nudge %d", a.NudgeID))
	}
	return nil
}

// NudgeAttempts implements core.Store.
func (s *Store) NudgeAttempts(ctx context.Context, nudgeID int64) ([]core.NudgeAttempt, error) {
	as, err := list(ctx, s.q, func(sc scanner) (core.NudgeAttempt, error) {
		var a core.NudgeAttempt
		var at, us int64
		err := sc.Scan(&a.ID, &a.NudgeID, &at, &a.Status, &a.Error, &us)
		a.At, a.Latency = fromMillis(at), time.Duration(us)*time.Microsecond
		return a, err
	}, `SELECT id, nudge_id, at, status, error, latency_us FROM nudge_attempts
		WHERE nudge_id = ? ORDER BY id`, nudgeID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list attempts of nudge %d", nudgeID))
	}
	return as, nil
}

// Nudges implements core.Store. Newest means the latest CreatedAt, then the
// highest ID, the order the nudges_product and nudges_device indexes keep
// (SQLite indexes end with the row ID). A limit of zero or less means 1000.
func (s *Store) Nudges(ctx context.Context, f core.NudgeFilter) ([]core.Nudge, error) {
	if f.Limit <= 0 {
		f.Limit = defaultDeliveryLimit
	}
	query, arg := `SELECT `+nudgeColumns+` FROM nudges WHERE product_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, f.ProductID
	if f.DeviceID != 0 {
		query, arg = `SELECT `+nudgeColumns+` FROM nudges WHERE device_id = ?
			ORDER BY created_at DESC, id DESC LIMIT ?`, f.DeviceID
	}
	ns, err := list(ctx, s.q, scanNudge, query, arg, f.Limit)
	if err != nil {
		return nil, wrapErr(err, "list nudges")
	}
	return ns, nil
}

func scanNudge(sc scanner) (core.Nudge, error) {
	var n core.Nudge
	var next, created, finished int64
	err := sc.Scan(&n.ID, &n.ProductID, &n.DeviceID, &n.Device, &n.Trigger, &n.CommandID, &n.Data,
		&n.State, &n.Reason, &n.Attempts, &next, &n.LastStatus, &n.LastError, &created, &finished)
	n.NextAt, n.CreatedAt, n.FinishedAt = fromMillis(next), fromMillis(created), fromMillis(finished)
	return n, err
}
