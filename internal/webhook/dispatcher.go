package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/outbox"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultPollInterval = time.Second
	DefaultBatchSize    = 32
	DefaultConcurrency  = 4
	DefaultMaxAttempts  = 15
	DefaultBackoffBase  = 2 * time.Second
	DefaultBackoffCap   = time.Hour
)

// Source is the part of the store a Dispatcher reads and writes;
// core.Store satisfies it.
type Source interface {
	// Webhook returns a product's webhook, or an error wrapping
	// core.ErrNotFound when the product has none.
	Webhook(ctx context.Context, productID int64) (core.Webhook, error)
	// DueDeliveries returns up to limit undelivered deliveries whose NextAt
	// is at or before now, oldest first; an empty slice when none is due.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]core.Delivery, error)
	// SaveDelivery writes d's attempts, next attempt, delivered time and last
	// error; an error wrapping core.ErrNotFound when d.ID does not exist.
	SaveDelivery(ctx context.Context, d core.Delivery) error
}

// Config tunes a Dispatcher. Zero fields take the Default values above.
type Config struct {
	// Client posts the events. Nil means a client with DefaultTimeout. A
	// given client is copied; a zero Timeout gets DefaultTimeout, and the
	// copy never follows redirects, so a receiver cannot bounce the signed
	// body to another address: a 3xx answer counts as a failure.
	Client *http.Client
	// PollInterval is how often Run looks for due deliveries when not kicked.
	PollInterval time.Duration
	// BatchSize is the most deliveries one pass of DeliverDue handles.
	BatchSize int
	// Concurrency is the most POSTs in flight at once, so one slow receiver
	// holds at most one slot until its timeout.
	Concurrency int
	// MaxAttempts is how many POSTs a delivery gets before it is abandoned.
	MaxAttempts int
	// BackoffBase is the wait after the first failure; each further failure
	// doubles it, up to BackoffCap, and each wait varies by ±20%.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with its zero fields filled in.
func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffCap <= 0 {
		c.BackoffCap = DefaultBackoffCap
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Dispatcher sends due deliveries from the outbox. Its methods are safe for
// concurrent use, but only one Run (or DeliverDue loop) should work an outbox
// at a time, or the same event is posted twice as often.
type Dispatcher struct {
	src    Source
	cfg    Config
	client *http.Client
	log    *slog.Logger
	loop   *outbox.Loop
}

// New returns a Dispatcher that reads deliveries from src and logs to logger
// (nil discards).
func New(src Source, cfg Config, logger *slog.Logger) *Dispatcher {
	cfg = cfg.withDefaults()

	client := outbox.Client(cfg.Client, DefaultTimeout)

	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{src: src, cfg: cfg, client: client, log: logger.With("component", "webhook")}
	d.loop = outbox.NewLoop(d.DeliverDue, cfg.PollInterval, cfg.BatchSize, d.log, "webhook pass")
	return d
}

// Kick wakes Run so that freshly queued events go out now rather than at the
// next poll. It never blocks; kicks that arrive while Run is busy merge into
// one more pass.
func (d *Dispatcher) Kick() { d.loop.Kick() }

// Run delivers due events until ctx ends, then returns nil. It works the
// outbox at start, on every Kick and every PollInterval, each time until
// nothing more is due. Store errors are logged and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context) error { return d.loop.Run(ctx) }

// DeliverDue makes one pass: it fetches up to BatchSize due deliveries, posts
// them with at most Concurrency in flight, records each outcome, and returns
// how many it fetched. Receiver failures are recorded, not returned; the
// error joins store errors, and deliveries they concern stay due.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	due, err := d.src.DueDeliveries(ctx, d.cfg.Now(), d.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("due webhook deliveries: %w", err)
	}
	hooks, errs := d.webhooks(ctx, due)
	err = outbox.Fan(due, d.cfg.Concurrency, func(dl core.Delivery) error {
		hook, ok := hooks[dl.ProductID]
		if !ok {
			return nil
		}
		return d.deliver(ctx, dl, hook)
	})
	return len(due), errors.Join(append(errs, err)...)
}

// webhooks looks up the webhook of every product in due, once each. A nil
// value means the product has none; a product missing from the map could not
// be looked up, and the returned errors say why.
func (d *Dispatcher) webhooks(ctx context.Context, due []core.Delivery) (map[int64]*core.Webhook, []error) {
	hooks := make(map[int64]*core.Webhook)
	seen := make(map[int64]bool)
	var errs []error
	for _, dl := range due {
		if seen[dl.ProductID] {
			continue
		}
		seen[dl.ProductID] = true
		h, err := d.src.Webhook(ctx, dl.ProductID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			hooks[dl.ProductID] = nil
		case err != nil:
			errs = append(errs, fmt.Errorf("webhook of product %d: %w", dl.ProductID, err))
		default:
			hooks[dl.ProductID] = &h
		}
	}
	return hooks, errs
}
