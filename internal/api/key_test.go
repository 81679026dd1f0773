package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/manifest"
)

// pushSigned uploads image as version v of p with the manifest and
// signature headers and returns the status.
func (a *testAPI) pushSigned(t *testing.T, v string, image, m, sig []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST",
		a.srv.URL+"/api/v1/products/p/releases?version="+v+"&channel=", strings.NewReader(string(image)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("X-Ferry-Manifest", base64.StdEncoding.EncodeToString(m))
	req.Header.Set("X-Ferry-Signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestSignedPush(t *testing.T) {
	a := newTestAPI(t)
	k, _ := manifest.GenerateKey(manifest.P256)
	pub, _ := k.Public()
	body, _ := json.Marshal(map[string]string{"name": "k1", "public_key": string(manifest.EncodePublicKey(pub))})
	a.must(t, "POST", "/api/v1/products/p/keys", string(body), http.StatusCreated)
	a.must(t, "PATCH", "/api/v1/products/p", `{"require_signature":true}`, http.StatusOK)

	image := []byte("signed firmware 2.0.0")
	sum := sha256.Sum256(image)
	m := manifest.Encode(manifest.Manifest{Product: "p", Version: "2.0.0", Size: int64(len(image)),
		SHA256: hex.EncodeToString(sum[:]), Counter: 1})
	sig, _ := manifest.Sign(k, m)

	tampered := append([]byte(nil), image...)
	tampered[0] ^= 1
	badSig := append([]byte(nil), sig...)
	badSig[5] ^= 1
	if code := a.pushSigned(t, "2.0.0", tampered, m, sig); code != http.StatusBadRequest {
		t.Errorf("push(tampered image) = %d, want 400", code)
	}
	if code := a.pushSigned(t, "2.0.0", image, m, badSig); code != http.StatusBadRequest {
		t.Errorf("push(tampered signature) = %d, want 400", code)
	}
	code, _ := a.call(t, a.token, "POST", "/api/v1/products/p/releases?version=2.0.0", string(image))
	if code != http.StatusBadRequest {
		t.Errorf("push(unsigned) = %d, want 400", code)
	}
	if code := a.pushSigned(t, "2.0.0", image, m, sig); code != http.StatusCreated {
		t.Fatalf("push(signed) = %d, want 201", code)
	}
	var rel struct {
		Counter int64 `json:"counter"`
		Signed  bool  `json:"signed"`
	}
	decodeJSON(t, a.must(t, "GET", "/api/v1/products/p/releases/2.0.0", "", http.StatusOK), &rel)
	if rel.Counter != 1 || !rel.Signed {
		t.Errorf("GET release 2.0.0 = %+v, want counter 1, signed", rel)
	}

	a.must(t, "DELETE", "/api/v1/products/p/keys/k1", "", http.StatusOK)
	var keys struct {
		Keys []struct {
			Name      string  `json:"name"`
			RevokedAt *string `json:"revoked_at"`
		} `json:"keys"`
	}
	decodeJSON(t, a.must(t, "GET", "/api/v1/products/p/keys", "", http.StatusOK), &keys)
	if len(keys.Keys) != 1 || keys.Keys[0].RevokedAt == nil {
		t.Errorf("GET keys after revoke = %+v, want k1 revoked", keys.Keys)
	}
}
