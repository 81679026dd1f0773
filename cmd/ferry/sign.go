package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/version"
	"github.com/ferry-ota/ferry/manifest"
)

// The signing commands run offline: they read and write local files only,
// so the private key never needs to be on a machine that talks to the server.

const keyGenUsage = `
Usage: ferry key gen --alg ed25519|p256 --out NAME

Makes a signing key pair and writes NAME.key (the private key, mode 0600)
and NAME.pub (the public key, for 'ferry key add' and for the firmware).
Neither file may exist. Runs without a server. Use p256 for boards whose
ATECC508A verifies signatures; docs/manifest.md describes the files.

Example:
  ferry key gen --alg p256 --out release-2026
`

func runKeyGen(_ context.Context, e env) error {
	const name = "key gen"
	fs := newFlagSet(e, name, keyGenUsage)
	algName := fs.String("alg", "", "signature `algorithm`: ed25519 or p256 (required)")
	out := fs.String("out", "", "file name `prefix` of the key pair (required)")
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs(name, args); err != nil {
		return err
	}
	if err := required(name, "alg", *algName, "out", *out); err != nil {
		return err
	}
	alg, err := manifest.ParseAlg(*algName)
	if err != nil {
		return fmt.Errorf("%s: --alg: %w", name, err)
	}

	k, err := manifest.GenerateKey(alg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	pub, err := k.Public()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := writeNew(*out+".key", manifest.EncodePrivateKey(k), 0o600); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := writeNew(*out+".pub", manifest.EncodePublicKey(pub), 0o644); err != nil {
		return fmt.Errorf("%s: %w (%s.key was written)", name, err, *out)
	}
	fmt.Fprintf(e.stdout, "%s.key  %s.pub  %s  fingerprint %s\n", *out, *out, alg, pub.Fingerprint())
	return nil
}

// writeNew writes a file that must not exist yet, so that a key is never
// overwritten by mistake, and syncs it before reporting success.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, pathCause(err))
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

const releaseSignUsage = `
Usage: ferry release sign --product P --version V --counter N --key NAME.key FILE

Hashes FILE, builds the release manifest (product, version, size,
sha256, security counter, time) and signs it with the private key. Writes
FILE.manifest and FILE.sig, which 'ferry release push --manifest --sig'
uploads with FILE. Runs without a server; docs/manifest.md gives the bytes.

The counter must not be below the highest counter the product has
published, and devices never install a release with a counter below the
one they run: raise it to shut out older, vulnerable releases.

Example:
  ferry release sign --product mkr-gsm-sensor --version 1.4.2 --counter 5 \
      --key release-2026.key build/fw.bin
`

func runReleaseSign(_ context.Context, e env) error {
	const name = "release sign"
	fs := newFlagSet(e, name, releaseSignUsage)
	product := fs.String("product", "", "product `name` (required)")
	ver := fs.String("version", "", "release `version` (required)")
	counter := fs.String("counter", "", "security `counter`, 0 or more (required)")
	keyFile := fs.String("key", "", "private key `file` from 'ferry key gen' (required)")
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs(name, args, "FILE"); err != nil {
		return err
	}
	if err := required(name, "product", *product, "version", *ver, "counter", *counter, "key", *keyFile); err != nil {
		return err
	}
	m, k, err := signInputs(*product, *ver, *counter, *keyFile)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}

	m.Size, m.SHA256, err = hashFile(args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.Created = time.Now().Unix()
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b := manifest.Encode(m)
	sig, err := manifest.Sign(k, b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := writeReplace(args[0]+".manifest", b); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := writeReplace(args[0]+".sig", sig); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(e.stdout, "%s %s  counter %d  %d bytes  sha256 %s\n%s.manifest  %s.sig\n",
		m.Product, m.Version, m.Counter, m.Size, m.SHA256, args[0], args[0])
	return nil
}

// signInputs checks the flags of release sign and reads the key.
func signInputs(product, ver, counter, keyFile string) (m manifest.Manifest, k manifest.PrivateKey, err error) {
	if _, err := version.Parse(ver); err != nil {
		return m, k, fmt.Errorf("--version: %w", err)
	}
	n, err := strconv.ParseInt(counter, 10, 64)
	if err != nil || n < 0 {
		return m, k, fmt.Errorf("--counter %q: want a whole number, 0 or more", counter)
	}
	kb, err := readSmall(keyFile, 4096)
	if err != nil {
		return m, k, err
	}
	if k, err = manifest.DecodePrivateKey(kb); err != nil {
		return m, k, fmt.Errorf("%s: %w", keyFile, err)
	}
	return manifest.Manifest{Product: product, Version: ver, Counter: n}, k, nil
}

// hashFile returns a regular file's size and SHA-256.
func hashFile(path string) (int64, string, error) {
	f, size, err := openImage(path)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = f.Close() }() // read-only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	if n != size {
		return 0, "", fmt.Errorf("%s changed while it was read", path)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// readSmall reads a file that must not be larger than limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, pathCause(err))
	}
	defer func() { _ = f.Close() }() // read-only
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// writeReplace writes a file through a temporary one and a rename, so that
// a push started meanwhile never reads half a manifest or signature.
func writeReplace(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, pathCause(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}
