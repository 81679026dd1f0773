package core_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		role, need core.Role
		want       bool
	}{
		{core.RoleAdmin, core.RoleAdmin, true},
		{core.RoleAdmin, core.RoleViewer, true},
		{core.RolePublisher, core.RolePublisher, true},
		{core.RolePublisher, core.RoleViewer, true},
		{core.RolePublisher, core.RoleAdmin, false},
		{core.RoleViewer, core.RoleViewer, true},
		{core.RoleViewer, core.RolePublisher, false},
		{"root", core.RoleViewer, false},
		{core.RoleAdmin, "", false},
	}
	for _, tt := range tests {
		if got := tt.role.Allows(tt.need); got != tt.want {
			t.Errorf("Role(%q).Allows(%q) = %v, want %v", tt.role, tt.need, got, tt.want)
		}
	}
}

func TestCreateTokenValidates(t *testing.T) {
	f := newFixture(t, core.Config{})
	tests := []struct {
		name string
		tok  string
		role core.Role
		want error
	}{
		{"ok", "ci.deploy-1_x", core.RolePublisher, nil},
		{"viewer", "dash", core.RoleViewer, nil},
		{"longest", strings.Repeat("a", 64), core.RoleAdmin, nil},
		{"empty name", "", core.RoleAdmin, core.ErrInvalid},
		{"too long", strings.Repeat("a", 65), core.RoleAdmin, core.ErrInvalid},
		{"space", "ci bot", core.RoleAdmin, core.ErrInvalid},
		{"unknown role", "ci", "root", core.ErrInvalid},
		{"empty role", "ci", "", core.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, tok, err := f.svc.CreateToken(t.Context(), tt.tok, tt.role)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateToken(%q, %q) = %v, want %v", tt.tok, tt.role, err, tt.want)
			}
			if err == nil && (!strings.HasPrefix(secret, "fop_") || tok.Role != tt.role || tok.ID == 0) {
				t.Errorf("CreateToken(%q, %q) = %q, %+v, want a fop_ secret and a stored token",
					tt.tok, tt.role, secret, tok)
			}
		})
	}
}

func TestRevokeToken(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	secret, ci, err := f.svc.CreateToken(ctx, "ci", core.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}

	f.clock.Add(time.Minute)
	got, err := f.svc.RevokeToken(ctx, ci.ID)
	if err != nil || got.RevokedAt.IsZero() || got.Hash != "" {
		t.Fatalf("RevokeToken(%d) = %+v, %v, want it revoked, without its hash", ci.ID, got, err)
	}
	if _, err := f.svc.AuthenticateOperator(ctx, secret); err == nil ||
		!errors.Is(err, core.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked operator token") {
		t.Errorf("AuthenticateOperator(revoked) = %v, want ErrUnauthorized saying revoked operator token", err)
	}
	if _, err := f.svc.RevokeToken(ctx, ci.ID); !errors.Is(err, core.ErrState) {
		t.Errorf("RevokeToken(%d) twice = %v, want ErrState", ci.ID, err)
	}
	if _, err := f.svc.RevokeToken(ctx, ci.ID+100); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRevokeLastAdmin(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, root, err := f.svc.CreateToken(ctx, "root", core.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	// Publishers and revoked admins do not count as a way back in.
	if _, _, err := f.svc.CreateToken(ctx, "ci", core.RolePublisher); err != nil {
		t.Fatal(err)
	}
	_, old, err := f.svc.CreateToken(ctx, "old", core.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeToken(ctx, old.ID); err != nil {
		t.Fatalf("RevokeToken(old admin) with root left = %v, want nil", err)
	}

	_, err = f.svc.RevokeToken(ctx, root.ID)
	if !errors.Is(err, core.ErrState) || !strings.Contains(err.Error(), "last valid admin token") {
		t.Fatalf("RevokeToken(last admin) = %v, want ErrState naming the last valid admin token", err)
	}

	if _, _, err := f.svc.CreateToken(ctx, "root2", core.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeToken(ctx, root.ID); err != nil {
		t.Errorf("RevokeToken(root) with another admin = %v, want nil", err)
	}
}

func TestTokenLastUse(t *testing.T) {
	f := newFixture(t, core.Config{FlushInterval: time.Hour})
	ctx := t.Context()
	secret, tok, err := f.svc.CreateToken(ctx, "ci", core.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}

	f.clock.Add(time.Minute)
	used := f.clock.Now()
	if _, err := f.svc.AuthenticateOperator(ctx, secret); err != nil {
		t.Fatalf("AuthenticateOperator = %v", err)
	}
	if got := lastUse(t, f, tok.ID); !got.IsZero() {
		t.Errorf("LastUsedAt before Flush = %v, want zero (uses are batched)", got)
	}
	if err := f.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lastUse(t, f, tok.ID); !got.Equal(used) {
		t.Errorf("LastUsedAt after Flush = %v, want %v", got, used)
	}
}

func lastUse(t *testing.T, f *fixture, id int64) time.Time {
	t.Helper()
	ts, err := f.svc.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Hash != "" {
			t.Errorf("Tokens() shows token %d's hash, want none", tk.ID)
		}
		if tk.ID == id {
			return tk.LastUsedAt
		}
	}
	t.Fatalf("Tokens() has no token %d", id)
	return time.Time{}
}

func TestTokenAudit(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := core.WithActor(t.Context(), "alice")
	secret, tok, err := f.svc.CreateToken(ctx, "ci", core.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}

	es, err := f.svc.AuditLog(ctx, core.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		if !strings.HasPrefix(e.Action, "token.") {
			continue // the fixture's product
		}
		if strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, core.HashSecret(secret)) {
			t.Errorf("audit entry %s holds the secret or its hash: %s", e.Action, e.Detail)
		}
		var d map[string]string
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			t.Fatalf("audit detail %s: %v", e.Detail, err)
		}
		got = append(got, e.Actor+" "+e.Action+" "+e.Object+" "+d["name"]+" "+d["role"])
	}
	id := strconv.FormatInt(tok.ID, 10)
	want := []string{"alice token.revoke " + id + " ci publisher", "alice token.create " + id + " ci publisher"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("AuditLog() = %q, want %q", got, want)
	}
}
