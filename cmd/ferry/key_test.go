package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const keyAnswer = `{"name":"k1","alg":"p256","public_key":"ab","fingerprint":"0123456789abcdef",` +
	`"created_at":"2025-01-02T03:04:05Z"}`

// genKey makes a key pair with 'ferry key gen' and returns its name prefix.
func genKey(t *testing.T, alg string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "rel")
	if _, err := offline(t, "key", "gen", "--alg", alg, "--out", name); err != nil {
		t.Fatalf("key gen --alg %s: %v", alg, err)
	}
	return name
}

func TestKeyAdd(t *testing.T) {
	name := genKey(t, "p256")
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/keys": {201, keyAnswer}})

	out, _, err := f.run(t, "key", "add", "--product", "p", "--name", "k1", name+".pub")
	if err != nil {
		t.Fatalf("key add: %v", err)
	}
	if want := "added key k1 (p256, fingerprint 0123456789abcdef) to p\n"; out != want {
		t.Errorf("key add printed %q, want %q", out, want)
	}
	_, body := f.last(t)
	pub, _ := os.ReadFile(name + ".pub")
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil || got["name"] != "k1" || got["public_key"] != string(pub) {
		t.Errorf("key add sent %s, want name k1 and the text of %s.pub", body, name)
	}
}

func TestKeyAddRefuses(t *testing.T) {
	name := genKey(t, "ed25519")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"private key", []string{"--product", "p", "--name", "k", name + ".key"}, name + ".key: "},
		{"missing name", []string{"--product", "p", name + ".pub"}, "key add: --name is required"},
		{"missing product", []string{"--name", "k", name + ".pub"}, "key add: --product is required"},
		{"no file", []string{"--product", "p", "--name", "k"}, "key add: want FILE.pub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /api/v1/products/p/keys": {201, keyAnswer}})
			_, _, err := f.run(t, append([]string{"key", "add"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("key add %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.reqs) != 0 {
				t.Errorf("key add %q sent %d requests, want none", tt.args, len(f.reqs))
			}
		})
	}
}

func TestKeyListAndRevoke(t *testing.T) {
	revoked := strings.TrimSuffix(keyAnswer, "}") + `,"revoked_at":"2025-02-03T04:05:06Z"}`
	f := newFakeAPI(t, map[string]answer{
		"GET /api/v1/products/p/keys":         {200, `{"keys":[` + revoked + `]}`},
		"DELETE /api/v1/products/p/keys/k1":   {200, revoked},
		"DELETE /api/v1/products/p/keys/nope": {404, `{"error":"key nope: not found"}`},
	})

	out, _, err := f.run(t, "key", "list", "--product", "p")
	if err != nil {
		t.Fatalf("key list: %v", err)
	}
	for _, want := range []string{"NAME", "k1", "p256", "0123456789abcdef", "2025-02-03 04:05:06Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("key list printed %q, want it to contain %q", out, want)
		}
	}

	out, _, err = f.run(t, "key", "revoke", "--product", "p", "k1")
	if want := "revoked key k1 of p (fingerprint 0123456789abcdef)\n"; err != nil || out != want {
		t.Errorf("key revoke k1 = %q, %v; want %q", out, err, want)
	}
	if req, _ := f.last(t); req.Method != "DELETE" || req.URL.Path != "/api/v1/products/p/keys/k1" {
		t.Errorf("key revoke sent %s %s, want DELETE /api/v1/products/p/keys/k1", req.Method, req.URL.Path)
	}
	_, _, err = f.run(t, "key", "revoke", "--product", "p", "nope")
	if err == nil || !strings.Contains(err.Error(), "key revoke: server said 404") {
		t.Errorf("key revoke nope = %v, want the server's 404", err)
	}
}

func TestProductSetRequireSignature(t *testing.T) {
	tests := []struct {
		name   string
		flag   string
		answer string
		body   string
		out    string
	}{
		{"on", "--require-signature", `{"name":"p","require_signature":true}`, `{"require_signature":true}`,
			"p: poll idle default, poll active default, signature required\n"},
		{"off", "--require-signature=false", `{"name":"p"}`, `{"require_signature":false}`,
			"p: poll idle default, poll active default, signature not required\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"PATCH /api/v1/products/p": {200, tt.answer}})
			out, _, err := f.run(t, "product", "set", "p", tt.flag)
			if err != nil || out != tt.out {
				t.Errorf("product set p %s = %q, %v; want %q", tt.flag, out, err, tt.out)
			}
			if _, body := f.last(t); string(body) != tt.body {
				t.Errorf("product set p %s sent %s, want %s", tt.flag, body, tt.body)
			}
		})
	}
}
