package mqtt

import (
	"sync"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the per-device rate table. Behind a broker with
// per-device ACLs, devices can only publish under their own names, so the
// table holds one bucket per device that spoke lately; past the bound it
// starts afresh, which hands every device a full bucket once.
const maxBuckets = 1 << 16

// burstSeconds is how many seconds' worth of messages a device may send
// at once, as over HTTP: a check-in followed by a burst of reports.
const burstSeconds = 5

// limiter keeps one token bucket per device, so that one device flooding
// the broker cannot keep the workers (and the store) from the others.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// newLimiter returns a limiter of perSecond messages per device, or nil
// (no limit) for 0.
func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{
		rate: rate.Limit(perSecond), burst: max(1, int(perSecond*burstSeconds)),
		buckets: make(map[string]*rate.Limiter),
	}
}

// allow takes a token from key's bucket.
func (l *limiter) allow(key string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	return b.Allow()
}
