package sqlite

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// Poll intervals are stored as INTEGER milliseconds, 0 for the default.
const productColumns = `id, name, access, key_hash, created_at, poll_idle, poll_active, require_signature,
	board, loader`

// CreateProduct implements core.Store.
func (s *Store) CreateProduct(ctx context.Context, p *core.Product) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO products
		(name, access, key_hash, created_at, poll_idle, poll_active, require_signature, board, loader)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Access, p.KeyHash, millis(p.CreatedAt),
		p.PollIdle.Milliseconds(), p.PollActive.Milliseconds(), p.RequireSignature,
		p.Board, p.Loader).Scan(&p.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create product %q", p.Name))
	}
	return nil
}

// ProductByName implements core.Store.
func (s *Store) ProductByName(ctx context.Context, name string) (core.Product, error) {
	// Names are unique regardless of case (see 0001), but a lookup
	// matches the exact name: a URL names one product, spelled one way.
	row := s.q.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE name = ? COLLATE BINARY`, name)
	p, err := scanProduct(row)
	if err != nil {
		return core.Product{}, wrapErr(err, fmt.Sprintf("product %q", name))
	}
	return p, nil
}

// Products implements core.Store.
func (s *Store) Products(ctx context.Context) ([]core.Product, error) {
	ps, err := list(ctx, s.q, scanProduct, `SELECT `+productColumns+` FROM products ORDER BY name`)
	if err != nil {
		return nil, wrapErr(err, "list products")
	}
	return ps, nil
}

// SaveProduct implements core.Store. Intervals are kept to the millisecond.
// It writes the poll intervals, the signature rule and the board profile.
func (s *Store) SaveProduct(ctx context.Context, p core.Product) error {
	op := fmt.Sprintf("save product %d", p.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE products SET poll_idle = ?, poll_active = ?,
		require_signature = ?, board = ?, loader = ? WHERE id = ?`,
		p.PollIdle.Milliseconds(), p.PollActive.Milliseconds(), p.RequireSignature, p.Board, p.Loader, p.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

func scanProduct(sc scanner) (core.Product, error) {
	var p core.Product
	var created, idle, active int64
	err := sc.Scan(&p.ID, &p.Name, &p.Access, &p.KeyHash, &created, &idle, &active, &p.RequireSignature,
		&p.Board, &p.Loader)
	p.CreatedAt = fromMillis(created)
	p.PollIdle = fromMS(idle)
	p.PollActive = fromMS(active)
	return p, err
}
