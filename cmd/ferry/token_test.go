package main

import (
	"strings"
	"testing"
)

func TestTokenCreate(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /api/v1/tokens": {201,
		`{"id":4,"name":"ci","role":"publisher","created_at":"2025-01-02T03:04:05Z","token":"fop_secret"}`}})

	out, errOut, err := f.run(t, "token", "create", "ci", "--role", "publisher")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	if want := "created token ci (id 4, role publisher)\ntoken: fop_secret\n"; out != want {
		t.Errorf("token create printed %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "not shown again") {
		t.Errorf("token create stderr = %q, want a warning to store the token", errOut)
	}
	if _, body := f.last(t); string(body) != `{"name":"ci","role":"publisher"}` {
		t.Errorf("token create sent %s, want name ci and role publisher", body)
	}
}

func TestTokenCreateArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no role", []string{"ci"}, "token create: --role is required"},
		{"unknown role", []string{"ci", "--role", "root"}, `token create: --role "root": want admin, publisher`},
		{"no name", []string{"--role", "viewer"}, "token create: want NAME, got 0 argument(s)"},
		{"two names", []string{"a", "b", "--role", "viewer"}, "token create: want NAME, got 2 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, nil)
			_, _, err := f.run(t, append([]string{"token", "create"}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("token create %q = %v, want an error starting %q", tt.args, err, tt.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.reqs) != 0 {
				t.Errorf("token create %q sent %d requests, want none", tt.args, len(f.reqs))
			}
		})
	}
}

func TestTokenList(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/tokens": {200, `{"tokens":[
		{"id":1,"name":"operator.token","role":"admin","created_at":"2025-01-02T03:04:05Z",
		 "last_used_at":"2025-01-03T00:00:00Z"},
		{"id":2,"name":"dash","role":"viewer","created_at":"2025-01-02T03:04:06Z",
		 "revoked_at":"2025-01-04T00:00:00Z"}]}`}})

	out, _, err := f.run(t, "token", "list")
	if err != nil {
		t.Fatalf("token list: %v", err)
	}
	want := "" +
		"ID  NAME            ROLE    CREATED               LAST USED             REVOKED\n" +
		"1   operator.token  admin   2025-01-02 03:04:05Z  2025-01-03 00:00:00Z  -\n" +
		"2   dash            viewer  2025-01-02 03:04:06Z  -                     2025-01-04 00:00:00Z\n"
	if out != want {
		t.Errorf("token list printed\n%s\nwant\n%s", out, want)
	}
}

func TestTokenRevoke(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"DELETE /api/v1/tokens/3": {204, ""},
		"DELETE /api/v1/tokens/1": {409, `{"error":"revoke token 1: not allowed now: token operator.token ` +
			`is the last valid admin token"}`},
	})

	out, _, err := f.run(t, "token", "revoke", "3")
	if err != nil || out != "revoked token 3\n" {
		t.Errorf("token revoke 3 = %q, %v, want %q, nil", out, err, "revoked token 3\n")
	}
	_, _, err = f.run(t, "token", "revoke", "1")
	if err == nil || !strings.Contains(err.Error(), "token revoke: server said 409 Conflict") ||
		!strings.Contains(err.Error(), "last valid admin token") {
		t.Errorf("token revoke 1 = %v, want the server's 409 and its reason", err)
	}

	f = newFakeAPI(t, nil)
	if _, _, err := f.run(t, "token", "revoke", "ci"); err == nil || !strings.Contains(err.Error(), `token ID "ci"`) {
		t.Errorf("token revoke ci = %v, want an error about the ID", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 0 {
		t.Errorf("token revoke ci sent %d requests, want none", len(f.reqs))
	}
}
