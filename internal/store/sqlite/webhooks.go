package sqlite

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// SetWebhook implements core.Store. It returns an error wrapping
// ErrNotFound if the product does not exist.
func (s *Store) SetWebhook(ctx context.Context, w core.Webhook) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO webhooks (product_id, url, secret, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (product_id) DO UPDATE
		SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at`,
		w.ProductID, w.URL, w.Secret, millis(w.UpdatedAt))
	if err != nil {
		return wrapErr(err, fmt.Sprintf("set webhook of product %d", w.ProductID))
	}
	return nil
}

// Webhook implements core.Store.
func (s *Store) Webhook(ctx context.Context, productID int64) (core.Webhook, error) {
	var w core.Webhook
	var updated int64
	err := s.q.QueryRowContext(ctx, `SELECT product_id, url, secret, updated_at FROM webhooks
		WHERE product_id = ?`, productID).Scan(&w.ProductID, &w.URL, &w.Secret, &updated)
	if err != nil {
		return core.Webhook{}, wrapErr(err, fmt.Sprintf("webhook of product %d", productID))
	}
	w.UpdatedAt = fromMillis(updated)
	return w, nil
}

// DeleteWebhook implements core.Store.
func (s *Store) DeleteWebhook(ctx context.Context, productID int64) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM webhooks WHERE product_id = ?`, productID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("delete webhook of product %d", productID))
	}
	return nil
}
