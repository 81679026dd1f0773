package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// signedImage writes an image and signs it as release 1.2.0 of product
// sensor with counter 4; it returns the image's path and its SHA-256.
func signedImage(t *testing.T) (string, string) {
	t.Helper()
	img := firmware(3000, 9)
	file := writeFile(t, "fw.bin", img)
	_, err := offline(t, "release", "sign", "--product", "sensor", "--version", "1.2.0", "--counter", "4",
		"--key", genKey(t, "ed25519")+".key", file)
	if err != nil {
		t.Fatalf("release sign: %v", err)
	}
	sum := sha256.Sum256(img)
	return file, hex.EncodeToString(sum[:])
}

func TestReleasePushSigned(t *testing.T) {
	file, sum := signedImage(t)
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/sensor/releases": {201,
		`{"product":"sensor","version":"1.2.0","size":3000,"sha256":"` + sum + `","counter":4,"signed":true}`}})

	out, _, err := f.run(t, "release", "push", "--product", "sensor", "--no-channel",
		"--manifest", file+".manifest", "--sig", file+".sig", file)
	if err != nil {
		t.Fatalf("release push --manifest --sig: %v", err)
	}
	if want := "1.2.0  3000 bytes  sha256 " + sum + "\nsigned, counter 4\n"; out != want {
		t.Errorf("release push printed %q, want %q", out, want)
	}
	req, _ := f.last(t)
	if v := req.URL.Query().Get("version"); v != "1.2.0" || req.URL.Query().Has("counter") {
		t.Errorf("release push query = %v, want version 1.2.0 from the manifest and no counter", req.URL.Query())
	}
	for h, name := range map[string]string{"X-Ferry-Manifest": ".manifest", "X-Ferry-Signature": ".sig"} {
		want, _ := os.ReadFile(file + name)
		if got, _ := base64.StdEncoding.DecodeString(req.Header.Get(h)); string(got) != string(want) {
			t.Errorf("header %s = %q, want FILE%s in base64", h, req.Header.Get(h), name)
		}
	}
}

func TestReleasePushCounter(t *testing.T) {
	file := writeFile(t, "fw.bin", []byte("abc"))
	sum := sha256.Sum256([]byte("abc"))
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/releases": {201,
		`{"product":"p","version":"1","size":3,"sha256":"` + hex.EncodeToString(sum[:]) + `","counter":6}`}})

	out, _, err := f.run(t, "release", "push", "--product", "p", "--version", "1", "--counter", "6",
		"--no-channel", file)
	if err != nil {
		t.Fatalf("release push --counter 6: %v", err)
	}
	if !strings.HasSuffix(out, "\nunsigned, counter 6\n") {
		t.Errorf("release push printed %q, want it to end with the counter", out)
	}
	if req, _ := f.last(t); req.URL.Query().Get("counter") != "6" || req.Header.Get("X-Ferry-Manifest") != "" {
		t.Errorf("release push sent query %v, manifest %q; want counter 6 and no manifest",
			req.URL.Query(), req.Header.Get("X-Ferry-Manifest"))
	}
}

// TestReleasePushSignedRefuses checks the mix-ups that release push
// catches before it sends anything.
func TestReleasePushSignedRefuses(t *testing.T) {
	file, _ := signedImage(t)
	other := writeFile(t, "other.bin", []byte("not the signed image"))
	m, sig := file+".manifest", file+".sig"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"version disagrees",
			[]string{"--product", "sensor", "--version", "1.3.0", "--manifest", m, "--sig", sig, file},
			"--version 1.3.0 disagrees with " + m + ", which is for version 1.2.0"},
		{"product disagrees", []string{"--product", "lamp", "--manifest", m, "--sig", sig, file},
			m + ` is for product "sensor", not "lamp"`},
		{"manifest without sig", []string{"--product", "sensor", "--manifest", m, file},
			"--manifest and --sig go together"},
		{"sig without manifest", []string{"--product", "sensor", "--version", "1.2.0", "--sig", sig, file},
			"--manifest and --sig go together"},
		{"counter with manifest",
			[]string{"--product", "sensor", "--counter", "4", "--manifest", m, "--sig", sig, file},
			"--counter and --manifest exclude each other"},
		{"negative counter", []string{"--product", "sensor", "--version", "1", "--counter", "-1", file},
			"--counter -1: want 0 or more"},
		{"no version", []string{"--product", "sensor", file}, "--version is required"},
		{"not a manifest", []string{"--product", "sensor", "--manifest", sig, "--sig", sig, file}, sig + ": "},
		{"other image", []string{"--product", "sensor", "--manifest", m, "--sig", sig, other},
			"but the manifest is for 3000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, nil)
			_, _, err := f.run(t, append([]string{"release", "push"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("release push %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.reqs) != 0 {
				t.Errorf("release push %q sent %d requests, want none", tt.args, len(f.reqs))
			}
		})
	}
}

// TestSignedReleaseEndToEnd runs the signing workflow against a real
// server: a key is made and registered, the product made to require
// signatures, and only the signed push is stored.
func TestSignedReleaseEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.must(t, "product", "create", "sensor", "--public")
	key := genKey(t, "p256")
	s.must(t, "key", "add", "--product", "sensor", "--name", "k1", key+".pub")
	out := s.must(t, "product", "set", "sensor", "--require-signature")
	if !strings.Contains(out, "signature required") {
		t.Errorf("product set --require-signature printed %q, want it to say so", out)
	}

	unsigned := writeFile(t, "old.bin", firmware(2000, 1))
	if _, err := s.ferry(t, "release", "push", "--product", "sensor", "--version", "1.1.0", unsigned); err == nil ||
		!strings.Contains(err.Error(), "400") {
		t.Errorf("unsigned release push = %v, want a 400 refusal", err)
	}

	img := firmware(5000, 2)
	file := writeFile(t, "fw.bin", img)
	s.must(t, "release", "sign", "--product", "sensor", "--version", "1.2.0", "--counter", "3",
		"--key", key+".key", file)
	out = s.must(t, "release", "push", "--product", "sensor", "--manifest", file+".manifest",
		"--sig", file+".sig", file)
	if !strings.Contains(out, "1.2.0  5000 bytes") || !strings.Contains(out, "signed, counter 3") {
		t.Errorf("signed release push printed %q, want 1.2.0 signed with counter 3", out)
	}

	out = s.must(t, "release", "list", "--product", "sensor")
	if !strings.Contains(out, "1.2.0") || strings.Contains(out, "1.1.0") {
		t.Errorf("release list = %q, want 1.2.0 and not the refused 1.1.0", out)
	}
	if out := s.must(t, "key", "list", "--product", "sensor"); !strings.Contains(out, "k1") {
		t.Errorf("key list = %q, want k1", out)
	}
}
