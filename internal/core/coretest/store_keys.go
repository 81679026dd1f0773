package coretest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
)

// Tests of signing keys, signed releases and security counters.

func testProductKeys(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	k1 := core.ProductKey{ProductID: p.ID, Name: "k1", Alg: manifest.P256, PublicKey: make([]byte, 64),
		CreatedAt: at(1)}
	k2 := core.ProductKey{ProductID: p.ID, Name: "k2", Alg: manifest.Ed25519, PublicKey: make([]byte, 32),
		CreatedAt: at(2)}
	for _, k := range []*core.ProductKey{&k1, &k2} {
		if err := s.CreateProductKey(ctx, k); err != nil || k.ID == 0 {
			t.Fatalf("CreateProductKey(%s) = %v, ID %d; want nil and an ID", k.Name, err, k.ID)
		}
	}
	dup := core.ProductKey{ProductID: p.ID, Name: "k1", Alg: manifest.Ed25519, PublicKey: make([]byte, 32)}
	if err := s.CreateProductKey(ctx, &dup); !errors.Is(err, core.ErrConflict) {
		t.Errorf("CreateProductKey(k1 again) = %v, want ErrConflict", err)
	}
	same := core.ProductKey{ProductID: other.ID, Name: "k1", Alg: manifest.Ed25519, PublicKey: make([]byte, 32)}
	if err := s.CreateProductKey(ctx, &same); err != nil {
		t.Errorf("CreateProductKey(k1 in another product) = %v, want nil", err)
	}

	if err := s.RevokeProductKey(ctx, p.ID, "k1", at(3)); err != nil {
		t.Fatalf("RevokeProductKey(k1) = %v", err)
	}
	if err := s.RevokeProductKey(ctx, p.ID, "k1", at(4)); err != nil {
		t.Fatalf("RevokeProductKey(k1 again) = %v", err)
	}
	if err := s.RevokeProductKey(ctx, p.ID, "none", at(4)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RevokeProductKey(none) = %v, want ErrNotFound", err)
	}
	k1.RevokedAt = at(3)
	got, err := s.ProductKeys(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].CreatedAt, got[i].RevokedAt = normTime(got[i].CreatedAt), normTime(got[i].RevokedAt)
	}
	want := []core.ProductKey{k1, k2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProductKeys() = %+v, want %+v", got, want)
	}
}

func testSignedReleaseAndCounters(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	if n, err := s.MaxCounter(ctx, p.ID); err != nil || n != 0 {
		t.Errorf("MaxCounter(no releases) = %d, %v, want 0, nil", n, err)
	}
	k := core.ProductKey{ProductID: p.ID, Name: "k", Alg: manifest.Ed25519, PublicKey: make([]byte, 32)}
	if err := s.CreateProductKey(ctx, &k); err != nil {
		t.Fatal(err)
	}
	r := mkReleaseFrom(t, s, core.Release{ProductID: p.ID, Version: "1.0", Counter: 7,
		Digests: core.Digests{SHA256: fakeSHA256("a")}, Manifest: []byte("m"), Signature: []byte("s"), KeyID: k.ID})
	mkReleaseFrom(t, s, core.Release{ProductID: p.ID, Version: "0.9", Counter: 2,
		Digests: core.Digests{SHA256: fakeSHA256("b")}})
	got, err := s.Release(ctx, r.ID)
	signed := string(got.Manifest) == "m" && string(got.Signature) == "s" && got.KeyID == k.ID
	if err != nil || got.Counter != 7 || !signed {
		t.Errorf("Release(signed) = %+v, %v, want counter 7, manifest, signature and key %d", got, err, k.ID)
	}
	if n, err := s.MaxCounter(ctx, p.ID); err != nil || n != 7 {
		t.Errorf("MaxCounter() = %d, %v, want 7, nil", n, err)
	}

	d := mkDevice(t, s, p.ID, "dev")
	d.Counter = 9
	if err := s.SaveDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Device(ctx, p.ID, "dev"); err != nil || got.Counter != 9 {
		t.Errorf("Device() counter = %d, %v, want 9", got.Counter, err)
	}
	p.RequireSignature = true
	if err := s.SaveProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ProductByName(ctx, "widget"); err != nil || !got.RequireSignature {
		t.Errorf("ProductByName() RequireSignature = %v, %v, want true", got.RequireSignature, err)
	}
}
