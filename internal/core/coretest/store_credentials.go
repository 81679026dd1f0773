package coretest

import (
	"errors"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

func testDeviceCredentials(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "p")
	d1, d2 := mkDevice(t, s, p.ID, "d1"), mkDevice(t, s, p.ID, "d2")
	mk := func(dev int64, hash string) core.DeviceCredential {
		t.Helper()
		c := core.DeviceCredential{DeviceID: dev, Kind: core.CredentialToken, SecretHash: fakeSHA256(hash),
			CreatedAt: at(1)}
		if err := s.CreateDeviceCredential(ctx, &c); err != nil || c.ID == 0 {
			t.Fatalf("CreateDeviceCredential(%s) = %v, ID %d", hash, err, c.ID)
		}
		return c
	}
	mk(d1.ID, "a")
	mk(d1.ID, "b")
	mk(d2.ID, "c")

	dup := core.DeviceCredential{DeviceID: d2.ID, Kind: core.CredentialToken, SecretHash: fakeSHA256("a")}
	if err := s.CreateDeviceCredential(ctx, &dup); !errors.Is(err, core.ErrConflict) {
		t.Errorf("CreateDeviceCredential(taken hash) = %v, want ErrConflict", err)
	}
	if _, err := s.DeviceCredentialByHash(ctx, fakeSHA256("none")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DeviceCredentialByHash(unknown) = %v, want ErrNotFound", err)
	}
	got, err := s.DeviceCredentialByHash(ctx, fakeSHA256("c"))
	if err != nil || got.DeviceID != d2.ID || got.ProductID != p.ID || got.DeviceName != "d2" ||
		got.Kind != core.CredentialToken || !got.CreatedAt.Equal(at(1)) || !got.RevokedAt.IsZero() {
		t.Errorf("DeviceCredentialByHash(c) = %+v, %v, want d2's valid token of product p", got, err)
	}

	// Revoking counts only valid credentials, and keeps the first time.
	if n, err := s.RevokeDeviceCredentials(ctx, d1.ID, core.CredentialToken, at(2)); err != nil || n != 2 {
		t.Errorf("RevokeDeviceCredentials(d1) = %d, %v, want 2, nil", n, err)
	}
	if n, err := s.RevokeDeviceCredentials(ctx, d1.ID, "", at(3)); err != nil || n != 0 {
		t.Errorf("RevokeDeviceCredentials(d1) again = %d, %v, want 0, nil", n, err)
	}
	if got, _ := s.DeviceCredentialByHash(ctx, fakeSHA256("a")); !got.RevokedAt.Equal(at(2)) {
		t.Errorf("revoked credential RevokedAt = %v, want %v", got.RevokedAt, at(2))
	}
	if n, err := s.RevokeDeviceCredentials(ctx, d2.ID, "key", at(2)); err != nil || n != 0 {
		t.Errorf("RevokeDeviceCredentials(d2, other kind) = %d, %v, want 0, nil", n, err)
	}
	if got, _ := s.DeviceCredentialByHash(ctx, fakeSHA256("c")); !got.RevokedAt.IsZero() {
		t.Errorf("d2's credential was revoked with d1's: RevokedAt %v", got.RevokedAt)
	}

	// Keys: only the device's valid p256 credentials, with their bytes.
	key := core.DeviceCredential{DeviceID: d2.ID, Kind: core.CredentialP256, PublicKey: []byte{1, 2, 3},
		CreatedAt: at(4)}
	if err := s.CreateDeviceCredential(ctx, &key); err != nil {
		t.Fatalf("CreateDeviceCredential(p256) = %v", err)
	}
	keys, err := s.DeviceKeys(ctx, p.ID, "d2")
	if err != nil || len(keys) != 1 || keys[0].ID != key.ID || string(keys[0].PublicKey) != "\x01\x02\x03" ||
		keys[0].DeviceName != "d2" || keys[0].ProductID != p.ID || !keys[0].CreatedAt.Equal(at(4)) {
		t.Errorf("DeviceKeys(d2) = %+v, %v, want the one p256 key", keys, err)
	}
	if keys, err := s.DeviceKeys(ctx, p.ID, "nobody"); err != nil || len(keys) != 0 {
		t.Errorf("DeviceKeys(unknown device) = %+v, %v, want none, nil", keys, err)
	}
	if _, err := s.RevokeDeviceCredentials(ctx, d2.ID, "", at(5)); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.DeviceKeys(ctx, p.ID, "d2"); err != nil || len(keys) != 0 {
		t.Errorf("DeviceKeys(d2) after revocation = %+v, %v, want none, nil", keys, err)
	}
}
