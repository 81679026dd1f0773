package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

type tokenJSON struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	Token      string  `json:"token"`
	LastUsedAt *string `json:"last_used_at"`
	RevokedAt  *string `json:"revoked_at"`
}

// TestRoleMatrix calls a representative route of each class with a token
// of each role. ROLE in a body becomes the role's name, so that creations
// do not collide.
func TestRoleMatrix(t *testing.T) {
	a := newTestAPI(t)
	tokens := map[core.Role]string{core.RoleAdmin: a.token}
	for _, role := range []core.Role{core.RolePublisher, core.RoleViewer} {
		secret, _, err := a.svc.CreateToken(t.Context(), string(role), role)
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = secret
	}

	const ok, no = true, false
	tests := []struct {
		method, path, body string
		status             int  // the answer to a role that may call it
		viewer, publisher  bool // whether they may; admins may do everything
	}{
		{"GET", "/api/v1/products/p/releases", "", 200, ok, ok},
		{"GET", "/api/v1/devices/d1", "", 200, ok, ok},
		{"GET", "/api/v1/rollouts", "", 200, ok, ok},
		{"GET", "/api/v1/no-such-thing", "", 404, ok, ok},
		{"PUT", "/api/v1/products/p/channels/beta", `{"version":"1.1.0"}`, 200, no, ok},
		{"PATCH", "/api/v1/products/p/devices/d1", `{"add_tags":["ROLE"]}`, 200, no, ok},
		{"POST", "/api/v1/rollouts/999/pause", "", 404, no, ok},
		{"POST", "/api/v1/products", `{"name":"q-ROLE","access":"public"}`, 201, no, no},
		{"PATCH", "/api/v1/products/p", `{"poll_idle":"2h"}`, 200, no, no},
		{"DELETE", "/api/v1/products/p/webhook", "", 204, no, no},
		{"GET", "/api/v1/products/p/webhook/deliveries", "", 200, no, no},
		{"GET", "/api/v1/audit", "", 200, no, no},
		{"GET", "/api/v1/tokens", "", 200, no, no},
		{"PUT", "/api/v1/products/p/nudge", `{"url":"https://127.0.0.1/ROLE"}`, 200, no, no},
		{"GET", "/api/v1/products/p/nudge", "", 200, no, no},
		{"DELETE", "/api/v1/products/p/nudge", "", 204, no, no},
		{"GET", "/api/v1/products/p/nudges", "", 200, no, no},
	}
	for _, tt := range tests {
		for _, role := range []core.Role{core.RoleViewer, core.RolePublisher, core.RoleAdmin} {
			t.Run(string(role)+" "+tt.method+" "+tt.path, func(t *testing.T) {
				allowed := role == core.RoleAdmin || (role == core.RoleViewer && tt.viewer) ||
					(role == core.RolePublisher && tt.publisher)
				want := tt.status
				if !allowed {
					want = http.StatusForbidden
				}
				body := strings.ReplaceAll(tt.body, "ROLE", string(role))
				status, b := a.call(t, tokens[role], tt.method, tt.path, body)
				if status != want {
					t.Fatalf("%s %s as %s = %d %s, want %d", tt.method, tt.path, role, status, b, want)
				}
				if !allowed && !strings.Contains(string(b), "needs role ") {
					t.Errorf("%s %s as %s = %s, want a reason naming the role needed", tt.method, tt.path, role, b)
				}
			})
		}
	}
}

func TestForbiddenReason(t *testing.T) {
	a := newTestAPI(t)
	secret, _, err := a.svc.CreateToken(t.Context(), "dash", core.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	status, b := a.call(t, secret, "PUT", "/api/v1/products/p/channels/stable", `{"version":"1.1.0"}`)
	want := `needs role publisher or above; token \"dash\" has role viewer`
	if status != http.StatusForbidden || !strings.Contains(string(b), want) {
		t.Errorf("PUT channel as viewer = %d %s, want 403 saying %s", status, b, want)
	}
}

func TestTokenRoutes(t *testing.T) {
	a := newTestAPI(t)
	var created tokenJSON
	b := a.must(t, "POST", "/api/v1/tokens", `{"name":"ci","role":"publisher"}`, http.StatusCreated)
	decodeJSON(t, b, &created)
	if created.ID == 0 || created.Name != "ci" || created.Role != "publisher" ||
		!strings.HasPrefix(created.Token, "fop_") {
		t.Fatalf("POST /api/v1/tokens = %s, want a publisher token ci with its fop_ secret", b)
	}
	if status, b := a.call(t, created.Token, "GET", "/api/v1/products", ""); status != http.StatusOK {
		t.Errorf("GET products with the new token = %d %s, want 200", status, b)
	}

	// The listing shows every token, the last use once flushed, and no secret or hash.
	if err := a.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	b = a.must(t, "GET", "/api/v1/tokens", "", http.StatusOK)
	var list struct{ Tokens []tokenJSON }
	decodeJSON(t, b, &list)
	if strings.Contains(string(b), created.Token) || strings.Contains(string(b), core.HashSecret(created.Token)) ||
		strings.Contains(string(b), `"token"`) {
		t.Errorf("GET /api/v1/tokens = %s, shows a secret or a hash", b)
	}
	var names []string
	for _, tk := range list.Tokens {
		names = append(names, tk.Name)
		if tk.Name == "ci" && tk.LastUsedAt == nil {
			t.Errorf("GET /api/v1/tokens: ci has no last_used_at after a use and a flush: %s", b)
		}
	}
	if got, want := strings.Join(names, ","), "alice,bob,ci"; got != want {
		t.Errorf("GET /api/v1/tokens names = %s, want %s", got, want)
	}

	// Revoked: 401 from then on, and a second revocation is 409.
	path := fmt.Sprintf("/api/v1/tokens/%d", created.ID)
	a.must(t, "DELETE", path, "", http.StatusNoContent)
	status, b := a.call(t, created.Token, "GET", "/api/v1/products", "")
	if status != http.StatusUnauthorized || !strings.Contains(string(b), "revoked operator token") {
		t.Errorf("GET products with a revoked token = %d %s, want 401 revoked operator token", status, b)
	}
	a.must(t, "DELETE", path, "", http.StatusConflict)

	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown role", "POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, http.StatusBadRequest},
		{"bad name", "POST", "/api/v1/tokens", `{"name":"a b","role":"viewer"}`, http.StatusBadRequest},
		{"unknown field", "POST", "/api/v1/tokens", `{"name":"x","role":"viewer","secret":"s"}`, 400},
		{"bad id", "DELETE", "/api/v1/tokens/abc", "", http.StatusBadRequest},
		{"unknown id", "DELETE", "/api/v1/tokens/999", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, b := a.call(t, a.token, tt.method, tt.path, tt.body); status != tt.want {
				t.Errorf("%s %s %s = %d %s, want %d", tt.method, tt.path, tt.body, status, b, tt.want)
			}
		})
	}
}

func TestRevokeLastAdminToken(t *testing.T) {
	a := newTestAPI(t)
	var ts struct{ Tokens []tokenJSON }
	decodeJSON(t, a.must(t, "GET", "/api/v1/tokens", "", http.StatusOK), &ts)
	ids := map[string]int64{}
	for _, tk := range ts.Tokens {
		ids[tk.Name] = tk.ID
	}

	// Alice may revoke bob, but then not herself: she is the last admin.
	a.must(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", ids["bob"]), "", http.StatusNoContent)
	b := a.must(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", ids["alice"]), "", http.StatusConflict)
	if !strings.Contains(string(b), "last valid admin token") {
		t.Errorf("DELETE the last admin token = %s, want a reason naming the last valid admin token", b)
	}
	a.must(t, "GET", "/api/v1/tokens", "", http.StatusOK)
}

func TestTokenAuditEntries(t *testing.T) {
	a := newTestAPI(t)
	var created tokenJSON
	decodeJSON(t, a.must(t, "POST", "/api/v1/tokens", `{"name":"ci","role":"viewer"}`, http.StatusCreated), &created)
	a.must(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), "", http.StatusNoContent)

	b := a.must(t, "GET", "/api/v1/audit?limit=2", "", http.StatusOK)
	if strings.Contains(string(b), created.Token) || strings.Contains(string(b), core.HashSecret(created.Token)) {
		t.Errorf("GET audit = %s, holds the token's secret or hash", b)
	}
	var v struct {
		Entries []struct {
			Actor, Action, Object string
			Detail                map[string]string
		}
	}
	decodeJSON(t, b, &v)
	var got []string
	for _, e := range v.Entries {
		d := e.Detail
		got = append(got, fmt.Sprintf("%s %s %s %s/%s", e.Actor, e.Action, e.Object, d["name"], d["role"]))
	}
	id := fmt.Sprint(created.ID)
	want := []string{"alice token.revoke " + id + " ci/viewer", "alice token.create " + id + " ci/viewer"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("GET audit = %q, want %q", got, want)
	}
}

// TestIssueDeviceToken issues a device token for a device of a key product:
// admins only, never for a public product, and the token speaks for the
// device while the one issued before it stops.
func TestIssueDeviceToken(t *testing.T) {
	a := newTestAPI(t)
	a.must(t, "POST", "/api/v1/products", `{"name":"k","access":"key"}`, http.StatusCreated)
	pub, _, err := a.svc.CreateToken(t.Context(), "pub", core.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/products/k/devices/gw-1/token"
	if code, body := a.call(t, pub, "POST", path, ""); code != http.StatusForbidden {
		t.Errorf("POST %s as publisher = %d %s, want 403", path, code, body)
	}
	if code, body := a.call(t, a.token, "POST", "/api/v1/products/p/devices/d1/token", ""); code != 409 {
		t.Errorf("POST token of a public product's device = %d %s, want 409", code, body)
	}

	var first, second struct{ Token string }
	for _, out := range []*struct{ Token string }{&first, &second} {
		code, body := a.call(t, a.token, "POST", path, "")
		if code != http.StatusCreated || json.Unmarshal(body, out) != nil || out.Token == "" {
			t.Fatalf("POST %s = %d %s, want 201 with a token", path, code, body)
		}
	}
	if _, dev, err := a.svc.AuthorizeDevice(t.Context(), "k", second.Token); err != nil || dev != "gw-1" {
		t.Errorf("AuthorizeDevice(issued token) = %q, %v, want gw-1", dev, err)
	}
	if _, _, err := a.svc.AuthorizeDevice(t.Context(), "k", first.Token); err == nil {
		t.Error("AuthorizeDevice(token issued before) succeeded, want it revoked")
	}
}
