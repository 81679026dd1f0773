package sqlite

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// A channel's release_id is NULL while it points at no release (ReleaseID 0).
const channelColumns = `product_id, name, COALESCE(release_id, 0), updated_at`

// SetChannel implements core.Store. It returns an error wrapping
// ErrNotFound if the product or the release does not exist.
func (s *Store) SetChannel(ctx context.Context, c core.Channel) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO channels (product_id, name, release_id, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (product_id, name) DO UPDATE
		SET release_id = excluded.release_id, updated_at = excluded.updated_at`,
		c.ProductID, c.Name, nullID(c.ReleaseID), millis(c.UpdatedAt))
	if err != nil {
		return wrapErr(err, fmt.Sprintf("set channel %q of product %d", c.Name, c.ProductID))
	}
	return nil
}

// Channel implements core.Store.
func (s *Store) Channel(ctx context.Context, productID int64, name string) (core.Channel, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels
		WHERE product_id = ? AND name = ?`, productID, name)
	c, err := scanChannel(row)
	if err != nil {
		return core.Channel{}, wrapErr(err, fmt.Sprintf("channel %q of product %d", name, productID))
	}
	return c, nil
}

// Channels implements core.Store.
func (s *Store) Channels(ctx context.Context, productID int64) ([]core.Channel, error) {
	cs, err := list(ctx, s.q, scanChannel, `SELECT `+channelColumns+` FROM channels
		WHERE product_id = ? ORDER BY name`, productID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list channels of product %d", productID))
	}
	return cs, nil
}

func scanChannel(sc scanner) (core.Channel, error) {
	var c core.Channel
	var updated int64
	err := sc.Scan(&c.ProductID, &c.Name, &c.ReleaseID, &updated)
	c.UpdatedAt = fromMillis(updated)
	return c, err
}
