package core_test

import (
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
	"github.com/ferry-ota/ferry/reqsign"
)

func newP256Key(t testing.TB) (manifest.PrivateKey, []byte) {
	t.Helper()
	k, err := manifest.GenerateKey(manifest.P256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	return k, pub.Key
}

func TestAddDeviceKey(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	if _, _, err := f.svc.CreateProduct(ctx, "meter", core.AccessP256); err != nil {
		t.Fatal(err)
	}
	_, pub := newP256Key(t)

	c, err := f.svc.AddDeviceKey(ctx, "meter", "d1", pub)
	if err != nil || c.Kind != core.CredentialP256 || c.DeviceName != "d1" {
		t.Fatalf("AddDeviceKey(meter, d1) = %+v, %v, want a p256 credential of d1", c, err)
	}
	if _, err := f.svc.Device(ctx, "meter", "d1"); err != nil {
		t.Errorf("Device(meter, d1) after AddDeviceKey = %v, want the device created", err)
	}

	tests := []struct {
		name, product, id string
		pub               []byte
		want              error
	}{
		{"public product", "sensor", "d1", pub, core.ErrState},
		{"short key", "meter", "d1", pub[:32], core.ErrInvalid},
		{"not on the curve", "meter", "d1", make([]byte, 64), core.ErrInvalid},
		{"bad device id", "meter", "", pub, core.ErrInvalid},
		{"unknown product", "nope", "d1", pub, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.AddDeviceKey(ctx, tt.product, tt.id, tt.pub); !errors.Is(err, tt.want) {
				t.Errorf("AddDeviceKey(%s, %q) = %v, want %v", tt.product, tt.id, err, tt.want)
			}
		})
	}
}

func TestAuthorizeSigned(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	if _, _, err := f.svc.CreateProduct(ctx, "meter", core.AccessP256); err != nil {
		t.Fatal(err)
	}
	k, pub := newP256Key(t)
	if _, err := f.svc.AddDeviceKey(ctx, "meter", "d1", pub); err != nil {
		t.Fatal(err)
	}
	signed := func(ts string) core.SignedRequest {
		t.Helper()
		body := []byte(`{"id":"d1"}`)
		msg := reqsign.Canonical("POST", "/device/v1/meter/checkin", nil, ts, body)
		sig, err := reqsign.Sign(k, msg)
		if err != nil {
			t.Fatal(err)
		}
		return core.SignedRequest{Device: "d1", Time: ts, Sig: sig, Method: "POST",
			Path: "/device/v1/meter/checkin", BodySHA256: sha256.Sum256(body)}
	}
	ts := strconv.FormatInt(f.clock.Now().Unix(), 10)

	if _, dev, err := f.svc.AuthorizeSigned(ctx, "meter", signed(ts)); err != nil || dev != "d1" {
		t.Errorf("AuthorizeSigned(good) = %q, %v, want d1, nil", dev, err)
	}
	if _, _, err := f.svc.AuthorizeSigned(ctx, "sensor", signed(ts)); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeSigned(public product) = %v, want ErrUnauthorized", err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "meter", ""); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeDevice(meter, no signature) = %v, want ErrUnauthorized", err)
	}

	// The window is 300 s either way, by the service's clock.
	f.clock.Add(core.SignatureWindow)
	if _, _, err := f.svc.AuthorizeSigned(ctx, "meter", signed(ts)); err != nil {
		t.Errorf("AuthorizeSigned(300 s old) = %v, want nil", err)
	}
	f.clock.Add(time.Second)
	if _, _, err := f.svc.AuthorizeSigned(ctx, "meter", signed(ts)); err == nil ||
		!strings.Contains(err.Error(), "stale") {
		t.Errorf("AuthorizeSigned(301 s old) = %v, want ErrUnauthorized saying stale", err)
	}
	for _, bad := range []string{"", "-1", "1e9", "soon"} {
		if _, _, err := f.svc.AuthorizeSigned(ctx, "meter", signed(bad)); !errors.Is(err, core.ErrUnauthorized) {
			t.Errorf("AuthorizeSigned(ts %q) = %v, want ErrUnauthorized", bad, err)
		}
	}
}
