package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// defaultCommandLimit is the limit of a command listing asked for with a
// limit of zero or less.
const defaultCommandLimit = 100

// A command's product and device name are read through its device, so
// they can never disagree with it.
const commandColumns = `c.id, d.product_id, c.device_id, d.name, c.name, c.payload, c.urgent,
	c.state, c.created_by, c.created_at, c.expires_at, c.delivered_at, c.finished_at, c.via,
	c.result, c.result_payload`

const commandFrom = ` FROM commands c JOIN devices d ON d.id = c.device_id`

// CreateCommand implements core.Store.
func (s *Store) CreateCommand(ctx context.Context, c *core.Command) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO commands (device_id, name, payload, urgent, state,
		created_by, created_at, expires_at, delivered_at, finished_at, via, result, result_payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.DeviceID, c.Name, c.Payload, c.Urgent, c.State, c.CreatedBy, millis(c.CreatedAt),
		millis(c.ExpiresAt), millis(c.DeliveredAt), millis(c.FinishedAt), c.Via, c.Result,
		c.ResultPayload).Scan(&c.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create command %q of device %d", c.Name, c.DeviceID))
	}
	return nil
}

// Command implements core.Store.
func (s *Store) Command(ctx context.Context, id int64) (core.Command, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+commandColumns+commandFrom+` WHERE c.id = ?`, id)
	c, err := scanCommand(row)
	if err != nil {
		return core.Command{}, wrapErr(err, fmt.Sprintf("command %d", id))
	}
	return c, nil
}

// Commands implements core.Store.
func (s *Store) Commands(ctx context.Context, deviceID int64, limit int) ([]core.Command, error) {
	if limit <= 0 {
		limit = defaultCommandLimit
	}
	cs, err := list(ctx, s.q, scanCommand, `SELECT `+commandColumns+commandFrom+`
		WHERE c.device_id = ? ORDER BY c.id DESC LIMIT ?`, deviceID, limit)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list commands of device %d", deviceID))
	}
	return cs, nil
}

// OpenCommands implements core.Store. A device has few commands, open or
// not, so the commands_device index serves it.
func (s *Store) OpenCommands(ctx context.Context, deviceID int64) ([]core.Command, error) {
	cs, err := list(ctx, s.q, scanCommand, `SELECT `+commandColumns+commandFrom+`
		WHERE c.device_id = ? AND c.finished_at = 0 ORDER BY c.id`, deviceID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list open commands of device %d", deviceID))
	}
	return cs, nil
}

// DueCommands implements core.Store. A limit of zero or less means 1000.
func (s *Store) DueCommands(ctx context.Context, now time.Time, limit int) ([]core.Command, error) {
	if limit <= 0 {
		limit = 1000
	}
	cs, err := list(ctx, s.q, scanCommand, `SELECT `+commandColumns+commandFrom+`
		WHERE c.finished_at = 0 AND c.expires_at <= ? ORDER BY c.expires_at, c.id LIMIT ?`,
		millis(now), limit)
	if err != nil {
		return nil, wrapErr(err, "list due commands")
	}
	return cs, nil
}

// SaveCommand implements core.Store.
func (s *Store) SaveCommand(ctx context.Context, c core.Command) error {
	op := fmt.Sprintf("save command %d", c.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE commands
		SET state = ?, delivered_at = ?, finished_at = ?, via = ?, result = ?, result_payload = ?
		WHERE id = ?`,
		c.State, millis(c.DeliveredAt), millis(c.FinishedAt), c.Via, c.Result, c.ResultPayload, c.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// AddCommandEvent implements core.Store.
func (s *Store) AddCommandEvent(ctx context.Context, e *core.CommandEvent) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO command_events (command_id, at, kind, via, detail)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		e.CommandID, millis(e.At), e.Kind, e.Via, e.Detail).Scan(&e.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("add event of command %d", e.CommandID))
	}
	return nil
}

// CommandEvents implements core.Store.
func (s *Store) CommandEvents(ctx context.Context, commandID int64) ([]core.CommandEvent, error) {
	es, err := list(ctx, s.q, scanCommandEvent, `SELECT id, command_id, at, kind, via, detail
		FROM command_events WHERE command_id = ? ORDER BY at, id`, commandID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list events of command %d", commandID))
	}
	return es, nil
}

func scanCommand(sc scanner) (core.Command, error) {
	var c core.Command
	var created, expires, delivered, finished int64
	err := sc.Scan(&c.ID, &c.ProductID, &c.DeviceID, &c.Device, &c.Name, &c.Payload, &c.Urgent,
		&c.State, &c.CreatedBy, &created, &expires, &delivered, &finished, &c.Via,
		&c.Result, &c.ResultPayload)
	c.CreatedAt = fromMillis(created)
	c.ExpiresAt = fromMillis(expires)
	c.DeliveredAt = fromMillis(delivered)
	c.FinishedAt = fromMillis(finished)
	return c, err
}

func scanCommandEvent(sc scanner) (core.CommandEvent, error) {
	var e core.CommandEvent
	var at int64
	err := sc.Scan(&e.ID, &e.CommandID, &at, &e.Kind, &e.Via, &e.Detail)
	e.At = fromMillis(at)
	return e, err
}
