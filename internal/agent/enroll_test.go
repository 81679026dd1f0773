package agent

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// handleEnroll answers like a key product whose enrollment key is
// "fek_key": each enrollment issues the next device token.
func (fs *fakeServer) handleEnroll(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.enrolls = append(fs.enrolls, r.Header.Get("Authorization"))
	if r.Header.Get("Authorization") != "Bearer fek_key" {
		http.Error(w, `{"error":"enrolling needs the enrollment key"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `{"token":"fdt_%d"}`, len(fs.enrolls))
}

func newKeyAgent(t *testing.T, fs *fakeServer, dir, token string) *Agent {
	t.Helper()
	a, err := New(Config{
		Server: fs.srv.URL, Product: "p", DeviceID: "d1", Version: target, StateDir: dir, Token: token,
		PollMin: time.Millisecond, HTTPClient: fs.srv.Client(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestEnrollsOnceAndKeepsToken(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	for range 2 {
		// A new agent each time, as after a restart: the kept token wins.
		if err := newKeyAgent(t, fs, dir, "fek_key").RunOnce(t.Context()); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
	}
	if len(fs.enrolls) != 1 {
		t.Errorf("server saw %d enrollments, want 1", len(fs.enrolls))
	}
	for i, got := range fs.auths {
		if got != "Bearer fdt_1" {
			t.Errorf("check-in %d sent Authorization %q, want the device token", i, got)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, tokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stat %s = %v, %v, want mode 0600", tokenFile, fi, err)
	}
}

func TestDeviceTokenGivenIsUsedAsIs(t *testing.T) {
	fs := newFakeServer(t)
	if err := newKeyAgent(t, fs, t.TempDir(), "fdt_given").RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if len(fs.enrolls) != 0 || len(fs.auths) != 1 || fs.auths[0] != "Bearer fdt_given" {
		t.Errorf("enrollments %q, check-ins %q; want none and one with the given token", fs.enrolls, fs.auths)
	}
}

func TestWrongEnrollmentKeyIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	dir := t.TempDir()
	err := newKeyAgent(t, fs, dir, "fek_wrong").RunOnce(t.Context())
	if err == nil || !Permanent(err) {
		t.Errorf("RunOnce with a wrong key = %v, want a permanent error", err)
	}
	if len(fs.checkins) != 0 {
		t.Errorf("server saw %d check-ins, want none", len(fs.checkins))
	}
	if _, err := os.Stat(filepath.Join(dir, tokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a failed enrollment (stat %v)", tokenFile, err)
	}
}
