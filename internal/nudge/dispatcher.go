package nudge

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
)

// Source is the part of the store a Dispatcher reads and writes;
// core.Store satisfies it.
type Source interface {
	// Tx runs fn in one transaction; see core.Store.
	Tx(ctx context.Context, fn func(core.Store) error) error
	// NudgeConfig returns a product's nudge configuration, or an error
	// wrapping core.ErrNotFound when it has none.
	NudgeConfig(ctx context.Context, productID int64) (core.NudgeConfig, error)
	// DueNudges returns up to limit queued nudges due at or before now,
	// the longest due first; an empty slice when none is.
	DueNudges(ctx context.Context, now time.Time, limit int) ([]core.Nudge, error)
}

// Config tunes a Dispatcher. Zero fields take the Default values above.
// Retry policy and limits are per product, in core.NudgeConfig.
type Config struct {
	// Client makes the requests. Nil means a client with DefaultTimeout. A
	// given client is copied; a zero Timeout gets DefaultTimeout, and the
	// copy never follows redirects, so a target cannot bounce the request
	// (and its Authorization header) elsewhere.
	Client *http.Client
	// PollInterval is how often Run looks for due nudges when not kicked.
	PollInterval time.Duration
	// BatchSize is the most nudges one pass of SendDue handles.
	BatchSize int
	// Concurrency is the most requests in flight at once.
	Concurrency int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

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
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Dispatcher sends due nudges from the outbox. Its methods are safe for
// concurrent use, but only one Run should work an outbox at a time, or a
// nudge may be sent twice.
type Dispatcher struct {
	src    Source
	cfg    Config
	client *http.Client
	log    *slog.Logger
	loop   *outbox.Loop
}

// New returns a Dispatcher over src that logs to logger (nil discards).
func New(src Source, cfg Config, logger *slog.Logger) *Dispatcher {
	cfg = cfg.withDefaults()
	client := outbox.Client(cfg.Client, DefaultTimeout)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{src: src, cfg: cfg, client: client, log: logger.With("component", "nudge")}
	d.loop = outbox.NewLoop(d.SendDue, cfg.PollInterval, cfg.BatchSize, d.log, "nudge pass")
	return d
}

// Kick wakes Run so that freshly queued nudges go out now rather than at
// the next poll. It never blocks.
func (d *Dispatcher) Kick() { d.loop.Kick() }

// Run sends due nudges until ctx ends, then returns nil: at start, on
// every Kick and every PollInterval, each time until nothing more is due.
// Store errors are logged and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context) error { return d.loop.Run(ctx) }

// SendDue makes one pass: it fetches up to BatchSize due nudges, sends
// them with at most Concurrency in flight, records each attempt and
// outcome, and returns how many it fetched. Target failures are recorded,
// not returned; the error joins store errors, and the nudges they concern
// stay due.
func (d *Dispatcher) SendDue(ctx context.Context) (int, error) {
	due, err := d.src.DueNudges(ctx, d.cfg.Now(), d.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("due nudges: %w", err)
	}
	configs, errs := d.configs(ctx, due)
	err = outbox.Fan(due, d.cfg.Concurrency, func(n core.Nudge) error {
		c, ok := configs[n.ProductID]
		if !ok {
			return nil
		}
		return d.send(ctx, n, c)
	})
	return len(due), errors.Join(append(errs, err)...)
}

// configs looks up the configuration of every product in due, once each.
// A nil value means the product has none; a product missing from the map
// could not be looked up, and the errors say why.
func (d *Dispatcher) configs(ctx context.Context, due []core.Nudge) (map[int64]*core.NudgeConfig, []error) {
	out := make(map[int64]*core.NudgeConfig)
	seen := make(map[int64]bool)
	var errs []error
	for _, n := range due {
		if seen[n.ProductID] {
			continue
		}
		seen[n.ProductID] = true
		c, err := d.src.NudgeConfig(ctx, n.ProductID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			out[n.ProductID] = nil
		case err != nil:
			errs = append(errs, fmt.Errorf("nudge of product %d: %w", n.ProductID, err))
		default:
			out[n.ProductID] = &c
		}
	}
	return out, errs
}
