package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

func TestAuthorizeDevice(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, key, err := f.svc.CreateProduct(ctx, "private", core.AccessKey)
	if err != nil || key == "" {
		t.Fatalf("CreateProduct(key) = %q, %v", key, err)
	}
	tok, err := f.svc.Enroll(ctx, "private", key, "d1")
	if err != nil || !strings.HasPrefix(tok, "fdt_") {
		t.Fatalf("Enroll(d1) = %q, %v, want a fdt_ token", tok, err)
	}

	if _, dev, err := f.svc.AuthorizeDevice(ctx, "private", tok); err != nil || dev != "d1" {
		t.Errorf("AuthorizeDevice(d1's token) = %q, %v, want d1, nil", dev, err)
	}
	for _, cred := range []string{"", "wrong", key, key + "x", tok + "x"} {
		if _, _, err := f.svc.AuthorizeDevice(ctx, "private", cred); !errors.Is(err, core.ErrUnauthorized) {
			t.Errorf("AuthorizeDevice(%.8q…) = %v, want ErrUnauthorized", cred, err)
		}
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "private", key); err == nil ||
		!strings.Contains(err.Error(), "enroll first") {
		t.Errorf("AuthorizeDevice(enrollment key) = %v, want a reason saying to enroll first", err)
	}
	if _, dev, err := f.svc.AuthorizeDevice(ctx, "sensor", ""); err != nil || dev != "" {
		t.Errorf("AuthorizeDevice(public) = %q, %v, want \"\", nil", dev, err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "nope", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AuthorizeDevice(unknown) = %v, want ErrNotFound", err)
	}
}

func TestDeviceTokenIsBoundToItsProduct(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, keyA, _ := f.svc.CreateProduct(ctx, "a", core.AccessKey)
	if _, _, err := f.svc.CreateProduct(ctx, "b", core.AccessKey); err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.Enroll(ctx, "a", keyA, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "b", tok); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeDevice(b, a's device token) = %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.Enroll(ctx, "b", keyA, "d1"); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("Enroll(b, a's key) = %v, want ErrUnauthorized", err)
	}
}

func TestEnrollRotatesAndRevokeRefuses(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, key, _ := f.svc.CreateProduct(ctx, "private", core.AccessKey)
	old, err := f.svc.Enroll(ctx, "private", key, "d1")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := f.svc.Enroll(ctx, "private", key, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "private", old); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeDevice(rotated-out token) = %v, want ErrUnauthorized", err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "private", cur); err != nil {
		t.Errorf("AuthorizeDevice(new token) = %v, want nil", err)
	}

	n, err := f.svc.RevokeDeviceCredentials(ctx, "private", "d1")
	if err != nil || n != 1 {
		t.Errorf("RevokeDeviceCredentials(d1) = %d, %v, want 1, nil", n, err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "private", cur); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeDevice(revoked token) = %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.RevokeDeviceCredentials(ctx, "private", "d9"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RevokeDeviceCredentials(unknown device) = %v, want ErrNotFound", err)
	}

	es, err := f.svc.AuditLog(ctx, core.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		if strings.HasPrefix(e.Action, "device.") {
			got = append(got, e.Actor+" "+e.Action)
			if strings.Contains(e.Detail, "fdt_") {
				t.Errorf("audit entry %s has a token in its detail %q", e.Action, e.Detail)
			}
		}
	}
	want := "system device.revoke,device device.enroll,device device.enroll"
	if strings.Join(got, ",") != want {
		t.Errorf("audit = %q, want %q", strings.Join(got, ","), want)
	}
}

func TestEnrollRefusals(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, key, _ := f.svc.CreateProduct(ctx, "private", core.AccessKey)
	tests := []struct {
		name, product, key, id string
		want                   error
	}{
		{"public product", "sensor", key, "d1", core.ErrState},
		{"no key", "private", "", "d1", core.ErrUnauthorized},
		{"wrong key", "private", key + "x", "d1", core.ErrUnauthorized},
		{"bad id", "private", key, "../x", core.ErrInvalid},
		{"unknown product", "nope", key, "d1", core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Enroll(ctx, tt.product, tt.key, tt.id); !errors.Is(err, tt.want) {
				t.Errorf("Enroll(%s, %s) = %v, want %v", tt.product, tt.id, err, tt.want)
			}
		})
	}
}

func TestSameDevice(t *testing.T) {
	if err := core.SameDevice("", "d2"); err != nil {
		t.Errorf("SameDevice(public, d2) = %v, want nil", err)
	}
	if err := core.SameDevice("d1", "d1"); err != nil {
		t.Errorf("SameDevice(d1, d1) = %v, want nil", err)
	}
	if err := core.SameDevice("d1", "d2"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("SameDevice(d1, d2) = %v, want ErrForbidden", err)
	}
}
