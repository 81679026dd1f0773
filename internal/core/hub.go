package core

import (
	"sync"
)

// Hub tells connections that devices hold open (long-polls, broker
// sessions) that something changed for their device, so they answer at
// once instead of at their timeout. It is in memory and per node: a change
// made on another node reaches a device held here at its timeout, or at
// once when an adapter forwards it (see OnWake).
//
// Memory per held connection is one map entry (device ID to a small
// struct) and one channel with a buffer of one, about 200 bytes; a device
// holding several connections adds one slice element and channel for each.
// The number of entries is bounded by whoever calls Watch (the server caps
// held requests with its own limit).
//
// Its methods are safe for concurrent use and never block on a waiter.
type Hub struct {
	mu      sync.Mutex
	devices map[int64]*held
	// ackWaiters are operators waiting for a command's answer, by command ID.
	ackWaiters map[int64][]chan struct{}
	onWake     []func(productID, deviceID int64)
}

// held is the connections held for one device.
type held struct {
	productID int64
	chans     []chan struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{devices: make(map[int64]*held), ackWaiters: make(map[int64][]chan struct{})}
}

// Watch registers a held connection of the device (its store ID) of the
// product, which also marks the device present (Held). wake receives a
// value when Wake names the device or its whole product; several wakes
// before the holder reads collapse into one. stop unregisters the
// connection; it must be called exactly once, when the connection ends.
func (h *Hub) Watch(productID, deviceID int64) (wake <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	e := h.devices[deviceID]
	if e == nil {
		e = &held{productID: productID}
		h.devices[deviceID] = e
	}
	e.chans = append(e.chans, ch)
	h.mu.Unlock()

	return ch, func() { h.unwatch(deviceID, ch) }
}

func (h *Hub) unwatch(deviceID int64, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.devices[deviceID]
	if e == nil {
		return
	}
	for i, c := range e.chans {
		if c == ch {
			e.chans = append(e.chans[:i], e.chans[i+1:]...)
			break
		}
	}
	if len(e.chans) == 0 {
		delete(h.devices, deviceID)
	}
}

// Held reports whether the device holds at least one connection here.
func (h *Hub) Held(deviceID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.devices[deviceID] != nil
}

// Len returns how many devices hold connections here.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.devices)
}

// Wake tells the device's held connections that what it should do may
// have changed; a deviceID of 0 wakes every held device of the product.
// Then it calls the OnWake functions. It never blocks on a holder.
func (h *Hub) Wake(productID, deviceID int64) {
	h.mu.Lock()
	if deviceID != 0 {
		if e := h.devices[deviceID]; e != nil {
			e.signal()
		}
	} else {
		// TODO(longpoll): a product-wide wake (a channel move, a rollout
		// step) answers every held device of the product at once, so they
		// all check in together. Rollout admission limits the offers, but
		// not the check-ins; spreading the answers over a few seconds
		// would smooth the burst once fleets hold tens of thousands.
		for _, e := range h.devices {
			if e.productID == productID {
				e.signal()
			}
		}
	}
	fns := h.onWake
	h.mu.Unlock()

	for _, fn := range fns {
		fn(productID, deviceID)
	}
}

// signal wakes every connection of the device without blocking: a full
// buffer means a wake is already pending.
func (e *held) signal() {
	for _, c := range e.chans {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// OnWake adds fn to the functions Wake calls after waking held
// connections, so an adapter that pushes (MQTT) can tell its devices too.
// fn runs on the goroutine that called Wake, often inside a request:
// it must return quickly and never block.
func (h *Hub) OnWake(fn func(productID, deviceID int64)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onWake = append(h.onWake, fn)
}

// WatchAck registers an operator waiting for an answer to a command.
// answered receives a value when this node records an answer (or another
// terminal state); stop must be called once when the wait ends.
func (h *Hub) WatchAck(commandID int64) (answered <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.ackWaiters[commandID] = append(h.ackWaiters[commandID], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		ws := h.ackWaiters[commandID]
		for i, c := range ws {
			if c == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(h.ackWaiters, commandID)
		} else {
			h.ackWaiters[commandID] = ws
		}
	}
}

// AckWaiters returns how many operators wait here for the command's answer.
func (h *Hub) AckWaiters(commandID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ackWaiters[commandID])
}

// commandDone wakes the operators waiting for the command.
func (h *Hub) commandDone(commandID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.ackWaiters[commandID] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
