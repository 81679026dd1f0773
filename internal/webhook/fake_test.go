package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/webhook"
)

// The real store must keep satisfying the interface the package declares.
var _ webhook.Source = core.Store(nil)

// fakeSource is an in-memory outbox with the contract of core.Store's
// webhook methods.
type fakeSource struct {
	mu         sync.Mutex
	hooks      map[int64]core.Webhook
	rows       map[int64]core.Delivery
	nextID     int64
	webhookErr error         // when set, Webhook fails with it
	dueCalls   chan struct{} // when set, gets a value (if room) per DueDeliveries
}

func newFakeSource() *fakeSource {
	return &fakeSource{hooks: make(map[int64]core.Webhook), rows: make(map[int64]core.Delivery)}
}

func (f *fakeSource) setHook(productID int64, url, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks[productID] = core.Webhook{ProductID: productID, URL: url, Secret: secret}
}

// add queues an event that is due at once and returns its ID.
func (f *fakeSource) add(productID int64, event string, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.rows[f.nextID] = core.Delivery{ID: f.nextID, ProductID: productID, Event: event, Body: []byte(body)}
	return f.nextID
}

func (f *fakeSource) get(id int64) core.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rows[id]
}

func (f *fakeSource) Webhook(_ context.Context, productID int64) (core.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.webhookErr != nil {
		return core.Webhook{}, f.webhookErr
	}
	h, ok := f.hooks[productID]
	if !ok {
		return core.Webhook{}, fmt.Errorf("webhook of product %d: %w", productID, core.ErrNotFound)
	}
	return h, nil
}

func (f *fakeSource) DueDeliveries(_ context.Context, now time.Time, limit int) ([]core.Delivery, error) {
	f.mu.Lock()
	due := []core.Delivery{}
	for _, d := range f.rows {
		if d.DeliveredAt.IsZero() && !d.NextAt.After(now) {
			due = append(due, d)
		}
	}
	f.mu.Unlock()

	slices.SortFunc(due, func(a, b core.Delivery) int { return int(a.ID - b.ID) })
	if len(due) > limit {
		due = due[:limit]
	}
	if f.dueCalls != nil {
		select {
		case f.dueCalls <- struct{}{}:
		default:
		}
	}
	return due, nil
}

func (f *fakeSource) SaveDelivery(_ context.Context, d core.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.rows[d.ID]
	if !ok {
		return fmt.Errorf("delivery %d: %w", d.ID, core.ErrNotFound)
	}
	old.Attempts, old.NextAt, old.DeliveredAt, old.LastError = d.Attempts, d.NextAt, d.DeliveredAt, d.LastError
	f.rows[d.ID] = old
	return nil
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
