package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/mqtt/mqtttest"
)

// settle bounds the waits for the fleet to catch up; nothing is timed.
const settle = 60 * time.Second

// syncBuffer is a log destination written by one goroutine while a test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMQTTServer runs "ferry serve" with the flags given, as parsed from
// the command line, and returns it once it listens.
func startMQTTServer(t *testing.T, log io.Writer, args ...string) *testServer {
	t.Helper()
	data := t.TempDir()
	cfg, err := parseServe(env{
		args:   append([]string{"--addr", "127.0.0.1:0", "--data", data}, args...),
		stderr: log, getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatalf("parseServe: %v", err)
	}
	ready := make(chan string, 1)
	cfg.ready = func(a string) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{}))) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(data, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{url: "http://" + addr, token: strings.TrimSpace(string(tok)), data: data}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// eventually polls cond until it holds, failing the test after settle.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAgent runs "ferry agent" with args until the test ends.
func (s *testServer) startAgent(t *testing.T, log io.Writer, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runEnv(ctx, env{
			args: append([]string{"agent", "--server", s.url}, args...), stdin: strings.NewReader(""),
			stdout: io.Discard, stderr: log, getenv: func(string) string { return "" },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

// TestMQTTAgentAcceptance: with a real broker configured as documented,
// an agent in MQTT mode is offered a release when a rollout reaches it,
// downloads it over HTTP, reports status over MQTT and acknowledges a
// command, and Ferry's record says so.
func TestMQTTAgentAcceptance(t *testing.T) {
	// Over TLS, with the broker's own CA, as devices on a public network
	// would connect.
	b := mqtttest.Run(t, mqtttest.Options{TLS: true, Users: map[string]string{"d1": mqtttest.Password("d1")}})
	dir := t.TempDir()
	ferryPW := writeFile(t, "ferry.pw", []byte(mqtttest.Password(mqtttest.FerryUser)+"\n"))
	d1PW := filepath.Join(dir, "d1.pw")
	if err := os.WriteFile(d1PW, []byte(mqtttest.Password("d1")), 0o600); err != nil {
		t.Fatal(err)
	}

	var serverLog, agentLog syncBuffer
	s := startMQTTServer(t, &serverLog, "--mqtt", b.URL(), "--mqtt-user", mqtttest.FerryUser,
		"--mqtt-password-file", ferryPW, "--mqtt-ca", b.CAFile, "--poll-interval", "1h", "--poll-active", "1h")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s\nagent log:\n%s", serverLog.String(), agentLog.String())
		}
	})
	s.must(t, "product", "create", mqtttest.Product, "--public")
	img := firmware(200_000, 7)
	s.must(t, "release", "push", "--product", mqtttest.Product, "--version", "1.0.0",
		writeFile(t, "fw-1.0.0.bin", firmware(1000, 1)))
	s.must(t, "release", "push", "--product", mqtttest.Product, "--version", "1.1.0", "--no-channel",
		writeFile(t, "fw-1.1.0.bin", img))

	s.startAgent(t, &agentLog, "--product", mqtttest.Product, "--device", "d1", "--version", "1.0.0",
		"--state-dir", filepath.Join(dir, "state"), "--mqtt", b.URL(), "--mqtt-password-file", d1PW,
		"--mqtt-ca", b.CAFile)
	eventually(t, "the agent checks in over MQTT", func() bool {
		out, err := s.ferry(t, "device", "show", "d1", "--json")
		return err == nil && strings.Contains(out, `"version": "1.0.0"`)
	})

	// The poll interval is an hour: only Ferry's push can bring the offer.
	s.must(t, "rollout", "create", "--product", mqtttest.Product, "--release", "1.1.0", "--channel", "stable")
	eventually(t, "the update succeeds", func() bool {
		d := s.device(t, "d1")
		return d.Update != nil && d.Update.State == "succeeded"
	})
	if got := s.device(t, "d1"); got.Version != "1.1.0" {
		t.Errorf("device runs %s, want 1.1.0", got.Version)
	}
	// Bytes served are written in batches, every 2 seconds.
	eventually(t, "the image's bytes are counted", func() bool {
		return s.device(t, "d1").BytesServed >= int64(len(img))
	})
	installed, err := os.ReadFile(filepath.Join(dir, "state", "firmware.bin"))
	if err != nil || !bytes.Equal(installed, img) {
		t.Errorf("installed image differs from 1.1.0's (%v)", err)
	}
	checkMQTTHistory(t, s)

	// Commands reach the agent over its session and its answer comes back
	// over MQTT, well within the hour it would otherwise wait.
	out := s.must(t, "device", "cmd", "d1", "set-poll-interval", "--payload", "15m", "--wait", "1m")
	if !strings.Contains(out, "acknowledged by d1: ok poll interval 15m0s") {
		t.Errorf("device cmd set-poll-interval --wait = %q, want the acknowledgement", out)
	}
	out, err = s.ferry(t, "device", "cmd", "d1", "reboot", "--wait", "1m")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "reboot not supported") {
		t.Errorf("device cmd reboot --wait = %q, %v, want exit 3 saying reboot is not supported", out, err)
	}
	var cmds []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Via   string `json:"via"`
	}
	if err := json.Unmarshal([]byte(s.must(t, "device", "cmds", "d1", "--json")), &cmds); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.Name+" "+c.State+" "+c.Via)
	}
	if want := "reboot failed mqtt|set-poll-interval acknowledged mqtt"; strings.Join(got, "|") != want {
		t.Errorf("device cmds = %q, want %q", strings.Join(got, "|"), want)
	}
}

// checkMQTTHistory checks that d1's reports came over MQTT, in order.
func checkMQTTHistory(t *testing.T, s *testServer) {
	t.Helper()
	var raw struct {
		History []struct {
			Kind     string `json:"kind"`
			State    string `json:"state"`
			Protocol string `json:"protocol"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(s.must(t, "device", "show", "d1", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	var reports []string
	for _, h := range raw.History {
		// Progress is reported as the download goes; count a state once.
		if r := h.State + "/" + h.Protocol; h.Kind == "report" && (len(reports) == 0 || reports[len(reports)-1] != r) {
			reports = append(reports, r)
		}
	}
	want := []string{"downloading/mqtt", "downloaded/mqtt", "verified/mqtt", "installing/mqtt", "rebooting/mqtt"}
	if fmt.Sprint(reports) != fmt.Sprint(want) {
		t.Errorf("reports = %v, want %v", reports, want)
	}
}

// TestServeMQTTBrokerDown: Ferry and an agent start while their broker is
// down; Ferry serves HTTP meanwhile, and both connect once the broker is
// up.
func TestServeMQTTBrokerDown(t *testing.T) {
	b := mqtttest.Prepare(t, mqtttest.Options{Users: map[string]string{"d1": mqtttest.Password("d1")}})
	var log, agentLog syncBuffer
	s := startMQTTServer(t, &log, "--mqtt", b.UserURL(mqtttest.FerryUser))
	s.must(t, "product", "create", mqtttest.Product, "--public")
	s.must(t, "release", "push", "--product", mqtttest.Product, "--version", "1.0.0",
		writeFile(t, "fw.bin", firmware(1000, 1)))
	s.startAgent(t, &agentLog, "--product", mqtttest.Product, "--device", "d1", "--version", "1.0.0",
		"--state-dir", t.TempDir(), "--mqtt", b.UserURL("d1"))
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz with the broker down = %d, want 200", resp.StatusCode)
	}
	eventually(t, "a warning that the broker is unreachable", func() bool {
		return strings.Contains(log.String(), "level=WARN msg=\"mqtt broker unreachable; retrying\"")
	})
	if strings.Contains(log.String(), mqtttest.Password(mqtttest.FerryUser)) {
		t.Error("the log shows the broker password")
	}
	b.Start()
	eventually(t, "Ferry connects once the broker is up", func() bool {
		return strings.Contains(log.String(), "msg=\"mqtt connected\"")
	})
	eventually(t, "the agent connects and checks in", func() bool {
		out, err := s.ferry(t, "device", "show", "d1", "--json")
		return err == nil && strings.Contains(out, `"version": "1.0.0"`)
	})
	if strings.Contains(agentLog.String(), mqtttest.Password("d1")) {
		t.Error("the agent's log shows its broker password")
	}
}

func TestParseServeMQTT(t *testing.T) {
	pw := writeFile(t, "pw", []byte("s3cret\n"))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"complete", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-user", "_ferry", "--mqtt-password-file", pw,
			"--mqtt-trust", "a,b", "--mqtt-image-url", "https://ferry.example"}, ""},
		{"password in URL", []string{"--mqtt", "mqtts://_ferry:s3cret@broker.example:8883"}, ""},
		{"flags without --mqtt", []string{"--mqtt-user", "_ferry"}, "need --mqtt"},
		{"bad scheme", []string{"--mqtt", "http://_ferry:s3cret@127.0.0.1:1883"}, "scheme"},
		{"no port", []string{"--mqtt", "tcp://_ferry:s3cret@127.0.0.1"}, "HOST:PORT"},
		{"path", []string{"--mqtt", "tcp://127.0.0.1:1883/x"}, "nothing after"},
		{"password file without user", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-password-file", pw},
			"needs --mqtt-user"},
		{"missing password file", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-user", "u",
			"--mqtt-password-file", pw + ".gone"}, "--mqtt-password-file"},
		{"bad trust", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-trust", "../x"}, "--mqtt-trust"},
		{"bad prefix", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-prefix", "ferry/#"}, "prefix"},
		{"bad image url", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-image-url", "ftp://x"},
			"--mqtt-image-url"},
		{"ca not PEM", []string{"--mqtt", "mqtts://127.0.0.1:8883", "--mqtt-ca", pw}, "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{args: tt.args, stderr: io.Discard, getenv: func(string) string { return "" }}
			cfg, err := parseServe(e)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseServe(%q) = %v, want no error", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseServe(%q) = %v, want an error mentioning %s", tt.args, err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("parseServe(%q) = %v, which shows the password", tt.args, err)
			case tt.name == "complete" && (cfg.mqtt == nil || cfg.mqtt.Password != "s3cret" ||
				len(cfg.mqtt.Trust) != 2 || cfg.mqtt.ImageBase != "https://ferry.example"):
				t.Errorf("parseServe(%q) = %+v, want password, two trusted products and the image URL", tt.args,
					cfg.mqtt)
			}
		})
	}
}
