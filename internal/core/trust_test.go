package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
)

// signedPush returns a push of image(v) signed with k, counter n.
func signedPush(t *testing.T, k manifest.PrivateKey, v string, n int64) core.Publish {
	t.Helper()
	img := image(v)
	sum := sha256.Sum256(img)
	m := manifest.Encode(manifest.Manifest{Product: "sensor", Version: v, Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:]), Counter: n, Created: 1767225600})
	sig, err := manifest.Sign(k, m)
	if err != nil {
		t.Fatal(err)
	}
	return core.Publish{Product: "sensor", Version: v, Channel: core.DefaultChannel,
		Image: bytes.NewReader(img), Manifest: m, Signature: sig}
}

func newKey(t *testing.T, f *fixture, name string, alg manifest.Alg) manifest.PrivateKey {
	t.Helper()
	k, err := manifest.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public()
	if _, err := f.svc.AddKey(t.Context(), "sensor", name, pub); err != nil {
		t.Fatalf("AddKey(%s): %v", name, err)
	}
	return k
}

func TestPublishSigned(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	k := newKey(t, f, "k1", manifest.P256)
	if _, err := f.svc.SetRequireSignature(ctx, "sensor", true); err != nil {
		t.Fatal(err)
	}

	r, err := f.svc.PublishRelease(ctx, signedPush(t, k, "1.0.0", 3))
	if err != nil {
		t.Fatalf("PublishRelease(signed 1.0.0): %v", err)
	}
	if r.Counter != 3 || r.KeyID == 0 || len(r.Signature) != 64 {
		t.Errorf("PublishRelease(signed) = counter %d, key %d, %d-byte signature; want 3, a key, 64",
			r.Counter, r.KeyID, len(r.Signature))
	}

	stranger, _ := manifest.GenerateKey(manifest.P256)
	tests := []struct {
		name string
		in   func() core.Publish
		want string
	}{
		{"unsigned", func() core.Publish {
			return core.Publish{Product: "sensor", Version: "1.1.0", Image: bytes.NewReader(image("1.1.0"))}
		}, "requires signed releases"},
		{"image byte", func() core.Publish {
			in := signedPush(t, k, "1.1.0", 3)
			img := image("1.1.0")
			img[7] ^= 1
			in.Image = bytes.NewReader(img)
			return in
		}, "sha256"},
		{"manifest byte", func() core.Publish {
			in := signedPush(t, k, "1.1.0", 3)
			in.Manifest = bytes.Replace(in.Manifest, []byte("counter 3"), []byte("counter 4"), 1)
			return in
		}, "does not verify"},
		{"signature byte", func() core.Publish {
			in := signedPush(t, k, "1.1.0", 3)
			in.Signature[10] ^= 1
			return in
		}, "does not verify"},
		{"unknown key", func() core.Publish { return signedPush(t, stranger, "1.1.0", 3) }, "does not verify"},
		{"other version", func() core.Publish {
			in := signedPush(t, k, "1.1.0", 3)
			in.Version = "1.2.0"
			return in
		}, "not sensor 1.2.0"},
		{"lower counter", func() core.Publish { return signedPush(t, k, "1.1.0", 2) }, "below 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.PublishRelease(ctx, tt.in())
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("PublishRelease() = %v, want ErrInvalid saying %q", err, tt.want)
			}
		})
	}
	if rs, _ := f.svc.Releases(ctx, "sensor"); len(rs) != 1 {
		t.Errorf("after the refusals, %d releases, want 1", len(rs))
	}

	if _, err := f.svc.RevokeKey(ctx, "sensor", "k1"); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if _, err := f.svc.PublishRelease(ctx, signedPush(t, k, "1.1.0", 3)); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("PublishRelease(signed with a revoked key) = %v, want ErrInvalid", err)
	}
}

func TestCounterFloorsOffers(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	k := newKey(t, f, "k1", manifest.Ed25519)
	if _, err := f.svc.PublishRelease(ctx, signedPush(t, k, "1.0.0", 4)); err != nil {
		t.Fatal(err)
	}

	five := int64(5)
	dec, err := f.svc.CheckIn(ctx, f.p, core.CheckIn{Device: "d1", Version: "2.0.0", Counter: &five})
	if err != nil {
		t.Fatal(err)
	}
	if dec.Release != nil {
		t.Errorf("CheckIn(counter 5) offered %s with counter %d, want no offer",
			dec.Release.Version, dec.Release.Counter)
	}

	four := int64(4)
	dec, err = f.svc.CheckIn(ctx, f.p, core.CheckIn{Device: "d2", Version: "0.9.0", Counter: &four})
	if err != nil || dec.Release == nil || dec.Release.Version != "1.0.0" {
		t.Fatalf("CheckIn(counter 4) = %+v, %v, want an offer of 1.0.0", dec.Release, err)
	}
	// The device reports a higher counter before installing: the offer is withdrawn.
	dec, err = f.svc.CheckIn(ctx, f.p, core.CheckIn{Device: "d2", Version: "0.9.1", Counter: &five})
	if err != nil || dec.Release != nil {
		t.Errorf("CheckIn(counter 5 with 1.0.0 offered) = %+v, %v, want no offer", dec.Release, err)
	}

	// Rolling back: the old image as a new version with the current counter.
	in := signedPush(t, k, "1.0.1", 5)
	if _, err := f.svc.PublishRelease(ctx, in); err != nil {
		t.Fatal(err)
	}
	dec, err = f.svc.CheckIn(ctx, f.p, core.CheckIn{Device: "d1", Version: "2.0.0"})
	if err != nil || dec.Release == nil || dec.Release.Version != "1.0.1" {
		t.Errorf("CheckIn(counter 5 remembered) = %+v, %v, want an offer of 1.0.1", dec.Release, err)
	}

	unsigned := core.Publish{Product: "sensor", Version: "1.0.2", Counter: 4, Image: bytes.NewReader(image("x"))}
	if _, err := f.svc.PublishRelease(ctx, unsigned); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("PublishRelease(unsigned, counter 4 after 5) = %v, want ErrInvalid", err)
	}
}
