package manifest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// Alg names a signature algorithm.
type Alg string

// Signature algorithms. Both sign the manifest's exact bytes.
const (
	// Ed25519 signatures are 64 bytes; public keys 32 bytes; private keys
	// are the 32-byte seed of RFC 8032.
	Ed25519 Alg = "ed25519"
	// P256 is ECDSA on NIST P-256 over the SHA-256 of the manifest.
	// Signatures are r‖s and public keys X‖Y, each half 32 big-endian
	// bytes (64 in all, no ASN.1, no 0x04 prefix), as an ATECC508A
	// verifies them; private keys are the 32-byte scalar.
	P256 Alg = "p256"
)

// Sizes of keys and signatures in bytes, the same for both algorithms
// except the public key.
const (
	SignatureSize     = 64
	PrivateKeySize    = 32
	Ed25519PublicSize = ed25519.PublicKeySize
	P256PublicSize    = 64
)

// ErrSignature is wrapped by Verify when a signature does not verify.
var ErrSignature = errors.New("signature does not verify")

// PublicKey is a verifying key in its raw form.
type PublicKey struct {
	Alg Alg
	Key []byte
}

// PrivateKey is a signing key in its raw form. It never reaches the server.
type PrivateKey struct {
	Alg Alg
	Key []byte
}

// ParseAlg returns the algorithm called s.
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case Ed25519, P256:
		return a, nil
	}
	return "", fmt.Errorf("algorithm %q: want %s or %s", clip(s), Ed25519, P256)
}

// GenerateKey makes a new private key from the system's secure random source.
func GenerateKey(alg Alg) (PrivateKey, error) {
	switch alg {
	case Ed25519:
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return PrivateKey{}, fmt.Errorf("generate %s key: %w", alg, err)
		}
		return PrivateKey{Alg: alg, Key: seed}, nil
	case P256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("generate %s key: %w", alg, err)
		}
		d, err := k.Bytes()
		if err != nil {
			return PrivateKey{}, fmt.Errorf("generate %s key: %w", alg, err)
		}
		return PrivateKey{Alg: alg, Key: d}, nil
	}
	_, err := ParseAlg(string(alg))
	return PrivateKey{}, err
}

// Public returns the key's public half.
func (k PrivateKey) Public() (PublicKey, error) {
	switch k.Alg {
	case Ed25519:
		if len(k.Key) != ed25519.SeedSize {
			return PublicKey{}, fmt.Errorf("%s private key: %d bytes, want %d", k.Alg, len(k.Key), ed25519.SeedSize)
		}
		pub := ed25519.NewKeyFromSeed(k.Key).Public().(ed25519.PublicKey)
		return PublicKey{Alg: k.Alg, Key: []byte(pub)}, nil
	case P256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), k.Key)
		if err != nil {
			return PublicKey{}, fmt.Errorf("%s private key: %w", k.Alg, err)
		}
		b, err := priv.PublicKey.Bytes()
		if err != nil {
			return PublicKey{}, fmt.Errorf("%s public key: %w", k.Alg, err)
		}
		return PublicKey{Alg: k.Alg, Key: b[1:]}, nil
	}
	_, err := ParseAlg(string(k.Alg))
	return PublicKey{}, err
}

// Sign signs msg, normally a manifest's bytes, and returns the 64-byte
// signature.
func Sign(k PrivateKey, msg []byte) ([]byte, error) {
	switch k.Alg {
	case Ed25519:
		if len(k.Key) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s private key: %d bytes, want %d", k.Alg, len(k.Key), ed25519.SeedSize)
		}
		return ed25519.Sign(ed25519.NewKeyFromSeed(k.Key), msg), nil
	case P256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), k.Key)
		if err != nil {
			return nil, fmt.Errorf("%s private key: %w", k.Alg, err)
		}
		digest := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return nil, fmt.Errorf("sign with %s: %w", k.Alg, err)
		}
		sig := make([]byte, SignatureSize)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	_, err := ParseAlg(string(k.Alg))
	return nil, err
}

// Verify checks sig over msg with pub. It returns an error wrapping
// ErrSignature when the signature does not verify, and another error when
// the key itself is malformed.
func Verify(pub PublicKey, msg, sig []byte) error {
	if err := pub.Validate(); err != nil {
		return err
	}
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig), SignatureSize)
	}
	ok := false
	switch pub.Alg {
	case Ed25519:
		ok = ed25519.Verify(ed25519.PublicKey(pub.Key), msg, sig)
	case P256:
		// Validate has parsed the point already; this cannot fail.
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pub.Key...))
		if err != nil {
			return fmt.Errorf("%s public key: %w", pub.Alg, err)
		}
		digest := sha256.Sum256(msg)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		ok = ecdsa.Verify(k, digest[:], r, s)
	}
	if !ok {
		return fmt.Errorf("%w with %s key %s", ErrSignature, pub.Alg, pub.Fingerprint())
	}
	return nil
}

// Validate reports whether the key has its algorithm's length and, for
// P-256, is a point on the curve.
func (pub PublicKey) Validate() error {
	switch pub.Alg {
	case Ed25519:
		if len(pub.Key) != Ed25519PublicSize {
			return fmt.Errorf("%s public key: %d bytes, want %d", pub.Alg, len(pub.Key), Ed25519PublicSize)
		}
		return nil
	case P256:
		if len(pub.Key) != P256PublicSize {
			return fmt.Errorf("%s public key: %d bytes, want %d (X‖Y)", pub.Alg, len(pub.Key), P256PublicSize)
		}
		if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pub.Key...)); err != nil {
			return fmt.Errorf("%s public key: %w", pub.Alg, err)
		}
		return nil
	}
	_, err := ParseAlg(string(pub.Alg))
	return err
}

// Fingerprint names the key in messages and listings: the first 16 hex
// digits of the SHA-256 of its algorithm, a space, and its raw bytes.
func (pub PublicKey) Fingerprint() string {
	sum := sha256.Sum256(append([]byte(pub.Alg+" "), pub.Key...))
	return hex.EncodeToString(sum[:8])
}
