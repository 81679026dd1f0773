package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// hit sends one request for target from remote through h and returns the
// status and Retry-After it got.
func hit(t testing.TB, h http.Handler, remote, target string, header ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Retry-After")
}

func limited(cfg Config, key func(*http.Request) string) http.Handler {
	cfg = cfg.withDefaults()
	return newRateLimits(cfg).wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), key)
}

// spend makes the burst's worth of requests (5 at 1 request/s) and fails
// if any is refused.
func spend(t testing.TB, h http.Handler, remote, target string, header ...string) {
	t.Helper()
	for i := range burstSeconds {
		if code, _ := hit(t, h, remote, target, header...); code != http.StatusOK {
			t.Fatalf("request %d for %s from %s = %d, want 200 within the burst", i+1, target, remote, code)
		}
	}
}

func TestAddressLimitRefusesPastBurst(t *testing.T) {
	h := limited(Config{RatePerAddress: 1}, plainDeviceKey)
	spend(t, h, "192.0.2.1:4000", "/fw/p/bin")

	code, retry := hit(t, h, "192.0.2.1:4001", "/fw/p/bin")
	if code != http.StatusTooManyRequests || retry != "1" {
		t.Errorf("request past the burst = %d, Retry-After %q; want 429, Retry-After 1", code, retry)
	}
	if code, _ := hit(t, h, "192.0.2.2:4000", "/fw/p/bin"); code != http.StatusOK {
		t.Errorf("request from another address = %d, want 200", code)
	}
}

func TestRetryAfterCoversTheWait(t *testing.T) {
	// 0.1 request/s: a burst of one, then ten seconds to the next token.
	h := limited(Config{RatePerAddress: 0.1}, plainDeviceKey)
	hit(t, h, "192.0.2.1:4000", "/fw/p/bin")
	code, retry := hit(t, h, "192.0.2.1:4000", "/fw/p/bin")
	if code != http.StatusTooManyRequests || retry != "10" {
		t.Errorf("second request = %d, Retry-After %q; want 429, Retry-After 10", code, retry)
	}
}

func TestDeviceLimit(t *testing.T) {
	tests := []struct {
		name, target, other string
		key                 func(*http.Request) string
	}{
		{"plain", "/fw/p/bin?device=a", "/fw/p/bin?device=b", plainDeviceKey},
		{"plain other product", "/fw/p/bin?device=a", "/fw/q/bin?device=a", plainDeviceKey},
		{"plain without device", "/fw/p/bin?device=a", "/fw/p/bin", plainDeviceKey},
		{"native", "/device/v1/p/img/00?id=a", "/device/v1/p/img/00?id=b", nativeDeviceKey},
		{"native without id", "/device/v1/p/img/00?id=a", "/device/v1/p/checkin", nativeDeviceKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := limited(Config{RatePerDevice: 1}, tt.key)
			// The device moves between addresses; its limit follows it.
			spend(t, h, "192.0.2.1:4000", tt.target)
			if code, retry := hit(t, h, "192.0.2.9:4000", tt.target); code != http.StatusTooManyRequests ||
				retry == "" {
				t.Errorf("GET %s past the burst = %d, Retry-After %q; want 429 with Retry-After",
					tt.target, code, retry)
			}
			if code, _ := hit(t, h, "192.0.2.1:4000", tt.other); code != http.StatusOK {
				t.Errorf("GET %s = %d, want 200: another key", tt.other, code)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		name       string
		trustProxy bool
		remote     string
		header     []string
		want       string
	}{
		{"ipv4", false, "192.0.2.1:4000", nil, "192.0.2.1"},
		{"ipv6 by /64", false, "[2001:db8:1:2:aaaa::1]:4000", nil, "2001:db8:1:2::/64"},
		{"mapped ipv4", false, "[::ffff:192.0.2.1]:4000", nil, "192.0.2.1"},
		{"forwarded untrusted", false, "192.0.2.1:4000", []string{"X-Forwarded-For", "198.51.100.7"}, "192.0.2.1"},
		{"forwarded trusted", true, "192.0.2.1:4000", []string{"X-Forwarded-For", "203.0.113.5, 198.51.100.7"},
			"198.51.100.7"},
		{"forwarded twice", true, "192.0.2.1:4000",
			[]string{"X-Forwarded-For", "203.0.113.5", "X-Forwarded-For", "198.51.100.8"}, "198.51.100.8"},
		{"trusted without header", true, "192.0.2.1:4000", nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := &rateLimits{trustProxy: tt.trustProxy}
			req := httptest.NewRequest(http.MethodGet, "/fw/p/bin", nil)
			req.RemoteAddr = tt.remote
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			if got := rl.clientKey(req); got != tt.want {
				t.Errorf("clientKey(%s, %q) = %q, want %q", tt.remote, tt.header, got, tt.want)
			}
		})
	}
}

func TestLimiterStaysBounded(t *testing.T) {
	l := newLimiter(1, 100)
	for i := range 10000 {
		l.allow(fmt.Sprintf("198.51.%d.%d", i/256, i%256))
	}
	if got := l.size(); got != 100 {
		t.Errorf("after 10000 addresses size() = %d, want the cap of 100", got)
	}
}

func TestLimiterDropsIdleBuckets(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(1, 1000)
	l.now = func() time.Time { return now }
	for i := range 50 {
		l.allow(fmt.Sprint("idle-", i))
	}
	now = now.Add(limiterIdle - time.Second)
	l.allow("fresh")

	now = now.Add(2 * time.Second)
	l.allow("fresh")
	if got := l.size(); got != 1 {
		t.Errorf("size() after the first 50 went idle = %d, want 1", got)
	}
}

func TestLimiterKeepsBucketOfActiveKey(t *testing.T) {
	l := newLimiter(1, 1)
	for range burstSeconds {
		l.allow("a")
	}
	if ok, wait := l.allow("a"); ok || wait <= 0 {
		t.Errorf("allow(a) past the burst at the cap = %v, %v; want refused with a wait", ok, wait)
	}
}
