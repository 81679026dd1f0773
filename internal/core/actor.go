package core

import (
	"context"
	"encoding/json"
	"time"
)

type actorKey struct{}

// WithActor returns a context that attributes the operator actions done
// with it to actor (an operator token's name) in the audit log.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns who acts in ctx; "system" when no operator does.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// audit records an operator action in tx, so that the entry exists if and
// only if the action happened. detail is encoded as JSON; it must never
// hold a secret.
func audit(ctx context.Context, tx Store, now time.Time, action, product, object string, detail any) error {
	e := AuditEntry{At: now, Actor: Actor(ctx), Action: action, Product: product, Object: object}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		e.Detail = string(b)
	}
	return tx.AddAudit(ctx, &e)
}

// AuditLog lists audit entries, newest first.
func (s *Service) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit < 0 || f.Limit > 10000 {
		return nil, errInvalidf("limit %d: want 1-10000", f.Limit)
	}
	return s.store.Audit(ctx, f)
}
