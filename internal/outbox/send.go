package outbox

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxErrorLen bounds a recorded send error, in bytes.
const MaxErrorLen = 200

// Client returns a copy of base (a fresh client when nil) that follows no
// redirects, since an outbox target is an operator's exact URL, and gives up
// after timeout when base sets none.
func Client(base *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		cp := *base
		c = &cp
	}
	if c.Timeout <= 0 {
		c.Timeout = timeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// Backoff is the wait before the next attempt after attempts failed ones:
// base doubled per failure up to limit, then spread by ±20 % so that items
// failing together do not retry in lock-step (at the cap the wait may thus
// exceed limit by up to a fifth).
func Backoff(base, limit time.Duration, attempts int) time.Duration {
	wait := base
	for i := 1; i < attempts && wait < limit; i++ {
		wait *= 2
	}
	wait = min(wait, limit)
	return time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
}

// ErrorText turns a failed send into a recorded error that never carries
// the secret or the URL: *url.Error repeats the URL, whose path or query may
// hold a receiver's token, so only its cause is kept; the secret is replaced
// in case a receiver echoes it in its status line.
func ErrorText(err error, secret string) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	msg := err.Error()
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return Truncate(msg, MaxErrorLen)
}

// HostOf returns the host of a target URL for logs, which must not show the
// rest of it (see ErrorText).
func HostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
