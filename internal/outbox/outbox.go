// Package outbox works a durable outbox: it runs passes over what is due at
// start, on every kick and every poll interval, and sends a pass's items with
// a bound on how many are in flight. The webhook and nudge dispatchers are
// built on it; what is due, how it is sent and how outcomes are recorded stay
// theirs.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Loop runs an outbox's passes. Its Kick is safe for concurrent use; only
// one Run should work an outbox at a time, or items may be sent twice.
type Loop struct {
	pass     func(context.Context) (int, error)
	interval time.Duration
	batch    int
	log      *slog.Logger
	msg      string
	kick     chan struct{}
}

// NewLoop returns a Loop over pass, which sends what is due and returns how
// many items it fetched, at most batch. A pass that returns a full batch is
// followed at once by another, so a backlog does not wait an interval per
// batch. Pass errors are logged with msg and retried at the next interval.
func NewLoop(
	pass func(context.Context) (int, error),
	interval time.Duration,
	batch int,
	log *slog.Logger,
	msg string,
) *Loop {
	return &Loop{pass: pass, interval: interval, batch: batch, log: log, msg: msg,
		kick: make(chan struct{}, 1)}
}

// Kick wakes Run so that freshly queued items go out now rather than at the
// next interval. It never blocks; kicks that arrive while a pass runs merge
// into one more pass.
func (l *Loop) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run works the outbox until ctx ends, then returns nil.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		l.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.kick:
		}
	}
}

func (l *Loop) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := l.pass(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Error(l.msg, "error", err)
			}
			return
		}
		if n < l.batch {
			return
		}
	}
}

// Fan calls send for every item with at most limit calls running at once,
// waits for all of them, and returns their errors joined.
func Fan[T any](items []T, limit int, send func(T) error) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		sem  = make(chan struct{}, max(limit, 1))
	)
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := send(it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
