package core_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// woken reports whether ch holds a wake, taking it.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHubWake(t *testing.T) {
	h := core.NewHub()
	a, stopA := h.Watch(1, 10)
	a2, stopA2 := h.Watch(1, 10) // the same device holding a second connection
	b, stopB := h.Watch(1, 11)
	c, stopC := h.Watch(2, 20)
	defer stopB()
	defer stopC()

	// Wakes collapse into one pending value and never block.
	for range 3 {
		h.Wake(1, 10)
	}
	if got := []bool{woken(a), woken(a), woken(a2), woken(b), woken(c)}; !slices.Equal(got,
		[]bool{true, false, true, false, false}) {
		t.Errorf("after Wake(1, 10) three times, wakes of a, a again, a2, b, c = %v, want only a once and a2", got)
	}

	h.Wake(1, 0)
	if got := []bool{woken(a), woken(a2), woken(b), woken(c)}; !slices.Equal(got, []bool{true, true, true, false}) {
		t.Errorf("after Wake(1, 0), wakes of a, a2, b, c = %v, want the product's three", got)
	}

	stopA()
	if !h.Held(10) || h.Len() != 3 {
		t.Errorf("after one of two connections ends, Held(10), Len() = %v, %d, want true, 3", h.Held(10), h.Len())
	}
	stopA2()
	h.Wake(1, 10)
	if h.Held(10) || h.Len() != 2 || woken(a2) {
		t.Errorf("after both end, Held(10), Len() = %v, %d, want false, 2 and no wake", h.Held(10), h.Len())
	}
}

func TestHubOnWake(t *testing.T) {
	h := core.NewHub()
	var mu sync.Mutex
	var got [][2]int64
	h.OnWake(func(p, d int64) {
		mu.Lock()
		got = append(got, [2]int64{p, d})
		mu.Unlock()
	})
	h.Wake(1, 10) // no connection held: the adapter still hears it
	h.Wake(2, 0)
	mu.Lock()
	defer mu.Unlock()
	if want := [][2]int64{{1, 10}, {2, 0}}; !slices.Equal(got, want) {
		t.Errorf("OnWake saw %v, want %v", got, want)
	}
}

func TestHubWatchAck(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.checkIn(t, "dev-1", "1.0.0")
	c := f.queue(t, "dev-1", core.CommandRequest{Name: "reboot"})
	other := f.queue(t, "dev-1", core.CommandRequest{Name: "blink"})
	answered, stop := f.svc.Hub().WatchAck(c.ID)
	defer stop()

	if _, err := f.svc.AckCommand(t.Context(), f.p, "dev-1", other.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if woken(answered) {
		t.Errorf("an answer to command %d woke the waiter of %d", other.ID, c.ID)
	}
	if _, err := f.svc.AckCommand(t.Context(), f.p, "dev-1", c.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if !woken(answered) {
		t.Errorf("the answer to command %d did not wake its waiter", c.ID)
	}
}
