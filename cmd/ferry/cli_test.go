package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   []string
		public bool
		notes  string
	}{
		{"flags first", []string{"--public", "p"}, []string{"p"}, true, ""},
		{"flags last", []string{"p", "--public"}, []string{"p"}, true, ""},
		{"mixed", []string{"a", "--notes", "n", "b", "--public", "c"}, []string{"a", "b", "c"}, true, "n"},
		{"after --", []string{"--notes=x", "--", "--public", "b"}, []string{"--public", "b"}, false, "x"},
		{"none", nil, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			public := fs.Bool("public", false, "")
			notes := fs.String("notes", "", "")
			got, err := parseArgs(fs, tt.args)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) || *public != tt.public || *notes != tt.notes {
				t.Errorf("parseArgs(%q) = %q, public %v, notes %q; want %q, %v, %q",
					tt.args, got, *public, *notes, tt.want, tt.public, tt.notes)
			}
		})
	}
}

// fakeAPI answers operator API requests with canned bodies by "METHOD
// path" and records what it got.
type fakeAPI struct {
	srv     *httptest.Server
	answers map[string]answer

	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

type answer struct {
	status int
	body   string
}

func newFakeAPI(t *testing.T, answers map[string]answer) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(r.Context()))
		f.body = append(f.body, b)
		f.mu.Unlock()
		a, ok := f.answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{http.StatusNotFound, `{"error":"no route"}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// run runs a ferry command in-process against f and returns stdout and
// stderr.
func (f *fakeAPI) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runEnv(t.Context(), env{
		args: args, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string {
			return map[string]string{"FERRY_SERVER": f.srv.URL, "FERRY_TOKEN": "tok"}[k]
		},
	})
	return stdout.String(), stderr.String(), err
}

func (f *fakeAPI) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return f.reqs[len(f.reqs)-1], f.body[len(f.body)-1]
}

func TestProductCreate(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products": {201,
		`{"name":"p","access":"key","created_at":"2025-01-02T03:04:05Z","enroll_key":"fek_abc"}`}})

	out, errOut, err := f.run(t, "product", "create", "p")
	if err != nil {
		t.Fatalf("product create: %v", err)
	}
	if !strings.Contains(out, "enrollment key: fek_abc") || !strings.Contains(errOut, "not shown again") {
		t.Errorf("product create printed %q / stderr %q, want the key and a warning to store it", out, errOut)
	}
	req, body := f.last(t)
	if got := string(body); got != `{"access":"key","name":"p"}` {
		t.Errorf("product create sent %s, want access key", got)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("Authorization = %q, want the FERRY_TOKEN", got)
	}

	if _, _, err := f.run(t, "product", "create", "p", "--public"); err != nil {
		t.Fatalf("product create --public after the name: %v", err)
	}
	if _, body := f.last(t); string(body) != `{"access":"public","name":"p"}` {
		t.Errorf("product create --public sent %s, want access public", body)
	}
}

func TestReleasePush(t *testing.T) {
	img := []byte("firmware!")
	sum := strings.Repeat("ab", 32) // not img's
	release := func(sha string) answer {
		return answer{201, `{"product":"p","version":"1.1.0","size":9,"sha256":"` + sha + `"}`}
	}
	file := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(img)
	good := hex.EncodeToString(h[:])

	t.Run("prints version size and digest", func(t *testing.T) {
		f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/releases": release(good)})
		out, _, err := f.run(t, "release", "push", "--product", "p", "--version", "1.1.0", file, "--no-channel")
		if err != nil {
			t.Fatalf("release push: %v", err)
		}
		if want := "1.1.0  9 bytes  sha256 " + good + "\n"; out != want {
			t.Errorf("release push printed %q, want %q", out, want)
		}
		req, body := f.last(t)
		if q := req.URL.Query(); !q.Has("channel") || q.Get("channel") != "" || q.Get("version") != "1.1.0" {
			t.Errorf("release push query = %v, want version 1.1.0 and an empty channel", q)
		}
		if !bytes.Equal(body, img) || req.ContentLength != int64(len(img)) {
			t.Errorf("release push sent %q (Content-Length %d), want the file", body, req.ContentLength)
		}
	})

	errorCases := []struct {
		name string
		args []string
		ans  answer
		want string
	}{
		{"missing product", []string{"--version", "1", file}, answer{}, "release push: --product is required"},
		{"missing file", []string{"--product", "p", "--version", "1", file + ".x"}, answer{},
			"release push: cannot read " + file + ".x: no such file or directory"},
		{"channel conflict", []string{"--product", "p", "--version", "1", "--channel", "b", "--no-channel", file},
			answer{}, "--channel and --no-channel exclude each other"},
		{"server error", []string{"--product", "p", "--version", "1", file},
			answer{409, `{"error":"release p 1: already exists"}`},
			"release push: server said 409 Conflict: release p 1: already exists"},
		{"digest differs", []string{"--product", "p", "--version", "1", file}, release(sum),
			"server stored 9 bytes with sha256 " + sum},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/releases": tt.ans})
			_, _, err := f.run(t, append([]string{"release", "push"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("release push %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestDeviceShow(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/devices/d1": {200, `{"id":"d1","product":"p",
		"channel":"stable","version":"1.0.0","attributes":{"rssi":"-71","battery":"3.9"},
		"last_seen":"2025-01-02T03:04:05Z","bytes_served":148496,
		"update":{"id":7,"version":"1.1.0","from_version":"1.0.0","state":"failed","reason":"rolled back",
		"finished_at":"2025-01-02T03:04:06Z"},
		"updates":[{"id":7,"version":"1.1.0","from_version":"1.0.0","state":"failed","reason":"rolled back"}],
		"history":[{"at":"2025-01-02T03:04:05Z","kind":"offer","update_id":7,"state":"offered"}]}`}})

	out, _, err := f.run(t, "device", "show", "d1", "--product", "p")
	if err != nil {
		t.Fatalf("device show: %v", err)
	}
	for _, want := range []string{"battery=3.9 rssi=-71", "#7 1.0.0 -> 1.1.0: failed (rolled back)",
		"148496", "Updates (newest first):", "History (oldest first):", "offer", "2025-01-02 03:04:05Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("device show output lacks %q:\n%s", want, out)
		}
	}
	if req, _ := f.last(t); req.URL.Query().Get("product") != "p" {
		t.Errorf("device show query = %v, want product=p", req.URL.Query())
	}
}

func TestHelpShowsExample(t *testing.T) {
	for _, args := range [][]string{{"product", "create", "-h"}, {"release", "push", "-h"},
		{"channel", "set", "-h"}, {"device", "list", "-h"}, {"agent", "-h"}, {"version", "-h"}} {
		var stderr bytes.Buffer
		err := runEnv(t.Context(), env{args: args, stdout: io.Discard, stderr: &stderr,
			getenv: func(string) string { return "" }})
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "Example:") {
			t.Errorf("ferry %s = %v, usage %q; want ErrHelp and an example", strings.Join(args, " "), err,
				stderr.String())
		}
	}
}

func TestAgentOnceExitCodes(t *testing.T) {
	tests := []struct {
		name string
		ans  answer
		code int
		want string
	}{
		{"server error", answer{500, `{"error":"database is locked"}`}, 2, "database is locked"},
		{"too many requests", answer{429, `{"error":"slow down"}`}, 2, "429"},
		{"request timeout", answer{408, `{"error":"timeout"}`}, 2, "408"},
		{"missing key", answer{401, `{"error":"unauthorized: product p needs its enrollment key"}`}, 3,
			"needs its enrollment key (give the product's enrollment key with --token or FERRY_DEVICE_TOKEN)"},
		{"unknown product", answer{404, `{"error":"product p: not found"}`}, 3,
			"product p: not found (check --product, and that --server names a Ferry server)"},
		{"bad request", answer{400, `{"error":"invalid version"}`}, 3, "invalid version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /device/v1/p/checkin": tt.ans})
			_, _, err := f.run(t, "agent", "--product", "p", "--device", "d1", "--version", "1.0.0",
				"--state-dir", t.TempDir(), "--once")
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("agent --once answered %d = %v, want exit code %d and an error containing %q",
					tt.ans.status, err, tt.code, tt.want)
			}
		})
	}
}

func TestAgentOnceNoVersionExitsThree(t *testing.T) {
	f := newFakeAPI(t, nil)
	_, _, err := f.run(t, "agent", "--product", "p", "--device", "d1", "--state-dir", t.TempDir(), "--once")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "give the running version") {
		t.Errorf("agent --once without --version in a new state dir = %v, want exit code 3", err)
	}
}

// refusedServer returns the URL of a local port that nothing listens on.
func refusedServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestConnectionRefusedHint(t *testing.T) {
	server := refusedServer(t)
	getenv := func(k string) string {
		return map[string]string{"FERRY_SERVER": server, "FERRY_TOKEN": "tok"}[k]
	}
	want := "is the server running? check --server / FERRY_SERVER (now " + server + ")"
	for _, args := range [][]string{{"product", "list"}, {"device", "list"},
		{"agent", "--product", "p", "--device", "d1", "--version", "1", "--state-dir", t.TempDir(), "--once"}} {
		err := runEnv(t.Context(), env{args: args, stdin: strings.NewReader(""), stdout: io.Discard,
			stderr: io.Discard, getenv: getenv})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ferry %s with no server = %v, want an error containing %q", strings.Join(args, " "), err, want)
		}
	}
}

func TestReleasePushMovesChannel(t *testing.T) {
	img := []byte("firmware!")
	h := sha256.Sum256(img)
	good := hex.EncodeToString(h[:])
	file := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(file, img, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, "channel stable -> 1.1.0\n"},
		{"named channel", []string{"--channel", "beta"}, "channel beta -> 1.1.0\n"},
		{"no channel", []string{"--no-channel"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/releases": {201,
				`{"product":"p","version":"1.1.0","size":9,"sha256":"` + good + `"}`}})
			args := append([]string{"release", "push", "--product", "p", "--version", "1.1.0", file}, tt.args...)
			out, _, err := f.run(t, args...)
			if err != nil {
				t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
			}
			if want := "1.1.0  9 bytes  sha256 " + good + "\n" + tt.want; out != want {
				t.Errorf("ferry %s printed %q, want %q", strings.Join(args, " "), out, want)
			}
		})
	}
}

func TestReleaseListChannels(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /api/v1/products/p/releases": {200, `{"releases":[{"version":"1.2.0"},{"version":"1.1.0"},
			{"version":"1.0.0"}]}`},
		"GET /api/v1/products/p/channels": {200, `{"channels":[{"name":"stable","version":"1.1.0"},
			{"name":"beta","version":"1.2.0"},{"name":"alpha","version":"1.2.0"}]}`},
	})

	out, _, err := f.run(t, "release", "list", "--product", "p")
	if err != nil {
		t.Fatalf("release list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := [][]string{{"VERSION", "CHANNELS"}, {"1.2.0", "alpha,beta"}, {"1.1.0", "stable"}, {"1.0.0", "-"}}
	if len(lines) != len(want) {
		t.Fatalf("release list printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if cells := strings.Fields(lines[i]); len(cells) < 4 || cells[0] != w[0] || cells[3] != w[1] {
			t.Errorf("release list line %d = %q, want version %s and channels %s", i, lines[i], w[0], w[1])
		}
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.mu.Unlock()
	if n != 2 {
		t.Errorf("release list sent %d requests, want 2 (releases, then channels once)", n)
	}
}

func TestChannelSetPrintsLine(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	f := newFakeAPI(t, map[string]answer{"PUT /api/v1/products/p/channels/stable": {200,
		`{"name":"stable","version":"1.1.0","sha256":"` + sum + `"}`}})

	out, _, err := f.run(t, "channel", "set", "--product", "p", "stable", "1.1.0")
	if err != nil {
		t.Fatalf("channel set: %v", err)
	}
	if want := "p stable -> 1.1.0 (sha256 " + sum[:16] + ")\n"; out != want {
		t.Errorf("channel set printed %q, want %q", out, want)
	}
}

func TestDeviceListRejectsNegativeLimit(t *testing.T) {
	f := newFakeAPI(t, nil)
	_, _, err := f.run(t, "device", "list", "--limit=-1")
	if want := "device list: --limit must be 0 or more, got -1"; err == nil || err.Error() != want {
		t.Errorf("device list --limit=-1 = %v, want %q", err, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 0 {
		t.Errorf("device list --limit=-1 sent %d requests, want none", len(f.reqs))
	}
}

func TestFlagBeforeCommand(t *testing.T) {
	f := newFakeAPI(t, nil)
	_, _, err := f.run(t, "--json", "product", "list")
	want := `unknown command "--json": flags go after the command, e.g. ferry product list --json`
	if err == nil || err.Error() != want {
		t.Errorf("ferry --json product list = %v, want %q", err, want)
	}
}

func TestVersionCommand(t *testing.T) {
	f := newFakeAPI(t, nil)
	out, _, err := f.run(t, "version")
	if err != nil {
		t.Fatalf("ferry version: %v", err)
	}
	if v, ok := strings.CutPrefix(out, "ferry "); !ok || strings.TrimSpace(v) == "" || !strings.HasSuffix(v, "\n") {
		t.Errorf("ferry version printed %q, want \"ferry VERSION\\n\"", out)
	}
}
