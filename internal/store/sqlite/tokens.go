package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Token errors never quote the hash: it is derived from a secret, and
// errors end up in logs.

const tokenColumns = `id, name, role, hash, created_at, revoked_at, last_used_at`

// CreateToken implements core.Store.
func (s *Store) CreateToken(ctx context.Context, t *core.Token) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO tokens (name, role, hash, created_at, revoked_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		t.Name, t.Role, t.Hash, millis(t.CreatedAt), millis(t.RevokedAt), millis(t.LastUsedAt)).Scan(&t.ID)
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

// ListTokens implements core.Store.
func (s *Store) ListTokens(ctx context.Context) ([]core.Token, error) {
	ts, err := list(ctx, s.q, scanToken, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, wrapErr(err, "list tokens")
	}
	return ts, nil
}

// RevokeToken implements core.Store. The UPDATE matches a revoked token
// too, so that it counts as found, but leaves its time as it was.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("revoke token %d", id)
	res, err := s.q.ExecContext(ctx, `UPDATE tokens
		SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END
		WHERE id = ?`, millis(at), id)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// TouchTokens implements core.Store, in one transaction.
func (s *Store) TouchTokens(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.tx(ctx, func(ts *Store) error {
		for id, at := range used {
			_, err := ts.q.ExecContext(ctx, `UPDATE tokens SET last_used_at = MAX(last_used_at, ?)
				WHERE id = ?`, millis(at), id)
			if err != nil {
				return wrapErr(err, fmt.Sprintf("touch token %d", id))
			}
		}
		return nil
	})
}

func scanToken(sc scanner) (core.Token, error) {
	var t core.Token
	var created, revoked, used int64
	err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked, &used)
	t.CreatedAt = fromMillis(created)
	t.RevokedAt = fromMillis(revoked)
	t.LastUsedAt = fromMillis(used)
	return t, err
}
