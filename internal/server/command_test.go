package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// register checks device id of product p in through the plain protocol.
func (e *env) register(t *testing.T, id string) core.Product {
	t.Helper()
	if r := get(t, e.url+"/fw/p/version?device="+id+"&version=1.0.0"); r.StatusCode != http.StatusOK {
		t.Fatalf("check-in of %s = %d %s, want 200", id, r.StatusCode, r.body)
	}
	p, err := e.svc.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) queue(t *testing.T, p core.Product, dev, name, payload string) core.Command {
	t.Helper()
	c, err := e.svc.QueueCommand(t.Context(), p, dev, core.CommandRequest{Name: name, Payload: payload})
	if err != nil {
		t.Fatalf("QueueCommand(%s, %s): %v", dev, name, err)
	}
	return c
}

func (e *env) command(t *testing.T, id int64) core.Command {
	t.Helper()
	c, err := e.svc.Command(t.Context(), id)
	if err != nil {
		t.Fatalf("Command(%d): %v", id, err)
	}
	return c
}

// TestPlainCommands is the plain protocol's acceptance: a device that
// speaks only plain GETs gets its command at its next check-in, answers
// it, and the answer is recorded; repeats change nothing.
func TestPlainCommands(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")
	e.register(t, "d2")
	fw := e.url + "/fw/p/"

	if r := get(t, fw+"cmd?device=d1"); string(r.body) != "none" || r.Header.Get("Content-Length") != "4" {
		t.Errorf("cmd with nothing queued = %d %q (Content-Length %s), want none with length 4",
			r.StatusCode, r.body, r.Header.Get("Content-Length"))
	}
	c := e.queue(t, p, "d1", "set-poll-interval", "90s")
	theirs := e.queue(t, p, "d2", "reboot", "")

	// HEAD changes nothing.
	req, _ := http.NewRequest("HEAD", fw+"cmd?device=d1", nil)
	if r := do(t, req); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD cmd = %d, want 405", r.StatusCode)
	}
	if got := e.command(t, c.ID); got.State != core.CommandQueued {
		t.Errorf("command after HEAD cmd = %s, want queued", got.State)
	}

	want := fmt.Sprintf("%d set-poll-interval 90s", c.ID)
	for range 2 { // unanswered, it comes again
		r := get(t, fw+"cmd?device=d1")
		if string(r.body) != want || r.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Fatalf("cmd = %d %q, want %q with its length", r.StatusCode, r.body, want)
		}
	}

	ack := fmt.Sprintf("%sack?device=d1&id=%d&ok=1&result=every+90s", fw, c.ID)
	for range 2 {
		if r := get(t, ack); r.StatusCode != http.StatusOK || string(r.body) != "ok" {
			t.Errorf("ack = %d %q, want 200 ok", r.StatusCode, r.body)
		}
	}
	got := e.command(t, c.ID)
	if got.State != core.CommandAcknowledged || got.Via != "plain" || got.ResultPayload != "every 90s" ||
		len(got.History) != 3 {
		t.Errorf("command after ack = %+v, want acknowledged via plain with result and 3 events", got)
	}
	if r := get(t, fw+"cmd?device=d1"); string(r.body) != "none" {
		t.Errorf("cmd after the answer = %q, want none", r.body)
	}

	tests := []struct {
		name, query string
		want        int
	}{
		{"no device", fmt.Sprintf("id=%d&ok=1", c.ID), http.StatusBadRequest},
		{"no id", "device=d1&ok=1", http.StatusBadRequest},
		{"bad id", "device=d1&id=x&ok=1", http.StatusBadRequest},
		{"zero id", "device=d1&id=0&ok=1", http.StatusBadRequest},
		{"bad ok", fmt.Sprintf("device=d1&id=%d&ok=yes", c.ID), http.StatusBadRequest},
		{"no ok", fmt.Sprintf("device=d1&id=%d", c.ID), http.StatusBadRequest},
		{"unknown id", "device=d1&id=999&ok=1", http.StatusNotFound},
		{"other device's id", fmt.Sprintf("device=d1&id=%d&ok=1", theirs.ID), http.StatusNotFound},
		{"unknown device", fmt.Sprintf("device=d9&id=%d&ok=1", theirs.ID), http.StatusNotFound},
		{"oversized result", fmt.Sprintf("device=d2&id=%d&ok=1&result=%s", theirs.ID, strings.Repeat("r", 257)),
			http.StatusBadRequest},
		{"control result", fmt.Sprintf("device=d2&id=%d&ok=1&result=a%%0Ab", theirs.ID), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := get(t, fw+"ack?"+tt.query); r.StatusCode != tt.want {
				t.Errorf("ack?%s = %d %s, want %d", tt.query, r.StatusCode, r.body, tt.want)
			}
		})
	}
	if got := e.command(t, theirs.ID); got.State != core.CommandQueued || len(got.History) != 1 {
		t.Errorf("d2's command after refused answers = %s with %d events, want queued with 1",
			got.State, len(got.History))
	}
	if r := get(t, fw+"cmd"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("cmd without device = %d, want 400", r.StatusCode)
	}
}

type nativeAnswer struct {
	Poll   int64 `json:"poll"`
	Update *struct {
		Version string `json:"version"`
	} `json:"update"`
	Cmds []struct {
		ID      int64  `json:"id"`
		Name    string `json:"name"`
		Payload string `json:"payload"`
	} `json:"cmds"`
}

func decodeAnswer(t *testing.T, r response) nativeAnswer {
	t.Helper()
	var a nativeAnswer
	if r.StatusCode != http.StatusOK {
		t.Fatalf("answer = %d %s, want 200", r.StatusCode, r.body)
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("answer %s: %v", r.body, err)
	}
	return a
}

func TestNativeCommands(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")
	e.register(t, "d2")
	c := e.queue(t, p, "d1", "blink", "3 times")
	theirs := e.queue(t, p, "d2", "reboot", "")

	a := decodeAnswer(t, e.deviceRequest(t, "POST", "/device/v1/p/checkin", `{"id":"d1","version":"1.0.0"}`, ""))
	if len(a.Cmds) != 1 || a.Cmds[0].ID != c.ID || a.Cmds[0].Name != "blink" || a.Cmds[0].Payload != "3 times" {
		t.Fatalf("check-in answer commands = %+v, want command %d blink 3 times", a.Cmds, c.ID)
	}

	body := fmt.Sprintf(`{"id":"d1","cmd":%d,"ok":false,"result":"led broken"}`, c.ID)
	for range 2 {
		if r := e.deviceRequest(t, "POST", "/device/v1/p/ack", body, ""); r.StatusCode != http.StatusNoContent {
			t.Errorf("ack = %d %s, want 204", r.StatusCode, r.body)
		}
	}
	if got := e.command(t, c.ID); got.State != core.CommandFailed || got.Via != "native" ||
		got.ResultPayload != "led broken" {
		t.Errorf("command after ack = %+v, want failed via native: led broken", got)
	}

	tests := []struct {
		name, body string
		want       int
	}{
		{"no ok", fmt.Sprintf(`{"id":"d1","cmd":%d}`, c.ID), http.StatusBadRequest},
		{"no cmd", `{"id":"d1","ok":true}`, http.StatusBadRequest},
		{"negative cmd", `{"id":"d1","cmd":-4,"ok":true}`, http.StatusBadRequest},
		{"no device", fmt.Sprintf(`{"cmd":%d,"ok":true}`, theirs.ID), http.StatusBadRequest},
		{"other device's", fmt.Sprintf(`{"id":"d1","cmd":%d,"ok":true}`, theirs.ID), http.StatusNotFound},
		{"unknown cmd", `{"id":"d2","cmd":999,"ok":true}`, http.StatusNotFound},
		{"ok not bool", fmt.Sprintf(`{"id":"d2","cmd":%d,"ok":"yes"}`, theirs.ID), http.StatusBadRequest},
		{"oversized result", fmt.Sprintf(`{"id":"d2","cmd":%d,"ok":true,"result":"%s"}`, theirs.ID,
			strings.Repeat("r", 257)), http.StatusBadRequest},
		{"not json", `ack`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.deviceRequest(t, "POST", "/device/v1/p/ack", tt.body, ""); r.StatusCode != tt.want {
				t.Errorf("ack %s = %d %s, want %d", tt.body, r.StatusCode, r.body, tt.want)
			}
		})
	}
	if got := e.command(t, theirs.ID); got.State != core.CommandQueued {
		t.Errorf("d2's command after refused answers = %s, want queued", got.State)
	}
}

// waitHeld waits until the device holds a connection.
func waitHeld(t *testing.T, svc *core.Service, p core.Product, dev string, want bool) {
	t.Helper()
	id, err := svc.DeviceRowID(t.Context(), p, dev)
	if err != nil {
		t.Fatal(err)
	}
	for svc.Hub().Held(id) != want {
		select {
		case <-t.Context().Done():
			t.Fatalf("device %s never became held = %v", dev, want)
		case <-time.After(time.Millisecond):
		}
	}
}

// startGet sends a GET in the background; its answer arrives on the
// returned channel.
func startGet(t *testing.T, ctx context.Context, url string) <-chan response {
	t.Helper()
	out := make(chan response, 1)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			out <- response{Response: &http.Response{StatusCode: 0}, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body) // a cut body shows in the test's comparison
		out <- response{resp, b}
	}()
	return out
}

func TestLongPollAnswersWhenCommandQueued(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")

	// Nothing to do: the request is held until a command arrives.
	got := startGet(t, t.Context(), e.url+"/device/v1/p/wait?id=d1&version=1.0.0&timeout=600")
	waitHeld(t, e.svc, p, "d1", true)
	c := e.queue(t, p, "d1", "check-update", "")
	a := decodeAnswer(t, <-got)
	if len(a.Cmds) != 1 || a.Cmds[0].ID != c.ID || a.Update != nil {
		t.Errorf("held answer = %+v, want command %d and no offer", a, c.ID)
	}
	if got := e.command(t, c.ID); got.State != core.CommandDelivered || got.Via != "longpoll" {
		t.Errorf("command after the held answer = %s via %q, want delivered via longpoll", got.State, got.Via)
	}
	waitHeld(t, e.svc, p, "d1", false)

	// With an open command, the next wait answers at once, and so does a
	// plain held command request.
	a = decodeAnswer(t, get(t, e.url+"/device/v1/p/wait?device=d1&timeout=600"))
	if len(a.Cmds) != 1 {
		t.Errorf("wait with an open command = %+v, want it at once", a)
	}
	if r := get(t, e.url+"/fw/p/cmd?device=d1&wait=600"); string(r.body) != fmt.Sprintf("%d check-update", c.ID) {
		t.Errorf("plain held cmd with an open command = %q, want it at once", r.body)
	}

	// A channel move wakes the held device with an offer.
	if _, err := e.svc.AckCommand(t.Context(), p, "d1", c.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	got = startGet(t, t.Context(), e.url+"/device/v1/p/wait?id=d1&version=1.0.0&timeout=600")
	waitHeld(t, e.svc, p, "d1", true)
	e.push(t, "p", "1.1.0", testImage(1000, 2))
	if a := decodeAnswer(t, <-got); a.Update == nil || a.Update.Version != "1.1.0" {
		t.Errorf("held answer after a push = %+v, want an offer of 1.1.0", a)
	}
}

func TestPlainLongPoll(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")
	got := startGet(t, t.Context(), e.url+"/fw/p/cmd?device=d1&wait=600")
	waitHeld(t, e.svc, p, "d1", true)
	c := e.queue(t, p, "d1", "reboot", "")
	if r := <-got; string(r.body) != fmt.Sprintf("%d reboot", c.ID) {
		t.Errorf("plain held cmd = %d %q, want %d reboot", r.StatusCode, r.body, c.ID)
	}
	if r := get(t, e.url+"/fw/p/cmd?device=d9&wait=5"); r.StatusCode != http.StatusNotFound {
		t.Errorf("plain held cmd of an unknown device = %d %s, want 404", r.StatusCode, r.body)
	}
}

func TestLongPollTimeout(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	e.register(t, "d1")
	a := decodeAnswer(t, get(t, e.url+"/device/v1/p/wait?id=d1&version=1.0.0&timeout=1"))
	if a.Update != nil || len(a.Cmds) != 0 || a.Poll <= 0 {
		t.Errorf("wait that times out = %+v, want nothing to do and a poll hint", a)
	}
	if r := get(t, e.url+"/fw/p/cmd?device=d1&wait=1"); string(r.body) != "none" {
		t.Errorf("plain held cmd that times out = %q, want none", r.body)
	}
}

func TestLongPollBadInput(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	e.register(t, "d1")
	tests := []struct {
		name, path string
		want       int
	}{
		{"zero timeout", "/device/v1/p/wait?id=d1&timeout=0", http.StatusBadRequest},
		{"long timeout", "/device/v1/p/wait?id=d1&timeout=601", http.StatusBadRequest},
		{"negative timeout", "/device/v1/p/wait?id=d1&timeout=-5", http.StatusBadRequest},
		{"text timeout", "/device/v1/p/wait?id=d1&timeout=soon", http.StatusBadRequest},
		{"fraction timeout", "/device/v1/p/wait?id=d1&timeout=1.5", http.StatusBadRequest},
		{"no device", "/device/v1/p/wait?timeout=5", http.StatusBadRequest},
		{"two devices", "/device/v1/p/wait?id=d1&device=d2&timeout=5", http.StatusBadRequest},
		{"bad device", "/device/v1/p/wait?id=..&timeout=5", http.StatusBadRequest},
		{"bad version", "/device/v1/p/wait?id=d1&version=%00&timeout=5", http.StatusBadRequest},
		{"bad counter", "/device/v1/p/wait?id=d1&counter=x&timeout=5", http.StatusBadRequest},
		{"unknown product", "/device/v1/q/wait?id=d1&timeout=5", http.StatusNotFound},
		{"key product without token", "/device/v1/private/wait?id=d1&timeout=5", http.StatusUnauthorized},
		{"plain zero wait", "/fw/p/cmd?device=d1&wait=0", http.StatusBadRequest},
		{"plain long wait", "/fw/p/cmd?device=d1&wait=601", http.StatusBadRequest},
		{"plain empty wait", "/fw/p/cmd?device=d1&wait=", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := get(t, e.url+tt.path); r.StatusCode != tt.want {
				t.Errorf("GET %s = %d %s, want %d", tt.path, r.StatusCode, r.body, tt.want)
			}
		})
	}
	ds, err := e.svc.Devices(t.Context(), core.DeviceQuery{})
	if err != nil || len(ds) != 1 {
		t.Errorf("devices after refused waits = %d, %v, want only d1", len(ds), err)
	}
}

// TestHeldRequestsHaveTheirOwnLimit holds a request with a device request
// limit of one: check-ins are still served beside it, and held requests
// past their own limit are told to come back.
func TestHeldRequestsHaveTheirOwnLimit(t *testing.T) {
	e := newEnvConfig(t, server.Config{MaxDeviceRequests: 1, MaxHeld: 1}, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")
	e.register(t, "d2")
	ctx, cancel := context.WithCancel(t.Context())
	got := startGet(t, ctx, e.url+"/device/v1/p/wait?id=d1&timeout=600")
	waitHeld(t, e.svc, p, "d1", true)

	if r := get(t, e.url+"/fw/p/version?device=d2"); r.StatusCode != http.StatusOK {
		t.Errorf("check-in beside a held request = %d %s, want 200", r.StatusCode, r.body)
	}
	r := get(t, e.url+"/device/v1/p/wait?id=d2&timeout=600")
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("second held request past MaxHeld 1 = %d %s (Retry-After %q), want 503 with Retry-After",
			r.StatusCode, r.body, r.Header.Get("Retry-After"))
	}

	// A device that hangs up is no longer held, and frees its slot.
	cancel()
	<-got
	waitHeld(t, e.svc, p, "d1", false)
	got = startGet(t, t.Context(), e.url+"/device/v1/p/wait?id=d2&timeout=600")
	waitHeld(t, e.svc, p, "d2", true)
	e.queue(t, p, "d2", "reboot", "")
	if a := decodeAnswer(t, <-got); len(a.Cmds) != 1 {
		t.Errorf("held answer after the slot was freed = %+v, want the command", a)
	}
}

// TestShutdownAnswersHeldRequests shuts the server down while a device is
// held: the device is told at once to come back, rather than holding the
// shutdown for its whole timeout or the grace period.
func TestShutdownAnswersHeldRequests(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, core.Config{}, log)
	t.Cleanup(func() { svc.Close() })
	p, _, err := svc.CreateProduct(ctx, "p", core.AccessPublic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CheckIn(ctx, p, core.CheckIn{Device: "d1"}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A grace far beyond the test's own timeout: the held request must
	// end because it was told to, not because the grace ran out.
	srv := server.New(svc, server.Config{ShutdownGrace: time.Hour}, log)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()

	got := startGet(t, ctx, "http://"+ln.Addr().String()+"/device/v1/p/wait?id=d1&timeout=600")
	waitHeld(t, svc, p, "d1", true)
	cancel()
	r := <-got
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("held request at shutdown = %d %s, want 503 with Retry-After", r.StatusCode, r.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// A bad hold names the parameter the request used, so a sketch author
// reading the answer of /fw/P/cmd?wait=700 is not sent looking for a
// timeout parameter the plain protocol does not have.
func TestLongPollBadHoldNamesItsParameter(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	e.register(t, "d1")
	for path, want := range map[string]string{
		"/fw/p/cmd?device=d1&wait=700":                      `wait "700"`,
		"/device/v1/p/wait?id=d1&version=1.0.0&timeout=700": `timeout \"700\"`, // JSON-quoted
	} {
		r := get(t, e.url+path)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
			t.Errorf("GET %s = %d %q, want 400 naming %s", path, r.StatusCode, r.body, want)
		}
	}
	if r := get(t, e.url+"/fw/p/cmd?device=d1&wait=700"); strings.Contains(string(r.body), "timeout") {
		t.Errorf("plain cmd with a bad wait = %q, names timeout", r.body)
	}
}

// TestPlainCommandOneAtATime: the plain answer carries the oldest open
// command only, so only that one is recorded delivered; the next is
// answered once the first is acknowledged.
func TestPlainCommandOneAtATime(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	p := e.register(t, "d1")
	fw := e.url + "/fw/p/"
	first := e.queue(t, p, "d1", "reboot", "")
	second := e.queue(t, p, "d1", "check-update", "")

	if r := get(t, fw+"cmd?device=d1"); string(r.body) != fmt.Sprintf("%d reboot", first.ID) {
		t.Fatalf("cmd = %d %q, want the first command", r.StatusCode, r.body)
	}
	if got := e.command(t, first.ID); got.State != core.CommandDelivered || got.Via != "plain" {
		t.Errorf("first command after cmd = %s via %q, want delivered via plain", got.State, got.Via)
	}
	got := e.command(t, second.ID)
	if got.State != core.CommandQueued || got.Via != "" || len(got.History) != 1 {
		t.Errorf("second command after cmd = %s via %q with %d events, want queued with only its queuing",
			got.State, got.Via, len(got.History))
	}

	if r := get(t, fmt.Sprintf("%sack?device=d1&id=%d&ok=1", fw, first.ID)); r.StatusCode != http.StatusOK {
		t.Fatalf("ack = %d %q, want 200", r.StatusCode, r.body)
	}
	if r := get(t, fw+"cmd?device=d1"); string(r.body) != fmt.Sprintf("%d check-update", second.ID) {
		t.Fatalf("cmd after the ack = %d %q, want the second command", r.StatusCode, r.body)
	}
	if got := e.command(t, second.ID); got.State != core.CommandDelivered || got.Via != "plain" {
		t.Errorf("second command after the next cmd = %s via %q, want delivered via plain", got.State, got.Via)
	}
}
