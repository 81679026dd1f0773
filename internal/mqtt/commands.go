package mqtt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// sendCommands delivers the device's open commands. After a check-in
// (always) all are sent, as the native answer carries them: the device may
// have lost earlier copies with its session. A push sends only those not
// yet sent in this session.
func (a *Adapter) sendCommands(ctx context.Context, p core.Product, device string, s *session, always bool) error {
	cmds, err := a.svc.DeliverCommands(ctx, p, device, Protocol, 0)
	if err != nil {
		return err
	}
	open := make(map[int64]bool, len(cmds))
	for _, c := range cmds {
		open[c.ID] = true
		if !always && s != nil && s.sent[c.ID] {
			continue
		}
		b, err := json.Marshal(wire.CommandMsg{ID: c.ID, Name: c.Name, Payload: c.Payload})
		if err != nil {
			return fmt.Errorf("encode command %d: %w", c.ID, err)
		}
		a.publish(p.Name, device, wire.Cmd, 1, b)
	}
	if s != nil {
		// Only open commands are remembered, so the set stays as small as
		// the core's bound on open commands per device.
		s.sent = open
	}
	return nil
}

// ack records a device's answer to a command. A repeated answer (a QoS 1
// redelivery) changes nothing: the core treats it as a duplicate.
func (a *Adapter) ack(ctx context.Context, p core.Product, device string, payload []byte) error {
	var in wire.AckMsg
	if err := decode(payload, &in); err != nil {
		return err
	}
	if in.ID <= 0 {
		return fmt.Errorf("%w: command id %d: want a positive id", errDrop, in.ID)
	}
	_, err := a.svc.AckCommand(ctx, p, device, in.ID, in.OK, in.Result)
	return err
}
