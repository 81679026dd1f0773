package main

// Adversarial crash test: the server is SIGKILLed while uploads and status
// reports are in flight, restarted, and must then hold no partial image, no
// release without its image, and every report it acknowledged.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAdversarialCrashHelperServer is not a test: the crash test runs the
// test binary again with FERRY_ADV_CRASH_DATA set, and this becomes the
// server it kills.
func TestAdversarialCrashHelperServer(t *testing.T) {
	data := os.Getenv("FERRY_ADV_CRASH_DATA")
	if data == "" {
		t.Skip("helper process for TestAdversarialSIGKILLDuringUploadsAndReports")
	}
	cfg := serveConfig{addr: "127.0.0.1:0", data: data, ready: func(a string) { fmt.Printf("READY %s\n", a) }}
	cfg.http.Stall = 2 * time.Second
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := serve(context.Background(), cfg, log); err != nil {
		t.Fatal(err)
	}
}

func startCrashServer(t *testing.T, data string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdversarialCrashHelperServer$")
	cmd.Env = append(os.Environ(), "FERRY_ADV_CRASH_DATA="+data)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("crash helper server did not start")
	}
	return nil, ""
}

func TestAdversarialSIGKILLDuringUploadsAndReports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	data := t.TempDir()
	srv, url := startCrashServer(t, data)
	tokb, err := os.ReadFile(filepath.Join(data, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokb))
	hc := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path string, body []byte) (int, []byte, error) {
		req, _ := http.NewRequest(method, url+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	must := func(method, path string, body []byte, want int) []byte {
		code, b, err := call(method, path, body)
		if err != nil || code != want {
			t.Fatalf("%s %s = %d %s (%v), want %d", method, path, code, b, err, want)
		}
		return b
	}
	must("POST", "/api/v1/products", []byte(`{"name":"c","access":"public"}`), 201)
	must("POST", "/api/v1/products/c/releases?version=1.0.0", bytes.Repeat([]byte("f"), 10000), 201)
	must("GET", "/fw/c/version?device=k1&version=0.9.0", nil, 200)

	var mu sync.Mutex
	var acked []int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := int64(1); !stop.Load(); i++ {
				prog := int64(r)*1_000_000 + i
				path := fmt.Sprintf("/fw/c/status?device=k1&state=downloading&progress=%d", prog)
				code, b, err := call("GET", path, nil)
				if err == nil && code == 200 && string(b) == "ok" {
					mu.Lock()
					acked = append(acked, prog)
					mu.Unlock()
				}
			}
		})
	}
	for u := range 3 {
		wg.Go(func() {
			img := make([]byte, 3<<20)
			for i := 0; !stop.Load(); i++ {
				for j := range img {
					img[j] = byte(j*31 + i*7 + u)
				}
				_, _, _ = call("POST", fmt.Sprintf("/api/v1/products/c/releases?version=2.%d.%d&channel=", u, i), img)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	stop.Store(true)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no report was acknowledged before the kill")
	}

	// Before the restart clears tmp/: every visible image is complete.
	hexName := regexp.MustCompile(`^[0-9a-f]{64}$`)
	checkImages := func() {
		files, _ := filepath.Glob(filepath.Join(data, "images", "sha256", "*", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if name := filepath.Base(f); !hexName.MatchString(name) || name != hex.EncodeToString(sum[:]) ||
				filepath.Base(filepath.Dir(f)) != name[:2] {
				t.Errorf("image file %s holds content with sha256 %x", f, sum)
			}
		}
	}
	checkImages()

	_, url = startCrashServer(t, data)
	checkImages()
	if left, _ := os.ReadDir(filepath.Join(data, "images", "tmp")); len(left) != 0 {
		t.Errorf("%d partial uploads left in images/tmp after restart", len(left))
	}

	var dev struct {
		History []struct {
			Kind     string `json:"kind"`
			Progress int64  `json:"progress"`
		} `json:"history"`
	}
	if err := json.Unmarshal(must("GET", "/api/v1/devices/k1?product=c", nil, 200), &dev); err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, h := range dev.History {
		if h.Kind == "report" {
			have[h.Progress] = true
		}
	}
	lost := 0
	for _, p := range acked {
		if !have[p] {
			lost++
		}
	}
	if lost != 0 {
		t.Errorf("%d of %d acknowledged reports are missing from the history after SIGKILL", lost, len(acked))
	}

	var rels struct {
		Releases []struct {
			Version string `json:"version"`
			Size    int64  `json:"size"`
			SHA256  string `json:"sha256"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(must("GET", "/api/v1/products/c/releases", nil, 200), &rels); err != nil {
		t.Fatal(err)
	}
	for _, r := range rels.Releases {
		code, b, err := call("GET", "/device/v1/c/img/"+r.SHA256, nil)
		sum := sha256.Sum256(b)
		if err != nil || code != 200 || int64(len(b)) != r.Size || hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("release %s after SIGKILL: image %d, %d bytes (%v), want %d bytes with its sha256",
				r.Version, code, len(b), err, r.Size)
		}
	}
	t.Logf("%d reports acknowledged, %d releases survived the kill", len(acked), len(rels.Releases))
}
