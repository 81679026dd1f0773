package core

import (
	"context"
	"fmt"
)

// CreateToken creates an operator token and returns its secret, which is
// shown once and stored only as a hash.
func (s *Service) CreateToken(ctx context.Context, name string, role Role) (string, Token, error) {
	secret, hash := newSecret("fop_")
	t := Token{Name: name, Role: role, Hash: hash, CreatedAt: s.now()}
	if err := s.store.CreateToken(ctx, &t); err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", name, err)
	}
	return secret, t, nil
}

// EnsureToken makes sure secret is a valid operator token, registering it if
// it is not. The server uses it for the token it keeps in its data
// directory, so that file stays valid even if the database was replaced.
func (s *Service) EnsureToken(ctx context.Context, secret, name string, role Role) error {
	_, err := s.store.TokenByHash(ctx, HashSecret(secret))
	if !notFound(err) {
		return err
	}
	t := Token{Name: name, Role: role, Hash: HashSecret(secret), CreatedAt: s.now()}
	if err := s.store.CreateToken(ctx, &t); err != nil {
		return fmt.Errorf("register token %s: %w", name, err)
	}
	return nil
}

// AuthenticateOperator returns the token for secret, or ErrUnauthorized.
func (s *Service) AuthenticateOperator(ctx context.Context, secret string) (Token, error) {
	if secret == "" {
		return Token{}, fmt.Errorf("%w: missing operator token: send Authorization: Bearer TOKEN", ErrUnauthorized)
	}
	// The lookup is by hash, so timing reveals nothing about the secret.
	t, err := s.store.TokenByHash(ctx, HashSecret(secret))
	if notFound(err) {
		return Token{}, fmt.Errorf("%w: unknown operator token", ErrUnauthorized)
	}
	return t, err
}
