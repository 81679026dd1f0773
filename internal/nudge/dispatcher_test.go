package nudge_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// twilio is a Twilio-style SMS request: a form POST with Basic auth, the
// account's key as the user and the secret as the password.
func twilio(base string) core.NudgeConfig {
	return core.NudgeConfig{
		URL:    base + "/2010-04-01/Accounts/AC123/Messages.json",
		Method: "POST",
		Headers: []core.NudgeHeader{
			{Name: "Authorization", Value: `Basic {{basicauth "AC123" .Secret}}`},
			{Name: "Content-Type", Value: "application/x-www-form-urlencoded"},
		},
		Body: `To={{urlquery (.Attr "msisdn")}}&From=%2B15005550006` +
			`&Body={{urlquery (printf "ferry wake %s %d" .Command.Name .Nudge)}}`,
		Secret: "tw-auth-token-0123456789",
	}
}

// emnify is an EMnify/1NCE-style SMS API: a JSON body, a bearer token,
// the SIM addressed by its ICCID in the path.
func emnify(base string) core.NudgeConfig {
	return core.NudgeConfig{
		URL:    base + "/api/v1/sim/{{urlquery (.Attr \"iccid\")}}/sms?source=ferry",
		Method: "POST",
		Headers: []core.NudgeHeader{
			{Name: "Authorization", Value: "Bearer {{.Secret}}"},
			{Name: "Content-Type", Value: "application/json"},
		},
		Body:   `{"source_address":"ferry","payload":{{json (printf "wake %s %s" .Command.Name .Command.Payload)}}}`,
		Secret: "emnify-bearer-token",
	}
}

func TestSendRendersTemplatedRequest(t *testing.T) {
	cmd := core.NudgeCommand{ID: 7, Name: "reboot", Payload: `{"in":"5s"}`}
	tests := []struct {
		name       string
		config     func(base string) core.NudgeConfig
		wantPath   string
		wantQuery  string
		wantHeader map[string]string
		wantBody   string
	}{
		{
			name: "twilio form", config: twilio,
			wantPath: "/2010-04-01/Accounts/AC123/Messages.json",
			wantHeader: map[string]string{
				"Authorization": "Basic " +
					base64.StdEncoding.EncodeToString([]byte("AC123:tw-auth-token-0123456789")),
				"Content-Type":   "application/x-www-form-urlencoded",
				"Content-Length": "63",
				"User-Agent":     "ferry-nudge",
			},
			wantBody: "To=%2B491701234567&From=%2B15005550006&Body=ferry+wake+reboot+1",
		},
		{
			name: "emnify json", config: emnify,
			wantPath: "/api/v1/sim/8949000000000000001/sms", wantQuery: "source=ferry",
			wantHeader: map[string]string{
				"Authorization": "Bearer emnify-bearer-token",
				"Content-Type":  "application/json",
			},
			wantBody: `{"source_address":"ferry","payload":"wake reboot {\"in\":\"5s\"}"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusCreated)
			f := newFixture(t)
			f.configure(t, tt.config(rc.srv.URL))
			id := f.queue(t, cmd)

			if n, err := f.dispatcher(nil).SendDue(t.Context()); n != 1 || err != nil {
				t.Fatalf("SendDue() = %d, %v, want 1, nil", n, err)
			}

			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != "POST" || r.path != tt.wantPath || r.query != tt.wantQuery {
				t.Errorf("request = %s %s?%s, want POST %s?%s", r.method, r.path, r.query, tt.wantPath, tt.wantQuery)
			}
			for k, want := range tt.wantHeader {
				if got := r.header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if string(r.body) != tt.wantBody {
				t.Errorf("body = %s, want %s", r.body, tt.wantBody)
			}
			n, as := f.get(t, id)
			if n.State != core.NudgeSent || n.Attempts != 1 || n.LastStatus != 201 ||
				!n.FinishedAt.Equal(f.clock.Now()) {
				t.Errorf("nudge after a 201 = %+v, want sent after 1 attempt, status 201, finished now", n)
			}
			if len(as) != 1 || as[0].Status != 201 || as[0].Error != "" || as[0].Latency < 0 ||
				!as[0].At.Equal(f.clock.Now()) {
				t.Errorf("attempts = %+v, want one at now with status 201 and no error", as)
			}
		})
	}
}

func TestSendRetries5xxThenSucceeds(t *testing.T) {
	rc := newReceiver(t, 503, 502, 200)
	f := newFixture(t)
	c := twilio(rc.srv.URL)
	c.BackoffBase, c.BackoffCap, c.MaxAttempts = 10*time.Second, time.Minute, 5
	f.configure(t, c)
	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "check-update"})
	d := f.dispatcher(nil)

	// 10 s then 20 s, each ±20%: the ranges cannot overlap.
	var waits []time.Duration
	for range 2 {
		if _, err := d.SendDue(t.Context()); err != nil {
			t.Fatalf("SendDue() = %v", err)
		}
		n, _ := f.get(t, id)
		if n.State != core.NudgeQueued || !strings.Contains(n.LastError, "50") {
			t.Fatalf("after a 5xx: %+v, want queued with the status in LastError", n)
		}
		waits = append(waits, n.NextAt.Sub(f.clock.Now()))
		if got, _ := d.SendDue(t.Context()); got != 0 {
			t.Errorf("SendDue() before NextAt handled %d, want 0", got)
		}
		f.clock.Set(n.NextAt)
	}
	if waits[0] < 8*time.Second || waits[0] > 12*time.Second || waits[1] < 16*time.Second || waits[1] > 24*time.Second {
		t.Errorf("waits = %v, want 10s and 20s, each ±20%%", waits)
	}
	if _, err := d.SendDue(t.Context()); err != nil {
		t.Fatalf("SendDue() = %v", err)
	}

	n, as := f.get(t, id)
	if n.State != core.NudgeSent || n.Attempts != 3 || n.LastError != "" {
		t.Errorf("after 503, 502, 200: %+v, want sent after 3 attempts, no error", n)
	}
	var codes []int
	for _, a := range as {
		codes = append(codes, a.Status)
	}
	if len(codes) != 3 || codes[0] != 503 || codes[1] != 502 || codes[2] != 200 {
		t.Errorf("attempt statuses = %v, want [503 502 200]", codes)
	}
	if len(rc.requests()) != 3 {
		t.Errorf("receiver got %d requests, want 3", len(rc.requests()))
	}
}

func TestSend4xxStops(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 307} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			rc := newReceiver(t, code)
			f := newFixture(t)
			f.configure(t, twilio(rc.srv.URL))
			id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})
			d := f.dispatcher(nil)

			for range 3 {
				if _, err := d.SendDue(t.Context()); err != nil {
					t.Fatalf("SendDue() = %v", err)
				}
				f.clock.Advance(time.Hour)
			}

			n, as := f.get(t, id)
			if n.State != core.NudgeFailed || n.Attempts != 1 || n.LastStatus != code ||
				!strings.Contains(n.Reason, http.StatusText(code)) {
				t.Errorf("after a %d: %+v, want failed after 1 attempt with the status as reason", code, n)
			}
			if len(as) != 1 || len(rc.requests()) != 1 {
				t.Errorf("%d attempts recorded, %d requests received; want 1, 1", len(as), len(rc.requests()))
			}
		})
	}
}

func TestSendGivesUpAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t, 500)
	f := newFixture(t)
	c := twilio(rc.srv.URL)
	c.MaxAttempts, c.BackoffBase, c.BackoffCap = 3, time.Second, 2*time.Second
	f.configure(t, c)
	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})
	var logs logBuffer
	d := f.dispatcher(&logs)

	for range 6 {
		if _, err := d.SendDue(t.Context()); err != nil {
			t.Fatalf("SendDue() = %v", err)
		}
		f.clock.Advance(time.Hour)
	}

	n, as := f.get(t, id)
	if n.State != core.NudgeFailed || n.Attempts != 3 || !strings.HasPrefix(n.Reason, "gave up after 3 attempts") {
		t.Errorf("after 3 × 500: %+v, want failed, gave up after 3 attempts", n)
	}
	if len(as) != 3 || len(rc.requests()) != 3 {
		t.Errorf("%d attempts, %d requests; want 3, 3", len(as), len(rc.requests()))
	}
	if !strings.Contains(logs.String(), `level=WARN msg="nudge failed"`) {
		t.Errorf("log lacks the final failure:\n%s", logs.String())
	}
}

func TestSendNetworkErrorRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	f := newFixture(t)
	f.configure(t, twilio(base))
	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})

	if _, err := f.dispatcher(nil).SendDue(t.Context()); err != nil {
		t.Fatalf("SendDue() = %v", err)
	}
	n, as := f.get(t, id)
	if n.State != core.NudgeQueued || n.Attempts != 1 || !n.NextAt.After(f.clock.Now()) ||
		!strings.Contains(n.LastError, "refused") || strings.Contains(n.LastError, base) {
		t.Errorf("after a refused connection: %+v, want queued for later, the cause without the URL", n)
	}
	if len(as) != 1 || as[0].Status != 0 {
		t.Errorf("attempts = %+v, want one without a status", as)
	}
}

func TestOutboxSurvivesRestart(t *testing.T) {
	rc := newReceiver(t, 202)
	f := newFixture(t)
	f.configure(t, twilio(rc.srv.URL))
	id := f.queue(t, core.NudgeCommand{ID: 3, Name: "check-update"})

	// The server stops before its sender ran, and starts again.
	f.reopen(t)

	if n, err := f.dispatcher(nil).SendDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("SendDue() after restart = %d, %v, want 1, nil", n, err)
	}
	if n, _ := f.get(t, id); n.State != core.NudgeSent || len(rc.requests()) != 1 {
		t.Errorf("after restart: %+v and %d requests, want sent, 1", n, len(rc.requests()))
	}
}

func TestSendWithoutRequest(t *testing.T) {
	rc := newReceiver(t, 200)
	tests := []struct {
		name       string
		config     *core.NudgeConfig
		wantReason string
	}{
		{"no configuration", nil, "no nudge configured"},
		{"missing attribute", &core.NudgeConfig{URL: rc.srv.URL + "/sms",
			Body: `to={{.Attr "imsi"}}`}, `device mkr-1 has no attribute "imsi"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.config != nil {
				f.configure(t, *tt.config)
			}
			id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})

			if _, err := f.dispatcher(nil).SendDue(t.Context()); err != nil {
				t.Fatalf("SendDue() = %v", err)
			}
			n, as := f.get(t, id)
			if n.State != core.NudgeFailed || n.Attempts != 0 || !strings.Contains(n.Reason, tt.wantReason) {
				t.Errorf("nudge = %+v, want failed without attempts, reason with %q", n, tt.wantReason)
			}
			if len(as) != 0 || len(rc.requests()) != 0 {
				t.Errorf("%d attempts, %d requests; want none", len(as), len(rc.requests()))
			}
		})
	}
}

// rawReceiver answers every request with the given raw status line.
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
			if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(conn, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}
			conn.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestSecretNeverRecordedOrLogged(t *testing.T) {
	const secret = "hunter2-carrier-secret"
	base := rawReceiver(t, "500 "+secret)
	f := newFixture(t)
	c := twilio(base)
	c.Secret, c.MaxAttempts = secret, 1
	f.configure(t, c)
	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})
	var logs logBuffer

	if _, err := f.dispatcher(&logs).SendDue(t.Context()); err != nil {
		t.Fatalf("SendDue() = %v", err)
	}
	n, as := f.get(t, id)
	if n.State != core.NudgeFailed || len(as) != 1 {
		t.Fatalf("nudge = %+v with %d attempts, want failed after 1", n, len(as))
	}
	for what, s := range map[string]string{"reason": n.Reason, "last error": n.LastError,
		"attempt error": as[0].Error, "log": logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the secret: %s", what, s)
		}
	}
	if !strings.Contains(n.LastError, "[redacted]") {
		t.Errorf("LastError = %q, want the echoed secret redacted", n.LastError)
	}
}

func TestKickWakesRun(t *testing.T) {
	rc := newReceiver(t, 200)
	f := newFixture(t)
	f.configure(t, twilio(rc.srv.URL))
	d := f.dispatcher(nil)
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()

	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})
	d.Kick()
	d.Kick() // never blocks

	deadline := time.After(10 * time.Second)
	for {
		if n, _ := f.get(t, id); n.State == core.NudgeSent {
			break
		}
		select {
		case <-deadline:
			t.Fatal("nudge not sent within 10 s of Kick")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
}

// The host is fixed by the configuration: no device attribute can aim a
// nudge elsewhere, and values are escaped by urlquery.
func TestAttributeCannotMoveHost(t *testing.T) {
	rc := newReceiver(t, 200)
	f := newFixture(t)
	f.configure(t, core.NudgeConfig{URL: rc.srv.URL + `/sms?to={{urlquery (.Attr "msisdn")}}`})
	f.dev.Attributes["msisdn"] = "1@evil.example/x?y#z"
	id := f.queue(t, core.NudgeCommand{ID: 1, Name: "reboot"})

	if _, err := f.dispatcher(nil).SendDue(t.Context()); err != nil {
		t.Fatalf("SendDue() = %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	if q, _ := url.ParseQuery(reqs[0].query); q.Get("to") != "1@evil.example/x?y#z" || reqs[0].path != "/sms" {
		t.Errorf("request %s?%s, want /sms with the attribute as one escaped value", reqs[0].path, reqs[0].query)
	}
	if n, _ := f.get(t, id); n.State != core.NudgeSent {
		t.Errorf("nudge = %+v, want sent", n)
	}
}
