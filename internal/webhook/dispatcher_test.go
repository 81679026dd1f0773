package webhook_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/internal/webhook"
)

// receiver is a local webhook endpoint that answers with the status codes
// in codes, one per request (the last repeats), and records what it got.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	codes  []int
	reqs   []*http.Request
	bodies [][]byte
}

func newReceiver(t testing.TB, codes ...int) *receiver {
	t.Helper()
	rc := &receiver{codes: codes}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		code := rc.codes[min(len(rc.reqs), len(rc.codes)-1)]
		rc.reqs = append(rc.reqs, r)
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) hits() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func TestDeliverSendsSignedRequest(t *testing.T) {
	const secret = "s3cret"
	rc := newReceiver(t, http.StatusNoContent)
	src := newFakeSource()
	src.setHook(1, rc.srv.URL+"/hook", secret)
	body := `{"event":"update.succeeded","product":"p","device":"d1"}`
	id := src.add(1, "update.succeeded", body)
	clk := newClock()
	d := webhook.New(src, webhook.Config{Now: clk.Now}, nil)

	n, err := d.DeliverDue(t.Context())
	if n != 1 || err != nil {
		t.Fatalf("DeliverDue() = %d, %v, want 1, nil", n, err)
	}

	if rc.hits() != 1 {
		t.Fatalf("receiver got %d requests, want 1", rc.hits())
	}
	r, got := rc.reqs[0], rc.bodies[0]
	if string(got) != body {
		t.Errorf("body = %s, want %s", got, body)
	}
	wantHeaders := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "ferry-webhook",
		"X-Ferry-Event":     "update.succeeded",
		"X-Ferry-Delivery":  strconv.FormatInt(id, 10),
		"X-Ferry-Timestamp": strconv.FormatInt(clk.Now().Unix(), 10),
	}
	for k, want := range wantHeaders {
		if v := r.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	sig, ts := r.Header.Get("X-Ferry-Signature"), r.Header.Get("X-Ferry-Timestamp")
	if err := webhook.Verify(secret, sig, ts, got, clk.Now(), webhook.DefaultTolerance); err != nil {
		t.Errorf("Verify(received request) = %v, want nil", err)
	}

	dl := src.get(id)
	if !dl.DeliveredAt.Equal(clk.Now()) || dl.Attempts != 1 || dl.LastError != "" {
		t.Errorf("after delivery: DeliveredAt %v, Attempts %d, LastError %q; want %v, 1, \"\"",
			dl.DeliveredAt, dl.Attempts, dl.LastError, clk.Now())
	}
}

func TestDeliverRetriesWithBackoff(t *testing.T) {
	rc := newReceiver(t, 500, 500, 200)
	src := newFakeSource()
	src.setHook(1, rc.srv.URL, "k")
	id := src.add(1, "rollout.paused", `{}`)
	clk := newClock()
	d := webhook.New(src, webhook.Config{Now: clk.Now}, nil)

	// Default base 2 s with ±20% jitter: the two waits cannot overlap.
	var waits []time.Duration
	for range 2 {
		if _, err := d.DeliverDue(t.Context()); err != nil {
			t.Fatalf("DeliverDue() error = %v", err)
		}
		dl := src.get(id)
		if !dl.DeliveredAt.IsZero() || !strings.Contains(dl.LastError, "500") {
			t.Fatalf("after a 500: DeliveredAt %v, LastError %q; want zero, mentioning 500",
				dl.DeliveredAt, dl.LastError)
		}
		waits = append(waits, dl.NextAt.Sub(clk.Now()))

		if n, _ := d.DeliverDue(t.Context()); n != 0 {
			t.Errorf("DeliverDue() before NextAt handled %d, want 0", n)
		}
		clk.Set(dl.NextAt)
	}
	if waits[0] < 1600*time.Millisecond || waits[0] > 2400*time.Millisecond {
		t.Errorf("first wait = %v, want 2s ± 20%%", waits[0])
	}
	if waits[1] <= waits[0] || waits[1] < 3200*time.Millisecond || waits[1] > 4800*time.Millisecond {
		t.Errorf("second wait = %v after %v, want 4s ± 20%%", waits[1], waits[0])
	}

	if _, err := d.DeliverDue(t.Context()); err != nil {
		t.Fatalf("DeliverDue() error = %v", err)
	}
	dl := src.get(id)
	if dl.DeliveredAt.IsZero() || dl.Attempts != 3 || dl.LastError != "" {
		t.Errorf("after 500, 500, 200: DeliveredAt %v, Attempts %d, LastError %q; want set, 3, \"\"",
			dl.DeliveredAt, dl.Attempts, dl.LastError)
	}
	if rc.hits() != 3 {
		t.Errorf("receiver got %d requests, want 3", rc.hits())
	}
}

func TestDeliverGivesUpAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t, http.StatusServiceUnavailable)
	src := newFakeSource()
	src.setHook(1, rc.srv.URL, "k")
	id := src.add(1, "update.failed", `{}`)
	clk := newClock()
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := webhook.Config{Now: clk.Now, MaxAttempts: 3, BackoffBase: time.Second, BackoffCap: 2 * time.Second}
	d := webhook.New(src, cfg, log)

	for range 5 {
		if _, err := d.DeliverDue(t.Context()); err != nil {
			t.Fatalf("DeliverDue() error = %v", err)
		}
		clk.Advance(time.Hour)
	}
	clk.Advance(100 * 365 * 24 * time.Hour)
	if n, _ := d.DeliverDue(t.Context()); n != 0 {
		t.Errorf("DeliverDue() a century later handled %d, want 0", n)
	}

	dl := src.get(id)
	if !webhook.Abandoned(dl) || dl.Attempts != 3 || !strings.Contains(dl.LastError, "503") {
		t.Errorf("after 3 failures: Abandoned %v, Attempts %d, LastError %q; want true, 3, mentioning 503",
			webhook.Abandoned(dl), dl.Attempts, dl.LastError)
	}
	if rc.hits() != 3 {
		t.Errorf("receiver got %d requests, want 3", rc.hits())
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN msg=\"webhook delivery abandoned\"") {
		t.Errorf("log lacks a warning that the delivery was abandoned:\n%s", out)
	}
}

func TestDeliverWithoutWebhookDrops(t *testing.T) {
	src := newFakeSource()
	id := src.add(7, "update.succeeded", `{}`)
	clk := newClock()
	d := webhook.New(src, webhook.Config{Now: clk.Now}, nil)

	if n, err := d.DeliverDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("DeliverDue() = %d, %v, want 1, nil", n, err)
	}
	dl := src.get(id)
	if !dl.DeliveredAt.Equal(clk.Now()) || dl.Attempts != 0 || dl.LastError != "no webhook configured" {
		t.Errorf("dropped delivery: DeliveredAt %v, Attempts %d, LastError %q; want %v, 0, %q",
			dl.DeliveredAt, dl.Attempts, dl.LastError, clk.Now(), "no webhook configured")
	}
}

func TestDeliverStoreErrorLeavesDeliveryDue(t *testing.T) {
	rc := newReceiver(t, 200)
	src := newFakeSource()
	src.setHook(1, rc.srv.URL, "k")
	id := src.add(1, "update.succeeded", `{}`)
	src.webhookErr = errors.New("database is locked")
	d := webhook.New(src, webhook.Config{}, nil)

	if _, err := d.DeliverDue(t.Context()); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("DeliverDue() error = %v, want the store's error", err)
	}
	if dl := src.get(id); dl.Attempts != 0 || !dl.DeliveredAt.IsZero() || rc.hits() != 0 {
		t.Errorf("after a store error: Attempts %d, DeliveredAt %v, %d requests; want 0, zero, 0",
			dl.Attempts, dl.DeliveredAt, rc.hits())
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, 200)
	src := newFakeSource()
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	src.setHook(1, redirect.URL, "k")
	id := src.add(1, "update.succeeded", `{}`)
	d := webhook.New(src, webhook.Config{}, nil)

	if _, err := d.DeliverDue(t.Context()); err != nil {
		t.Fatalf("DeliverDue() error = %v", err)
	}
	if dl := src.get(id); !dl.DeliveredAt.IsZero() || !strings.Contains(dl.LastError, "307") {
		t.Errorf("after a redirect: DeliveredAt %v, LastError %q; want zero, mentioning 307",
			dl.DeliveredAt, dl.LastError)
	}
	if target.hits() != 0 {
		t.Errorf("redirect target got %d requests, want 0", target.hits())
	}
}

func TestHangingReceiverDoesNotStallOthers(t *testing.T) {
	fast := newReceiver(t, 200)
	sawFast := make(chan int, 1)
	done := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client hanging up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the dispatcher's client gave up
			sawFast <- fast.hits()
		case <-done:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(done) })

	src := newFakeSource()
	src.setHook(1, hang.URL, "k")
	src.setHook(2, fast.srv.URL, "k")
	hung := src.add(1, "update.failed", `{}`)
	var others []int64
	for range 3 {
		others = append(others, src.add(2, "update.succeeded", `{}`))
	}
	client := &http.Client{Timeout: 2 * time.Second}
	d := webhook.New(src, webhook.Config{Client: client, Concurrency: 2}, nil)

	if n, err := d.DeliverDue(t.Context()); n != 4 || err != nil {
		t.Fatalf("DeliverDue() = %d, %v, want 4, nil", n, err)
	}

	select {
	case got := <-sawFast:
		if got != 3 {
			t.Errorf("fast receiver got %d requests while the other hung, want 3", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("hanging receiver never saw the dispatcher hang up")
	}
	for _, id := range others {
		if dl := src.get(id); dl.DeliveredAt.IsZero() {
			t.Errorf("delivery %d to the fast receiver: not delivered, LastError %q", id, dl.LastError)
		}
	}
	dl := src.get(hung)
	if !dl.DeliveredAt.IsZero() || dl.Attempts != 1 || !strings.Contains(dl.LastError, "Timeout") {
		t.Errorf("hung delivery: DeliveredAt %v, Attempts %d, LastError %q; want zero, 1, a timeout",
			dl.DeliveredAt, dl.Attempts, dl.LastError)
	}
}

func TestKickWakesRun(t *testing.T) {
	rc := newReceiver(t, 200)
	src := newFakeSource()
	src.setHook(1, rc.srv.URL, "k")
	src.dueCalls = make(chan struct{}, 1)
	d := webhook.New(src, webhook.Config{PollInterval: time.Hour}, nil)

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	<-src.dueCalls // Run's first pass found nothing; now it sleeps for an hour

	id := src.add(1, "rollout.finished", `{}`)
	d.Kick()
	d.Kick() // never blocks, even with a kick pending
	deadline := time.After(10 * time.Second)
	for src.get(id).DeliveredAt.IsZero() {
		select {
		case <-deadline:
			t.Fatal("delivery not sent within 10 s of Kick")
		case <-time.After(5 * time.Millisecond):
		}
	}

	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
}

// rawReceiver answers every request with the given raw status line, or
// closes the connection without answering when status is empty.
func rawReceiver(t testing.TB, status string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil && status != "" {
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(conn, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}
			conn.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestNoSecretInLastErrorOrLogs(t *testing.T) {
	const secret = "hunter2-webhook-secret"
	tests := []struct {
		name string
		url  string
	}{
		{"secret echoed in status line", rawReceiver(t, "500 "+secret)},
		{"secret in URL, connection dropped", rawReceiver(t, "") + "/hook/" + secret + "?token=" + secret},
		{"long status line", rawReceiver(t, "502 "+strings.Repeat("é", 300)+secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			src := newFakeSource()
			src.setHook(1, tt.url, secret)
			id := src.add(1, "update.failed", `{}`)
			d := webhook.New(src, webhook.Config{}, log)

			if _, err := d.DeliverDue(t.Context()); err != nil {
				t.Fatalf("DeliverDue() error = %v", err)
			}
			dl := src.get(id)
			if dl.LastError == "" || len(dl.LastError) > 200 || !utf8.ValidString(dl.LastError) ||
				strings.Contains(dl.LastError, secret) {
				t.Errorf("LastError = %q, want 1 to 200 bytes of UTF-8 without the secret", dl.LastError)
			}
			if !strings.Contains(logs.String(), "webhook delivery failed") {
				t.Errorf("log lacks the failure:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log shows the secret:\n%s", logs.String())
			}
		})
	}
}
