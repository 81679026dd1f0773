package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-ota/ferry/internal/core"
)

// defaultDeviceLimit caps a device listing whose filter sets no limit.
const defaultDeviceLimit = 1000

const deviceColumns = `d.id, d.product_id, d.name, d.channel, d.version, d.image_sha256,
	d.attributes, d.first_seen, d.last_seen, d.bytes_served`

// CreateDevice implements core.Store. It returns an error wrapping
// ErrNotFound if the product does not exist.
func (s *Store) CreateDevice(ctx context.Context, d *core.Device) error {
	op := fmt.Sprintf("create device %q of product %d", d.Name, d.ProductID)
	attrs, err := encodeAttributes(d.Attributes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}

	err = s.q.QueryRowContext(ctx, `INSERT INTO devices (product_id, name, channel, version,
		image_sha256, attributes, first_seen, last_seen, bytes_served)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ProductID, d.Name, d.Channel, d.Version, d.ImageSHA256, attrs,
		millis(d.FirstSeen), millis(d.LastSeen), d.BytesServed).Scan(&d.ID)
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

// SaveDevice implements core.Store.
func (s *Store) SaveDevice(ctx context.Context, d core.Device) error {
	op := fmt.Sprintf("save device %d", d.ID)
	attrs, err := encodeAttributes(d.Attributes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}

	res, err := s.q.ExecContext(ctx, `UPDATE devices
		SET channel = ?, version = ?, image_sha256 = ?, attributes = ?, last_seen = ?
		WHERE id = ?`,
		d.Channel, d.Version, d.ImageSHA256, attrs, millis(d.LastSeen), d.ID)
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
			// A zero Seen is stored as 0, which MAX never picks.
			_, err := ts.q.ExecContext(ctx, `UPDATE devices
				SET last_seen = MAX(last_seen, ?), bytes_served = bytes_served + ?
				WHERE id = ?`, millis(t.Seen), t.Bytes, id)
			if err != nil {
				return wrapErr(err, fmt.Sprintf("touch device %d", id))
			}
		}
		return nil
	})
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
	attrs               string
	firstSeen, lastSeen int64
}

func (dd *deviceDest) dest(d *core.Device) []any {
	return []any{&d.ID, &d.ProductID, &d.Name, &d.Channel, &d.Version, &d.ImageSHA256,
		&dd.attrs, &dd.firstSeen, &dd.lastSeen, &d.BytesServed}
}

func (dd *deviceDest) finish(d *core.Device) error {
	d.FirstSeen = fromMillis(dd.firstSeen)
	d.LastSeen = fromMillis(dd.lastSeen)
	attrs, err := decodeAttributes(dd.attrs)
	if err != nil {
		return fmt.Errorf("device %d: %w", d.ID, err)
	}
	d.Attributes = attrs
	return nil
}
