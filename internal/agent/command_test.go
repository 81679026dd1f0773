package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/client"
)

// cmdServer answers every check-in with nothing to do but the commands it
// holds, and records the answers devices send.
type cmdServer struct {
	srv *httptest.Server

	mu   sync.Mutex
	cmds []client.Command
	acks []ackBody
}

type ackBody struct {
	ID     string `json:"id"`
	Cmd    int64  `json:"cmd"`
	OK     bool   `json:"ok"`
	Result string `json:"result"`
}

func newCmdServer(t testing.TB, cmds ...client.Command) *cmdServer {
	t.Helper()
	cs := &cmdServer{cmds: cmds}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device/v1/p/checkin", func(w http.ResponseWriter, _ *http.Request) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(client.CheckInResponse{Poll: 60, Commands: cs.cmds})
	})
	mux.HandleFunc("POST /device/v1/p/ack", func(w http.ResponseWriter, r *http.Request) {
		var a ackBody
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		cs.mu.Lock()
		cs.acks = append(cs.acks, a)
		cs.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	cs.srv = httptest.NewServer(mux)
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *cmdServer) answers() []ackBody {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]ackBody(nil), cs.acks...)
}

func newCmdAgent(t testing.TB, url, dir string, cfg Config) *Agent {
	t.Helper()
	cfg.Server, cfg.Product, cfg.DeviceID, cfg.Version, cfg.StateDir = url, "p", "d1", target, dir
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// script writes an executable shell script and returns its path.
func script(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExecuteBuiltins(t *testing.T) {
	dir := t.TempDir()
	a := newCmdAgent(t, "http://127.0.0.1:1", dir, Config{})
	tests := []struct {
		name string
		c    Command
		want Answer
	}{
		{"Poll", Command{ID: 1, Name: CmdSetPollInterval, Payload: "90s"},
			Answer{OK: true, Result: "poll interval 1m30s"}},
		{"BadPoll", Command{ID: 2, Name: CmdSetPollInterval, Payload: "soon"},
			Answer{Result: `poll interval "soon": want a duration from 1s to 168h0m0s`}},
		{"RebootWithoutHook", Command{ID: 3, Name: CmdReboot}, Answer{Result: "reboot not supported"}},
		{"UnknownWithoutHook", Command{ID: 4, Name: "blink"}, Answer{Result: "unknown command blink"}},
		{"CheckUpdate", Command{ID: 5, Name: CmdCheckUpdate}, Answer{OK: true, Result: "checking in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Execute(t.Context(), tt.c); got != tt.want {
				t.Errorf("Execute(%+v) = %+v, want %+v", tt.c, got, tt.want)
			}
		})
	}
	select {
	case <-a.cmds.checkNow:
	default:
		t.Errorf("check-update did not ask for a check-in")
	}

	// The interval and the answers survive a restart.
	b := newCmdAgent(t, "http://127.0.0.1:1", dir, Config{})
	if got := b.nextWait(time.Hour); got != 90*time.Second {
		t.Errorf("nextWait after a restart = %s, want the 1m30s set-poll-interval chose", got)
	}
	if got := b.Execute(t.Context(), Command{ID: 1, Name: CmdSetPollInterval, Payload: "5s"}); !got.OK ||
		got.Result != "poll interval 1m30s" || b.nextWait(time.Hour) != 90*time.Second {
		t.Errorf("Execute of command 1 again after a restart = %+v, want the first answer and nothing run", got)
	}
}

// TestRebootHookRunsOnce runs a reboot hook that counts its runs: the
// command delivered again, even to a restarted agent, is answered without
// running the hook again.
func TestRebootHookRunsOnce(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(t.TempDir(), "count")
	hook := script(t, `echo x >> "`+count+`"`)
	for range 2 {
		a := newCmdAgent(t, "http://127.0.0.1:1", dir, Config{RebootHook: []string{hook}})
		for range 2 {
			got := a.Execute(t.Context(), Command{ID: 9, Name: CmdReboot})
			if got != (Answer{OK: true, Result: "rebooting"}) {
				t.Errorf("Execute(reboot) = %+v, want ok rebooting", got)
			}
		}
	}
	b, err := os.ReadFile(count)
	if err != nil || strings.Count(string(b), "x") != 1 {
		t.Errorf("reboot hook ran %d times (%v), want once", strings.Count(string(b), "x"), err)
	}
}

func TestCommandHook(t *testing.T) {
	hook := script(t, `if [ "$1" = fail ]; then printf 'bad\001%0300d' 0 >&2; exit 3; fi; echo "did $1 with $2"`)
	a := newCmdAgent(t, "http://127.0.0.1:1", t.TempDir(), Config{CommandHook: hook})
	if got := a.Execute(t.Context(), Command{ID: 1, Name: "blink", Payload: "3 times"}); got !=
		(Answer{OK: true, Result: "did blink with 3 times"}) {
		t.Errorf("Execute(blink) = %+v, want ok with the hook's output", got)
	}
	got := a.Execute(t.Context(), Command{ID: 2, Name: "fail"})
	if got.OK || len(got.Result) > maxResult || !strings.HasPrefix(got.Result, "bad 000") ||
		!utf8.ValidString(got.Result) {
		t.Errorf("Execute(fail) = %+v, want an error with the output cut to %d printable bytes", got, maxResult)
	}
}

// TestCheckInCommandsAnswered runs cycles against a server that keeps
// handing over the same commands, as it does until they are answered:
// each is run once and answered every time.
func TestCheckInCommandsAnswered(t *testing.T) {
	count := filepath.Join(t.TempDir(), "count")
	hook := script(t, `echo x >> "`+count+`"; echo ran $1`)
	cs := newCmdServer(t, client.Command{ID: 4, Name: "blink"}, client.Command{ID: 5, Name: CmdReboot})
	a := newCmdAgent(t, cs.srv.URL, t.TempDir(), Config{CommandHook: hook, HTTPClient: cs.srv.Client()})
	for range 2 {
		if err := a.RunOnce(t.Context()); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
	}
	want := []ackBody{
		{ID: "d1", Cmd: 4, OK: true, Result: "ran blink"}, {ID: "d1", Cmd: 5, Result: "reboot not supported"},
		{ID: "d1", Cmd: 4, OK: true, Result: "ran blink"}, {ID: "d1", Cmd: 5, Result: "reboot not supported"},
	}
	got := cs.answers()
	if len(got) != len(want) {
		t.Fatalf("answers = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("answer %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if b, err := os.ReadFile(count); err != nil || strings.Count(string(b), "x") != 1 {
		t.Errorf("command hook ran %d times (%v), want once", strings.Count(string(b), "x"), err)
	}
}

func TestCleanResult(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{" line one\nline two\t", "line one line two"},
		{"bad \xff byte", "bad ? byte"},
		{strings.Repeat("é", 200), strings.Repeat("é", 128)},
	}
	for _, tt := range tests {
		if got := cleanResult(tt.in); got != tt.want {
			t.Errorf("cleanResult(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
