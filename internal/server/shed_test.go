package server

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestShedderTurnsAwayPastItsBound(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 3)
	h := newShedder(2, 10*time.Second).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))

	var done sync.WaitGroup
	for range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fw/p/version", nil))
		}()
	}
	<-entered
	<-entered

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/fw/p/version", nil))
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusServiceUnavailable || err != nil || secs < 10 || secs > 20 {
		t.Errorf("third request = %d Retry-After %q, want 503 with 10-20 seconds",
			w.Code, w.Header().Get("Retry-After"))
	}
	close(release)
	done.Wait()

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/fw/p/version", nil))
	if w.Code != http.StatusOK {
		t.Errorf("request after the others finished = %d, want 200", w.Code)
	}
}
