package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/manifest"
)

// offline runs a ferry command that needs no server.
func offline(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runEnv(t.Context(), env{
		args: args, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(string) string { return "" },
	})
	return stdout.String(), err
}

func TestKeyGenAndReleaseSign(t *testing.T) {
	for _, alg := range []string{"ed25519", "p256"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "rel")
			if _, err := offline(t, "key", "gen", "--alg", alg, "--out", name); err != nil {
				t.Fatalf("key gen --alg %s: %v", alg, err)
			}
			fi, err := os.Stat(name + ".key")
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("stat %s.key = %v, %v, want mode 0600", name, fi, err)
			}
			if _, err := offline(t, "key", "gen", "--alg", alg, "--out", name); err == nil {
				t.Errorf("key gen over existing files = nil error, want a refusal")
			}

			img := firmware(5000, 3)
			file := writeFile(t, "fw.bin", img)
			_, err = offline(t, "release", "sign", "--product", "sensor", "--version", "1.2.0",
				"--counter", "4", "--key", name+".key", file)
			if err != nil {
				t.Fatalf("release sign: %v", err)
			}
			checkSigned(t, file, name+".pub", img)
		})
	}
}

// checkSigned verifies FILE.manifest and FILE.sig as a device would.
func checkSigned(t *testing.T, file, pubFile string, img []byte) {
	t.Helper()
	mb, _ := os.ReadFile(file + ".manifest")
	sig, _ := os.ReadFile(file + ".sig")
	pb, _ := os.ReadFile(pubFile)
	pub, err := manifest.DecodePublicKey(pb)
	if err != nil {
		t.Fatalf("DecodePublicKey(%s): %v", pubFile, err)
	}
	if err := manifest.Verify(pub, mb, sig); err != nil {
		t.Errorf("Verify(FILE.manifest, FILE.sig) = %v, want nil", err)
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		t.Fatalf("Parse(FILE.manifest): %v", err)
	}
	sum := sha256.Sum256(img)
	if err := m.Matches("sensor", "1.2.0", int64(len(img)), hex.EncodeToString(sum[:])); err != nil || m.Counter != 4 {
		t.Errorf("manifest %+v: %v, want sensor 1.2.0 of the image with counter 4", m, err)
	}
}

func TestReleaseSignRefuses(t *testing.T) {
	name := filepath.Join(t.TempDir(), "k")
	if _, err := offline(t, "key", "gen", "--alg", "p256", "--out", name); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "fw.bin", []byte("image"))
	tests := map[string][]string{
		"negative counter": {"--product", "p", "--version", "1.0.0", "--counter", "-1", "--key", name + ".key"},
		"bad version":      {"--product", "p", "--version", "1 0", "--counter", "1", "--key", name + ".key"},
		"public key":       {"--product", "p", "--version", "1.0.0", "--counter", "1", "--key", name + ".pub"},
		"no counter":       {"--product", "p", "--version", "1.0.0", "--key", name + ".key"},
		"bad product":      {"--product", "a/b", "--version", "1.0.0", "--counter", "1", "--key", name + ".key"},
	}
	for tn, args := range tests {
		t.Run(tn, func(t *testing.T) {
			if _, err := offline(t, append([]string{"release", "sign", file}, args...)...); err == nil {
				t.Errorf("release sign %q = nil error, want a refusal", args)
			}
			if _, err := os.Stat(file + ".sig"); err == nil {
				t.Errorf("release sign %q wrote %s.sig", args, file)
			}
		})
	}
}
