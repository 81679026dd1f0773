package core

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// MaxListedCommands bounds a device's command listing, newest first.
const MaxListedCommands = 100

// QueueCommand queues a command for a device that has checked in at least
// once, and wakes the device's held connections. It returns ErrNotFound for
// an unknown device, ErrInvalid for a bad name, payload or expiry, and
// ErrState when the device already has MaxOpenCommands open commands.
func (s *Service) QueueCommand(ctx context.Context, p Product, device string, req CommandRequest) (Command, error) {
	if err := ValidateDeviceID(device); err != nil {
		return Command{}, err
	}
	req, err := normalizeCommand(req)
	if err != nil {
		return Command{}, err
	}

	var c Command
	err = s.store.Tx(ctx, func(tx Store) error {
		now := s.now()
		dev, err := tx.Device(ctx, p.ID, device)
		if err != nil {
			return lookupErr(err, "product "+p.Name+" has no device "+device)
		}
		open, err := tx.OpenCommands(ctx, dev.ID)
		if err != nil {
			return err
		}
		if open, err = s.expireDue(ctx, tx, p, open, now); err != nil {
			return err
		}
		if len(open) >= MaxOpenCommands {
			return fmt.Errorf("%w: device %s has %d open commands, at most %d allowed: "+
				"wait for its answers, cancel some, or let them expire", ErrState, device, len(open), MaxOpenCommands)
		}

		c = Command{
			ProductID: p.ID, DeviceID: dev.ID, Device: dev.Name, Name: req.Name, Payload: req.Payload,
			Urgent: req.Urgent, State: CommandQueued, CreatedBy: Actor(ctx), CreatedAt: now,
			ExpiresAt: now.Add(req.Expires),
		}
		if err := tx.CreateCommand(ctx, &c); err != nil {
			return err
		}
		err = tx.AddCommandEvent(ctx, &CommandEvent{
			CommandID: c.ID, At: now, Kind: CommandEventQueued, Detail: "by " + c.CreatedBy,
		})
		if err != nil {
			return err
		}
		// An urgent command for a device that holds no connection here
		// queues a nudge with it, so the nudge is sent if and only if the
		// command was stored. A device that connects meanwhile gets the
		// command at once and the nudge merely wakes it twice.
		if c.Urgent && !s.hub.Held(dev.ID) {
			cmd := NudgeCommand{ID: c.ID, Name: c.Name, Payload: c.Payload}
			if err := s.queueNudge(ctx, tx, p, dev, TriggerUrgentCommand, cmd, now); err != nil {
				return err
			}
		}
		// The payload may carry a device secret (a Wi-Fi key), so the
		// audit log keeps only its size.
		return audit(ctx, tx, now, "device.command", p.Name, device, map[string]any{
			"id": c.ID, "name": c.Name, "payload_bytes": len(c.Payload), "expires": req.Expires.String(),
			"urgent": c.Urgent,
		})
	})
	if err != nil {
		return Command{}, fmt.Errorf("queue command %s for %s/%s: %w", req.Name, p.Name, device, err)
	}
	s.kick()
	s.log.Info("command queued", "product", p.Name, "device_id", device, "command_id", c.ID, "name", c.Name)

	s.hub.Wake(p.ID, c.DeviceID)
	return c, nil
}

// DeliverCommands returns the device's open commands, oldest first, and
// marks the queued ones delivered via the protocol named by via. A limit
// above 0 returns and marks only that many of the oldest, for a protocol
// whose answer carries fewer than all: a command the device was not sent
// stays queued. A command delivered before and not answered is returned
// again: the device may have lost the answer. Commands past their expiry
// are expired instead. It returns ErrNotFound for an unknown device.
func (s *Service) DeliverCommands(ctx context.Context, p Product, device, via string, limit int,
) ([]Command, error) {
	if err := ValidateDeviceID(device); err != nil {
		return nil, err
	}
	// Most contacts find nothing to deliver; they read without taking the
	// write lock.
	dev, err := s.store.Device(ctx, p.ID, device)
	if err != nil {
		return nil, lookupErr(err, "product "+p.Name+" has no device "+device)
	}
	open, err := s.store.OpenCommands(ctx, dev.ID)
	if err != nil || len(open) == 0 {
		return open, err
	}

	err = s.store.Tx(ctx, func(tx Store) error {
		open, err = s.deliver(ctx, tx, p, dev, via, limit, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deliver commands to %s/%s: %w", p.Name, device, err)
	}
	s.kick()
	return open, nil
}

// deliver is DeliverCommands inside a transaction; limit 0 is no limit.
func (s *Service) deliver(
	ctx context.Context, tx Store, p Product, dev Device, via string, limit int, now time.Time,
) ([]Command, error) {
	open, err := tx.OpenCommands(ctx, dev.ID)
	if err != nil {
		return nil, err
	}
	if open, err = s.expireDue(ctx, tx, p, open, now); err != nil {
		return nil, err
	}
	if limit > 0 && len(open) > limit {
		open = open[:limit]
	}
	for i := range open {
		c := &open[i]
		if c.State != CommandQueued {
			continue
		}
		c.State, c.DeliveredAt, c.Via = CommandDelivered, now, via
		if err := tx.SaveCommand(ctx, *c); err != nil {
			return nil, err
		}
		err := tx.AddCommandEvent(ctx, &CommandEvent{
			CommandID: c.ID, At: now, Kind: CommandEventDelivered, Via: via, Detail: "delivered via " + via,
		})
		if err != nil {
			return nil, err
		}
		s.log.Debug("command delivered", "device_id", dev.Name, "command_id", c.ID, "via", via)
	}
	return open, nil
}

// expireDue expires the commands of open whose expiry has come and returns
// the others.
func (s *Service) expireDue(ctx context.Context, tx Store, p Product, open []Command, now time.Time,
) ([]Command, error) {
	kept := open[:0:0]
	for _, c := range open {
		if now.Before(c.ExpiresAt) {
			kept = append(kept, c)
			continue
		}
		if err := s.expire(ctx, tx, p, &c, now); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

func (s *Service) expire(ctx context.Context, tx Store, p Product, c *Command, now time.Time) error {
	c.State, c.FinishedAt = CommandExpired, now
	if err := tx.SaveCommand(ctx, *c); err != nil {
		return err
	}
	detail := "no answer by " + c.ExpiresAt.Format(time.RFC3339)
	err := tx.AddCommandEvent(ctx, &CommandEvent{CommandID: c.ID, At: now, Kind: CommandEventExpired, Detail: detail})
	if err != nil {
		return err
	}
	s.log.Info("command expired", "product", p.Name, "device_id", c.Device, "command_id", c.ID)
	s.hub.commandDone(c.ID)
	return s.emitCommand(ctx, tx, p, *c, now)
}

// AckCommand records a device's answer to one of its commands: ok says
// whether it worked, result is what the device adds. Answers are
// idempotent: repeating the recorded answer changes nothing. An answer
// that contradicts the recorded one, or comes after the command expired
// or was canceled, is kept in the command's history (up to
// MaxCommandEvents entries) and changes nothing else; so does an answer
// after ExpiresAt that beats the expiry sweep: the deadline is the
// deadline, whichever runs first. It returns ErrNotFound when the device
// has no command id, including another device's command.
func (s *Service) AckCommand(ctx context.Context, p Product, device string, id int64, ok bool, result string,
) (Command, error) {
	if err := ValidateDeviceID(device); err != nil {
		return Command{}, err
	}
	res, err := ParseCommandResult(ok, result)
	if err != nil {
		return Command{}, err
	}

	var c Command
	err = s.store.Tx(ctx, func(tx Store) error {
		now := s.now()
		dev, err := tx.Device(ctx, p.ID, device)
		if err != nil {
			return lookupErr(err, "product "+p.Name+" has no device "+device)
		}
		c, err = tx.Command(ctx, id)
		if notFound(err) || (err == nil && c.DeviceID != dev.ID) {
			return fmt.Errorf("device %s has no command %d: %w", device, id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return s.answer(ctx, tx, p, &c, res, result, now)
	})
	if err != nil {
		return Command{}, fmt.Errorf("answer to command %d of %s/%s: %w", id, p.Name, device, err)
	}
	s.kick()
	s.hub.commandDone(c.ID)
	return c, nil
}

// answer applies a device's answer res (ResultOK or ResultError) with
// payload to c.
func (s *Service) answer(ctx context.Context, tx Store, p Product, c *Command, res, payload string, now time.Time,
) error {
	if c.State.Open() && !now.Before(c.ExpiresAt) {
		if err := s.expire(ctx, tx, p, c, now); err != nil {
			return err
		}
	}
	switch c.State {
	case CommandQueued, CommandDelivered:
		kind := CommandEventAcked
		if res == ResultError {
			c.State, kind = CommandFailed, CommandEventFailed
		} else {
			c.State = CommandAcknowledged
		}
		if c.DeliveredAt.IsZero() {
			// Answered before this node recorded a delivery (another
			// protocol or node handed it over): it was delivered.
			c.DeliveredAt = now
		}
		c.Result, c.ResultPayload, c.FinishedAt = res, payload, now
		if err := tx.SaveCommand(ctx, *c); err != nil {
			return err
		}
		err := tx.AddCommandEvent(ctx, &CommandEvent{
			CommandID: c.ID, At: now, Kind: kind, Detail: answerDetail(res, payload),
		})
		if err != nil {
			return err
		}
		s.log.Info("command answered", "product", p.Name, "device_id", c.Device, "command_id", c.ID,
			"result", res)
		return s.emitCommand(ctx, tx, p, *c, now)
	case CommandAcknowledged, CommandFailed:
		if c.Result == res && c.ResultPayload == payload {
			return nil // a repeat of the recorded answer
		}
		return s.ignoreAnswer(ctx, tx, *c, "contradicts the recorded answer: "+answerDetail(res, payload), now)
	default:
		return s.ignoreAnswer(ctx, tx, *c, "after the command was "+string(c.State)+": "+
			answerDetail(res, payload), now)
	}
}

// ignoreAnswer records an answer that changes nothing, once, and only
// while the history has room: a device repeating it cannot grow the store.
func (s *Service) ignoreAnswer(ctx context.Context, tx Store, c Command, detail string, now time.Time) error {
	es, err := tx.CommandEvents(ctx, c.ID)
	if err != nil {
		return err
	}
	if len(es) >= MaxCommandEvents {
		return nil
	}
	for _, e := range es {
		if e.Kind == CommandEventIgnored && e.Detail == detail {
			return nil
		}
	}
	return tx.AddCommandEvent(ctx, &CommandEvent{CommandID: c.ID, At: now, Kind: CommandEventIgnored, Detail: detail})
}

// CancelCommand withdraws an open command of a device. ErrNotFound when the
// device has no such command, ErrState when it is no longer open.
func (s *Service) CancelCommand(ctx context.Context, p Product, device string, id int64) (Command, error) {
	if err := ValidateDeviceID(device); err != nil {
		return Command{}, err
	}
	var c Command
	err := s.store.Tx(ctx, func(tx Store) error {
		now := s.now()
		var err error
		if c, err = deviceCommand(ctx, tx, p, device, id); err != nil {
			return err
		}
		if c.State.Open() && !now.Before(c.ExpiresAt) {
			if err := s.expire(ctx, tx, p, &c, now); err != nil {
				return err
			}
		}
		if !c.State.Open() {
			return fmt.Errorf("%w: command %d is already %s", ErrState, id, c.State)
		}
		c.State, c.FinishedAt = CommandCanceled, now
		if err := tx.SaveCommand(ctx, c); err != nil {
			return err
		}
		err = tx.AddCommandEvent(ctx, &CommandEvent{
			CommandID: c.ID, At: now, Kind: CommandEventCanceled, Detail: "by " + Actor(ctx),
		})
		if err != nil {
			return err
		}
		return audit(ctx, tx, now, "device.command.cancel", p.Name, device, map[string]any{"id": id})
	})
	if err != nil {
		return Command{}, fmt.Errorf("cancel command %d of %s/%s: %w", id, p.Name, device, err)
	}
	s.kick()
	s.hub.commandDone(c.ID)
	return c, nil
}

// deviceCommand returns command id if it belongs to the product's device.
func deviceCommand(ctx context.Context, tx Store, p Product, device string, id int64) (Command, error) {
	dev, err := tx.Device(ctx, p.ID, device)
	if err != nil {
		return Command{}, lookupErr(err, "product "+p.Name+" has no device "+device)
	}
	c, err := tx.Command(ctx, id)
	if notFound(err) || (err == nil && c.DeviceID != dev.ID) {
		return Command{}, fmt.Errorf("device %s has no command %d: %w", device, id, ErrNotFound)
	}
	return c, err
}

// Commands lists a device's commands, newest first, at most
// MaxListedCommands. Commands past their expiry are shown expired.
func (s *Service) Commands(ctx context.Context, p Product, device string) ([]Command, error) {
	if err := ValidateDeviceID(device); err != nil {
		return nil, err
	}
	dev, err := s.store.Device(ctx, p.ID, device)
	if err != nil {
		return nil, lookupErr(err, "product "+p.Name+" has no device "+device)
	}
	cs, err := s.store.Commands(ctx, dev.ID, MaxListedCommands)
	if err != nil || !anyDue(cs, s.now()) {
		return cs, err
	}

	err = s.store.Tx(ctx, func(tx Store) error {
		open, err := tx.OpenCommands(ctx, dev.ID)
		if err != nil {
			return err
		}
		_, err = s.expireDue(ctx, tx, p, open, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expire commands of %s/%s: %w", p.Name, device, err)
	}
	s.kick()
	return s.store.Commands(ctx, dev.ID, MaxListedCommands)
}

func anyDue(cs []Command, now time.Time) bool {
	for _, c := range cs {
		if c.State.Open() && !now.Before(c.ExpiresAt) {
			return true
		}
	}
	return false
}

// Command returns one command with its history. A command past its expiry
// is expired first.
func (s *Service) Command(ctx context.Context, id int64) (Command, error) {
	c, err := s.store.Command(ctx, id)
	if err != nil {
		return Command{}, lookupErr(err, "unknown command "+strconv.FormatInt(id, 10))
	}
	if anyDue([]Command{c}, s.now()) {
		err := s.store.Tx(ctx, func(tx Store) error {
			p, err := productByID(ctx, tx, c.ProductID)
			if err != nil {
				return err
			}
			if c, err = tx.Command(ctx, id); err != nil || !anyDue([]Command{c}, s.now()) {
				return err
			}
			return s.expire(ctx, tx, p, &c, s.now())
		})
		if err != nil {
			return Command{}, fmt.Errorf("expire command %d: %w", id, err)
		}
		s.kick()
	}
	if c.History, err = s.store.CommandEvents(ctx, id); err != nil {
		return Command{}, err
	}
	return c, nil
}

// expireBatch bounds how many commands one sweep expires.
const expireBatch = 500

// ExpireCommands expires open commands past their expiry, of every device.
// The service runs it with the rollout evaluation; delivery, answers and
// listings also expire lazily, so the sweep only makes the states and the
// command.expired webhooks timely.
func (s *Service) ExpireCommands(ctx context.Context) error {
	due, err := s.store.DueCommands(ctx, s.now(), expireBatch)
	if err != nil || len(due) == 0 {
		return err
	}
	err = s.store.Tx(ctx, func(tx Store) error {
		ps := map[int64]Product{}
		for _, c := range due {
			p, ok := ps[c.ProductID]
			if !ok {
				if p, err = productByID(ctx, tx, c.ProductID); err != nil {
					return err
				}
				ps[c.ProductID] = p
			}
			// Read again: a delivery or an answer may have won the race.
			cur, err := tx.Command(ctx, c.ID)
			if err != nil {
				return err
			}
			if anyDue([]Command{cur}, s.now()) {
				if err := s.expire(ctx, tx, p, &cur, s.now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expire %d commands: %w", len(due), err)
	}
	s.kick()
	return nil
}
