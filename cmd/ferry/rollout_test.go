package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	rolloutAnswer = `{"id":3,"product":"p","version":"1.1.0","tags":["eu"],"devices":[],"phases":"1%,10%,100%",` +
		`"phase":1,"state":"paused","reason":"failure threshold: 2 devices failed (limit 2)","created_by":"alice",` +
		`"created_at":"2025-01-02T03:04:05Z","phase_started_at":"2025-01-02T04:04:05Z"}`
	phaseAnswer = `{"label":"1%","reached":true,"selected":4,"pending":0,"states":{"installing":1,` +
		`"downloading":2},"succeeded":1,"failed":1,"reasons":{"device reported failure: no space":1},` +
		`"success_rate":0.5,"median_seconds":75.25,"bytes_served":9000}`
	totalAnswer = `{"label":"total","reached":true,"selected":40,"pending":30,"states":{"downloading":2,` +
		`"installing":1},"succeeded":5,"failed":2,"reasons":{"device reported failure: no space":1,` +
		`"rolled back":1},"success_rate":0.714,"median_seconds":80,"bytes_served":99000}`
	statusAnswer = `{"id":3,"product":"p","version":"1.1.0","tags":["eu"],"devices":[],"phases":"1%,10%,100%",` +
		`"phase":1,"state":"paused","reason":"failure threshold: 2 devices failed (limit 2)","created_by":"alice",` +
		`"created_at":"2025-01-02T03:04:05Z","phase_started_at":"2025-01-02T04:04:05Z",` +
		`"status":[` + phaseAnswer + `,` +
		`{"label":"10%","reached":true,"selected":6,"pending":4,"states":{},"succeeded":1,"failed":1,` +
		`"reasons":{"rolled back":1},"success_rate":0.5,"median_seconds":85,"bytes_served":1000},` +
		`{"label":"100%","reached":false,"selected":30,"pending":26,"states":{},"succeeded":3,"failed":0,` +
		`"reasons":{},"success_rate":1,"median_seconds":0,"bytes_served":0}],"total":` + totalAnswer + `}`
)

// sent decodes the JSON body a command sent.
func sent(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request body %q: %v", body, err)
	}
	return m
}

func TestRolloutCreate(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/rollouts": {201, rolloutAnswer}})

	out, _, err := f.run(t, "rollout", "create", "--product", "p", "--release", "1.1.0", "--channel", "stable",
		"--tags", "eu,lab", "--devices", "d1,d2", "--devices", "d3", "--phases", "1%,10%,100%", "--auto-advance",
		"--soak", "90m", "--success-rate", "0.95", "--max-concurrent", "50", "--offers-per-minute", "10",
		"--fail-percent", "3", "--fail-min-finished", "20", "--fail-count", "7")
	if err != nil {
		t.Fatalf("rollout create: %v", err)
	}
	if want := "started rollout 3: p 1.1.0, phases 1%,10%,100%\n"; out != want {
		t.Errorf("rollout create printed %q, want %q", out, want)
	}
	_, body := f.last(t)
	want := map[string]any{"version": "1.1.0", "channel": "stable", "tags": []any{"eu", "lab"},
		"devices": []any{"d1", "d2", "d3"}, "phases": "1%,10%,100%", "auto_advance": true, "soak": "1h30m0s",
		"success_rate": 0.95, "max_concurrent": 50.0, "offers_per_minute": 10.0, "fail_percent": 3.0,
		"fail_min_finished": 20.0, "fail_count": 7.0}
	if got := sent(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("rollout create sent %v, want %v", got, want)
	}
}

func TestRolloutCreateDevicesFile(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/rollouts": {201, rolloutAnswer}})
	file := filepath.Join(t.TempDir(), "devices.txt")
	if err := os.WriteFile(file, []byte("# canaries\nd1\n\n  d2  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.run(t, "rollout", "create", "--product", "p", "--release", "1.1.0",
		"--devices-file", file, "--json"); err != nil {
		t.Fatalf("rollout create --devices-file: %v", err)
	}
	_, body := f.last(t)
	if got := sent(t, body); !reflect.DeepEqual(got["devices"], []any{"d1", "d2"}) || got["phases"] != nil {
		t.Errorf("rollout create --devices-file sent %v, want devices d1 d2 and no phases", got)
	}
}

func TestRolloutCreateErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(empty, []byte("# nobody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		ans  answer
		want string
	}{
		{"missing product", []string{"--release", "1"}, answer{}, "rollout create: --product is required"},
		{"missing release", []string{"--product", "p"}, answer{}, "rollout create: --release is required"},
		{"devices twice", []string{"--product", "p", "--release", "1", "--devices", "d1", "--devices-file", empty},
			answer{}, "--devices and --devices-file exclude each other"},
		{"empty devices file", []string{"--product", "p", "--release", "1", "--devices-file", empty}, answer{},
			"names no device"},
		{"bad soak", []string{"--product", "p", "--release", "1", "--soak", "soon"}, answer{},
			`invalid value "soon" for flag -soak`},
		{"stray argument", []string{"--product", "p", "--release", "1", "extra"}, answer{},
			`unexpected argument "extra"`},
		{"server refuses", []string{"--product", "p", "--release", "1"},
			answer{409, `{"error":"already exists: product p already has rollout 2 (running) active"}`},
			"rollout create: server said 409 Conflict: already exists: product p already has rollout 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/rollouts": tt.ans})
			_, _, err := f.run(t, append([]string{"rollout", "create"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("rollout create %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestRolloutList(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/rollouts": {200, `{"rollouts":[` + rolloutAnswer + `]}`}})
	out, _, err := f.run(t, "rollout", "list", "--product", "p")
	if err != nil {
		t.Fatalf("rollout list: %v", err)
	}
	for _, want := range []string{"ID", "PHASE", "3", "1.1.0", "paused", "2/3 (10%)", "alice", "failure threshold"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout list output lacks %q:\n%s", want, out)
		}
	}
	if req, _ := f.last(t); req.URL.Query().Get("product") != "p" {
		t.Errorf("rollout list query = %v, want product=p", req.URL.Query())
	}
}

func TestRolloutStatus(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/rollouts/3": {200, statusAnswer}})
	out, _, err := f.run(t, "rollout", "status", "3")
	if err != nil {
		t.Fatalf("rollout status: %v", err)
	}
	lines := strings.Split(out, "\n")
	for _, want := range []string{
		"rollout 3: p 1.1.0 to tags eu, created by alice 2025-01-02 03:04:05Z",
		"IN-FLIGHT", "MEDIAN", "downloading=2 installing=1", "50.0%", "1m15.3s", "9000",
		"100%", "no", "total", "71.4%", "1m20s", "99000",
		"Failure reasons:", "device reported failure: no space", "rolled back",
		"state: paused, phase 2/3 (10%) since 2025-01-02 04:04:05Z",
		"reason: failure threshold: 2 devices failed (limit 2)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout status output lacks %q:\n%s", want, out)
		}
	}
	if len(lines) < 8 || !strings.HasPrefix(lines[6], "total ") {
		t.Errorf("rollout status: want the total after the 3 phase rows:\n%s", out)
	}
	// A phase nobody finished has no success rate or median to show.
	for _, l := range lines {
		if strings.HasPrefix(l, "100% ") && !strings.Contains(l, "100.0%") {
			t.Errorf("phase 100%% row = %q, want its success rate of 100.0%%", l)
		}
	}

	if _, _, err := f.run(t, "rollout", "status", "x"); err == nil || !strings.Contains(err.Error(), "rollout ID") {
		t.Errorf("rollout status x = %v, want an error about the rollout ID", err)
	}
}

func TestRolloutActions(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"POST /api/v1/rollouts/3/pause":   {200, rolloutAnswer},
		"POST /api/v1/rollouts/3/advance": {200, rolloutAnswer},
		"POST /api/v1/rollouts/3/resume":  {409, `{"error":"already exists: rollout 3 is running, not paused"}`},
	})

	out, _, err := f.run(t, "rollout", "pause", "3", "--reason", "battery complaints")
	if err != nil {
		t.Fatalf("rollout pause: %v", err)
	}
	if want := "rollout 3: paused, phase 2/3 (10%)\n"; out != want {
		t.Errorf("rollout pause printed %q, want %q", out, want)
	}
	if _, body := f.last(t); string(body) != `{"reason":"battery complaints"}` {
		t.Errorf("rollout pause sent %s, want the reason", body)
	}

	if _, _, err := f.run(t, "rollout", "advance", "3"); err != nil {
		t.Fatalf("rollout advance: %v", err)
	}
	if req, body := f.last(t); req.URL.Path != "/api/v1/rollouts/3/advance" || string(body) != `{}` {
		t.Errorf("rollout advance sent %s %s, want {} to /api/v1/rollouts/3/advance", req.URL.Path, body)
	}

	_, _, err = f.run(t, "rollout", "resume", "3")
	want := "rollout resume: cannot resume rollout 3: already exists: rollout 3 is running, not paused"
	if err == nil || err.Error() != want {
		t.Errorf("rollout resume of a running rollout = %v, want %q", err, want)
	}
	for _, args := range [][]string{{"rollout", "cancel"}, {"rollout", "cancel", "0"}, {"rollout", "cancel", "a"}} {
		if _, _, err := f.run(t, args...); err == nil {
			t.Errorf("ferry %s = nil error, want one", strings.Join(args, " "))
		}
	}
}

const deviceAnswer = `{"id":"d1","product":"p","channel":"beta","version":"1.0.0","attributes":{},` +
	`"tags":["eu","lab"],"pinned_version":"1.0.0","excluded":true,"poll":"30m0s","update":null}`

func TestDeviceSet(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"PATCH /api/v1/products/p/devices/d1": {200, deviceAnswer}})

	out, _, err := f.run(t, "device", "set", "d1", "--product", "p", "--tag", "eu", "--tag", "lab", "--untag",
		"old", "--channel", "beta", "--pin", "1.0.0", "--exclude", "--poll", "30m")
	if err != nil {
		t.Fatalf("device set: %v", err)
	}
	if want := "d1: channel beta, tags eu,lab, pinned 1.0.0, excluded from rollouts, poll 30m0s\n"; out != want {
		t.Errorf("device set printed %q, want %q", out, want)
	}
	_, body := f.last(t)
	want := map[string]any{"add_tags": []any{"eu", "lab"}, "remove_tags": []any{"old"}, "channel": "beta",
		"pin": "1.0.0", "excluded": true, "poll": "30m0s"}
	if got := sent(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("device set sent %v, want %v", got, want)
	}

	_, _, err = f.run(t, "device", "set", "d1", "--product", "p", "--unpin", "--include", "--poll", "0")
	if err != nil {
		t.Fatalf("device set --unpin: %v", err)
	}
	_, body = f.last(t)
	want = map[string]any{"pin": "", "excluded": false, "poll": "0s"}
	if got := sent(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("device set --unpin --include --poll 0 sent %v, want %v", got, want)
	}

	errorCases := []struct {
		args []string
		want string
	}{
		{[]string{"d1"}, "--product is required"},
		{[]string{"d1", "--product", "p"}, "nothing to change"},
		{[]string{"d1", "--product", "p", "--pin", "1", "--unpin"}, "--pin and --unpin exclude each other"},
		{[]string{"d1", "--product", "p", "--pin", ""}, "--pin needs a version"},
		{[]string{"d1", "--product", "p", "--exclude", "--include"}, "--exclude and --include exclude each other"},
		{[]string{"--product", "p", "--exclude"}, "want ID"},
	}
	for _, tt := range errorCases {
		_, _, err := f.run(t, append([]string{"device", "set"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("device set %q = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestDeviceShowSettings(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/devices/d1": {200, deviceAnswer}})
	out, _, err := f.run(t, "device", "show", "d1")
	if err != nil {
		t.Fatalf("device show: %v", err)
	}
	if want := "tags eu,lab, pinned 1.0.0, excluded from rollouts, poll 30m0s"; !strings.Contains(out, want) {
		t.Errorf("device show output lacks %q:\n%s", want, out)
	}
}

func TestProductSet(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"PATCH /api/v1/products/p": {200,
		`{"name":"p","access":"key","poll_idle":"6h0m0s"}`}})

	out, _, err := f.run(t, "product", "set", "p", "--poll-idle", "6h", "--poll-active", "0")
	if err != nil {
		t.Fatalf("product set: %v", err)
	}
	if want := "p: poll idle 6h0m0s, poll active default\n"; out != want {
		t.Errorf("product set printed %q, want %q", out, want)
	}
	if _, body := f.last(t); !reflect.DeepEqual(sent(t, body), map[string]any{"poll_idle": "6h0m0s",
		"poll_active": "0s"}) {
		t.Errorf("product set sent %s, want poll_idle 6h0m0s and poll_active 0s", body)
	}
	if _, _, err := f.run(t, "product", "set", "p"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("product set without flags = %v, want nothing to change", err)
	}
}

func TestWebhook(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /api/v1/products/p/webhook":    {200, `{"url":"https://127.0.0.1/h","secret":"fwh_abc"}`},
		"DELETE /api/v1/products/p/webhook": {204, ``},
		"GET /api/v1/products/p/webhook/deliveries": {200, `{"deliveries":[{"id":9,"event":"update.failed",` +
			`"attempts":2,"next_at":"2025-01-02T03:09:05Z","last_error":"receiver said 502",` +
			`"created_at":"2025-01-02T03:04:05Z"}]}`},
	})

	out, errOut, err := f.run(t, "webhook", "set", "--product", "p", "--url", "https://127.0.0.1/h")
	if err != nil {
		t.Fatalf("webhook set: %v", err)
	}
	if !strings.Contains(out, "secret: fwh_abc") || !strings.Contains(errOut, "not shown again") {
		t.Errorf("webhook set printed %q / stderr %q, want the secret and a warning to store it", out, errOut)
	}
	if _, body := f.last(t); string(body) != `{"url":"https://127.0.0.1/h"}` {
		t.Errorf("webhook set sent %s, want only the URL", body)
	}

	out, _, err = f.run(t, "webhook", "rm", "--product", "p")
	if err != nil || out != "removed the webhook of p\n" {
		t.Errorf("webhook rm = %q, %v; want it removed", out, err)
	}

	out, _, err = f.run(t, "webhook", "deliveries", "--product", "p", "--limit", "5")
	if err != nil {
		t.Fatalf("webhook deliveries: %v", err)
	}
	for _, want := range []string{"EVENT", "update.failed", "2025-01-02 03:09:05Z", "receiver said 502"} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook deliveries output lacks %q:\n%s", want, out)
		}
	}
	if req, _ := f.last(t); req.URL.Query().Get("limit") != "5" {
		t.Errorf("webhook deliveries query = %v, want limit=5", req.URL.Query())
	}
	if _, _, err := f.run(t, "webhook", "set", "--product", "p"); err == nil ||
		!strings.Contains(err.Error(), "--url is required") {
		t.Errorf("webhook set without --url = %v, want --url is required", err)
	}
}

func TestAudit(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/audit": {200, `{"entries":[{"id":4,` +
		`"at":"2025-01-02T03:04:05Z","actor":"alice","action":"rollout.pause","product":"p","object":"3",` +
		`"detail":{"reason":"odd"}}]}`}})

	out, _, err := f.run(t, "audit", "--product", "p", "--since", "2025-01-01T00:00:00Z", "--limit", "10")
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	for _, want := range []string{"ACTOR", "alice", "rollout.pause", `{"reason":"odd"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit output lacks %q:\n%s", want, out)
		}
	}
	req, _ := f.last(t)
	q := req.URL.Query()
	if q.Get("product") != "p" || q.Get("since") != "2025-01-01T00:00:00Z" || q.Get("limit") != "10" {
		t.Errorf("audit query = %v, want product p, since 2025-01-01T00:00:00Z, limit 10", q)
	}

	if _, _, err := f.run(t, "audit", "--since", "24h"); err != nil {
		t.Fatalf("audit --since 24h: %v", err)
	}
	req, _ = f.last(t)
	since, err := time.Parse(time.RFC3339Nano, req.URL.Query().Get("since"))
	if ago := time.Since(since); err != nil || ago < 24*time.Hour || ago > 25*time.Hour {
		t.Errorf("audit --since 24h sent since=%q, want a time 24 hours ago", req.URL.Query().Get("since"))
	}
	if _, _, err := f.run(t, "audit", "--since", "last week"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("audit --since 'last week' = %v, want an error about --since", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"2025-01-01T00:00:00Z", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewCommandsHelpShowsExample(t *testing.T) {
	for _, args := range [][]string{{"rollout", "create", "-h"}, {"rollout", "list", "-h"},
		{"rollout", "status", "-h"}, {"rollout", "pause", "-h"}, {"rollout", "advance", "-h"},
		{"device", "set", "-h"}, {"product", "set", "-h"}, {"webhook", "set", "-h"}, {"webhook", "rm", "-h"},
		{"webhook", "deliveries", "-h"}, {"audit", "-h"}} {
		var stderr bytes.Buffer
		err := runEnv(t.Context(), env{args: args, stdout: io.Discard, stderr: &stderr,
			getenv: func(string) string { return "" }})
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "Example:") {
			t.Errorf("ferry %s = %v, usage %q; want ErrHelp and an example", strings.Join(args, " "), err,
				stderr.String())
		}
	}
}

func TestNudgeCommands(t *testing.T) {
	nudgeJSON := `{"url":"https://127.0.0.1/sms","method":"POST","headers":[{"name":"Authorization",` +
		`"value":"Bearer {{.Secret}}"}],"body":"to={{urlquery (.Attr \"msisdn\")}}","secret_set":true,` +
		`"per_device":1,"window":"10m0s","per_minute":30,"max_attempts":5,"backoff":"5s",` +
		`"backoff_cap":"5m0s","triggers":["urgent-command"],"updated_at":"2025-01-02T03:04:05Z"}`
	f := newFakeAPI(t, map[string]answer{
		"PUT /api/v1/products/p/nudge":    {200, nudgeJSON},
		"GET /api/v1/products/p/nudge":    {200, nudgeJSON},
		"DELETE /api/v1/products/p/nudge": {204, ``},
		"GET /api/v1/products/p/nudges": {200, `{"nudges":[{"id":4,"device":"d1","trigger":"urgent-command",` +
			`"command_id":9,"state":"suppressed","reason":"rate limit: 1 per device per 10m0s","attempts":0,` +
			`"created_at":"2025-01-02T03:04:05Z"}]}`},
		"GET /api/v1/products/p/nudges/3": {200, `{"id":3,"device":"d1","trigger":"urgent-command",` +
			`"state":"sent","attempts":2,"last_status":200,"created_at":"2025-01-02T03:04:05Z",` +
			`"history":[{"at":"2025-01-02T03:04:05Z","status":503,"error":"target answered 503",` +
			`"latency_ms":12.5},{"at":"2025-01-02T03:04:10Z","status":200,"latency_ms":3}]}`},
	})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, err := f.run(t, "nudge", "set", "--product", "p", "--url", "https://127.0.0.1/sms",
		"--header", "Authorization: Bearer {{.Secret}}", "--body", `to={{urlquery (.Attr "msisdn")}}`,
		"--secret-file", secretFile, "--per-minute", "30", "--window", "10m")
	if err != nil {
		t.Fatalf("nudge set: %v", err)
	}
	want := map[string]any{"url": "https://127.0.0.1/sms", "method": "POST",
		"headers": []any{map[string]any{"name": "Authorization", "value": "Bearer {{.Secret}}"}},
		"body":    `to={{urlquery (.Attr "msisdn")}}`, "secret": "s3cret-from-file", "per_minute": float64(30),
		"window": "10m0s"}
	if _, body := f.last(t); !reflect.DeepEqual(sent(t, body), want) {
		t.Errorf("nudge set sent %s, want %v", body, want)
	}
	if !strings.Contains(out, "secret: set (not shown)") || strings.Contains(out, "s3cret") {
		t.Errorf("nudge set printed %q, want the secret marked set and not shown", out)
	}
	if !strings.HasPrefix(out, "replaced the nudge configuration of p; unspecified fields are defaults\n") {
		t.Errorf("nudge set printed %q, want it to say the whole configuration was replaced", out)
	}

	out, _, err = f.run(t, "nudge", "show", "--product", "p")
	if err != nil || !strings.Contains(out, "limits: 1 per device per 10m0s, 30 per minute") {
		t.Errorf("nudge show = %q, %v; want the limits", out, err)
	}
	out, _, err = f.run(t, "nudge", "list", "--product", "p", "--device", "d1")
	if err != nil || !strings.Contains(out, "suppressed") || !strings.Contains(out, "rate limit") {
		t.Errorf("nudge list = %q, %v; want the suppressed nudge and why", out, err)
	}
	if req, _ := f.last(t); req.URL.Query().Get("device") != "d1" {
		t.Errorf("nudge list query = %v, want device=d1", req.URL.Query())
	}
	out, _, err = f.run(t, "nudge", "list", "--product", "p", "3")
	if err != nil || !strings.Contains(out, "target answered 503") || !strings.Contains(out, "12.5ms") {
		t.Errorf("nudge list 3 = %q, %v; want both attempts with latency", out, err)
	}
	out, _, err = f.run(t, "nudge", "rm", "--product", "p")
	if err != nil || out != "removed the nudge of p\n" {
		t.Errorf("nudge rm = %q, %v; want it removed", out, err)
	}
	if _, _, err := f.run(t, "nudge", "set", "--product", "p", "--header", "nocolon", "--url", "x"); err == nil {
		t.Error("nudge set --header nocolon succeeded, want an error")
	}
}
