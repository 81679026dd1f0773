package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// enroll enrolls device id of product "private" through the native
// protocol and returns its device token.
func (e *env) enroll(t *testing.T, id string) string {
	t.Helper()
	r := e.deviceRequest(t, "POST", "/device/v1/private/enroll", `{"id":"`+id+`"}`, e.key)
	var out struct{ Token string }
	if err := json.Unmarshal(r.body, &out); err != nil || r.StatusCode != http.StatusCreated ||
		!strings.HasPrefix(out.Token, "fdt_") {
		t.Fatalf("enroll %s = %d %s (%v), want 201 with a device token", id, r.StatusCode, r.body, err)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enroll %s: Cache-Control %q, want no-store", id, cc)
	}
	return out.Token
}

func (e *env) deviceRequest(t *testing.T, method, path, body, bearer string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

func TestDeviceTokenSpeaksOnlyForItsDevice(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(1000, 1))
	img := testImage(2000, 2)
	e.push(t, "private", "1.1.0", img)
	a, b := e.enroll(t, "a"), e.enroll(t, "b")
	checkIn := func(id, tok string) response {
		return e.deviceRequest(t, "POST", "/device/v1/private/checkin", `{"id":"`+id+`","version":"1.0.0"}`, tok)
	}
	if r := checkIn("a", a); r.StatusCode != 200 {
		t.Fatalf("check-in of a with a's token = %d %s, want 200", r.StatusCode, r.body)
	}
	if r := checkIn("b", b); r.StatusCode != 200 {
		t.Fatalf("check-in of b with b's token = %d %s, want 200", r.StatusCode, r.body)
	}
	rel, err := e.svc.Release(t.Context(), "private", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	sha := rel.SHA256

	tests := []struct {
		name, method, path, body string
	}{
		{"native check-in as b", "POST", "/device/v1/private/checkin", `{"id":"b","version":"1.0.0"}`},
		{"native report for b", "POST", "/device/v1/private/status", `{"id":"b","state":"downloading"}`},
		{"native image as b", "GET", "/device/v1/private/img/" + sha + "?id=b", ""},
		{"plain version as b", "GET", "/fw/private/version?device=b&version=1.0.0", ""},
		{"plain bin as b", "GET", "/fw/private/bin?device=b", ""},
		{"plain hash as b", "GET", "/fw/private/hash?device=b", ""},
		{"plain report for b", "GET", "/fw/private/status?device=b&state=downloading", ""},
		{"plain form report for b", "POST", "/fw/private/status", "device=b&state=failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, e.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+a)
			if tt.method == "POST" && strings.HasPrefix(tt.path, "/fw/") {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if r := do(t, req); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with a's token = %d %s, want 403", tt.method, tt.path, r.StatusCode, r.body)
			}
		})
	}

	// The token names the device, so plain requests may leave device out
	// and still answer for it.
	if r := get(t, e.url+"/fw/private/version?version=1.0.0&token="+url.QueryEscape(a)); r.StatusCode != 200 ||
		string(r.body) != "1.1.0" {
		t.Errorf("plain version with a's token and no device = %d %q, want 200 1.1.0", r.StatusCode, r.body)
	}
	d, err := e.svc.Device(t.Context(), "private", "b")
	if err != nil || len(d.Updates) != 1 || d.Updates[0].State != "offered" {
		t.Errorf("device b after a's attempts = %+v, %v, want its one update still offered", d.Updates, err)
	}
}

func TestEnrollmentKeyOnlyEnrolls(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(1000, 1))
	r := e.deviceRequest(t, "POST", "/device/v1/private/checkin", `{"id":"d1","version":"1.0.0"}`, e.key)
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(r.body), "enroll first") {
		t.Errorf("check-in with the enrollment key = %d %s, want 401 saying to enroll first", r.StatusCode, r.body)
	}
	if r := get(t, e.url+"/fw/private/version?device=d1&token="+url.QueryEscape(e.key)); r.StatusCode != 401 {
		t.Errorf("plain version with the enrollment key = %d %s, want 401", r.StatusCode, r.body)
	}

	// Plain enrollment answers the bare token, which then works.
	r = get(t, e.url+"/fw/private/enroll?device=d1&token="+url.QueryEscape(e.key))
	tok := string(r.body)
	if r.StatusCode != 200 || !strings.HasPrefix(tok, "fdt_") || r.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("plain enroll = %d %q, want 200 and a device token", r.StatusCode, r.body)
	}
	r = get(t, e.url+"/fw/private/version?device=d1&version=1.0.0", "Authorization", "Bearer "+tok)
	if r.StatusCode != 200 {
		t.Errorf("plain version with d1's token = %d %s, want 200", r.StatusCode, r.body)
	}
	req, _ := http.NewRequest("HEAD", e.url+"/fw/private/enroll?device=d1&token="+url.QueryEscape(e.key), nil)
	if r := do(t, req); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD enroll = %d, want 405", r.StatusCode)
	}

	for _, bad := range []struct{ name, product, key string }{
		{"wrong key", "private", e.key + "x"},
		{"device token", "private", tok},
		{"operator token", "private", e.token},
	} {
		r := e.deviceRequest(t, "POST", "/device/v1/"+bad.product+"/enroll", `{"id":"d2"}`, bad.key)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("enroll with %s = %d %s, want 401", bad.name, r.StatusCode, r.body)
		}
	}
	if r := e.deviceRequest(t, "POST", "/device/v1/p/enroll", `{"id":"d2"}`, ""); r.StatusCode != http.StatusConflict {
		t.Errorf("enroll into a public product = %d %s, want 409", r.StatusCode, r.body)
	}
}

func TestRotationAndRevocation(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "private", "1.0.0", testImage(1000, 1))
	checkIn := func(tok string) int {
		return e.deviceRequest(t, "POST", "/device/v1/private/checkin", `{"id":"d1","version":"1.0.0"}`, tok).StatusCode
	}
	old := e.enroll(t, "d1")
	cur := e.enroll(t, "d1")
	if got := checkIn(old); got != http.StatusUnauthorized {
		t.Errorf("check-in with the rotated-out token = %d, want 401", got)
	}
	if got := checkIn(cur); got != 200 {
		t.Errorf("check-in with the new token = %d, want 200", got)
	}

	r := e.deviceRequest(t, "DELETE", "/api/v1/products/private/devices/d1/credentials", "", e.token)
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `"revoked":1`) {
		t.Errorf("revoke = %d %s, want 200 revoking 1", r.StatusCode, r.body)
	}
	if got := checkIn(cur); got != http.StatusUnauthorized {
		t.Errorf("check-in after revocation = %d, want 401", got)
	}
	if got := checkIn(e.enroll(t, "d1")); got != 200 {
		t.Errorf("check-in after enrolling again = %d, want 200", got)
	}
	r = e.deviceRequest(t, "DELETE", "/api/v1/products/private/devices/ghost/credentials", "", e.token)
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke of an unknown device = %d %s, want 404", r.StatusCode, r.body)
	}
}

func TestPublicProductNeedsNoEnrollment(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.push(t, "p", "1.0.0", testImage(1000, 1))
	r := e.deviceRequest(t, "POST", "/device/v1/p/checkin", `{"id":"x1","version":"1.0.0"}`, "")
	if r.StatusCode != 200 {
		t.Errorf("public check-in without a credential = %d %s, want 200", r.StatusCode, r.body)
	}
	r = e.deviceRequest(t, "POST", "/device/v1/p/status", `{"id":"x1","state":"downloading"}`, "anything")
	if r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden {
		t.Errorf("public report with a stray credential = %d %s, want no auth refusal", r.StatusCode, r.body)
	}
	if r := get(t, e.url+"/fw/p/version?device=other"); r.StatusCode != 200 {
		t.Errorf("public plain version = %d %s, want 200", r.StatusCode, r.body)
	}
}
