package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	msg := Encode(example())
	for _, alg := range []Alg{Ed25519, P256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg)
			if err != nil {
				t.Fatalf("GenerateKey(%s): %v", alg, err)
			}
			pub, err := k.Public()
			if err != nil {
				t.Fatalf("Public(): %v", err)
			}
			sig, err := Sign(k, msg)
			if err != nil || len(sig) != SignatureSize {
				t.Fatalf("Sign() = %d bytes, %v, want %d bytes", len(sig), err, SignatureSize)
			}
			if err := Verify(pub, msg, sig); err != nil {
				t.Errorf("Verify(good) = %v, want nil", err)
			}

			for _, i := range []int{0, len(msg) - 1} {
				bad := append([]byte(nil), msg...)
				bad[i] ^= 1
				if err := Verify(pub, bad, sig); !errors.Is(err, ErrSignature) {
					t.Errorf("Verify(manifest byte %d flipped) = %v, want ErrSignature", i, err)
				}
			}
			for _, i := range []int{0, 31, 32, 63} {
				bad := append([]byte(nil), sig...)
				bad[i] ^= 0x80
				if err := Verify(pub, msg, bad); !errors.Is(err, ErrSignature) {
					t.Errorf("Verify(signature byte %d flipped) = %v, want ErrSignature", i, err)
				}
			}
			if err := Verify(pub, msg, sig[:63]); !errors.Is(err, ErrSignature) {
				t.Errorf("Verify(63-byte signature) = %v, want ErrSignature", err)
			}

			other, _ := GenerateKey(alg)
			otherPub, _ := other.Public()
			if err := Verify(otherPub, msg, sig); !errors.Is(err, ErrSignature) {
				t.Errorf("Verify(with another key) = %v, want ErrSignature", err)
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	for _, alg := range []Alg{Ed25519, P256} {
		t.Run(string(alg), func(t *testing.T) {
			k, _ := GenerateKey(alg)
			pub, _ := k.Public()
			gotK, err := DecodePrivateKey(EncodePrivateKey(k))
			if err != nil || string(gotK.Key) != string(k.Key) || gotK.Alg != alg {
				t.Errorf("DecodePrivateKey(EncodePrivateKey(k)) = %v, %v, want k", gotK.Alg, err)
			}
			gotPub, err := DecodePublicKey(EncodePublicKey(pub))
			if err != nil || string(gotPub.Key) != string(pub.Key) || gotPub.Alg != alg {
				t.Errorf("DecodePublicKey(EncodePublicKey(pub)) = %v, %v, want pub", gotPub.Alg, err)
			}
			if _, err := DecodePublicKey(EncodePrivateKey(k)); err == nil {
				t.Errorf("DecodePublicKey(a private key file) = nil error, want one")
			}
		})
	}

	bad := []string{
		"",
		"ferry-public-key rsa 00",
		"ferry-public-key p256 zz",
		"ferry-public-key ed25519 0011",
		// X‖Y of a point that is not on the curve.
		"ferry-public-key p256 01" + strings.Repeat("0", 126),
	}
	for _, in := range bad {
		if _, err := DecodePublicKey([]byte(in)); err == nil {
			t.Errorf("DecodePublicKey(%q) = nil error, want one", in)
		}
	}
}
