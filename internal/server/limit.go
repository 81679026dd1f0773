package server

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-ota/ferry/internal/ddi"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// Limits are in requests per second; each bucket holds burstSeconds worth
// of requests, so a device can fetch the check-in, hash, manifest and the
// first pieces of an image in one go after being quiet.
const (
	burstSeconds = 5
	// limiterIdle is how long a bucket may go unused before it is dropped.
	// A bucket idle this long has long been full again, so dropping it
	// loses nothing.
	limiterIdle = 10 * time.Minute
	// maxKeyLen bounds what one bucket's key costs: device ids and product
	// names come from the client.
	maxKeyLen = 256
)

// limiter keeps one token bucket per key, in least-recently-used order so
// that idle buckets are found at the back and dropped without a sweep.
// The table never holds more than max buckets: past it the oldest goes
// even if it is not idle yet, which hands that key a fresh bucket; a
// flood of fresh keys is what the address limit in front of it holds back.
type limiter struct {
	rate  rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *bucket, most recently used at the front
	buckets map[string]*list.Element
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	used time.Time
}

func newLimiter(perSecond float64, maxEntries int) *limiter {
	return &limiter{
		rate:    rate.Limit(perSecond),
		burst:   max(1, int(math.Ceil(perSecond*burstSeconds))),
		max:     maxEntries,
		now:     time.Now,
		lru:     list.New(),
		buckets: make(map[string]*list.Element),
	}
}

// allow takes a token from key's bucket. When none is left it returns
// false and how long until one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()

	b := l.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		// Refused requests must not spend tokens they were not given.
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucket returns key's bucket, marked used at now. On the way it drops
// idle buckets from the back, and the oldest one when a new key would
// pass the cap. l.mu must be held.
func (l *limiter) bucket(key string, now time.Time) *bucket {
	e, ok := l.buckets[key]
	for back := l.lru.Back(); back != nil && back != e; back = l.lru.Back() {
		b := back.Value.(*bucket)
		full := !ok && l.lru.Len() >= l.max
		if !full && now.Sub(b.used) < limiterIdle {
			break
		}
		l.lru.Remove(back)
		delete(l.buckets, b.key)
	}

	if ok {
		b := e.Value.(*bucket)
		b.used = now
		l.lru.MoveToFront(e)
		return b
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.rate, l.burst), used: now}
	l.buckets[key] = l.lru.PushFront(b)
	return b
}

// size returns the number of buckets held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// rateLimits holds the per-address and per-device limiters of the device
// endpoints. A nil limiter is a disabled one.
type rateLimits struct {
	address    *limiter
	device     *limiter
	trustProxy bool
}

func newRateLimits(cfg Config) *rateLimits {
	rl := &rateLimits{trustProxy: cfg.TrustProxy}
	if cfg.RatePerAddress > 0 {
		rl.address = newLimiter(cfg.RatePerAddress, cfg.RateEntries)
	}
	if cfg.RatePerDevice > 0 {
		rl.device = newLimiter(cfg.RatePerDevice, cfg.RateEntries)
	}
	return rl
}

// wrap limits h first by the client's address, then by the device when
// deviceKey names one. It sits in front of the shedder, so refused
// requests never take a slot.
func (rl *rateLimits) wrap(h http.Handler, deviceKey func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rl.address != nil {
			if ok, wait := rl.address.allow(rl.clientKey(r)); !ok {
				tooMany(w, wait)
				return
			}
		}
		if rl.device != nil {
			if key := deviceKey(r); key != "" {
				if ok, wait := rl.device.allow(key); !ok {
					tooMany(w, wait)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

func tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	httpkit.Text(w, http.StatusTooManyRequests, "too many requests: retry later")
}

// clientKey names the client's address. Behind a trusted proxy that is the
// last X-Forwarded-For hop, the one the proxy itself added; earlier hops
// are the client's to write. IPv6 clients are keyed by their /64, which is
// what one subscriber usually gets.
func (rl *rateLimits) clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if rl.trustProxy {
		if hops := r.Header.Values("X-Forwarded-For"); len(hops) > 0 {
			last := hops[len(hops)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			host = strings.TrimSpace(last)
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return truncate(host)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// plainDeviceKey keys a plain-protocol request by product and its device
// query parameter; requests without one are limited by address only.
func plainDeviceKey(r *http.Request) string {
	return deviceKey(r, "/fw/", "device")
}

// nativeDeviceKey keys a native request by product and its id query
// parameter. The device id a check-in carries in its body is not read
// here: that would consume the body before the handler.
func nativeDeviceKey(r *http.Request) string {
	return deviceKey(r, "/device/v1/", "id")
}

// waitDeviceKey keys a held check-in by product and its id, or device,
// query parameter.
func waitDeviceKey(r *http.Request) string {
	if key := deviceKey(r, "/device/v1/", "id"); key != "" {
		return key
	}
	return deviceKey(r, "/device/v1/", "device")
}

// ddiDeviceKey keys a hawkBit DDI request by tenant and controller, both
// in its path.
func ddiDeviceKey(r *http.Request) string {
	return truncate(ddi.DeviceKey(r.URL.Path))
}

// espDeviceKey keys an httpUpdate request by product and the station MAC
// header it carries, else its device parameter. The header is taken as
// sent, not parsed: a client that spells one MAC several ways to get more
// buckets is still held by the address limit in front.
func espDeviceKey(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/esp/")
	id := r.Header.Get("X-Esp8266-Sta-Mac")
	if id == "" {
		id = r.Header.Get("X-Esp32-Sta-Mac")
	}
	if id == "" {
		id = r.URL.Query().Get("device")
	}
	if id == "" || !ok {
		return ""
	}
	return truncate(rest + "\x00" + id)
}

func deviceKey(r *http.Request, prefix, param string) string {
	id := r.URL.Query().Get(param)
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if id == "" || !ok {
		return ""
	}
	product, _, _ := strings.Cut(rest, "/")
	return truncate(product + "\x00" + id)
}

func truncate(s string) string {
	if len(s) > maxKeyLen {
		return s[:maxKeyLen]
	}
	return s
}
