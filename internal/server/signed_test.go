package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/agent"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
)

// signedRelease is what a publisher made for one release.
type signedRelease struct {
	pub      manifest.PublicKey
	manifest []byte
	sig      []byte
}

// publishSigned registers a new P-256 key with product (named after the
// version), signs img as version with counter, and publishes it.
func (e *env) publishSigned(t testing.TB, product, version string, counter int64, img []byte) signedRelease {
	t.Helper()
	k, err := manifest.GenerateKey(manifest.P256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddKey(t.Context(), product, "k"+strings.ReplaceAll(version, ".", "-"), pub); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	m := manifest.Encode(manifest.Manifest{
		Product: product, Version: version, Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:]),
		Counter: counter, Created: 1767225600,
	})
	sig, err := manifest.Sign(k, m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.PublishRelease(t.Context(), core.Publish{
		Product: product, Version: version, Channel: core.DefaultChannel, Manifest: m, Signature: sig,
		Image: bytes.NewReader(img),
	})
	if err != nil {
		t.Fatalf("PublishRelease(%s %s signed) = %v", product, version, err)
	}
	return signedRelease{pub: pub, manifest: m, sig: sig}
}

// nativeOffer is the part of a native offer these tests look at.
type nativeOffer struct {
	Version  string `json:"version"`
	Counter  *int64 `json:"counter"`
	Manifest []byte `json:"manifest"`
	Sig      []byte `json:"sig"`
}

// nativeCheckIn posts body to product's check-in and returns the offer,
// nil when there is none, and the raw answer.
func (e *env) nativeCheckIn(t *testing.T, product, body string, header ...string) (*nativeOffer, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.url+"/device/v1/"+product+"/checkin", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r := do(t, req)
	var resp struct {
		Update *nativeOffer `json:"update"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("POST checkin %s = %d %s (%v)", body, r.StatusCode, r.body, err)
	}
	return resp.Update, string(r.body)
}

func TestSignedReleaseThroughBothProtocols(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	sr := e.publishSigned(t, "p", "1.1.0", 3, testImage(4000, 2))

	o, raw := e.nativeCheckIn(t, "p", `{"id":"n1","version":"1.0.0"}`)
	if o == nil || o.Version != "1.1.0" || o.Counter == nil || *o.Counter != 3 {
		t.Fatalf("native check-in = %s, want an offer of 1.1.0 with counter 3", raw)
	}
	if !bytes.Equal(o.Manifest, sr.manifest) || !bytes.Equal(o.Sig, sr.sig) {
		t.Errorf("native offer manifest, sig = %q, %x; want %q, %x", o.Manifest, o.Sig, sr.manifest, sr.sig)
	}
	if err := manifest.Verify(sr.pub, o.Manifest, o.Sig); err != nil {
		t.Errorf("Verify(native offer's manifest, sig) = %v, want nil", err)
	}

	fw := e.url + "/fw/p/"
	if r := get(t, fw+"version?device=d1&version=1.0.0"); string(r.body) != "1.1.0" {
		t.Fatalf("plain check-in = %q, want 1.1.0", r.body)
	}
	for _, q := range []string{"?device=d1", ""} {
		m, sig := get(t, fw+"manifest"+q), get(t, fw+"sig"+q)
		if !bytes.Equal(m.body, sr.manifest) || m.Header.Get("Content-Length") != strconv.Itoa(len(sr.manifest)) {
			t.Errorf("GET manifest%s = %d %q (Content-Length %s), want the signed manifest",
				q, m.StatusCode, m.body, m.Header.Get("Content-Length"))
		}
		if !bytes.Equal(sig.body, sr.sig) || sig.Header.Get("Content-Length") != "64" {
			t.Errorf("GET sig%s = %d %x (Content-Length %s), want the signature",
				q, sig.StatusCode, sig.body, sig.Header.Get("Content-Length"))
		}
		if err := manifest.Verify(sr.pub, m.body, sig.body); err != nil {
			t.Errorf("Verify(plain manifest%s, sig) = %v, want nil", q, err)
		}
	}
}

func TestUnsignedReleaseHasNoManifest(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	e.push(t, "p", "1.1.0", testImage(3000, 2))

	o, raw := e.nativeCheckIn(t, "p", `{"id":"n1","version":"1.0.0"}`)
	if o == nil || strings.Contains(raw, `"manifest"`) || strings.Contains(raw, `"sig"`) {
		t.Errorf("native check-in = %s, want an offer without manifest and sig", raw)
	}
	get(t, e.url+"/fw/p/version?device=d1&version=1.0.0")
	for _, name := range []string{"manifest", "sig"} {
		r := get(t, e.url+"/fw/p/"+name+"?device=d1")
		if r.StatusCode != http.StatusNotFound || !strings.Contains(string(r.body), "not signed") {
			t.Errorf("GET %s of an unsigned release = %d %q, want 404 saying it is not signed",
				name, r.StatusCode, r.body)
		}
	}
}

func TestCounterFloorInBothProtocols(t *testing.T) {
	e := newEnv(t, 0, nil)
	v10 := testImage(3000, 1)
	e.push(t, "p", "1.0.0", v10)
	e.publishSigned(t, "p", "1.4.0", 4, testImage(3000, 4))

	if o, raw := e.nativeCheckIn(t, "p", `{"id":"n5","version":"1.0.0","counter":5}`); o != nil {
		t.Errorf("native check-in with counter 5 = %s, want no offer of a counter-4 release", raw)
	}
	if o, raw := e.nativeCheckIn(t, "p", `{"id":"n3","version":"1.0.0","counter":3}`); o == nil {
		t.Errorf("native check-in with counter 3 = %s, want the offer of 1.4.0", raw)
	}

	fw := e.url + "/fw/p/"
	if r := get(t, fw+"version?device=d5&version=1.0.0&counter=5"); string(r.body) != "1.0.0" {
		t.Errorf("plain check-in with counter 5 = %d %q, want 1.0.0 (stay)", r.StatusCode, r.body)
	}
	// What d5 downloads is what it runs, the unsigned 1.0.0.
	if r := get(t, fw+"bin?device=d5"); !bytes.Equal(r.body, v10) {
		t.Errorf("GET bin?device=d5 (counter 5) = %d, %d bytes, want the 1.0.0 image", r.StatusCode, len(r.body))
	}
	for _, name := range []string{"manifest", "sig"} {
		if r := get(t, fw+name+"?device=d5"); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s?device=d5 (counter 5) = %d %q, want 404", name, r.StatusCode, r.body)
		}
	}
	if r := get(t, fw+"version?device=d3&version=1.0.0&counter=3"); string(r.body) != "1.4.0" {
		t.Errorf("plain check-in with counter 3 = %d %q, want 1.4.0", r.StatusCode, r.body)
	}
	if r := get(t, fw+"version?device=d3&counter=x"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("plain check-in with counter x = %d %q, want 400", r.StatusCode, r.body)
	}

	// A device offered 1.4.0 that then reports running counter 5 (it was
	// updated by other means) must not get it any more.
	if r := get(t, fw+"version?device=d3&version=1.0.0&counter=5"); string(r.body) != "1.0.0" {
		t.Errorf("plain check-in of d3 now at counter 5 = %d %q, want 1.0.0", r.StatusCode, r.body)
	}
	if o, raw := e.nativeCheckIn(t, "p", `{"id":"n3","version":"1.0.0","counter":5}`); o != nil {
		t.Errorf("native check-in of n3 now at counter 5 = %s, want no offer", raw)
	}
}

// TestAgentVerifiesSignedRelease runs the real agent against the real
// server: a signed release installs and the counter comes back in the
// check-in; an agent that trusts another key refuses it, and the server
// records why.
func TestAgentVerifiesSignedRelease(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(3000, 1))
	img := testImage(6000, 2)
	sr := e.publishSigned(t, "p", "1.1.0", 7, img)
	stranger, err := manifest.GenerateKey(manifest.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	strangerPub, err := stranger.Public()
	if err != nil {
		t.Fatal(err)
	}

	runAgent := func(id string, key manifest.PublicKey) (string, error) {
		dir := t.TempDir()
		a, err := agent.New(agent.Config{Server: e.url, Product: "p", DeviceID: id, Version: "1.0.0",
			StateDir: dir, TrustKeys: []manifest.PublicKey{key}})
		if err != nil {
			t.Fatal(err)
		}
		return dir, a.RunOnce(t.Context())
	}

	dir, err := runAgent("good", sr.pub)
	if err != nil {
		t.Fatalf("agent trusting the signing key: RunOnce = %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "firmware.bin")); !bytes.Equal(got, img) {
		t.Errorf("firmware.bin is %d bytes, want the signed %d-byte image", len(got), len(img))
	}
	d, err := e.svc.Device(t.Context(), "p", "good")
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "1.1.0" || d.Counter != 7 || d.Updates[0].State != core.StateSucceeded {
		t.Errorf("device good = %s, counter %d, update %s; want 1.1.0, 7, succeeded",
			d.Version, d.Counter, d.Updates[0].State)
	}

	if _, err := runAgent("wary", strangerPub); !agent.Permanent(err) ||
		!strings.Contains(fmt.Sprint(err), "signature does not verify with any trusted key") {
		t.Fatalf("agent trusting another key: RunOnce = %v, want a permanent refusal of the signature", err)
	}
	d, err = e.svc.Device(t.Context(), "p", "wary")
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Updates[0]; u.State != core.StateFailed || !strings.Contains(u.Reason, "signature does not verify") {
		t.Errorf("device wary's update = %s %q, want failed because the signature does not verify", u.State, u.Reason)
	}
}
