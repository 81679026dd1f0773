package core

import (
	"context"
	"encoding/json"
	"time"
)

// event is the JSON body of an outbound webhook; see docs/webhooks.md.
type event struct {
	Event     string    `json:"event"`
	Product   string    `json:"product"`
	Device    string    `json:"device,omitempty"`
	Version   string    `json:"version,omitempty"`
	UpdateID  int64     `json:"update_id,omitempty"`
	RolloutID int64     `json:"rollout_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CommandID int64     `json:"command_id,omitempty"`
	Command   string    `json:"command,omitempty"`
	Result    string    `json:"result,omitempty"`
	At        time.Time `json:"at"`
}

// emit queues a webhook event in tx, so it is sent if and only if what it
// reports was committed. Products without a webhook queue nothing.
func (s *Service) emit(ctx context.Context, tx Store, productID int64, e event) error {
	if _, err := tx.Webhook(ctx, productID); err != nil {
		if notFound(err) {
			return nil
		}
		return err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.queued.Store(true)
	return tx.AddDelivery(ctx, &Delivery{
		ProductID: productID, Event: e.Event, Body: body, NextAt: e.At, CreatedAt: e.At,
	})
}

func (s *Service) emitRollout(ctx context.Context, tx Store, ro Rollout, name string, now time.Time) error {
	p, err := productByID(ctx, tx, ro.ProductID)
	if err != nil {
		return err
	}
	return s.emit(ctx, tx, ro.ProductID, event{
		Event: name, Product: p.Name, Version: ro.Version, RolloutID: ro.ID, Reason: ro.Reason, At: now,
	})
}

func (s *Service) emitUpdate(ctx context.Context, tx Store, p Product, dev Device, u Update, now time.Time) error {
	return s.emit(ctx, tx, p.ID, event{
		Event: "update." + string(u.State), Product: p.Name, Device: dev.Name, Version: u.Version,
		UpdateID: u.ID, RolloutID: u.RolloutID, Reason: u.Reason, At: now,
	})
}

// emitCommand queues command.acknowledged, command.failed or
// command.expired for c, whose state names the event.
func (s *Service) emitCommand(ctx context.Context, tx Store, p Product, c Command, now time.Time) error {
	return s.emit(ctx, tx, p.ID, event{
		Event: "command." + string(c.State), Product: p.Name, Device: c.Device, CommandID: c.ID,
		Command: c.Name, Result: c.ResultPayload, At: now,
	})
}

// kick tells the webhook sender that events were queued, after the
// transaction that queued them committed.
func (s *Service) kick() {
	if s.queued.Swap(false) && s.cfg.Kick != nil {
		s.cfg.Kick()
	}
	if s.nudged.Swap(false) && s.cfg.KickNudges != nil {
		s.cfg.KickNudges()
	}
}
