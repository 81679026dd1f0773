package reqsign

import (
	"net/url"
	"testing"

	"github.com/ferry-ota/ferry/manifest"
)

func TestCanonical(t *testing.T) {
	q := url.Values{"ts": {"1700000000"}, "sig": {"ab"}, "device": {"d 1"}, "a": {"2", "1"}}
	got := string(Canonical("GET", "/fw/p/version", q, "1700000000", nil))
	want := "ferry-req-v1\nGET\n/fw/p/version\na=1&a=2&device=d+1&ts=1700000000\n1700000000\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Errorf("Canonical() = %q, want %q", got, want)
	}
}

func TestSignVerify(t *testing.T) {
	k, err := manifest.GenerateKey(manifest.P256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	msg := Canonical("POST", "/device/v1/p/checkin", nil, "1", []byte("{}"))
	sig, err := Sign(k, msg)
	if err != nil {
		t.Fatalf("Sign() = %v", err)
	}
	if err := Verify(pub.Key, msg, sig); err != nil {
		t.Errorf("Verify(own signature) = %v, want nil", err)
	}
	other := Canonical("POST", "/device/v1/p/checkin", nil, "2", []byte("{}"))
	for name, tt := range map[string]struct {
		msg []byte
		sig string
	}{"other message": {other, sig}, "not hex": {msg, "zz"}, "short": {msg, sig[:10]}} {
		if err := Verify(pub.Key, tt.msg, tt.sig); err == nil {
			t.Errorf("Verify(%s) = nil, want an error", name)
		}
	}
	ed, _ := manifest.GenerateKey(manifest.Ed25519)
	if _, err := Sign(ed, msg); err == nil {
		t.Error("Sign(ed25519 key) = nil error, want one")
	}
}
