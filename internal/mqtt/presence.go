package mqtt

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// session is a device whose online topic says "1": it holds a broker
// session, so Ferry can push to it. Apart from the maps that index it, a
// session is only touched by its device's worker.
type session struct {
	productID int64
	product   string
	device    string
	rowID     int64  // the device's ID; 0 until it has checked in once
	stop      func() // ends the hub registration; nil while rowID is 0

	lastOffer int64          // the update last offered in this session
	sent      map[int64]bool // open commands already sent in this session
}

func key(product, device string) string { return product + "/" + device }

// newOffer notes that update id is offered and reports whether it was not
// the one offered last.
func (s *session) newOffer(id int64) bool {
	if s.lastOffer == id {
		return false
	}
	s.lastOffer = id
	return true
}

// presence handles a device's online topic: "1" when its session starts
// (published retained), "0" when it ends (its last will, or published on
// a clean disconnect). An empty payload, which clears the retained
// message, counts as "0".
func (a *Adapter) presence(ctx context.Context, p core.Product, device string, payload []byte) error {
	switch string(payload) {
	case wire.OnlineYes:
		rowID, err := a.svc.DeviceRowID(ctx, p, device)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		a.online(p, device, rowID)
		return nil
	case wire.OnlineNo, "":
		a.offline(p.Name, device)
		return nil
	}
	return fmt.Errorf("%w: online payload %q: want %q or %q", errDrop, clip(string(payload)),
		wire.OnlineYes, wire.OnlineNo)
}

// online registers a present device; rowID is 0 for a device that has not
// checked in yet, which seen completes later.
func (a *Adapter) online(p core.Product, device string, rowID int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := key(p.Name, device)
	if _, ok := a.sessions[k]; ok {
		return // a repeated "1", such as the retained one after Ferry reconnects
	}
	s := &session{productID: p.ID, product: p.Name, device: device}
	a.sessions[k] = s
	if rowID != 0 {
		a.watch(s, rowID)
	}
	a.log.Debug("mqtt device online", "product", p.Name, "device_id", device)
}

// watch registers s with the core's hub under rowID; a.mu must be held.
// The hub's wake channel is not read: the adapter learns of wakes through
// OnWake, and the channel only holds one pending wake.
func (a *Adapter) watch(s *session, rowID int64) {
	s.rowID = rowID
	a.byRow[rowID] = s
	_, s.stop = a.svc.Hub().Watch(s.productID, rowID)
}

func (a *Adapter) offline(product, device string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := key(product, device)
	s, ok := a.sessions[k]
	if !ok {
		return
	}
	delete(a.sessions, k)
	a.unwatch(s)
	a.log.Debug("mqtt device offline", "product", product, "device_id", device)
}

// unwatch ends s's hub registration; a.mu must be held.
func (a *Adapter) unwatch(s *session) {
	if s.stop != nil {
		delete(a.byRow, s.rowID)
		s.stop()
		s.stop = nil
	}
}

// seen returns the session of a device that just checked in, completing
// its hub registration, or nil when the device announced no presence.
func (a *Adapter) seen(p core.Product, device string, rowID int64) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[key(p.Name, device)]
	if s != nil && s.stop == nil && rowID != 0 {
		a.watch(s, rowID)
	}
	return s
}

// Present returns how many devices hold a session, as their presence
// topics say.
func (a *Adapter) Present() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// dropSessions forgets every session when the adapter stops: with Ferry
// gone from the broker, no device is reachable through it.
func (a *Adapter) dropSessions() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, s := range a.sessions {
		a.unwatch(s)
		delete(a.sessions, k)
	}
}

// onWake is the hub's callback: it marks the devices to push to and wakes
// the pusher. It never blocks.
func (a *Adapter) onWake(productID, deviceID int64) {
	a.mu.Lock()
	if deviceID != 0 {
		if _, ok := a.byRow[deviceID]; ok {
			a.pending[deviceID] = struct{}{}
		}
	} else {
		for id, s := range a.byRow {
			if s.productID == productID {
				a.pending[id] = struct{}{}
			}
		}
	}
	n := len(a.pending)
	a.mu.Unlock()
	if n > 0 {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// pushLoop hands marked devices to their workers. Wakes that arrive before
// a push ran coalesce into one.
func (a *Adapter) pushLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		a.mu.Lock()
		batch := make([]job, 0, len(a.pending))
		for id := range a.pending {
			if s := a.byRow[id]; s != nil {
				batch = append(batch, job{addr: wire.Address{Product: s.product, Device: s.device}, push: id})
			}
		}
		clear(a.pending)
		a.mu.Unlock()

		for _, j := range batch {
			select {
			case a.queues[shard(key(j.addr.Product, j.addr.Device), len(a.queues))] <- j:
			case <-ctx.Done():
				return
			}
		}
	}
}

// push sends a present device what it should do now: its open commands
// not yet sent in this session, and an offer it has not been sent. The
// decision is the core's check-in with nothing new reported, as if the
// device had asked: a device that holds a session counts as seen.
func (a *Adapter) push(ctx context.Context, rowID int64) {
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	a.mu.Lock()
	s := a.byRow[rowID]
	a.mu.Unlock()
	if s == nil {
		return // gone offline since the wake
	}
	log := a.log.With("product", s.product, "device_id", s.device)

	p, err := a.svc.Product(ctx, s.product)
	if err == nil {
		var dec core.Decision
		dec, err = a.svc.CheckIn(ctx, p, core.CheckIn{Device: s.device, Protocol: Protocol})
		if err == nil {
			a.answer(p, s.device, dec, s, false)
			err = a.sendCommands(ctx, p, s.device, s, false)
		}
	}
	if err != nil {
		log.Error("mqtt push failed", "error", err)
	}
}
