package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// defaultDeliveryLimit is the limit of a delivery listing asked for with a
// limit of zero or less, which the contract leaves open.
const defaultDeliveryLimit = 1000

// An undelivered delivery has delivered_at 0, the zero time.
const deliveryColumns = `id, product_id, event, body, attempts, next_at, delivered_at,
	last_error, created_at`

// AddDelivery implements core.Store. It returns an error wrapping
// ErrNotFound if the product does not exist.
func (s *Store) AddDelivery(ctx context.Context, d *core.Delivery) error {
	// The body column is NOT NULL, and the driver stores a nil slice as NULL.
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	err := s.q.QueryRowContext(ctx, `INSERT INTO deliveries (product_id, event, body, attempts,
		next_at, delivered_at, last_error, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ProductID, d.Event, body, d.Attempts, millis(d.NextAt), millis(d.DeliveredAt),
		d.LastError, millis(d.CreatedAt)).Scan(&d.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("add %s delivery of product %d", d.Event, d.ProductID))
	}
	return nil
}

// DueDeliveries implements core.Store. Oldest means due the longest: the
// earliest NextAt, then the lowest ID, which is the order the deliveries_due
// index keeps, so the query reads only the rows it returns. A limit of zero
// or less means the default of 1000.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]core.Delivery, error) {
	if limit <= 0 {
		limit = defaultDeliveryLimit
	}
	ds, err := list(ctx, s.q, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE delivered_at = 0 AND next_at <= ? ORDER BY next_at, id LIMIT ?`,
		millis(now), limit)
	if err != nil {
		return nil, wrapErr(err, "list due deliveries")
	}
	return ds, nil
}

// SaveDelivery implements core.Store.
func (s *Store) SaveDelivery(ctx context.Context, d core.Delivery) error {
	op := fmt.Sprintf("save delivery %d", d.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE deliveries
		SET attempts = ?, next_at = ?, delivered_at = ?, last_error = ?
		WHERE id = ?`,
		d.Attempts, millis(d.NextAt), millis(d.DeliveredAt), d.LastError, d.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// Deliveries implements core.Store. Newest means the highest ID. A limit of
// zero or less means the default of 1000.
func (s *Store) Deliveries(ctx context.Context, productID int64, limit int) ([]core.Delivery, error) {
	if limit <= 0 {
		limit = defaultDeliveryLimit
	}
	ds, err := list(ctx, s.q, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE product_id = ? ORDER BY id DESC LIMIT ?`, productID, limit)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list deliveries of product %d", productID))
	}
	return ds, nil
}

func scanDelivery(sc scanner) (core.Delivery, error) {
	var d core.Delivery
	var next, delivered, created int64
	err := sc.Scan(&d.ID, &d.ProductID, &d.Event, &d.Body, &d.Attempts, &next, &delivered,
		&d.LastError, &created)
	d.NextAt = fromMillis(next)
	d.DeliveredAt = fromMillis(delivered)
	d.CreatedAt = fromMillis(created)
	return d, err
}
