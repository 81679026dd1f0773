package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Credential errors never quote the hash: it is derived from a secret, and
// errors end up in logs.

// CreateDeviceCredential implements core.Store.
func (s *Store) CreateDeviceCredential(ctx context.Context, c *core.DeviceCredential) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO device_credentials
		(device_id, kind, secret_hash, public_key, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)
		RETURNING id`,
		c.DeviceID, c.Kind, c.SecretHash, blob(c.PublicKey), millis(c.CreatedAt), millis(c.RevokedAt)).Scan(&c.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create %s credential of device %d", c.Kind, c.DeviceID))
	}
	return nil
}

// DeviceCredentialByHash implements core.Store.
func (s *Store) DeviceCredentialByHash(ctx context.Context, hash string) (core.DeviceCredential, error) {
	var c core.DeviceCredential
	var created, revoked int64
	err := s.q.QueryRowContext(ctx, `SELECT c.id, c.device_id, d.product_id, d.name, c.kind,
		c.secret_hash, c.created_at, c.revoked_at
		FROM device_credentials c JOIN devices d ON d.id = c.device_id
		WHERE c.secret_hash = ? AND c.secret_hash != ''`, hash).
		Scan(&c.ID, &c.DeviceID, &c.ProductID, &c.DeviceName, &c.Kind, &c.SecretHash, &created, &revoked)
	if err != nil {
		return core.DeviceCredential{}, wrapErr(err, "device credential by hash")
	}
	c.CreatedAt = fromMillis(created)
	c.RevokedAt = fromMillis(revoked)
	return c, nil
}

// RevokeDeviceCredentials implements core.Store.
func (s *Store) RevokeDeviceCredentials(ctx context.Context, deviceID int64, kind string, at time.Time) (int, error) {
	op := fmt.Sprintf("revoke credentials of device %d", deviceID)
	res, err := s.q.ExecContext(ctx, `UPDATE device_credentials SET revoked_at = ?
		WHERE device_id = ? AND revoked_at = 0 AND (? = '' OR kind = ?)`, millis(at), deviceID, kind, kind)
	if err != nil {
		return 0, wrapErr(err, op)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return int(n), nil
}

// DeviceKeys implements core.Store.
func (s *Store) DeviceKeys(ctx context.Context, productID int64, name string) ([]core.DeviceCredential, error) {
	op := fmt.Sprintf("keys of device %s of product %d", name, productID)
	rows, err := s.q.QueryContext(ctx, `SELECT c.id, c.device_id, d.product_id, d.name, c.kind,
		c.public_key, c.created_at
		FROM device_credentials c JOIN devices d ON d.id = c.device_id
		WHERE d.product_id = ? AND d.name = ? AND c.kind = ? AND c.revoked_at = 0
		ORDER BY c.id`, productID, name, core.CredentialP256)
	if err != nil {
		return nil, wrapErr(err, op)
	}
	defer rows.Close()
	var out []core.DeviceCredential
	for rows.Next() {
		var c core.DeviceCredential
		var created int64
		if err := rows.Scan(&c.ID, &c.DeviceID, &c.ProductID, &c.DeviceName, &c.Kind, &c.PublicKey,
			&created); err != nil {
			return nil, wrapErr(err, op)
		}
		c.CreatedAt = fromMillis(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, op)
	}
	return out, nil
}
