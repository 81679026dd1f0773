package sqlite

import (
	"context"
	"strings"

	"github.com/ferry-ota/ferry/internal/core"
)

// defaultAuditLimit caps an audit listing whose filter sets no limit.
const defaultAuditLimit = 1000

const auditColumns = `id, at, actor, action, product, object, detail`

// AddAudit implements core.Store.
func (s *Store) AddAudit(ctx context.Context, e *core.AuditEntry) error {
	err := s.q.QueryRowContext(ctx, `INSERT INTO audit (at, actor, action, product, object, detail)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		millis(e.At), e.Actor, e.Action, e.Product, e.Object, e.Detail).Scan(&e.ID)
	if err != nil {
		return wrapErr(err, "add audit entry "+e.Action)
	}
	return nil
}

// Audit implements core.Store. Newest means the latest time, and among
// entries of the same time the highest ID; Since is inclusive and compared
// at millisecond precision. A negative Limit counts as 0, the default. The
// audit_product index serves a product's listing and audit_at all others.
func (s *Store) Audit(ctx context.Context, f core.AuditFilter) ([]core.AuditEntry, error) {
	var where []string
	var args []any
	if f.Product != "" {
		where, args = append(where, "product = ?"), append(args, f.Product)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, millis(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	args = append(args, limit)

	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ?`

	es, err := list(ctx, s.q, scanAudit, query, args...)
	if err != nil {
		return nil, wrapErr(err, "list audit entries")
	}
	return es, nil
}

func scanAudit(sc scanner) (core.AuditEntry, error) {
	var e core.AuditEntry
	var at int64
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Product, &e.Object, &e.Detail)
	e.At = fromMillis(at)
	return e, err
}
