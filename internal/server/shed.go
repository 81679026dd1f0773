package server

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/httpkit"
)

// shedder bounds the device requests served at once. A device turned away
// gets 503 with a Retry-After spread over [base, 2·base), so a fleet that
// arrives together leaves spread out instead of retrying in step.
type shedder struct {
	slots chan struct{}
	base  time.Duration
}

func newShedder(n int, base time.Duration) *shedder {
	return &shedder{slots: make(chan struct{}, n), base: base}
}

func (s *shedder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
			h.ServeHTTP(w, r)
		default:
			secs := int((s.base + rand.N(s.base)).Round(time.Second) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			httpkit.Text(w, http.StatusServiceUnavailable, "busy: retry later")
		}
	})
}
