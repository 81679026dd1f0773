package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceKeyAdd(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"POST /api/v1/products/meter/devices/d1/keys": {201, `{"device":"d1","public_key":"ab",` +
			`"fingerprint":"0123456789abcdef","created_at":"2025-01-02T03:04:05Z"}`},
		"POST /api/v1/products": {201, `{"name":"meter","access":"p256","created_at":"2025-01-02T03:04:05Z"}`},
	})
	file := filepath.Join(t.TempDir(), "d1.pub")
	pub := strings.Repeat("ab", 64)
	if err := os.WriteFile(file, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, err := f.run(t, "device", "key", "add", "--product", "meter", "d1", file)
	if want := "d1: key 0123456789abcdef added\n"; err != nil || out != want {
		t.Errorf("device key add = %q, %v, want %q", out, err, want)
	}
	if _, body := f.last(t); string(body) != `{"public_key":"`+pub+`\n"}` {
		t.Errorf("device key add sent %s, want the file's text", body)
	}
	if _, _, err := f.run(t, "device", "key", "add", "d1", file); err == nil {
		t.Error("device key add without --product succeeded, want an error")
	}

	if _, _, err := f.run(t, "product", "create", "meter", "--p256"); err != nil {
		t.Fatalf("product create --p256: %v", err)
	}
	if _, body := f.last(t); string(body) != `{"access":"p256","name":"meter"}` {
		t.Errorf("product create --p256 sent %s, want access p256", body)
	}
	if _, _, err := f.run(t, "product", "create", "meter", "--p256", "--public"); err == nil {
		t.Error("product create --p256 --public succeeded, want an error")
	}
}

func TestDeviceToken(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"POST /api/v1/products/gw/devices/gw-1/token": {201, `{"device":"gw-1","token":"fdt_SECRET"}`},
	})
	out, _, err := f.run(t, "device", "token", "--product", "gw", "gw-1")
	if err != nil || out != "fdt_SECRET\n" {
		t.Errorf("device token = %q, %v, want the token alone", out, err)
	}
	if _, _, err := f.run(t, "device", "token", "gw-1"); err == nil {
		t.Error("device token without --product succeeded, want an error")
	}
}
