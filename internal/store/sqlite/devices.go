package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-ota/ferry/internal/core"
)

// defaultDeviceLimit caps a device listing whose filter sets no limit.
const defaultDeviceLimit = 1000

// Tags are a JSON array, "[]" when there are none; release and rollout IDs
// are NULL when zero (see nullID); poll is INTEGER milliseconds.
const deviceColumns = `d.id, d.product_id, d.name, d.channel, d.version, d.image_sha256,
	d.attributes, d.first_seen, d.last_seen, d.bytes_served,
	d.tags, COALESCE(d.pinned_release_id, 0), d.excluded, d.poll,
	COALESCE(d.assigned_release_id, 0), COALESCE(d.assigned_rollout_id, 0), d.assigned_at,
	d.security_counter`

// CreateDevice implements core.Store. It returns an error wrapping
// ErrNotFound if the product, or a release or rollout d names, does not
// exist.
func (s *Store) CreateDevice(ctx context.Context, d *core.Device) error {
	op := fmt.Sprintf("create device %q of product %d", d.Name, d.ProductID)
	attrs, err := encodeAttributes(d.Attributes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tags, err := encodeList(d.Tags, "tags")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}

	err = s.q.QueryRowContext(ctx, `INSERT INTO devices (product_id, name, channel, version,
		image_sha256, attributes, first_seen, last_seen, bytes_served,
		tags, pinned_release_id, excluded, poll,
		assigned_release_id, assigned_rollout_id, assigned_at, security_counter)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ProductID, d.Name, d.Channel, d.Version, d.ImageSHA256, attrs,
		millis(d.FirstSeen), millis(d.LastSeen), d.BytesServed,
		tags, nullID(d.PinnedReleaseID), d.Excluded, d.Poll.Milliseconds(),
		nullID(d.AssignedReleaseID), nullID(d.AssignedRolloutID), millis(d.AssignedAt), d.Counter,
	).Scan(&d.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return nil
}

// Device implements core.Store.
func (s *Store) Device(ctx context.Context, productID int64, name string) (core.Device, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d
		WHERE d.product_id = ? AND d.name = ?`, productID, name)
	d, err := scanDevice(row)
	if err != nil {
		return core.Device{}, wrapErr(err, fmt.Sprintf("device %q of product %d", name, productID))
	}
	return d, nil
}

// DevicesNamed implements core.Store.
func (s *Store) DevicesNamed(ctx context.Context, name string) ([]core.Device, error) {
	ds, err := list(ctx, s.q, scanDevice, `SELECT `+deviceColumns+` FROM devices d
		WHERE d.name = ? ORDER BY d.product_id`, name)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list devices named %q", name))
	}
	return ds, nil
}

// Devices implements core.Store. A negative Limit counts as 0, the default.
func (s *Store) Devices(ctx context.Context, f core.DeviceFilter) ([]core.DeviceStatus, error) {
	var where []string
	var args []any
	if f.ProductID != 0 {
		where, args = append(where, "d.product_id = ?"), append(args, f.ProductID)
	}
	if f.Version != "" {
		where, args = append(where, "d.version = ?"), append(args, f.Version)
	}
	if f.State != "" {
		where, args = append(where, "u.state = ?"), append(args, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultDeviceLimit
	}
	args = append(args, limit)

	// The latest update is the one with the highest ID; the subquery finds
	// it through the updates_device index.
	query := `SELECT ` + deviceColumns + `, ` + latestUpdateColumns + ` FROM devices d
		LEFT JOIN updates u ON u.id = (SELECT MAX(id) FROM updates WHERE device_id = d.id)`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY d.product_id, d.name LIMIT ?`

	ds, err := list(ctx, s.q, scanDeviceStatus, query, args...)
	if err != nil {
		return nil, wrapErr(err, "list devices")
	}
	return ds, nil
}

// ProductDevices implements core.Store. The devices' UNIQUE (product_id,
// name) index serves both the filter and the order.
func (s *Store) ProductDevices(ctx context.Context, productID int64) ([]core.Device, error) {
	ds, err := list(ctx, s.q, scanDevice, `SELECT `+deviceColumns+` FROM devices d
		WHERE d.product_id = ? ORDER BY d.name`, productID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list devices of product %d", productID))
	}
	return ds, nil
}

// SaveDevice implements core.Store. It returns an error wrapping
// ErrNotFound if a release or rollout d names does not exist.
func (s *Store) SaveDevice(ctx context.Context, d core.Device) error {
	op := fmt.Sprintf("save device %d", d.ID)
	attrs, err := encodeAttributes(d.Attributes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tags, err := encodeList(d.Tags, "tags")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}

	// First seen and bytes served are left alone: the first never changes
	// and the second belongs to TouchDevices, which a save must not undo.
	res, err := s.q.ExecContext(ctx, `UPDATE devices
		SET channel = ?, version = ?, image_sha256 = ?, attributes = ?, last_seen = ?,
			tags = ?, pinned_release_id = ?, excluded = ?, poll = ?,
			assigned_release_id = ?, assigned_rollout_id = ?, assigned_at = ?, security_counter = ?
		WHERE id = ?`,
		d.Channel, d.Version, d.ImageSHA256, attrs, millis(d.LastSeen),
		tags, nullID(d.PinnedReleaseID), d.Excluded, d.Poll.Milliseconds(),
		nullID(d.AssignedReleaseID), nullID(d.AssignedRolloutID), millis(d.AssignedAt), d.Counter,
		d.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// TouchDevices implements core.Store. It applies the whole batch in one
// transaction, so a batch costs one commit rather than one per device.
func (s *Store) TouchDevices(ctx context.Context, touches map[int64]core.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	return s.tx(ctx, func(ts *Store) error {
		for id, t := range touches {
			if err := ts.touchDevice(ctx, id, t); err != nil {
				return wrapErr(err, fmt.Sprintf("touch device %d", id))
			}
		}
		return nil
	})
}

// touchDevice applies one device's touch. Its bytes go to the device's
// latest update to the release they were of, found through the
// updates_device index.
func (s *Store) touchDevice(ctx context.Context, id int64, t core.Touch) error {
	// A zero Seen is stored as 0, which MAX never picks.
	_, err := s.q.ExecContext(ctx, `UPDATE devices
		SET last_seen = MAX(last_seen, ?), bytes_served = bytes_served + ?
		WHERE id = ?`, millis(t.Seen), t.Bytes, id)
	if err != nil || t.Bytes == 0 || t.ReleaseID == 0 {
		return err
	}

	_, err = s.q.ExecContext(ctx, `UPDATE updates SET served = served + ?
		WHERE id = (SELECT id FROM updates
			WHERE device_id = ? AND release_id = ? ORDER BY id DESC LIMIT 1)`,
		t.Bytes, id, t.ReleaseID)
	return err
}

func scanDevice(sc scanner) (core.Device, error) {
	var d core.Device
	var dd deviceDest
	if err := sc.Scan(dd.dest(&d)...); err != nil {
		return core.Device{}, err
	}
	return d, dd.finish(&d)
}

func scanDeviceStatus(sc scanner) (core.DeviceStatus, error) {
	var ds core.DeviceStatus
	var dd deviceDest
	var u core.Update
	var ud updateDest
	if err := sc.Scan(append(dd.dest(&ds.Device), ud.dest(&u)...)...); err != nil {
		return core.DeviceStatus{}, err
	}
	ud.finish(&u)
	// An update ID of 0 is the LEFT JOIN finding no update.
	if u.ID != 0 {
		ds.Latest = &u
	}
	return ds, dd.finish(&ds.Device)
}

// deviceDest holds the columns of deviceColumns that need decoding.
type deviceDest struct {
	attrs, tags                     string
	firstSeen, lastSeen, assignedAt int64
	poll                            int64
}

func (dd *deviceDest) dest(d *core.Device) []any {
	return []any{&d.ID, &d.ProductID, &d.Name, &d.Channel, &d.Version, &d.ImageSHA256,
		&dd.attrs, &dd.firstSeen, &dd.lastSeen, &d.BytesServed,
		&dd.tags, &d.PinnedReleaseID, &d.Excluded, &dd.poll,
		&d.AssignedReleaseID, &d.AssignedRolloutID, &dd.assignedAt, &d.Counter}
}

func (dd *deviceDest) finish(d *core.Device) error {
	d.FirstSeen = fromMillis(dd.firstSeen)
	d.LastSeen = fromMillis(dd.lastSeen)
	d.AssignedAt = fromMillis(dd.assignedAt)
	d.Poll = fromMS(dd.poll)
	attrs, err := decodeAttributes(dd.attrs)
	if err != nil {
		return fmt.Errorf("device %d: %w", d.ID, err)
	}
	d.Attributes = attrs
	if d.Tags, err = decodeList[string](dd.tags, "tags"); err != nil {
		return fmt.Errorf("device %d: %w", d.ID, err)
	}
	return nil
}
