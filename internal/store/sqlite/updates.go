package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// rollout_id is NULL for a channel offer (RolloutID 0).
const updateColumns = `id, device_id, release_id, version, from_version, state, reason,
	progress, created_at, updated_at, finished_at, served, COALESCE(rollout_id, 0), cancel_pending`

// latestUpdateColumns are updateColumns of the update LEFT JOINed as u,
// with zero values where the device has no update.
const latestUpdateColumns = `COALESCE(u.id, 0), COALESCE(u.device_id, 0),
	COALESCE(u.release_id, 0), COALESCE(u.version, ''), COALESCE(u.from_version, ''),
	COALESCE(u.state, ''), COALESCE(u.reason, ''), COALESCE(u.progress, 0),
	COALESCE(u.created_at, 0), COALESCE(u.updated_at, 0), COALESCE(u.finished_at, 0),
	COALESCE(u.served, 0), COALESCE(u.rollout_id, 0), COALESCE(u.cancel_pending, 0)`

// CreateUpdate implements core.Store. It returns an error wrapping
// ErrNotFound if the device, the release or the rollout does not exist.
func (s *Store) CreateUpdate(ctx context.Context, u *core.Update) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO updates (device_id, release_id, version,
		from_version, state, reason, progress, created_at, updated_at, finished_at,
		served, rollout_id, cancel_pending)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.DeviceID, u.ReleaseID, u.Version, u.FromVersion, u.State, u.Reason, u.Progress,
		millis(u.CreatedAt), millis(u.UpdatedAt), millis(u.FinishedAt),
		u.Served, nullID(u.RolloutID), u.CancelPending).Scan(&u.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create update of device %d to release %d",
			u.DeviceID, u.ReleaseID))
	}
	return nil
}

// Update implements core.Store.
func (s *Store) Update(ctx context.Context, id int64) (core.Update, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+updateColumns+` FROM updates WHERE id = ?`, id)
	u, err := scanUpdate(row)
	if err != nil {
		return core.Update{}, wrapErr(err, fmt.Sprintf("update %d", id))
	}
	return u, nil
}

// OpenUpdate implements core.Store. An update is open while its state is
// not terminal; should a device have several, the newest is returned.
func (s *Store) OpenUpdate(ctx context.Context, deviceID int64) (core.Update, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+updateColumns+` FROM updates
		WHERE device_id = ? AND state NOT IN (?, ?, ?) ORDER BY id DESC LIMIT 1`,
		deviceID, core.StateSucceeded, core.StateFailed, core.StateCanceled)
	u, err := scanUpdate(row)
	if err != nil {
		return core.Update{}, wrapErr(err, fmt.Sprintf("open update of device %d", deviceID))
	}
	return u, nil
}

// Updates implements core.Store. Newest means the highest ID.
func (s *Store) Updates(ctx context.Context, deviceID int64) ([]core.Update, error) {
	us, err := list(ctx, s.q, scanUpdate, `SELECT `+updateColumns+` FROM updates
		WHERE device_id = ? ORDER BY id DESC`, deviceID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list updates of device %d", deviceID))
	}
	return us, nil
}

// SaveUpdate implements core.Store. Served is not written: only
// TouchDevices adds to it, so a save cannot undo a concurrent touch.
func (s *Store) SaveUpdate(ctx context.Context, u core.Update) error {
	op := fmt.Sprintf("save update %d", u.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE updates
		SET state = ?, reason = ?, progress = ?, updated_at = ?, finished_at = ?, cancel_pending = ?
		WHERE id = ?`,
		u.State, u.Reason, u.Progress, millis(u.UpdatedAt), millis(u.FinishedAt), u.CancelPending, u.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// Failures implements core.Store. since is compared at millisecond
// precision, the precision finish times are stored with.
func (s *Store) Failures(
	ctx context.Context,
	deviceID, releaseID int64,
	since time.Time,
) (int, time.Time, error) {
	var n int
	var last int64
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(finished_at), 0) FROM updates
		WHERE device_id = ? AND release_id = ? AND state = ? AND finished_at >= ?`,
		deviceID, releaseID, core.StateFailed, millis(since)).Scan(&n, &last)
	if err != nil {
		return 0, time.Time{}, wrapErr(err, fmt.Sprintf("count failures of device %d on release %d",
			deviceID, releaseID))
	}
	return n, fromMillis(last), nil
}

func scanUpdate(sc scanner) (core.Update, error) {
	var u core.Update
	var ud updateDest
	err := sc.Scan(ud.dest(&u)...)
	ud.finish(&u)
	return u, err
}

// updateDest holds the columns of updateColumns that need decoding.
type updateDest struct {
	created, updated, finished int64
}

func (ud *updateDest) dest(u *core.Update) []any {
	return []any{&u.ID, &u.DeviceID, &u.ReleaseID, &u.Version, &u.FromVersion, &u.State,
		&u.Reason, &u.Progress, &ud.created, &ud.updated, &ud.finished, &u.Served, &u.RolloutID, &u.CancelPending}
}

func (ud *updateDest) finish(u *core.Update) {
	u.CreatedAt = fromMillis(ud.created)
	u.UpdatedAt = fromMillis(ud.updated)
	u.FinishedAt = fromMillis(ud.finished)
}
