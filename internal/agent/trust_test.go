package agent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/manifest"
)

// signingKey returns a new Ed25519 key and its public half.
func signingKey(t testing.TB) (manifest.PrivateKey, manifest.PublicKey) {
	t.Helper()
	k, err := manifest.GenerateKey(manifest.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	return k, pub
}

// sign makes the fake server offer its image with a manifest for m, signed
// by k.
func (fs *fakeServer) sign(t testing.TB, k manifest.PrivateKey, m manifest.Manifest) {
	t.Helper()
	b := manifest.Encode(m)
	sig, err := manifest.Sign(k, b)
	if err != nil {
		t.Fatal(err)
	}
	fs.manifest, fs.sig = b, sig
}

// release is the manifest that truly describes the fake server's image.
func (fs *fakeServer) release(counter int64) manifest.Manifest {
	return manifest.Manifest{
		Product: "p", Version: target, Size: int64(len(fs.image)), SHA256: fs.sha, Counter: counter,
		Created: 1767225600,
	}
}

func newTrustingAgent(t testing.TB, fs *fakeServer, dir string, keys ...manifest.PublicKey) *Agent {
	t.Helper()
	a, err := New(Config{
		Server: fs.srv.URL, Product: "p", DeviceID: "d1", Version: "1.0.0", StateDir: dir,
		PollMin: time.Millisecond, HTTPClient: fs.srv.Client(), TrustKeys: keys,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestSignedUpdateInstalls(t *testing.T) {
	fs := newFakeServer(t)
	k, pub := signingKey(t)
	_, other := signingKey(t)
	fs.sign(t, k, fs.release(5))
	dir := t.TempDir()

	// The signing key need not be the first trusted one.
	if err := newTrustingAgent(t, fs, dir, other, pub).RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce with a good signed update: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, firmwareFile))
	if err != nil || !bytes.Equal(got, fs.image) {
		t.Errorf("firmware.bin: %d bytes (err %v), want the %d-byte image", len(got), err, len(fs.image))
	}
	if st := readState(t, dir); st != (installed{Version: target, SHA256: fs.sha, Counter: 5}) {
		t.Errorf("state.json = %+v, want version %s, the image's sha256 and counter 5", st, target)
	}
	if n := len(fs.counters); n != 3 || fs.counters[0] == nil || *fs.counters[0] != 0 ||
		fs.counters[2] == nil || *fs.counters[2] != 5 {
		t.Errorf("check-ins reported counters %v, want 0 first and 5 after the install", derefAll(fs.counters))
	}
}

func TestUnsignedAgentReportsNoCounter(t *testing.T) {
	fs := newFakeServer(t)
	if err := newTestAgent(t, fs, t.TempDir(), "1.0.0").RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	for i, c := range fs.counters {
		if c != nil {
			t.Errorf("check-in %d reported counter %d, want none from an agent without trusted keys", i, *c)
		}
	}
}

func TestSignedUpdateRefused(t *testing.T) {
	k, pub := signingKey(t)
	stranger, _ := signingKey(t)
	tests := []struct {
		name      string
		setup     func(fs *fakeServer)
		running   int64 // the counter state.json holds
		want      string
		permanent bool
	}{
		{"image byte", func(fs *fakeServer) {
			fs.sign(t, k, fs.release(5))
			fs.tamperAt = 1234
		}, 0, "manifest sha256 does not match the image", false},
		{"manifest byte", func(fs *fakeServer) {
			fs.sign(t, k, fs.release(5))
			fs.manifest = bytes.Replace(fs.manifest, []byte("counter 5"), []byte("counter 6"), 1)
		}, 0, "signature does not verify with any trusted key", true},
		{"signature byte", func(fs *fakeServer) {
			fs.sign(t, k, fs.release(5))
			fs.sig[10] ^= 0x80
		}, 0, "signature does not verify with any trusted key", true},
		{"untrusted key", func(fs *fakeServer) {
			fs.sign(t, stranger, fs.release(5))
		}, 0, "signature does not verify with any trusted key", true},
		{"unsigned", func(*fakeServer) {}, 0, "offer carries no signed manifest", true},
		{"manifest of another image", func(fs *fakeServer) {
			m := fs.release(5)
			m.SHA256 = strings.Repeat("ab", 32)
			fs.sign(t, k, m)
		}, 0, "manifest sha256 does not match the image", true},
		{"manifest of another version", func(fs *fakeServer) {
			m := fs.release(5)
			m.Version = "1.0.9"
			fs.sign(t, k, m)
		}, 0, `manifest is for version "1.0.9"`, true},
		{"manifest of another product", func(fs *fakeServer) {
			m := fs.release(5)
			m.Product = "q"
			fs.sign(t, k, m)
		}, 0, `manifest is for product "q"`, true},
		{"lower counter", func(fs *fakeServer) {
			fs.sign(t, k, fs.release(4))
		}, 5, "security counter 4 is below the running 5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			tt.setup(fs)
			dir := t.TempDir()
			st := stateDir{dir: dir}
			if err := st.writeJSON(stateFile, installed{Version: "1.0.0", Counter: tt.running}); err != nil {
				t.Fatal(err)
			}
			// A part of the image kept from an earlier attempt must go too.
			if err := os.WriteFile(st.path(partFile), fs.image[:100], 0o600); err != nil {
				t.Fatal(err)
			}

			err := newTrustingAgent(t, fs, dir, pub).RunOnce(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) || Permanent(err) != tt.permanent {
				t.Fatalf("RunOnce = %v (permanent %v), want an error containing %q (permanent %v)",
					err, Permanent(err), tt.want, tt.permanent)
			}
			last := fs.reports[len(fs.reports)-1]
			if last.State != "failed" || last.Update != updateID || !strings.Contains(last.Detail, tt.want) {
				t.Errorf("last report = %+v, want failed for update %d saying %q", last, updateID, tt.want)
			}
			if strings.Contains(strings.Join(fs.states(), " "), "installing") {
				t.Errorf("reported states %v, want no installing", fs.states())
			}
			for _, name := range []string{partFile, pendingFile, firmwareFile} {
				if _, err := os.Stat(st.path(name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a refused update (stat error %v)", name, err)
				}
			}
			if got := readState(t, dir); got != (installed{Version: "1.0.0", Counter: tt.running}) {
				t.Errorf("state.json after a refused update = %+v, want 1.0.0 with counter %d", got, tt.running)
			}
			if c := fs.counters[0]; c == nil || *c != tt.running {
				t.Errorf("check-in reported counter %v, want %d", derefAll(fs.counters[:1]), tt.running)
			}
		})
	}
}

func derefAll(cs []*int64) []any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = "none"
		if c != nil {
			out[i] = *c
		}
	}
	return out
}
