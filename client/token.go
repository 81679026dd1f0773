package client

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Roles an operator token can have, from the most to the least powerful.
const (
	RoleAdmin     = "admin"
	RolePublisher = "publisher"
	RoleViewer    = "viewer"
)

// Token is an operator token. Secret is set only in the answer to
// CreateToken: the server keeps a hash and never shows the secret again.
// LastUsedAt is zero if the token was never used, and may lag a use by a
// few seconds; RevokedAt is zero while the token is valid.
type Token struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Secret     string    `json:"token,omitempty"`
}

// CreateToken creates an operator token with a role (RoleAdmin,
// RolePublisher or RoleViewer) and returns it with its secret. It needs an
// admin token.
func (o *Operator) CreateToken(ctx context.Context, name, role string) (Token, error) {
	var t Token
	in := map[string]string{"name": name, "role": role}
	err := o.c.doJSON(ctx, http.MethodPost, "/api/v1/tokens", nil, in, &t)
	return t, err
}

// Tokens lists every operator token, revoked ones included, oldest first,
// without secrets.
func (o *Operator) Tokens(ctx context.Context) ([]Token, error) {
	var v struct {
		Tokens []Token `json:"tokens"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &v)
	return v.Tokens, err
}

// RevokeToken revokes an operator token for good. The server answers 409
// (as an *Error) when the token is revoked already or is the last valid
// admin token, and 404 when there is no such token.
func (o *Operator) RevokeToken(ctx context.Context, id int64) error {
	path := "/api/v1/tokens/" + strconv.FormatInt(id, 10)
	return o.c.doJSON(ctx, http.MethodDelete, path, nil, nil, nil)
}
