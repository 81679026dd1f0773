package sim

import (
	"context"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/mqtt/devlink"
)

// talker checks in and reports: the native protocol over HTTP, or a
// broker session.
type talker interface {
	CheckIn(ctx context.Context, req client.CheckInRequest) (client.CheckInResponse, error)
	Report(ctx context.Context, updateID int64, state string, progress int64, detail string) error
}

// talk returns how a native device checks in and reports.
func (d *device) talk() talker {
	if d.session != nil {
		return d.session
	}
	return d.native
}

// dial opens an MQTT device's broker session and waits until it is up,
// reporting whether ctx is still live.
func (s *Sim) dial(ctx context.Context, d *device) bool {
	l, err := devlink.Dial(devlink.Config{
		Broker: s.cfg.MQTT, Product: s.cfg.Product, Device: d.id, RetryMin: time.Second, RetryMax: s.cfg.Poll,
	})
	if err != nil {
		s.fail(ctx, err) // Config.validate checked the URL; kept for safety's sake
		return false
	}
	select {
	case <-l.Connected():
		d.session = l
		s.c.sessions.Add(1)
		return true
	case <-ctx.Done():
		l.Close()
		return false
	}
}

// sleep waits d before a device's next cycle and reports whether ctx is
// still live. An MQTT device wakes early when Ferry pushes an offer or
// asks it to check in, and answers the commands it gets meanwhile.
func (s *Sim) sleep(ctx context.Context, d *device, wait time.Duration) bool {
	if d.session == nil {
		return sleep(ctx, wait)
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-d.session.Pushed():
			// The offer comes again as the answer to the check-in.
			return true
		case <-d.session.Connected():
			return true // reconnected: it may have missed pushes
		case c := <-d.session.Commands():
			if s.command(ctx, d, c.ID, c.Name) {
				return true
			}
		}
	}
}

// command answers a command as a simulated board does: check-update
// succeeds and makes it check in now (reported true), set-poll-interval
// succeeds, anything else fails as unsupported.
func (s *Sim) command(ctx context.Context, d *device, id int64, name string) bool {
	ok, result, now := answer(name)
	if err := d.session.Ack(ctx, id, ok, result); err != nil {
		s.fail(ctx, err)
		return false
	}
	s.c.acks.Add(1)
	return now
}
