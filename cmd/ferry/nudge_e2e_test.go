package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNudgeEndToEnd runs ferry serve with a product whose nudge points at
// a local carrier API, and queues urgent commands for a device that holds
// no connection with the CLI: the serve's sender makes the templated
// request once, and the second command's nudge is suppressed by the
// per-device limit.
func TestNudgeEndToEnd(t *testing.T) {
	type hit struct {
		method, path, auth, body string
	}
	var (
		mu   sync.Mutex
		hits []hit
	)
	carrier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(carrier.Close)

	s := startServer(t, t.TempDir())
	s.must(t, "product", "create", "p", "--public")
	s.must(t, "release", "push", "--product", "p", "--version", "1.0.0", writeFile(t, "v1.bin", firmware(4096, 1)))
	resp, err := http.Get(s.url + "/fw/p/version?device=mkr-1&version=1.0.0")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in of mkr-1: %v %v", resp, err)
	}
	resp.Body.Close()

	secret := filepath.Join(t.TempDir(), "carrier.key")
	if err := os.WriteFile(secret, []byte("k-e2e-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.must(t, "nudge", "set", "--product", "p", "--url", carrier.URL+"/v1/sms",
		"--header", "Authorization: Bearer {{.Secret}}",
		"--body", "to={{urlquery .Device}}&text={{urlquery .Command.Name}}", "--secret-file", secret)
	s.must(t, "device", "cmd", "--product", "p", "--urgent", "mkr-1", "reboot")
	s.must(t, "device", "cmd", "--product", "p", "--urgent", "mkr-1", "check-update")

	// The sender runs in the background; wait for it to record the
	// outcome (a bound on waiting, not an assertion on time).
	type nudgeJSON struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	var ns []nudgeJSON
	for deadline := time.Now().Add(20 * time.Second); ; {
		var out struct {
			Nudges []nudgeJSON `json:"nudges"`
		}
		if err := json.Unmarshal([]byte(s.must(t, "nudge", "list", "--product", "p", "--json")), &out); err != nil {
			t.Fatal(err)
		}
		ns = out.Nudges
		if len(ns) == 2 && ns[1].State == "sent" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(ns) != 2 || ns[1].State != "sent" || ns[0].State != "suppressed" ||
		!strings.Contains(ns[0].Reason, "rate limit") {
		t.Fatalf("nudges = %+v, want the first sent and the second suppressed by the rate limit", ns)
	}

	mu.Lock()
	defer mu.Unlock()
	want := hit{"POST", "/v1/sms", "Bearer k-e2e-secret", "to=mkr-1&text=reboot"}
	if len(hits) != 1 || hits[0] != want {
		t.Errorf("carrier got %+v, want exactly %+v", hits, want)
	}
}
