package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFanBoundsAndJoins(t *testing.T) {
	var running, peak atomic.Int32
	errOdd := errors.New("odd")
	items := []int{1, 2, 3, 4, 5, 6, 7, 8}
	var mu sync.Mutex
	seen := map[int]bool{}
	err := Fan(items, 2, func(i int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		seen[i] = true
		mu.Unlock()
		if i%2 == 1 {
			return errOdd
		}
		return nil
	})
	if peak.Load() > 2 {
		t.Errorf("%d sends ran at once, want at most 2", peak.Load())
	}
	if len(seen) != len(items) {
		t.Errorf("sent %d items, want %d", len(seen), len(items))
	}
	if !errors.Is(err, errOdd) {
		t.Errorf("Fan returned %v, want the sends' errors joined", err)
	}
}

func TestLoopDrainsFullBatchesThenWaitsForAKick(t *testing.T) {
	passes := make(chan int, 16)
	var calls atomic.Int32
	// Two full batches, then a short one: three passes at start. A kick
	// makes a fourth.
	pass := func(context.Context) (int, error) {
		n := calls.Add(1)
		passes <- int(n)
		if n <= 2 {
			return 10, nil
		}
		return 3, nil
	}
	l := NewLoop(pass, time.Hour, 10, slog.New(slog.DiscardHandler), "test pass")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for want := 1; want <= 3; want++ {
		if got := <-passes; got != want {
			t.Fatalf("pass %d, want %d", got, want)
		}
	}
	l.Kick()
	if got := <-passes; got != 4 {
		t.Fatalf("after a kick, pass %d, want 4", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
}
