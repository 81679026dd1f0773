package httpkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Bounds of a held (long-poll) request's timeout, in seconds. The default
// stays below the idle timeouts of common carrier NATs (about five
// minutes), so the device's connection is not dropped silently while it
// waits.
const (
	DefaultHold = 240 * time.Second
	MinHold     = 1 * time.Second
	MaxHold     = 600 * time.Second
)

// ParseHold reads a held request's timeout parameter, called name in the
// request ("timeout" natively, "wait" in the plain protocol) so an error
// names what the device sent: whole seconds from 1 to 600; empty means
// DefaultHold.
func ParseHold(name, s string) (time.Duration, error) {
	if s == "" {
		return DefaultHold, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < int(MinHold/time.Second) || n > int(MaxHold/time.Second) {
		if len(s) > 20 {
			s = s[:20] + "…"
		}
		return 0, fmt.Errorf("%w: %s %q: want whole seconds from %d to %d",
			core.ErrInvalid, name, s, int(MinHold/time.Second), int(MaxHold/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// Holder admits and times held device requests: requests that wait for
// something to change for their device, or for their timeout. Held requests
// are bounded by their own count rather than the device request limit,
// because they cost memory and a connection each, not work. Its methods
// are safe for concurrent use.
//
// TODO(longpoll): a held request costs 33-42 KB of server memory (RSS at
// 10 000 and 19 900 held, bench/longpoll-mem.sh), against 0.7 KB for an
// idle MQTT client in mosquitto. Most of it is net/http's per-request
// state, kept while the handler waits: two goroutines (the connection's
// and its background read) and their stacks, 4 KB read and 4 KB write
// buffers, a 2 KB response buffer, the request and its contexts.
// Hijacking the connection while it waits, keeping only the net.Conn, a
// timer and one small reading goroutine to notice a hang-up, and handing
// the connection back to the server through an internal listener after
// answering (so keep-alive survives), would bring it to a few KB; it
// matters for fleets holding well over 100 000 connections per node.
type Holder struct {
	hub   *core.Hub
	slots chan struct{}
	retry time.Duration

	closeOnce sync.Once
	closing   chan struct{}
}

// NewHolder returns a Holder that admits at most max held requests and
// tells the ones past it to retry after about retry.
func NewHolder(hub *core.Hub, max int, retry time.Duration) *Holder {
	return &Holder{hub: hub, slots: make(chan struct{}, max), retry: retry, closing: make(chan struct{})}
}

// Acquire takes a slot for a held request; false when all are taken. A
// true must be followed by Release.
func (h *Holder) Acquire() bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release returns a slot.
func (h *Holder) Release() { <-h.slots }

// Held returns how many requests hold a slot.
func (h *Holder) Held() int { return len(h.slots) }

// Busy answers a request turned away for want of a slot: 503 with a
// Retry-After spread over [retry, 2·retry) so the devices do not return in
// step.
func (h *Holder) Busy(w http.ResponseWriter) {
	secs := int((h.retry + rand.N(h.retry)).Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	Text(w, http.StatusServiceUnavailable, "busy: too many held requests, retry later")
}

// Close makes every held request end now with WaitClosing, and every later
// one at once; the server calls it when it shuts down.
func (h *Holder) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

// Hold holds a request of the device (its store ID) of the product. It
// registers the device as held first and then calls check, so that a
// change made between check and the wait still wakes it; then, each time
// the device is woken, it calls check again. It returns WaitWoken as soon
// as check reports ready, and otherwise when the timeout passes, the
// device hangs up, the server shuts down, or check fails.
func (h *Holder) Hold(
	ctx context.Context, productID, deviceID int64, timeout time.Duration, check func() (bool, error),
) (WaitResult, error) {
	wake, stop := h.hub.Watch(productID, deviceID)
	defer stop()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		var ready bool
		var err error
		Shallow(func() { ready, err = check() })
		if err != nil || ready {
			return WaitWoken, err
		}
		select {
		case <-wake:
			// A wake for the whole product may change nothing for this
			// device; check says whether it did.
		case <-t.C:
			return WaitTimedOut, nil
		case <-ctx.Done():
			return WaitGone, nil
		case <-h.closing:
			return WaitClosing, nil
		}
	}
}

// Shallow runs fn on a goroutine of its own and returns when it has.
//
// A held request keeps its goroutine for minutes, and with it that
// goroutine's stack, which grows to the deepest call it ever made and
// shrinks only slowly, at garbage collections. The store's calls are deep
// (the SQLite driver), so a held request that made them itself would keep
// tens of kilobytes of stack it no longer uses; work done through Shallow
// grows a short-lived goroutine's stack instead, freed when fn returns.
// What it costs is a goroutine start per call, about a microsecond.
func Shallow(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// WaitResult says why Wait returned.
type WaitResult int

// Wait results.
const (
	WaitWoken    WaitResult = iota // check reported ready (or failed)
	WaitTimedOut                   // the device's timeout passed
	WaitGone                       // the device hung up
	WaitClosing                    // the server is shutting down
)

// ShuttingDown answers a held request the server ends: 503, and a short
// Retry-After so the device comes back once the server is up again.
func (h *Holder) ShuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(h.retry/time.Second, 1))))
	w.Header().Set("Connection", "close")
	Text(w, http.StatusServiceUnavailable, "server shutting down, retry later")
}
