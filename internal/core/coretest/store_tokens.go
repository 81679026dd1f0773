package coretest

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func mkToken(t testing.TB, s core.Store, name string, role core.Role, hash string) core.Token {
	t.Helper()
	tok := core.Token{Name: name, Role: role, Hash: fakeSHA256(hash), CreatedAt: at(0)}
	if err := s.CreateToken(t.Context(), &tok); err != nil {
		t.Fatalf("CreateToken(%q) = %v, want nil", name, err)
	}
	return tok
}

func normTokens(ts []core.Token) []core.Token { return normAll(ts, normToken) }

func testListTokens(t *testing.T, s core.Store) {
	got, err := s.ListTokens(t.Context())
	if err != nil || len(got) != 0 {
		t.Errorf("ListTokens() on an empty store = %+v, %v, want [], nil", got, err)
	}

	// Times set at creation come back, and the order is by ID, not name.
	b := mkToken(t, s, "b", core.RoleViewer, "b")
	a := core.Token{Name: "a", Role: core.RoleAdmin, Hash: fakeSHA256("a"), CreatedAt: at(1),
		RevokedAt: at(2), LastUsedAt: at(3)}
	if err := s.CreateToken(t.Context(), &a); err != nil {
		t.Fatalf("CreateToken(%q) = %v, want nil", a.Name, err)
	}
	got, err = s.ListTokens(t.Context())
	want := []core.Token{b, a}
	if err != nil || !same(got, want, normTokens) {
		t.Errorf("ListTokens() = %+v, %v, want %+v, nil", got, err, want)
	}
}

func testRevokeToken(t *testing.T, s core.Store) {
	ctx := t.Context()
	tok := mkToken(t, s, "ci", core.RolePublisher, "c")
	other := mkToken(t, s, "other", core.RoleViewer, "d")

	if err := s.RevokeToken(ctx, tok.ID, at(5)); err != nil {
		t.Fatalf("RevokeToken(%d) = %v, want nil", tok.ID, err)
	}
	// A second revocation is found, but keeps the first time.
	if err := s.RevokeToken(ctx, tok.ID, at(9)); err != nil {
		t.Errorf("RevokeToken(%d) again = %v, want nil", tok.ID, err)
	}
	tok.RevokedAt = at(5)
	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil || !same(got, tok, normToken) {
		t.Errorf("TokenByHash after revoking = %+v, %v, want %+v, nil", got, err, tok)
	}
	got, err = s.TokenByHash(ctx, other.Hash)
	if err != nil || !same(got, other, normToken) {
		t.Errorf("TokenByHash(other) after revoking ci = %+v, %v, want %+v untouched", got, err, other)
	}

	if err := s.RevokeToken(ctx, other.ID+1000, at(5)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) = %v, want %v", err, core.ErrNotFound)
	}
}

func testTouchTokens(t *testing.T, s core.Store) {
	ctx := t.Context()
	a := mkToken(t, s, "a", core.RoleAdmin, "a")
	b := mkToken(t, s, "b", core.RoleViewer, "b")

	if err := s.TouchTokens(ctx, map[int64]time.Time{a.ID: at(5), b.ID + 1000: at(5)}); err != nil {
		t.Fatalf("TouchTokens = %v, want nil (unknown IDs are ignored)", err)
	}
	// An older time never moves the last use back.
	if err := s.TouchTokens(ctx, map[int64]time.Time{a.ID: at(3), b.ID: at(4)}); err != nil {
		t.Fatalf("TouchTokens = %v, want nil", err)
	}
	if err := s.TouchTokens(ctx, nil); err != nil {
		t.Errorf("TouchTokens(nil) = %v, want nil", err)
	}

	a.LastUsedAt, b.LastUsedAt = at(5), at(4)
	got, err := s.ListTokens(ctx)
	want := []core.Token{a, b}
	if err != nil || !same(got, want, normTokens) {
		t.Errorf("ListTokens after touches = %+v, %v, want %+v, nil", got, err, want)
	}
}
