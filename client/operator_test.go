package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-ota/ferry/client"
)

// request is what a test server saw.
type request struct {
	Method        string
	Path          string // escaped
	Query         url.Values
	Header        http.Header
	Body          []byte
	ContentLength int64
}

// recorder is an httptest server that records every request and answers
// each with the same status and body.
type recorder struct {
	mu   sync.Mutex
	reqs []request
	srv  *httptest.Server
}

func newRecorder(t testing.TB, status int, answer string) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: body, ContentLength: r.ContentLength,
		})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) only(t testing.TB) request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(rec.reqs))
	}
	return rec.reqs[0]
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t testing.TB, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("request body %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

const (
	productJSON = `{"name":"p","access":"key","created_at":"2025-01-02T03:04:05Z","enroll_key":"fek_x"}`
	releaseJSON = `{"product":"p","version":"1.1.0","size":3,"crc32":"1a2b3c4d","md5":"m","sha256":"s",` +
		`"notes":"n","created_at":"2025-01-02T03:04:05Z"}`
	keyJSON = `{"name":"k1","alg":"ed25519","public_key":"00ff","fingerprint":"0123456789abcdef",` +
		`"created_at":"2025-01-02T03:04:05Z"}`
	channelJSON = `{"name":"beta","version":"1.1.0","sha256":"s","updated_at":"2025-01-02T03:04:05Z"}`
	updateJSON  = `{"id":7,"version":"1.1.0","from_version":"1.0.0","state":"failed","reason":"rolled back",` +
		`"progress":3,"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z",` +
		`"finished_at":"2025-01-02T03:04:06Z"}`
	deviceJSON = `{"id":"d/1","product":"p","channel":"stable","version":"1.0.0","sha256":"s",` +
		`"attributes":{"rssi":"-71"},"first_seen":"2025-01-02T03:04:05Z","last_seen":"2025-01-02T03:04:05Z",` +
		`"bytes_served":3,"update":` + updateJSON + `}`
)

func TestOperatorRequests(t *testing.T) {
	beta := "beta"
	tests := []struct {
		name      string
		answer    string
		call      func(ctx context.Context, o *client.Operator) (any, error)
		method    string
		path      string
		query     url.Values
		body      string // JSON; empty for no body
		wantField func(v any) any
		want      any
	}{
		{
			name:   "create product",
			answer: productJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.CreateProduct(ctx, "p", client.AccessKey)
			},
			method: "POST", path: "/api/v1/products", body: `{"name":"p","access":"key"}`,
			wantField: func(v any) any { return v.(client.Product).EnrollKey }, want: "fek_x",
		},
		{
			name:   "products",
			answer: `{"products":[` + productJSON + `]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Products(ctx)
			},
			method: "GET", path: "/api/v1/products",
			wantField: func(v any) any { return v.([]client.Product)[0].Access }, want: "key",
		},
		{
			name:   "product",
			answer: productJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Product(ctx, "a b")
			},
			method: "GET", path: "/api/v1/products/a%20b",
			wantField: func(v any) any { return v.(client.Product).Name }, want: "p",
		},
		{
			name:   "releases",
			answer: `{"releases":[` + releaseJSON + `]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Releases(ctx, "p")
			},
			method: "GET", path: "/api/v1/products/p/releases",
			wantField: func(v any) any { return v.([]client.Release)[0].CRC32 }, want: "1a2b3c4d",
		},
		{
			name:   "release",
			answer: releaseJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Release(ctx, "p", "1.1.0+b/1")
			},
			method: "GET", path: "/api/v1/products/p/releases/1.1.0+b%2F1",
			wantField: func(v any) any { return v.(client.Release).Size }, want: int64(3),
		},
		{
			name:   "channels",
			answer: `{"channels":[` + channelJSON + `]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Channels(ctx, "p")
			},
			method: "GET", path: "/api/v1/products/p/channels",
			wantField: func(v any) any { return v.([]client.Channel)[0].Name }, want: "beta",
		},
		{
			name:   "set channel",
			answer: channelJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.SetChannel(ctx, "p", beta, "1.1.0")
			},
			method: "PUT", path: "/api/v1/products/p/channels/beta", body: `{"version":"1.1.0"}`,
			wantField: func(v any) any { return v.(client.Channel).Version }, want: "1.1.0",
		},
		{
			name:   "devices filtered",
			answer: `{"devices":[` + deviceJSON + `]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Devices(ctx, client.DeviceQuery{Product: "p", Version: "1.0.0", State: "failed", Limit: 5})
			},
			method: "GET", path: "/api/v1/devices",
			query:     url.Values{"product": {"p"}, "version": {"1.0.0"}, "state": {"failed"}, "limit": {"5"}},
			wantField: func(v any) any { return v.([]client.DeviceInfo)[0].Update.Reason }, want: "rolled back",
		},
		{
			name:   "devices all",
			answer: `{"devices":[]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Devices(ctx, client.DeviceQuery{})
			},
			method: "GET", path: "/api/v1/devices",
			wantField: func(v any) any { return len(v.([]client.DeviceInfo)) }, want: 0,
		},
		{
			name: "device detail",
			answer: strings.TrimSuffix(deviceJSON, "}") + `,"updates":[` + updateJSON + `],` +
				`"history":[{"at":"2025-01-02T03:04:05Z","kind":"report","update_id":7,"state":"downloading",` +
				`"progress":1,"protocol":"native"}]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Device(ctx, "d/1", "p")
			},
			method: "GET", path: "/api/v1/devices/d%2F1", query: url.Values{"product": {"p"}},
			wantField: func(v any) any {
				d := v.(client.DeviceDetail)
				return []any{d.ID, d.Attributes["rssi"], d.Updates[0].ID, d.History[0].Kind}
			},
			want: []any{"d/1", "-71", int64(7), "report"},
		},
		{
			name:   "add key",
			answer: keyJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.AddKey(ctx, "p", "k1", []byte("ferry-public-key ed25519 00ff\n"))
			},
			method: "POST", path: "/api/v1/products/p/keys",
			body:      `{"name":"k1","public_key":"ferry-public-key ed25519 00ff\n"}`,
			wantField: func(v any) any { return v.(client.Key).Fingerprint }, want: "0123456789abcdef",
		},
		{
			name:   "keys",
			answer: `{"keys":[` + keyJSON + `]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Keys(ctx, "p")
			},
			method: "GET", path: "/api/v1/products/p/keys",
			wantField: func(v any) any { return v.([]client.Key)[0].Alg }, want: "ed25519",
		},
		{
			name:   "revoke key",
			answer: strings.TrimSuffix(keyJSON, "}") + `,"revoked_at":"2025-01-03T00:00:00Z"}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.RevokeKey(ctx, "p", "k 1")
			},
			method: "DELETE", path: "/api/v1/products/p/keys/k%201",
			wantField: func(v any) any { return v.(client.Key).RevokedAt.IsZero() }, want: false,
		},
		{
			name:   "require signature",
			answer: strings.TrimSuffix(productJSON, "}") + `,"require_signature":true}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				on := true
				return o.ConfigureProduct(ctx, "p", client.ProductSettings{RequireSignature: &on})
			},
			method: "PATCH", path: "/api/v1/products/p", body: `{"require_signature":true}`,
			wantField: func(v any) any { return v.(client.Product).RequireSignature }, want: true,
		},
		{
			name:   "stop requiring signatures",
			answer: productJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				off := false
				return o.ConfigureProduct(ctx, "p", client.ProductSettings{RequireSignature: &off})
			},
			method: "PATCH", path: "/api/v1/products/p", body: `{"require_signature":false}`,
			wantField: func(v any) any { return v.(client.Product).RequireSignature }, want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, http.StatusOK, tt.answer)
			o := client.NewOperator(rec.srv.URL+"/", "sekrit", rec.srv.Client())

			got, err := tt.call(t.Context(), o)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if f := tt.wantField(got); !reflect.DeepEqual(f, tt.want) {
				t.Errorf("decoded field = %#v, want %#v", f, tt.want)
			}

			req := rec.only(t)
			if req.Method != tt.method || req.Path != tt.path {
				t.Errorf("request = %s %s, want %s %s", req.Method, req.Path, tt.method, tt.path)
			}
			if len(req.Query) > 0 || len(tt.query) > 0 {
				if !reflect.DeepEqual(req.Query, tt.query) {
					t.Errorf("query = %v, want %v", req.Query, tt.query)
				}
			}
			if got := req.Header.Get("Authorization"); got != "Bearer sekrit" {
				t.Errorf("Authorization = %q, want %q", got, "Bearer sekrit")
			}
			if tt.body == "" && len(req.Body) != 0 {
				t.Errorf("body = %q, want none", req.Body)
			}
			if tt.body != "" && !jsonEqual(t, req.Body, tt.body) {
				t.Errorf("body = %s, want %s", req.Body, tt.body)
			}
		})
	}
}

func TestPushReleaseStreamsBody(t *testing.T) {
	noChannel := ""
	beta := "beta"
	tests := []struct {
		name    string
		channel *string
		query   url.Values
	}{
		{"default channel", nil, url.Values{"version": {"1.1.0"}, "sha256": {"abc"}, "notes": {"a&b"}}},
		{"no channel", &noChannel, url.Values{
			"version": {"1.1.0"}, "channel": {""}, "sha256": {"abc"}, "notes": {"a&b"}}},
		{"named channel", &beta, url.Values{
			"version": {"1.1.0"}, "channel": {"beta"}, "sha256": {"abc"}, "notes": {"a&b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, http.StatusCreated, releaseJSON)
			o := client.NewOperator(rec.srv.URL, "sekrit", nil)
			body := &closeTracker{Reader: strings.NewReader("abc")}

			r, err := o.PushRelease(t.Context(), client.PushOptions{
				Product: "p", Version: "1.1.0", Channel: tt.channel, SHA256: "abc", Notes: "a&b",
				Body: body, Size: 3,
			})
			if err != nil {
				t.Fatalf("PushRelease: %v", err)
			}
			if r.Version != "1.1.0" {
				t.Errorf("PushRelease version = %q, want 1.1.0", r.Version)
			}

			req := rec.only(t)
			if req.Method != "POST" || req.Path != "/api/v1/products/p/releases" {
				t.Errorf("request = %s %s, want POST /api/v1/products/p/releases", req.Method, req.Path)
			}
			if !reflect.DeepEqual(req.Query, tt.query) {
				t.Errorf("query = %v, want %v", req.Query, tt.query)
			}
			if req.ContentLength != 3 || string(req.Body) != "abc" {
				t.Errorf("body = %q (Content-Length %d), want %q (3)", req.Body, req.ContentLength, "abc")
			}
			if body.closed {
				t.Error("PushRelease closed the caller's body")
			}
		})
	}
}

func TestPushReleaseSigned(t *testing.T) {
	counter := int64(7)
	tests := []struct {
		name       string
		opts       client.PushOptions
		wantQuery  url.Values
		wantHeader map[string]string
	}{
		{
			name:      "signed",
			opts:      client.PushOptions{Manifest: []byte("m\n"), Signature: []byte{0xff, 0}},
			wantQuery: url.Values{"version": {"1.1.0"}},
			wantHeader: map[string]string{
				"X-Ferry-Manifest": "bQo=", "X-Ferry-Signature": "/wA=",
			},
		},
		{
			name:       "unsigned with counter",
			opts:       client.PushOptions{Counter: &counter},
			wantQuery:  url.Values{"version": {"1.1.0"}, "counter": {"7"}},
			wantHeader: map[string]string{"X-Ferry-Manifest": "", "X-Ferry-Signature": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, http.StatusCreated, releaseJSON)
			o := client.NewOperator(rec.srv.URL, "sekrit", nil)
			opts := tt.opts
			opts.Product, opts.Version, opts.Body, opts.Size = "p", "1.1.0", strings.NewReader("abc"), 3

			if _, err := o.PushRelease(t.Context(), opts); err != nil {
				t.Fatalf("PushRelease: %v", err)
			}
			req := rec.only(t)
			if !reflect.DeepEqual(req.Query, tt.wantQuery) {
				t.Errorf("query = %v, want %v", req.Query, tt.wantQuery)
			}
			for k, want := range tt.wantHeader {
				if got := req.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestPushReleaseHalfSigned(t *testing.T) {
	rec := newRecorder(t, http.StatusCreated, releaseJSON)
	o := client.NewOperator(rec.srv.URL, "sekrit", nil)
	_, err := o.PushRelease(t.Context(), client.PushOptions{
		Product: "p", Version: "1.1.0", Manifest: []byte("m"), Body: strings.NewReader("abc"), Size: 3,
	})
	if err == nil {
		t.Error("PushRelease with a manifest but no signature = nil error, want a refusal")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 0 {
		t.Errorf("server saw %d requests, want 0", len(rec.reqs))
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error {
	c.closed = true
	return nil
}

func TestOperatorErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		want   string
	}{
		{"json reason", http.StatusConflict, `{"error":"release p 1.1.0: already exists"}`,
			"server said 409 Conflict: release p 1.1.0: already exists"},
		{"plain text", http.StatusBadGateway, "upstream gone\nmore", "server said 502 Bad Gateway: upstream gone"},
		{"html page", http.StatusNotFound, "<html>nope</html>", "server said 404 Not Found"},
		{"empty", http.StatusUnauthorized, "", "server said 401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.status, tt.answer)
			o := client.NewOperator(rec.srv.URL, "t", nil)

			_, err := o.Release(t.Context(), "p", "1.1.0")
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Release error = %v, want a *client.Error", err)
			}
			if ce.Status != tt.status || err.Error() != tt.want {
				t.Errorf("Release error = %d %q, want %d %q", ce.Status, err, tt.status, tt.want)
			}
		})
	}
}
