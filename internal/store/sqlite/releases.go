package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ferry-ota/ferry/internal/core"
)

// "Newest" below means the highest ID: IDs grow in insertion order, which
// unlike CreatedAt cannot tie or go back when the clock does.

// key_id is NULL for unsigned releases (see nullID).
const releaseColumns = `id, product_id, version, size, crc32, md5, sha256, notes, created_at,
	security_counter, manifest, signature, COALESCE(key_id, 0), derived, sha1`

// CreateRelease implements core.Store.
func (s *Store) CreateRelease(ctx context.Context, r *core.Release) error {
	derived, err := encodeDerived(r.Derived)
	if err != nil {
		return fmt.Errorf("create release %q of product %d: %w", r.Version, r.ProductID, err)
	}
	err = s.q.QueryRowContext(ctx, `INSERT INTO releases
		(product_id, version, size, crc32, md5, sha256, notes, created_at,
			security_counter, manifest, signature, key_id, derived, sha1)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.ProductID, r.Version, r.Size, r.CRC32, r.MD5, r.SHA256, r.Notes, millis(r.CreatedAt),
		r.Counter, blob(r.Manifest), blob(r.Signature), nullID(r.KeyID), derived, r.SHA1,
	).Scan(&r.ID)
	if err != nil {
		return wrapErr(err, fmt.Sprintf("create release %q of product %d", r.Version, r.ProductID))
	}
	return nil
}

// Release implements core.Store.
func (s *Store) Release(ctx context.Context, id int64) (core.Release, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE id = ?`, id)
	r, err := scanRelease(row)
	if err != nil {
		return core.Release{}, wrapErr(err, fmt.Sprintf("release %d", id))
	}
	return r, nil
}

// ReleaseByVersion implements core.Store.
func (s *Store) ReleaseByVersion(
	ctx context.Context,
	productID int64,
	version string,
) (core.Release, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases
		WHERE product_id = ? AND version = ?`, productID, version)
	r, err := scanRelease(row)
	if err != nil {
		return core.Release{}, wrapErr(err, fmt.Sprintf("release %q of product %d",
			version, productID))
	}
	return r, nil
}

// ReleaseBySHA256 implements core.Store.
func (s *Store) ReleaseBySHA256(
	ctx context.Context,
	productID int64,
	sha256 string,
) (core.Release, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases
		WHERE product_id = ? AND sha256 = ? ORDER BY id DESC LIMIT 1`, productID, sha256)
	r, err := scanRelease(row)
	if err != nil {
		return core.Release{}, wrapErr(err, fmt.Sprintf("release with sha256 %s of product %d",
			sha256, productID))
	}
	return r, nil
}

// ReleaseByMD5 implements core.Store. Releases have no index on md5: the
// lookup scans one product's releases through its (product_id, version)
// key, a few hundred rows at most, which costs less than keeping an index
// no other query needs.
func (s *Store) ReleaseByMD5(ctx context.Context, productID int64, md5 string) (core.Release, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases
		WHERE product_id = ? AND md5 = ? ORDER BY id DESC LIMIT 1`, productID, md5)
	r, err := scanRelease(row)
	if err != nil {
		return core.Release{}, wrapErr(err, fmt.Sprintf("release with md5 %s of product %d", md5, productID))
	}
	return r, nil
}

// Releases implements core.Store.
func (s *Store) Releases(ctx context.Context, productID int64) ([]core.Release, error) {
	rs, err := list(ctx, s.q, scanRelease, `SELECT `+releaseColumns+` FROM releases
		WHERE product_id = ? ORDER BY id DESC`, productID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list releases of product %d", productID))
	}
	return rs, nil
}

// SetReleaseSHA1 implements core.Store.
func (s *Store) SetReleaseSHA1(ctx context.Context, id int64, sha1 string) error {
	op := fmt.Sprintf("set sha1 of release %d", id)
	res, err := s.q.ExecContext(ctx, `UPDATE releases SET sha1 = ? WHERE id = ?`, sha1, id)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

func scanRelease(sc scanner) (core.Release, error) {
	var r core.Release
	var created int64
	var derived string
	err := sc.Scan(&r.ID, &r.ProductID, &r.Version, &r.Size, &r.CRC32, &r.MD5, &r.SHA256,
		&r.Notes, &created, &r.Counter, &r.Manifest, &r.Signature, &r.KeyID, &derived, &r.SHA1)
	if err != nil {
		return r, err
	}
	r.CreatedAt = fromMillis(created)
	r.Derived, err = decodeDerived(derived)
	return r, err
}

// derivedJSON is one element of releases.derived (see 0005_arduino.sql).
type derivedJSON struct {
	Format string `json:"format"`
	Size   int64  `json:"size"`
	CRC32  uint32 `json:"crc32"`
	MD5    string `json:"md5"`
	SHA256 string `json:"sha256"`
	SHA1   string `json:"sha1,omitempty"`
}

func encodeDerived(ds []core.Derived) (string, error) {
	out := make([]derivedJSON, len(ds))
	for i, d := range ds {
		out[i] = derivedJSON{Format: string(d.Format), Size: d.Size, CRC32: d.CRC32, MD5: d.MD5, SHA256: d.SHA256,
			SHA1: d.SHA1}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode derived files: %w", err)
	}
	return string(b), nil
}

// decodeDerived returns nil for a release without derived files.
func decodeDerived(s string) ([]core.Derived, error) {
	var in []derivedJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode derived files: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]core.Derived, len(in))
	for i, d := range in {
		out[i] = core.Derived{Format: core.Format(d.Format),
			Digests: core.Digests{Size: d.Size, CRC32: d.CRC32, MD5: d.MD5, SHA256: d.SHA256, SHA1: d.SHA1}}
	}
	return out, nil
}
