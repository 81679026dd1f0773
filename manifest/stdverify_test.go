package manifest_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/ferry-ota/ferry/manifest"
)

// The verifying side of these tests uses the standard library only, on the
// raw bytes, as a device or another implementation would: nothing of
// Ferry's decides whether the signature holds.

func signed(t *testing.T, alg manifest.Alg) (pub, msg, sig []byte) {
	t.Helper()
	k, err := manifest.GenerateKey(alg)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	p, err := k.Public()
	if err != nil {
		t.Fatalf("Public(): %v", err)
	}
	msg = manifest.Encode(manifest.Manifest{
		Product: "sensor", Version: "2.0.0", Size: 1234, Counter: 7, Created: 1767225600,
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	})
	sig, err = manifest.Sign(k, msg)
	if err != nil {
		t.Fatalf("Sign(): %v", err)
	}
	return p.Key, msg, sig
}

func TestP256VerifiesWithStandardLibrary(t *testing.T) {
	xy, msg, sig := signed(t, manifest.P256)
	if len(xy) != 64 || len(sig) != 64 {
		t.Fatalf("public key %d bytes, signature %d bytes, want 64 and 64", len(xy), len(sig))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, xy...))
	if err != nil {
		t.Fatalf("ParseUncompressedPublicKey(04‖X‖Y): %v", err)
	}
	digest := sha256.Sum256(msg)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		t.Errorf("ecdsa.Verify(SHA-256(manifest), r, s) = false, want true")
	}
	digest[0] ^= 1
	if ecdsa.Verify(pub, digest[:], r, s) {
		t.Errorf("ecdsa.Verify(a different digest) = true, want false")
	}
}

func TestP256AcceptsStandardLibrarySignature(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uncompressed, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("ferry-manifest 1\n")
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	pub := manifest.PublicKey{Alg: manifest.P256, Key: uncompressed[1:]}
	if err := manifest.Verify(pub, msg, sig); err != nil {
		t.Errorf("Verify(a signature made by crypto/ecdsa) = %v, want nil", err)
	}
}

func TestEd25519VerifiesWithStandardLibrary(t *testing.T) {
	pub, msg, sig := signed(t, manifest.Ed25519)
	if !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		t.Errorf("ed25519.Verify(manifest) = false, want true")
	}
	msg[len(msg)-2] ^= 1
	if ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		t.Errorf("ed25519.Verify(a changed manifest) = true, want false")
	}
}
