package server_test

// The hostile-input catalog: one table of named attacks on every surface
// of the server (operator API, plain and native device protocols), each of
// which must be refused with a one-line reason and leave the stored state
// exactly as it was.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/manifest"
)

// catalogCase is one hostile request. want is the status it must get;
// every case but the replays of idempotent reports wants a 4xx.
type catalogCase struct {
	category string
	name     string
	method   string
	path     string
	body     string
	header   []string
	want     int
}

// catalogFixture is the state the catalog attacks: products of each kind,
// releases, devices with open updates, tokens of each role, signing keys.
type catalogFixture struct {
	*env
	viewer, publisher, revoked string
	vaultKey                   string // enrollment key of product "vault"
	d1Update, d2Update         int64  // open updates of devices d1 and d2 of product p
	signer, stranger, old      manifest.PrivateKey
	signedImg                  []byte // image of signed 1.0.0
	signedHdr                  []string
	nextImg                    []byte // an image for a signed 1.1.0 that is never accepted
}

func newCatalogFixture(t *testing.T) *catalogFixture {
	t.Helper()
	ctx := t.Context()
	f := &catalogFixture{env: newEnv(t, 0, nil)}
	f.push(t, "p", "1.0.0", testImage(3000, 1))
	f.push(t, "p", "1.1.0", testImage(3000, 2))

	var err error
	if f.viewer, _, err = f.svc.CreateToken(ctx, "viewer", core.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if f.publisher, _, err = f.svc.CreateToken(ctx, "publisher", core.RolePublisher); err != nil {
		t.Fatal(err)
	}
	var gone core.Token
	if f.revoked, gone, err = f.svc.CreateToken(ctx, "gone", core.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, f.vaultKey, err = f.svc.CreateProduct(ctx, "vault", core.AccessKey); err != nil {
		t.Fatal(err)
	}

	f.d1Update = f.nativeOffer(t, "d1")
	f.d2Update = f.nativeOffer(t, "d2")
	st := fmt.Sprintf(`{"id":"d1","update":%d,"state":"downloading","progress":100}`, f.d1Update)
	if r := advReq(t, "POST", f.url+"/device/v1/p/status", st); r.StatusCode != http.StatusNoContent {
		t.Fatalf("d1 report = %d %s", r.StatusCode, r.body)
	}
	get(t, f.url+"/fw/p/version?device=d3&version=1.0.0")
	if r := get(t, f.url+"/fw/p/status?device=d3&state=downloading&progress=10"); string(r.body) != "ok" {
		t.Fatalf("d3 report = %d %s", r.StatusCode, r.body)
	}

	f.setUpSigned(t)
	return f
}

// nativeOffer checks device in to product p on 1.0.0 and returns the ID of
// the update it is offered.
func (f *catalogFixture) nativeOffer(t *testing.T, device string) int64 {
	t.Helper()
	r := advReq(t, "POST", f.url+"/device/v1/p/checkin", `{"id":"`+device+`","version":"1.0.0"}`)
	var resp struct {
		Update *struct {
			ID int64 `json:"id"`
		} `json:"update"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || resp.Update == nil {
		t.Fatalf("check-in of %s = %d %s (%v), want an offer", device, r.StatusCode, r.body, err)
	}
	return resp.Update.ID
}

// setUpSigned creates product "signed", which requires signatures, with an
// active key, a revoked one, and a signed 1.0.0 at security counter 5.
func (f *catalogFixture) setUpSigned(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if _, _, err := f.svc.CreateProduct(ctx, "signed", core.AccessPublic); err != nil {
		t.Fatal(err)
	}
	f.signer = genKey(t, manifest.P256)
	f.stranger = genKey(t, manifest.Ed25519)
	f.old = genKey(t, manifest.Ed25519)
	for name, k := range map[string]manifest.PrivateKey{"k1": f.signer, "old": f.old} {
		pub, err := k.Public()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AddKey(ctx, "signed", name, pub); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.RevokeKey(ctx, "signed", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetRequireSignature(ctx, "signed", true); err != nil {
		t.Fatal(err)
	}

	f.signedImg, f.nextImg = testImage(2000, 5), testImage(2500, 6)
	f.signedHdr = signHeaders(t, f.signer, manifestFor("signed", "1.0.0", f.signedImg, 5))
	r := advReq(t, "POST", f.url+"/api/v1/products/signed/releases?version=1.0.0", string(f.signedImg),
		append(f.admin(), f.signedHdr...)...)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push signed 1.0.0 = %d %s", r.StatusCode, r.body)
	}
}

func genKey(t *testing.T, alg manifest.Alg) manifest.PrivateKey {
	t.Helper()
	k, err := manifest.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func manifestFor(product, version string, img []byte, counter int64) manifest.Manifest {
	sum := sha256.Sum256(img)
	return manifest.Manifest{Product: product, Version: version, Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:]), Counter: counter, Created: 1767225600}
}

// signHeaders signs m with k and returns the upload headers carrying both.
func signHeaders(t *testing.T, k manifest.PrivateKey, m manifest.Manifest) []string {
	t.Helper()
	b := manifest.Encode(m)
	sig, err := manifest.Sign(k, b)
	if err != nil {
		t.Fatal(err)
	}
	return trustHeaders(b, sig)
}

func trustHeaders(m, sig []byte) []string {
	enc := base64.StdEncoding.EncodeToString
	return []string{"X-Ferry-Manifest", enc(m), "X-Ferry-Signature", enc(sig)}
}

func (f *catalogFixture) admin() []string    { return []string{"Authorization", "Bearer " + f.token} }
func (f *catalogFixture) asViewer() []string { return []string{"Authorization", "Bearer " + f.viewer} }
func (f *catalogFixture) asPublisher() []string {
	return []string{"Authorization", "Bearer " + f.publisher}
}

// catalogState is what a hostile request must not change. Times written in
// batches (last seen, last use) and byte counters are left out: refused
// requests may still count as a sign of life.
type catalogState struct {
	Products []core.Product
	Releases map[string][]core.Release
	Channels map[string][]core.ChannelView
	Keys     map[string][]core.ProductKey
	Devices  []catalogDevice
	Tokens   []core.Token
	Audit    int
}

type catalogDevice struct {
	Product string
	Device  core.Device
	Updates []core.Update
	Events  int
}

func snapshot(t *testing.T, e *env) catalogState {
	t.Helper()
	ctx := t.Context()
	s := catalogState{Releases: map[string][]core.Release{}, Channels: map[string][]core.ChannelView{},
		Keys: map[string][]core.ProductKey{}}
	var err error
	if s.Products, err = e.svc.Products(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Products {
		if s.Releases[p.Name], err = e.svc.Releases(ctx, p.Name); err != nil {
			t.Fatal(err)
		}
		if s.Channels[p.Name], err = e.svc.Channels(ctx, p.Name); err != nil {
			t.Fatal(err)
		}
		if s.Keys[p.Name], err = e.svc.Keys(ctx, p.Name); err != nil {
			t.Fatal(err)
		}
	}

	ds, err := e.svc.Devices(ctx, core.DeviceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, di := range ds {
		d, err := e.svc.Device(ctx, di.Product, di.Name)
		if err != nil {
			t.Fatal(err)
		}
		d.LastSeen, d.BytesServed = d.FirstSeen, 0
		for i := range d.Updates {
			d.Updates[i].Served = 0
		}
		s.Devices = append(s.Devices, catalogDevice{Product: d.Product, Device: d.Device, Updates: d.Updates,
			Events: len(d.Events)})
	}

	if s.Tokens, err = e.svc.Tokens(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range s.Tokens {
		s.Tokens[i].LastUsedAt = s.Tokens[i].CreatedAt
	}
	audit, err := e.svc.AuditLog(ctx, core.AuditFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	s.Audit = len(audit)
	return s
}

func (s catalogState) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Sprintf("unprintable state: %v", err)
	}
	return string(b)
}

func TestHostileInputCatalog(t *testing.T) {
	f := newCatalogFixture(t)
	cases := catalogCases(t, f)

	counts := map[string]int{}
	for _, c := range cases {
		counts[c.category]++
		t.Run(c.category+"/"+c.name, func(t *testing.T) {
			before := snapshot(t, f.env)
			r := advReq(t, c.method, f.url+c.path, c.body, c.header...)
			after := snapshot(t, f.env)

			if r.StatusCode != c.want {
				t.Errorf("%s %s = %d %q, want %d", c.method, c.path, r.StatusCode, truncateBody(r.body), c.want)
			}
			reason := strings.TrimSuffix(string(r.body), "\n")
			if c.want >= 400 && (reason == "" || strings.Contains(reason, "\n")) {
				t.Errorf("%s %s = %d with reason %q, want a non-empty one-line reason",
					c.method, c.path, r.StatusCode, truncateBody(r.body))
			}
			if got, want := after.String(), before.String(); got != want {
				t.Errorf("%s %s changed the stored state:\nbefore %s\nafter  %s", c.method, c.path, want, got)
			}
		})
	}

	for _, cat := range []string{"malformed", "oversized", "traversal", "forged", "replayed", "wrong-device",
		"wrong-role"} {
		if counts[cat] == 0 {
			t.Errorf("category %s has no cases", cat)
		}
	}
	if len(cases) < 60 {
		t.Errorf("catalog has %d cases (%v), want at least 60", len(cases), counts)
	}
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func catalogCases(t *testing.T, f *catalogFixture) []catalogCase {
	t.Helper()
	var cases []catalogCase
	for _, group := range [][]catalogCase{
		malformedCases(f), oversizedCases(f), traversalCases(f), forgedCases(t, f), replayedCases(t, f),
		wrongDeviceCases(f), wrongRoleCases(t, f), espCases(t, f),
	} {
		cases = append(cases, group...)
	}
	return cases
}

func malformedCases(f *catalogFixture) []catalogCase {
	a := f.admin()
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"malformed", name, method, path, body, header, want}
	}
	return []catalogCase{
		c("product json cut short", "POST", "/api/v1/products", `{"name":`, a, 400),
		c("product json unknown field", "POST", "/api/v1/products", `{"name":"q","acess":"public"}`, a, 400),
		c("product json trailing data", "POST", "/api/v1/products", `{"name":"q","access":"public"}{}`, a, 400),
		c("product json wrong type", "POST", "/api/v1/products", `{"name":5,"access":"public"}`, a, 400),
		c("product unknown access", "POST", "/api/v1/products", `{"name":"q","access":"open"}`, a, 400),
		c("version with empty part", "POST", "/api/v1/products/p/releases?version=1..0", "x", a, 400),
		c("version with four parts", "POST", "/api/v1/products/p/releases?version=1.2.3.4", "x", a, 400),
		c("version missing", "POST", "/api/v1/products/p/releases", "x", a, 400),
		c("version with a space", "POST", "/api/v1/products/p/releases?version=1.0%200", "x", a, 400),
		c("negative upload counter", "POST", "/api/v1/products/p/releases?version=2.0.0&counter=-1", "x", a, 400),
		c("device version malformed", "GET", "/fw/p/version?device=d1&version=1..0", "", nil, 400),
		c("device counter not a number", "GET", "/fw/p/version?device=d1&counter=x", "", nil, 400),
		c("native checkin json cut short", "POST", "/device/v1/p/checkin", `{"id":`, nil, 400),
		c("native checkin version malformed", "POST", "/device/v1/p/checkin", `{"id":"d1","version":"x.y"}`, nil, 400),
		c("range reversed", "GET", "/fw/p/bin?device=d1", "", []string{"Range", "bytes=5-2"}, 416),
		c("range past the end", "GET", "/fw/p/bin", "", []string{"Range", "bytes=3000-"}, 416),
		c("range empty suffix", "GET", "/fw/p/bin", "", []string{"Range", "bytes=-0"}, 416),
		c("plain state unknown", "GET", "/fw/p/status?device=d3&state=exploded", "", nil, 400),
		c("plain state offered is the server's", "GET", "/fw/p/status?device=d3&state=offered", "", nil, 400),
		c("plain progress negative", "GET", "/fw/p/status?device=d3&state=downloading&progress=-5", "", nil, 400),
		c("native state canceled is the server's", "POST", "/device/v1/p/status",
			fmt.Sprintf(`{"id":"d1","update":%d,"state":"canceled"}`, f.d1Update), nil, 400),
		c("native progress beyond the image", "POST", "/device/v1/p/status",
			fmt.Sprintf(`{"id":"d1","update":%d,"state":"downloading","progress":99999}`, f.d1Update), nil, 400),
		c("device list unknown state", "GET", "/api/v1/devices?state=exploded", "", a, 400),
		c("channel to unknown version", "PUT", "/api/v1/products/p/channels/stable", `{"version":"9.9.9"}`, a, 404),
		c("product poll below the minimum", "PATCH", "/api/v1/products/p", `{"poll_idle":"1s"}`, a, 400),
		c("device poll not a duration", "PATCH", "/api/v1/products/p/devices/d1", `{"poll":"soon"}`, a, 400),
		c("webhook ftp url", "PUT", "/api/v1/products/p/webhook", `{"url":"ftp://127.0.0.1/x"}`, a, 400),
		c("webhook url with password", "PUT", "/api/v1/products/p/webhook",
			`{"url":"http://u:pw@127.0.0.1/x"}`, a, 400),
		c("rollout phases garbage", "POST", "/api/v1/products/p/rollouts",
			`{"version":"1.1.0","phases":"abc"}`, a, 400),
		c("rollout success rate above 1", "POST", "/api/v1/products/p/rollouts",
			`{"version":"1.1.0","success_rate":2}`, a, 400),
		c("rollout id not a number", "POST", "/api/v1/rollouts/abc/pause", "", a, 400),
		c("rollout unknown", "POST", "/api/v1/rollouts/999/resume", "", a, 404),
		c("token id not a number", "DELETE", "/api/v1/tokens/abc", "", a, 400),
		c("token unknown role", "POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, a, 400),
		c("audit since not a time", "GET", "/api/v1/audit?since=yesterday", "", a, 400),
	}
}

func oversizedCases(f *catalogFixture) []catalogCase {
	a := f.admin()
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"oversized", name, method, path, body, header, want}
	}
	long := strings.Repeat("a", 65)
	return []catalogCase{
		c("image over the upload limit", "POST", "/api/v1/products/p/releases?version=9.0.0",
			strings.Repeat("x", 1<<20+1), a, 413),
		c("operator json body over 2 MiB", "POST", "/api/v1/products",
			`{"name":"`+strings.Repeat("q", 2<<20)+`","access":"public"}`, a, 413),
		c("native body over 16 KiB", "POST", "/device/v1/p/checkin",
			`{"id":"d1","version":"1.0.0","attrs":{"x":"`+strings.Repeat("y", 20<<10)+`"}}`, nil, 413),
		c("plain form over 4 KiB", "POST", "/fw/p/status",
			"device=d3&state=downloading&detail="+strings.Repeat("z", 8<<10),
			[]string{"Content-Type", "application/x-www-form-urlencoded"}, 400),
		c("request header over 16 KiB", "GET", "/fw/p/version", "",
			[]string{"X-Junk", strings.Repeat("j", 32<<10)}, 431),
		c("manifest header over 4 KiB", "POST", "/api/v1/products/signed/releases?version=1.1.0", string(f.nextImg),
			append([]string{"X-Ferry-Manifest", strings.Repeat("A", 4100)}, a...), 400),
		c("status detail over 1 KiB", "GET", "/fw/p/status?device=d3&state=failed&detail="+strings.Repeat("d", 1025),
			"", nil, 400),
		c("device id of 129 bytes", "GET", "/fw/p/version?device="+strings.Repeat("d", 129)+"&version=1.0.0", "",
			nil, 400),
		c("product name of 65 bytes", "POST", "/api/v1/products", `{"name":"`+long+`","access":"public"}`, a, 400),
		c("version of 65 bytes", "POST", "/api/v1/products/p/releases?version=1."+strings.Repeat("1", 63), "x", a, 400),
		c("token name of 65 bytes", "POST", "/api/v1/tokens", `{"name":"`+long+`","role":"viewer"}`, a, 400),
		c("key name of 65 bytes", "DELETE", "/api/v1/products/signed/keys/"+long, "", a, 400),
		c("tag of 65 bytes", "PATCH", "/api/v1/products/p/devices/d1", `{"add_tags":["`+long+`"]}`, a, 400),
		c("audit limit over 10000", "GET", "/api/v1/audit?limit=10001", "", a, 400),
		c("device list limit over 10000", "GET", "/api/v1/devices?limit=10001", "", a, 400),
		c("deliveries limit over 1000", "GET", "/api/v1/products/p/webhook/deliveries?limit=1001", "", a, 400),
		c("update id of 30 digits", "POST", "/device/v1/p/status",
			`{"id":"d1","update":`+strings.Repeat("9", 30)+`,"state":"downloading"}`, nil, 400),
	}
}

func traversalCases(f *catalogFixture) []catalogCase {
	a := f.admin()
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"traversal", name, method, path, body, header, want}
	}
	return []catalogCase{
		c("plain product escapes", "GET", "/fw/..%2F..%2Fetc/version", "", nil, 400),
		c("plain product dotted", "GET", "/fw/a..b/bin", "", nil, 400),
		c("plain device escapes", "GET", "/fw/p/version?device=..%2F..%2Fetc&version=1.0.0", "", nil, 400),
		c("native image sha escapes", "GET", "/device/v1/p/img/..%2F..%2Fetc%2Fpasswd", "", nil, 400),
		c("native image sha short", "GET", "/device/v1/p/img/abc", "", nil, 400),
		c("native image sha uppercase", "GET", "/device/v1/p/img/"+strings.Repeat("A", 64), "", nil, 400),
		c("native device escapes", "POST", "/device/v1/p/checkin", `{"id":"../../etc","version":"1.0.0"}`, nil, 400),
		c("upload product escapes", "POST", "/api/v1/products/..%2F..%2Fetc/releases?version=2.0.0", "x", a, 400),
		c("new product escapes", "POST", "/api/v1/products", `{"name":"../../etc","access":"public"}`, a, 400),
		c("channel name escapes", "PUT", "/api/v1/products/p/channels/..%2Fx", `{"version":"1.0.0"}`, a, 400),
		c("device settings escape", "PATCH", "/api/v1/products/p/devices/..%2F..%2Fx", `{"excluded":true}`, a, 404),
		c("release version escapes", "GET", "/api/v1/products/p/releases/..%2F..%2Fetc", "", a, 400),
		c("key name escapes", "DELETE", "/api/v1/products/signed/keys/..%2Fk1", "", a, 400),
	}
}

func forgedCases(t *testing.T, f *catalogFixture) []catalogCase {
	t.Helper()
	a := f.admin()
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"forged", name, method, path, body, header, want}
	}
	push := func(name, query string, img []byte, hdr []string) catalogCase {
		return c(name, "POST", "/api/v1/products/signed/releases?version=1.1.0"+query, string(img),
			append(append([]string{}, a...), hdr...), 400)
	}

	next := manifestFor("signed", "1.1.0", f.nextImg, 5)
	good := signHeaders(t, f.signer, next)
	edited := next
	edited.Counter = 9
	editedHdr := trustHeaders(manifest.Encode(edited), mustDecode(t, good[3]))
	tampered := bytes.Clone(f.nextImg)
	tampered[100] ^= 0xff
	bigger := next
	bigger.Size++
	otherProduct := next
	otherProduct.Product = "p"
	otherVersion := next
	otherVersion.Version = "1.2.0"
	shortSig := trustHeaders(manifest.Encode(next), mustDecode(t, good[3])[:63])

	return []catalogCase{
		c("operator without token", "GET", "/api/v1/products", "", nil, 401),
		c("operator unknown token", "GET", "/api/v1/products", "", []string{"Authorization", "Bearer fop_nope"}, 401),
		c("operator revoked token", "GET", "/api/v1/tokens", "", []string{"Authorization", "Bearer " + f.revoked}, 401),
		c("operator token in query", "GET", "/api/v1/tokens?token="+f.token, "", nil, 401),
		c("operator token as basic auth", "GET", "/api/v1/tokens", "",
			[]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+f.token))}, 401),
		c("enrollment key as operator token", "GET", "/api/v1/products", "",
			[]string{"Authorization", "Bearer " + f.key}, 401),
		c("device without key", "GET", "/fw/private/version", "", nil, 401),
		c("device wrong key", "GET", "/fw/private/version?token=fek_wrong", "", nil, 401),
		c("device key of another product", "POST", "/device/v1/vault/checkin", `{"id":"v1","version":"1.0.0"}`,
			[]string{"Authorization", "Bearer " + f.key}, 401),
		c("operator token as device key", "GET", "/fw/vault/version?device=v1&version=1.0.0", "",
			[]string{"Authorization", "Bearer " + f.token}, 401),
		push("unsigned upload to a signing product", "", f.nextImg, nil),
		push("manifest without signature", "", f.nextImg, good[:2]),
		push("signature without manifest", "", f.nextImg, good[2:]),
		push("image tampered after signing", "", tampered, good),
		push("manifest edited after signing", "", f.nextImg, editedHdr),
		push("size in manifest differs", "", f.nextImg, signHeaders(t, f.signer, bigger)),
		push("signed by a stranger's key", "", f.nextImg, signHeaders(t, f.stranger, next)),
		push("signed by a revoked key", "", f.nextImg, signHeaders(t, f.old, next)),
		push("manifest of another product", "", f.nextImg, signHeaders(t, f.signer, otherProduct)),
		push("manifest of another version", "", f.nextImg, signHeaders(t, f.signer, otherVersion)),
		push("counter below the published one", "", f.nextImg,
			signHeaders(t, f.signer, manifestFor("signed", "1.1.0", f.nextImg, 4))),
		push("query counter differs from manifest", "&counter=6", f.nextImg, good),
		push("query sha256 differs from manifest", "&sha256="+strings.Repeat("0", 64), f.nextImg, good),
		push("signature truncated", "", f.nextImg, shortSig),
		push("manifest not base64", "", f.nextImg, []string{"X-Ferry-Manifest", "!!!", "X-Ferry-Signature", good[3]}),
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replayedCases(t *testing.T, f *catalogFixture) []catalogCase {
	t.Helper()
	a := f.admin()
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"replayed", name, method, path, body, header, want}
	}
	return []catalogCase{
		c("identical native report", "POST", "/device/v1/p/status",
			fmt.Sprintf(`{"id":"d1","update":%d,"state":"downloading","progress":100}`, f.d1Update), nil, 204),
		c("identical plain report", "GET", "/fw/p/status?device=d3&state=downloading&progress=10", "", nil, 200),
		c("same version pushed again", "POST", "/api/v1/products/p/releases?version=1.0.0",
			string(testImage(3000, 1)), a, 409),
		c("same version pushed with a new image", "POST", "/api/v1/products/p/releases?version=1.1.0", "new", a, 409),
		c("signed release pushed again", "POST", "/api/v1/products/signed/releases?version=1.0.0",
			string(f.signedImg), append(append([]string{}, a...), f.signedHdr...), 409),
		c("product created again", "POST", "/api/v1/products", `{"name":"p","access":"public"}`, a, 409),
		c("key added again", "POST", "/api/v1/products/signed/keys",
			`{"name":"k1","public_key":"`+strings.TrimSpace(publicKeyText(f.signer))+`"}`, a, 409),
		c("revoked token revoked again", "DELETE", f.tokenPath(t, "gone"), "", a, 409),
		c("last admin token revoked", "DELETE", f.tokenPath(t, "test"), "", a, 409),
	}
}

func publicKeyText(k manifest.PrivateKey) string {
	pub, err := k.Public()
	if err != nil {
		return ""
	}
	return string(manifest.EncodePublicKey(pub))
}

// tokenPath is the API path of the operator token called name.
func (f *catalogFixture) tokenPath(t *testing.T, name string) string {
	t.Helper()
	ts, err := f.svc.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range ts {
		if tok.Name == name {
			return "/api/v1/tokens/" + strconv.FormatInt(tok.ID, 10)
		}
	}
	t.Fatalf("no token %s", name)
	return ""
}

func wrongDeviceCases(f *catalogFixture) []catalogCase {
	c := func(name, method, path, body string, header []string, want int) catalogCase {
		return catalogCase{"wrong-device", name, method, path, body, header, want}
	}
	return []catalogCase{
		c("report on another device's update", "POST", "/device/v1/p/status",
			fmt.Sprintf(`{"id":"d2","update":%d,"state":"failed","detail":"forged"}`, f.d1Update), nil, 404),
		c("progress on another device's update", "POST", "/device/v1/p/status",
			fmt.Sprintf(`{"id":"d1","update":%d,"state":"installing"}`, f.d2Update), nil, 404),
		c("report on an unknown update", "POST", "/device/v1/p/status",
			`{"id":"d1","update":999,"state":"downloading"}`, nil, 404),
		c("native report of a device never seen", "POST", "/device/v1/p/status",
			`{"id":"ghost","state":"failed"}`, nil, 404),
		c("plain report of a device never seen", "GET", "/fw/p/status?device=ghost&state=failed", "", nil, 404),
		c("report through another product", "POST", "/device/v1/signed/status",
			fmt.Sprintf(`{"id":"d1","update":%d,"state":"failed"}`, f.d1Update), nil, 404),
		c("image of another product", "GET", "/device/v1/signed/img/"+sha256Hex(testImage(3000, 2)), "", nil, 404),
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func wrongRoleCases(t *testing.T, f *catalogFixture) []catalogCase {
	t.Helper()
	v, p := f.asViewer(), f.asPublisher()
	c := func(name, method, path, body string, header []string) catalogCase {
		return catalogCase{"wrong-role", name, method, path, body, header, 403}
	}
	return []catalogCase{
		c("viewer creates a product", "POST", "/api/v1/products", `{"name":"q","access":"public"}`, v),
		c("viewer pushes a release", "POST", "/api/v1/products/p/releases?version=2.0.0", "x", v),
		c("viewer moves a channel", "PUT", "/api/v1/products/p/channels/stable", `{"version":"1.0.0"}`, v),
		c("viewer configures a device", "PATCH", "/api/v1/products/p/devices/d1", `{"excluded":true}`, v),
		c("viewer starts a rollout", "POST", "/api/v1/products/p/rollouts", `{"version":"1.0.0"}`, v),
		c("viewer lists tokens", "GET", "/api/v1/tokens", "", v),
		c("viewer creates an admin token", "POST", "/api/v1/tokens", `{"name":"x","role":"admin"}`, v),
		c("viewer reads the audit log", "GET", "/api/v1/audit", "", v),
		c("viewer adds a key", "POST", "/api/v1/products/signed/keys",
			`{"name":"k9","public_key":"`+strings.TrimSpace(publicKeyText(f.stranger))+`"}`, v),
		c("publisher creates a product", "POST", "/api/v1/products", `{"name":"q","access":"public"}`, p),
		c("publisher turns off signatures", "PATCH", "/api/v1/products/signed", `{"require_signature":false}`, p),
		c("publisher creates an admin token", "POST", "/api/v1/tokens", `{"name":"x","role":"admin"}`, p),
		c("publisher revokes the admin token", "DELETE", f.tokenPath(t, "test"),
			"", p),
		c("publisher lists tokens", "GET", "/api/v1/tokens", "", p),
		c("publisher reads the audit log", "GET", "/api/v1/audit", "", p),
		c("publisher adds a key", "POST", "/api/v1/products/signed/keys",
			`{"name":"k9","public_key":"`+strings.TrimSpace(publicKeyText(f.stranger))+`"}`, p),
		c("publisher revokes a key", "DELETE", "/api/v1/products/signed/keys/k1", "", p),
		c("publisher sets a webhook", "PUT", "/api/v1/products/p/webhook", `{"url":"http://127.0.0.1:1/x"}`, p),
		c("publisher removes a webhook", "DELETE", "/api/v1/products/p/webhook", "", p),
		c("publisher lists deliveries", "GET", "/api/v1/products/p/webhook/deliveries", "", p),
	}
}
