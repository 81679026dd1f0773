package sqlite

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// Token errors never quote the hash: it is derived from a secret, and
// errors end up in logs.

const tokenColumns = `id, name, role, hash, created_at`

// CreateToken implements core.Store.
func (s *Store) CreateToken(ctx context.Context, t *core.Token) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO tokens (name, role, hash, created_at)
		VALUES (?, ?, ?, ?) RETURNING id`,
		t.Name, t.Role, t.Hash, millis(t.CreatedAt)).Scan(&t.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create token %q", t.Name))
	}
	return nil
}

// TokenByHash implements core.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (core.Token, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash)
	t, err := scanToken(row)
	if err != nil {
		return core.Token{}, wrapErr(err, "token by hash")
	}
	return t, nil
}

func scanToken(sc scanner) (core.Token, error) {
	var t core.Token
	var created int64
	err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created)
	t.CreatedAt = fromMillis(created)
	return t, err
}
