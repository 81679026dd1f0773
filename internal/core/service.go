package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds the update rules' tunables. Zero fields take the defaults
// documented on each.
type Config struct {
	// PollInterval is how long an idle device waits before checking in
	// again. Default one hour.
	PollInterval time.Duration
	// FailLimit failures of one release by one device within CoolDown stop
	// the release being offered to that device until the cool-down has
	// passed since the last failure. Default 3.
	FailLimit int
	// CoolDown defaults to 24 hours.
	CoolDown time.Duration
	// MaxImageSize bounds an uploaded image. Default 128 MiB.
	MaxImageSize int64
	// FlushInterval is how often batched last-seen and byte counters are
	// written. Default 2 seconds.
	FlushInterval time.Duration
	// PollActive is how long a device waits before checking in again while
	// an update or an active rollout concerns it. Default 5 minutes.
	PollActive time.Duration
	// PollJitter spreads poll hints by up to this share either way, so
	// devices told the same interval drift apart. Default 0.1.
	PollJitter float64
	// RolloutTick is how often active rollouts are evaluated for phase
	// advances and completion. Default 5 seconds.
	RolloutTick time.Duration
	// Kick, when set, is called after a transaction queued webhook
	// deliveries, to wake their sender.
	Kick func()
	// KickNudges, when set, is called after a transaction queued nudges
	// to send (see queueNudge), to wake their sender. It must not block.
	KickNudges func()
	// Now returns the current time; tests replace it. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = time.Hour
	}
	if c.FailLimit <= 0 {
		c.FailLimit = 3
	}
	if c.CoolDown <= 0 {
		c.CoolDown = 24 * time.Hour
	}
	if c.MaxImageSize <= 0 {
		c.MaxImageSize = 128 << 20
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 2 * time.Second
	}
	if c.PollActive <= 0 {
		c.PollActive = 5 * time.Minute
	}
	if c.PollJitter <= 0 || c.PollJitter >= 1 {
		c.PollJitter = 0.1
	}
	if c.RolloutTick <= 0 {
		c.RolloutTick = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service is the update core. Its methods are safe for concurrent use.
type Service struct {
	store Store
	blobs Blobs
	cfg   Config
	log   *slog.Logger

	// touches batches the writes every device request makes (last seen,
	// bytes served) so the hot path does not wait on the disk.
	mu      sync.Mutex
	touches map[int64]Touch
	// tokenUses batches operator tokens' last use the same way; nil
	// when empty.
	tokenUses map[int64]time.Time
	stop      chan struct{}
	done      chan struct{}

	// replays holds the signed requests accepted within the window.
	replays replaySet

	// queued is set when a transaction queued a webhook delivery.
	queued atomic.Bool
	// nudged is set when a transaction queued a nudge to send.
	nudged atomic.Bool

	// hub wakes the connections devices hold when what they should do
	// changes.
	hub *Hub
}

// NewService returns a Service over store and blobs and starts its
// background work: flushing batched writes, evaluating rollouts and
// expiring commands. Close stops it.
func NewService(store Store, blobs Blobs, cfg Config, logger *slog.Logger) *Service {
	s := &Service{
		store:   store,
		blobs:   blobs,
		cfg:     cfg.withDefaults(),
		log:     logger.With("component", "core"),
		touches: make(map[int64]Touch),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		hub:     NewHub(),
	}
	go s.background()
	return s
}

// Close stops the background flush and writes what is still batched.
func (s *Service) Close() error {
	close(s.stop)
	<-s.done
	return s.Flush(context.Background())
}

// Hub returns the service's hub of held device connections.
func (s *Service) Hub() *Hub { return s.hub }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// now is the service's clock, at the millisecond precision the store
// keeps, so that what an answer shows equals what a later read returns.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// background flushes batched writes, evaluates rollouts and expires
// commands until Close.
func (s *Service) background() {
	defer close(s.done)
	flush := time.NewTicker(s.cfg.FlushInterval)
	defer flush.Stop()
	rollouts := time.NewTicker(s.cfg.RolloutTick)
	defer rollouts.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-flush.C:
			if err := s.Flush(context.Background()); err != nil {
				s.log.Error("flush batched writes", "error", err)
			}
		case <-rollouts.C:
			if err := s.EvaluateRollouts(context.Background()); err != nil {
				s.log.Error("evaluate rollouts", "error", err)
			}
			if err := s.ExpireCommands(context.Background()); err != nil {
				s.log.Error("expire commands", "error", err)
			}
		}
	}
}

// Flush writes batched last-seen times, byte counters and token uses now.
// On failure a batch is kept and merged into the next one.
func (s *Service) Flush(ctx context.Context) error {
	return errors.Join(s.flushDevices(ctx), s.flushTokens(ctx))
}

func (s *Service) flushDevices(ctx context.Context) error {
	s.mu.Lock()
	batch := s.touches
	s.touches = make(map[int64]Touch)
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.store.TouchDevices(ctx, batch); err != nil {
		s.mu.Lock()
		for id, t := range batch {
			s.mergeTouch(id, t)
		}
		s.mu.Unlock()
		return fmt.Errorf("touch %d devices: %w", len(batch), err)
	}
	return nil
}

// mergeTouch adds t to the batch; s.mu must be held.
func (s *Service) mergeTouch(id int64, t Touch) {
	cur := s.touches[id]
	if t.Seen.After(cur.Seen) {
		cur.Seen = t.Seen
	}
	cur.Bytes += t.Bytes
	if t.ReleaseID != 0 {
		// Should one batch hold bytes of two releases (a device switched
		// mid-flush), all go to the later: a rare, small misattribution
		// that keeps the batch one row per device.
		cur.ReleaseID = t.ReleaseID
	}
	s.touches[id] = cur
}

func (s *Service) touch(deviceID int64, seen time.Time, bytes int64) {
	s.mu.Lock()
	s.mergeTouch(deviceID, Touch{Seen: seen, Bytes: bytes})
	s.mu.Unlock()
}

// CountBytes records n bytes of a release's image served to a device, for
// the device and for its update to that release. It never blocks on the
// store.
func (s *Service) CountBytes(deviceID, releaseID, n int64) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.mergeTouch(deviceID, Touch{Seen: s.now(), Bytes: n, ReleaseID: releaseID})
	s.mu.Unlock()
}

// newSecret returns a random credential with a recognisable prefix, and the
// hash under which it is stored.
func newSecret(prefix string) (secret, hash string) {
	secret = prefix + rand.Text()
	return secret, HashSecret(secret)
}

// HashSecret returns the lowercase hex SHA-256 under which a credential is
// stored. Credentials are long random strings, so a fast hash suffices.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secretMatches compares a presented credential with a stored hash in
// constant time.
func secretMatches(secret, hash string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// lookupErr replaces a store's not-found error with msg, which names the
// object in the operator's or device's terms; other errors pass unchanged.
func lookupErr(err error, msg string) error {
	if notFound(err) {
		return fmt.Errorf("%s: %w", msg, ErrNotFound)
	}
	return err
}

// notFound reports whether err means "no such object".
func notFound(err error) bool { return errors.Is(err, ErrNotFound) }
