package sqlite

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// History is ordered by the event's time, and events with the same time by
// ID, that is in the order they were added.

// An event's update_id is NULL when it concerns no update (UpdateID 0).
const eventColumns = `id, device_id, COALESCE(update_id, 0), at, kind, state, version,
	progress, detail, protocol`

// AddEvent implements core.Store. It returns an error wrapping ErrNotFound
// if the device or the update does not exist.
func (s *Store) AddEvent(ctx context.Context, e *core.Event) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO events (device_id, update_id, at, kind, state,
		version, progress, detail, protocol)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.DeviceID, nullID(e.UpdateID), millis(e.At), e.Kind, e.State, e.Version, e.Progress,
		e.Detail, e.Protocol).Scan(&e.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("add event of device %d", e.DeviceID))
	}
	return nil
}

// Events implements core.Store.
func (s *Store) Events(ctx context.Context, deviceID int64) ([]core.Event, error) {
	es, err := list(ctx, s.q, scanEvent, `SELECT `+eventColumns+` FROM events
		WHERE device_id = ? ORDER BY at, id`, deviceID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list events of device %d", deviceID))
	}
	return es, nil
}

// LastEvent implements core.Store.
func (s *Store) LastEvent(ctx context.Context, updateID int64) (core.Event, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE update_id = ? ORDER BY at DESC, id DESC LIMIT 1`, updateID)
	e, err := scanEvent(row)
	if err != nil {
		return core.Event{}, wrapErr(err, fmt.Sprintf("last event of update %d", updateID))
	}
	return e, nil
}

func scanEvent(sc scanner) (core.Event, error) {
	var e core.Event
	var at int64
	err := sc.Scan(&e.ID, &e.DeviceID, &e.UpdateID, &at, &e.Kind, &e.State, &e.Version,
		&e.Progress, &e.Detail, &e.Protocol)
	e.At = fromMillis(at)
	return e, err
}
