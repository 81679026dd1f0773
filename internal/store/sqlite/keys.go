package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

const keyColumns = `id, product_id, name, alg, public_key, created_at, revoked_at`

// CreateProductKey implements core.Store.
func (s *Store) CreateProductKey(ctx context.Context, k *core.ProductKey) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO product_keys
		(product_id, name, alg, public_key, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		k.ProductID, k.Name, k.Alg, blob(k.PublicKey), millis(k.CreatedAt), millis(k.RevokedAt),
	).Scan(&k.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create key %q of product %d", k.Name, k.ProductID))
	}
	return nil
}

// ProductKeys implements core.Store.
func (s *Store) ProductKeys(ctx context.Context, productID int64) ([]core.ProductKey, error) {
	ks, err := list(ctx, s.q, scanKey, `SELECT `+keyColumns+` FROM product_keys
		WHERE product_id = ? ORDER BY id`, productID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list keys of product %d", productID))
	}
	return ks, nil
}

// RevokeProductKey implements core.Store. A revoked key keeps the time it
// was first revoked.
func (s *Store) RevokeProductKey(ctx context.Context, productID int64, name string, at time.Time) error {
	op := fmt.Sprintf("revoke key %q of product %d", name, productID)
	res, err := s.q.ExecContext(ctx, `UPDATE product_keys
		SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END
		WHERE product_id = ? AND name = ?`, millis(at), productID, name)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// MaxCounter implements core.Store.
func (s *Store) MaxCounter(ctx context.Context, productID int64) (int64, error) {
	var n int64
	err := s.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(security_counter), 0) FROM releases
		WHERE product_id = ?`, productID).Scan(&n)
	if err != nil {
		return 0, wrapErr(err, fmt.Sprintf("highest counter of product %d", productID))
	}
	return n, nil
}

func scanKey(sc scanner) (core.ProductKey, error) {
	var k core.ProductKey
	var created, revoked int64
	err := sc.Scan(&k.ID, &k.ProductID, &k.Name, &k.Alg, &k.PublicKey, &created, &revoked)
	k.CreatedAt, k.RevokedAt = fromMillis(created), fromMillis(revoked)
	return k, err
}

// blob stores nil as an empty BLOB: the columns are NOT NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
