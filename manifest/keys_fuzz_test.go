package manifest

import (
	"bytes"
	"testing"
)

// FuzzDecodePublicKey feeds arbitrary key files to the parser: it never
// panics, and what it accepts encodes back to a file it reads the same.
func FuzzDecodePublicKey(f *testing.F) {
	for _, alg := range []Alg{Ed25519, P256} {
		k, err := GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		pub, err := k.Public()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(EncodePublicKey(pub))
		f.Add(EncodePrivateKey(k))
	}
	f.Add([]byte("ferry-public-key p256 zz\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := DecodePublicKey(b)
		if err != nil {
			return
		}
		again, err := DecodePublicKey(EncodePublicKey(pub))
		if err != nil || !bytes.Equal(EncodePublicKey(again), EncodePublicKey(pub)) {
			t.Errorf("DecodePublicKey(%q) accepted a key that does not round-trip: %v", b, err)
		}
	})
}

// FuzzVerify checks arbitrary signatures and messages against fixed keys:
// Verify never panics and never accepts a signature that was not made over
// that message, whatever bytes it is given.
func FuzzVerify(f *testing.F) {
	keys := make(map[Alg]PrivateKey)
	pubs := make(map[Alg]PublicKey)
	for _, alg := range []Alg{Ed25519, P256} {
		k, err := GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		if pubs[alg], err = k.Public(); err != nil {
			f.Fatal(err)
		}
		keys[alg] = k
	}
	msg := []byte("ferry-manifest 1\nproduct p\n")
	good, err := Sign(keys[P256], msg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(true, msg, good)
	f.Add(false, msg, make([]byte, SignatureSize))
	f.Add(true, []byte{}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, p256 bool, m, sig []byte) {
		pub := pubs[Ed25519]
		if p256 {
			pub = pubs[P256]
		}
		err := Verify(pub, m, sig)
		if err == nil && !p256 || err == nil && !bytes.Equal(m, msg) {
			t.Errorf("Verify accepted a signature over %q that was never made", m)
		}
	})
}
