package core

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Token names identify operators in the audit log and in listings.
var tokenNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateTokenName reports whether name can name an operator token.
func ValidateTokenName(name string) error {
	if !tokenNameRe.MatchString(name) {
		return errInvalidf("token name %q: use 1-64 letters, digits, '.', '_' or '-'", truncate(name, 80))
	}
	return nil
}

// rank orders roles by power; an unknown role ranks 0, below every real one.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RolePublisher:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a token of role r may do what needs role need.
// An unknown role on either side allows nothing, so a typo fails closed.
func (r Role) Allows(need Role) bool {
	return r.Valid() && need.Valid() && r.rank() >= need.rank()
}

// Authorize returns an error wrapping ErrForbidden unless t's role allows
// what needs role need; action names what was attempted, for the reason.
func Authorize(t Token, need Role, action string) error {
	if t.Role.Allows(need) {
		return nil
	}
	return fmt.Errorf("%w: %s needs role %s or above; token %q has role %s",
		ErrForbidden, action, need, t.Name, t.Role)
}

// CreateToken creates an operator token and returns its secret, which is
// shown once and stored only as a hash. The audit log records the token's
// ID, name and role, never the secret.
func (s *Service) CreateToken(ctx context.Context, name string, role Role) (string, Token, error) {
	if err := ValidateTokenName(name); err != nil {
		return "", Token{}, err
	}
	if !role.Valid() {
		return "", Token{}, errInvalidf("role %q: want admin, publisher or viewer", truncate(string(role), 40))
	}

	secret, hash := newSecret("fop_")
	t := Token{Name: name, Role: role, Hash: hash}
	err := s.store.Tx(ctx, func(tx Store) error {
		t.CreatedAt = s.now()
		if err := tx.CreateToken(ctx, &t); err != nil {
			return err
		}
		return audit(ctx, tx, t.CreatedAt, "token.create", "", tokenObject(t), tokenDetail(t))
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", name, err)
	}
	return secret, t, nil
}

// EnsureToken makes sure secret is a registered operator token, registering
// it if it is not. The server uses it for the token it keeps in its data
// directory, so that file stays valid even if the database was replaced.
// A token that is registered but revoked stays revoked: revoking it was an
// operator's decision, which a restart must not undo.
func (s *Service) EnsureToken(ctx context.Context, secret, name string, role Role) error {
	_, err := s.store.TokenByHash(ctx, HashSecret(secret))
	if !notFound(err) {
		return err
	}
	t := Token{Name: name, Role: role, Hash: HashSecret(secret)}
	err = s.store.Tx(ctx, func(tx Store) error {
		t.CreatedAt = s.now()
		if err := tx.CreateToken(ctx, &t); err != nil {
			return err
		}
		return audit(ctx, tx, t.CreatedAt, "token.create", "", tokenObject(t), tokenDetail(t))
	})
	if err != nil {
		return fmt.Errorf("register token %s: %w", name, err)
	}
	return nil
}

// Tokens lists every operator token, revoked ones included, oldest first.
// Hashes are left out: nothing that lists tokens needs them.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	ts, err := s.store.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	for i := range ts {
		ts[i].Hash = ""
	}
	return ts, nil
}

// RevokeToken revokes the token with the given ID and returns it, without
// its hash. It returns ErrNotFound for an unknown ID and ErrState for a
// token revoked already, or for the last valid admin token: without one,
// nobody could create tokens again short of editing the database.
func (s *Service) RevokeToken(ctx context.Context, id int64) (Token, error) {
	var t Token
	err := s.store.Tx(ctx, func(tx Store) error {
		ts, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ts, func(x Token) bool { return x.ID == id })
		if i < 0 {
			return fmt.Errorf("no such token: %w", ErrNotFound)
		}
		t = ts[i]
		if err := canRevoke(t, ts); err != nil {
			return err
		}

		t.RevokedAt = s.now()
		if err := tx.RevokeToken(ctx, id, t.RevokedAt); err != nil {
			return err
		}
		return audit(ctx, tx, t.RevokedAt, "token.revoke", "", tokenObject(t), tokenDetail(t))
	})
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %d: %w", id, err)
	}
	t.Hash = ""
	return t, nil
}

// canRevoke says why t, one of all tokens ts, may not be revoked.
func canRevoke(t Token, ts []Token) error {
	if !t.RevokedAt.IsZero() {
		return fmt.Errorf("%w: token %s was revoked already, at %s",
			ErrState, t.Name, t.RevokedAt.Format(time.RFC3339))
	}
	if t.Role != RoleAdmin {
		return nil
	}
	admins := 0
	for _, x := range ts {
		if x.Role == RoleAdmin && x.RevokedAt.IsZero() {
			admins++
		}
	}
	if admins <= 1 {
		return fmt.Errorf("%w: token %s is the last valid admin token, and without one nobody "+
			"could manage tokens; create another admin token first", ErrState, t.Name)
	}
	return nil
}

func tokenObject(t Token) string { return strconv.FormatInt(t.ID, 10) }

// tokenDetail is a token's audit detail. It must never gain the hash or
// the secret.
func tokenDetail(t Token) any {
	return map[string]string{"name": t.Name, "role": string(t.Role)}
}

// AuthenticateOperator returns the valid token for secret, or an error
// wrapping ErrUnauthorized. It records the token's use for the next Flush.
func (s *Service) AuthenticateOperator(ctx context.Context, secret string) (Token, error) {
	if secret == "" {
		return Token{}, fmt.Errorf("%w: missing operator token: send Authorization: Bearer TOKEN", ErrUnauthorized)
	}
	// The lookup is by hash, so its timing says nothing about the secret.
	// The store's match is then confirmed by a constant-time comparison:
	// whether a secret is accepted rests on this line, not on how a
	// store's index or collation compares text.
	t, err := s.store.TokenByHash(ctx, HashSecret(secret))
	if notFound(err) || (err == nil && !secretMatches(secret, t.Hash)) {
		return Token{}, fmt.Errorf("%w: unknown operator token", ErrUnauthorized)
	}
	if err != nil {
		return Token{}, err
	}
	if !t.RevokedAt.IsZero() {
		return Token{}, fmt.Errorf("%w: revoked operator token", ErrUnauthorized)
	}

	s.tokenUsed(t.ID)
	return t, nil
}

// tokenUsed batches a token's last use for Flush, like a device's last
// seen: every operator request authenticates, and none should wait on a
// write for it. A listing may therefore show a use up to one
// FlushInterval late.
func (s *Service) tokenUsed(id int64) {
	now := s.now()
	s.mu.Lock()
	if s.tokenUses == nil {
		s.tokenUses = make(map[int64]time.Time)
	}
	if now.After(s.tokenUses[id]) {
		s.tokenUses[id] = now
	}
	s.mu.Unlock()
}

// flushTokens writes batched token uses. On failure the batch is kept and
// merged into the next one.
func (s *Service) flushTokens(ctx context.Context) error {
	s.mu.Lock()
	batch := s.tokenUses
	s.tokenUses = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.store.TouchTokens(ctx, batch); err != nil {
		s.mu.Lock()
		if s.tokenUses == nil {
			s.tokenUses = make(map[int64]time.Time)
		}
		for id, at := range batch {
			if at.After(s.tokenUses[id]) {
				s.tokenUses[id] = at
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("touch %d tokens: %w", len(batch), err)
	}
	return nil
}
