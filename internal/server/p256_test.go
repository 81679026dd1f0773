package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
)

// deviceKey is a device's P-256 key, as a secure element would hold it.
type deviceKey struct{ *ecdsa.PrivateKey }

func newDeviceKey(t testing.TB) deviceKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return deviceKey{k}
}

// rawPublic returns X‖Y, without the 0x04 prefix.
func (k deviceKey) rawPublic(t testing.TB) string {
	t.Helper()
	b, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[1:])
}

// sign signs the canonical string of docs/protocol.md, spelled out here
// rather than built with package reqsign so that the test pins the scheme.
// query must already be canonical: sorted, without sig.
func (k deviceKey) sign(t testing.TB, method, path, query, ts, body string) string {
	t.Helper()
	bodySum := sha256.Sum256([]byte(body))
	msg := "ferry-req-v1\n" + method + "\n" + path + "\n" + query + "\n" + ts + "\n" + hex.EncodeToString(bodySum[:])
	digest := sha256.Sum256([]byte(msg))
	r, s, err := ecdsa.Sign(rand.Reader, k.PrivateKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return hex.EncodeToString(sig)
}

// signedReq is a device request signed with the signature headers.
type signedReq struct {
	method, path, query, body string
	device, ts, sig           string
}

func (e *env) sendSigned(t *testing.T, r signedReq) response {
	t.Helper()
	u := e.url + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Ferry-Device", r.device)
	req.Header.Set("X-Ferry-Time", r.ts)
	req.Header.Set("X-Ferry-Sig", r.sig)
	return do(t, req)
}

func (e *env) addDeviceKey(t *testing.T, product, id, pub string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/products/"+product+"/devices/"+id+"/keys",
		strings.NewReader(`{"public_key":"`+pub+`"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if r := do(t, req); r.StatusCode != http.StatusCreated {
		t.Fatalf("add key of %s/%s = %d %s, want 201", product, id, r.StatusCode, r.body)
	}
}

func newP256Env(t *testing.T) (*env, deviceKey, deviceKey) {
	t.Helper()
	e := newEnv(t, 0, nil)
	if _, _, err := e.svc.CreateProduct(t.Context(), "meter", core.AccessP256); err != nil {
		t.Fatal(err)
	}
	e.push(t, "meter", "1.0.0", testImage(1000, 1))
	e.push(t, "meter", "1.1.0", testImage(2000, 2))
	a, b := newDeviceKey(t), newDeviceKey(t)
	e.addDeviceKey(t, "meter", "a", a.rawPublic(t))
	e.addDeviceKey(t, "meter", "b", b.rawPublic(t))
	return e, a, b
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

func TestSignedRequests(t *testing.T) {
	e, a, b := newP256Env(t)
	const checkIn, body = "/device/v1/meter/checkin", `{"id":"a","version":"1.0.0"}`
	good := func() signedReq {
		ts := now()
		return signedReq{method: "POST", path: checkIn, body: body, device: "a", ts: ts,
			sig: a.sign(t, "POST", checkIn, "", ts, body)}
	}

	tests := []struct {
		name   string
		req    func() signedReq
		status int
		reason string
	}{
		{"served", good, 200, ""},
		{"wrong key", func() signedReq {
			r := good()
			r.sig = b.sign(t, "POST", checkIn, "", r.ts, body)
			return r
		}, 401, "bad signature"},
		{"changed path", func() signedReq {
			r := good()
			r.path = "/device/v1/meter/status"
			return r
		}, 401, "bad signature"},
		{"changed query", func() signedReq {
			r := good()
			r.query = "x=1"
			return r
		}, 401, "bad signature"},
		{"changed body", func() signedReq {
			r := good()
			r.body = strings.Replace(body, "1.0.0", "1.0.1", 1)
			return r
		}, 401, "bad signature"},
		{"stale", func() signedReq {
			ts := strconv.FormatInt(time.Now().Add(-301*time.Second).Unix(), 10)
			return signedReq{method: "POST", path: checkIn, body: body, device: "a", ts: ts,
				sig: a.sign(t, "POST", checkIn, "", ts, body)}
		}, 401, "stale request"},
		{"from the future", func() signedReq {
			ts := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
			return signedReq{method: "POST", path: checkIn, body: body, device: "a", ts: ts,
				sig: a.sign(t, "POST", checkIn, "", ts, body)}
		}, 401, "stale request"},
		{"a's signature naming b", func() signedReq {
			r := good()
			r.device = "b"
			return r
		}, 401, "bad signature"},
		{"a checking in as b", func() signedReq {
			ts, other := now(), `{"id":"b","version":"1.0.0"}`
			return signedReq{method: "POST", path: checkIn, body: other, device: "a", ts: ts,
				sig: a.sign(t, "POST", checkIn, "", ts, other)}
		}, 403, "belongs to device a"},
		{"unknown device", func() signedReq {
			r := good()
			r.device = "c"
			return r
		}, 401, "no valid key"},
		{"malformed signature", func() signedReq {
			r := good()
			r.sig = "zz"
			return r
		}, 401, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.sendSigned(t, tt.req())
			if r.StatusCode != tt.status || !strings.Contains(string(r.body), tt.reason) {
				t.Errorf("signed check-in = %d %s, want %d with %q", r.StatusCode, r.body, tt.status, tt.reason)
			}
		})
	}
}

func TestSignedRequestReplay(t *testing.T) {
	e, a, _ := newP256Env(t)
	const path, body = "/device/v1/meter/checkin", `{"id":"a","version":"1.0.0"}`
	ts := now()
	req := signedReq{method: "POST", path: path, body: body, device: "a", ts: ts,
		sig: a.sign(t, "POST", path, "", ts, body)}
	if r := e.sendSigned(t, req); r.StatusCode != http.StatusOK {
		t.Fatalf("first check-in = %d %s, want 200", r.StatusCode, r.body)
	}
	if r := e.sendSigned(t, req); r.StatusCode != 401 || !strings.Contains(string(r.body), "replayed") {
		t.Errorf("replayed check-in = %d %s, want 401 saying replayed", r.StatusCode, r.body)
	}

	// (r, n−s) verifies as well as (r, s), and hex digits have two cases:
	// neither makes a replay new.
	sig, _ := hex.DecodeString(req.sig)
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	for _, v := range []string{hex.EncodeToString(sig), strings.ToUpper(req.sig)} {
		req.sig = v
		if r := e.sendSigned(t, req); r.StatusCode != 401 || !strings.Contains(string(r.body), "replayed") {
			t.Errorf("replay with sig %.16s… = %d %s, want 401 saying replayed", v, r.StatusCode, r.body)
		}
	}
}

func TestSignedQueryParameters(t *testing.T) {
	e, a, _ := newP256Env(t)
	const path = "/fw/meter/version"
	ts := now()
	query := "device=a&ts=" + ts + "&version=1.0.0"
	sig := a.sign(t, "GET", path, query, ts, "")
	if r := get(t, e.url+path+"?version=1.0.0&sig="+sig+"&ts="+ts+"&device=a"); r.StatusCode != 200 ||
		string(r.body) != "1.1.0" {
		t.Errorf("plain version signed in the query = %d %q, want 200 1.1.0", r.StatusCode, r.body)
	}
	ts = now()
	sig = a.sign(t, "GET", path, "device=a&ts="+ts+"&version=1.0.0", ts, "")
	if r := get(t, e.url+path+"?version=1.0.1&device=a&ts="+ts+"&sig="+sig); r.StatusCode != 401 {
		t.Errorf("plain version with a changed query = %d %s, want 401", r.StatusCode, r.body)
	}
	if r := get(t, e.url+path+"?device=a"); r.StatusCode != 401 || !strings.Contains(string(r.body), "P-256") {
		t.Errorf("unsigned plain version = %d %s, want 401 asking for a signature", r.StatusCode, r.body)
	}
}

func TestSignedDeviceRevoked(t *testing.T) {
	e, a, _ := newP256Env(t)
	const path, body = "/device/v1/meter/checkin", `{"id":"a","version":"1.0.0"}`
	send := func() response {
		ts := now()
		return e.sendSigned(t, signedReq{method: "POST", path: path, body: body, device: "a", ts: ts,
			sig: a.sign(t, "POST", path, "", ts, body)})
	}
	if r := send(); r.StatusCode != 200 {
		t.Fatalf("check-in = %d %s, want 200", r.StatusCode, r.body)
	}
	req, _ := http.NewRequest("DELETE", e.url+"/api/v1/products/meter/devices/a/credentials", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	var out struct{ Revoked int }
	if r := do(t, req); r.StatusCode != 200 || json.Unmarshal(r.body, &out) != nil || out.Revoked != 1 {
		t.Fatalf("revoke = %d %s, want 200 with 1 revoked", r.StatusCode, r.body)
	}
	if r := send(); r.StatusCode != 401 || !strings.Contains(string(r.body), "no valid key") {
		t.Errorf("check-in after revocation = %d %s, want 401 saying no valid key", r.StatusCode, r.body)
	}
}

func TestSignedClient(t *testing.T) {
	e, a, _ := newP256Env(t)
	raw, err := a.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d := client.NewDevice(e.url, "meter", "a", "", nil,
		client.WithDeviceKey(manifest.PrivateKey{Alg: manifest.P256, Key: raw}))
	resp, err := d.CheckIn(t.Context(), client.CheckInRequest{Version: "1.0.0"})
	if err != nil || resp.Offer == nil || resp.Offer.Version != "1.1.0" {
		t.Fatalf("CheckIn = %+v, %v, want an offer of 1.1.0", resp, err)
	}
	var buf strings.Builder
	if _, err := d.Download(t.Context(), resp.Offer.URL, &buf, 0, ""); err != nil {
		t.Fatalf("Download = %v", err)
	}
	if got, want := buf.Len(), len(testImage(2000, 2)); got != want {
		t.Errorf("Download wrote %d bytes, want %d", got, want)
	}
	if err := d.Report(t.Context(), resp.Offer.ID, client.StateDownloaded, int64(buf.Len()), ""); err != nil {
		t.Errorf("Report = %v", err)
	}
	unsigned := client.NewDevice(e.url, "meter", "a", "", nil)
	if _, err := unsigned.CheckIn(t.Context(), client.CheckInRequest{Version: "1.0.0"}); err == nil {
		t.Error("CheckIn without the key succeeded, want 401")
	}
}
