package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// The selector, phases and thresholds are JSON text; durations are INTEGER
// milliseconds; "newest" is the highest ID, as for releases.

const rolloutColumns = `id, product_id, release_id, version, selector, phases, thresholds,
	phase, state, reason, auto_advance, soak, success_rate, max_concurrent, offers_per_minute,
	fail_percent, fail_min_finished, fail_count, created_by, created_at, updated_at,
	phase_started_at, finished_at`

// activeRollout matches running and paused rollouts. It is spelled with
// literals, exactly as the rollouts_one_active index's WHERE clause, because
// SQLite uses a partial index only for a query whose WHERE clause it can see
// implies the index's; a bound parameter hides that.
const activeRollout = `state IN ('` + string(core.RolloutRunning) + `', '` +
	string(core.RolloutPaused) + `')`

// openUpdate matches updates that are not finished, spelled as the
// updates_rollout_open index's WHERE clause for the same reason.
const openUpdate = `state NOT IN ('` + string(core.StateSucceeded) + `', '` +
	string(core.StateFailed) + `', '` + string(core.StateCanceled) + `')`

// CreateRollout implements core.Store. It returns an error wrapping
// ErrNotFound if the product or the release does not exist.
func (s *Store) CreateRollout(ctx context.Context, r *core.Rollout) error {
	op := fmt.Sprintf("create rollout of product %d to release %d", r.ProductID, r.ReleaseID)
	sel, err := json.Marshal(r.Selector)
	if err != nil {
		return fmt.Errorf("%s: encode selector: %w", op, err)
	}
	phases, err := encodeList(r.Phases, "phases")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	thresholds, err := encodeList(r.Thresholds, "thresholds")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}

	// The rollouts_one_active index turns a second active rollout of the
	// product into a unique-constraint error, that is ErrConflict.
	err = s.q.QueryRowContext(ctx, `INSERT INTO rollouts (product_id, release_id, version,
		selector, phases, thresholds, phase, state, reason, auto_advance, soak, success_rate,
		max_concurrent, offers_per_minute, fail_percent, fail_min_finished, fail_count,
		created_by, created_at, updated_at, phase_started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.ProductID, r.ReleaseID, r.Version, string(sel), phases, thresholds, r.Phase, r.State,
		r.Reason, r.AutoAdvance, r.Soak.Milliseconds(), r.SuccessRate, r.MaxConcurrent,
		r.OffersPerMinute, r.FailPercent, r.FailMinFinished, r.FailCount, r.CreatedBy,
		millis(r.CreatedAt), millis(r.UpdatedAt), millis(r.PhaseStartedAt), millis(r.FinishedAt),
	).Scan(&r.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return nil
}

// Rollout implements core.Store.
func (s *Store) Rollout(ctx context.Context, id int64) (core.Rollout, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ?`, id)
	r, err := scanRollout(row)
	if err != nil {
		return core.Rollout{}, wrapErr(err, fmt.Sprintf("rollout %d", id))
	}
	return r, nil
}

// Rollouts implements core.Store. The rollouts_product index serves one
// product's list; the list of all is a scan of the table by ID.
func (s *Store) Rollouts(ctx context.Context, productID int64) ([]core.Rollout, error) {
	op, query := "list rollouts", `SELECT `+rolloutColumns+` FROM rollouts ORDER BY id DESC`
	var args []any
	if productID != 0 {
		op = fmt.Sprintf("list rollouts of product %d", productID)
		query = `SELECT ` + rolloutColumns + ` FROM rollouts WHERE product_id = ? ORDER BY id DESC`
		args = append(args, productID)
	}
	rs, err := list(ctx, s.q, scanRollout, query, args...)
	if err != nil {
		return nil, wrapErr(err, op)
	}
	return rs, nil
}

// ActiveRollout implements core.Store.
func (s *Store) ActiveRollout(ctx context.Context, productID int64) (core.Rollout, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts
		WHERE product_id = ? AND `+activeRollout, productID)
	r, err := scanRollout(row)
	if err != nil {
		return core.Rollout{}, wrapErr(err, fmt.Sprintf("active rollout of product %d", productID))
	}
	return r, nil
}

// ActiveRollouts implements core.Store. Oldest means the lowest ID.
func (s *Store) ActiveRollouts(ctx context.Context) ([]core.Rollout, error) {
	rs, err := list(ctx, s.q, scanRollout, `SELECT `+rolloutColumns+` FROM rollouts
		WHERE `+activeRollout+` ORDER BY id`)
	if err != nil {
		return nil, wrapErr(err, "list active rollouts")
	}
	return rs, nil
}

// SaveRollout implements core.Store. It returns an error wrapping
// ErrConflict if r becomes active while the product has another active
// rollout.
func (s *Store) SaveRollout(ctx context.Context, r core.Rollout) error {
	op := fmt.Sprintf("save rollout %d", r.ID)
	res, err := s.q.ExecContext(ctx, `UPDATE rollouts
		SET phase = ?, state = ?, reason = ?, updated_at = ?, phase_started_at = ?, finished_at = ?
		WHERE id = ?`,
		r.Phase, r.State, r.Reason, millis(r.UpdatedAt), millis(r.PhaseStartedAt),
		millis(r.FinishedAt), r.ID)
	if err != nil {
		return wrapErr(err, op)
	}
	return mustAffect(res, op)
}

// RolloutUpdates implements core.Store. Oldest means created first, ties
// broken by ID, which is the order of the updates_rollout index.
func (s *Store) RolloutUpdates(ctx context.Context, rolloutID int64) ([]core.Update, error) {
	us, err := list(ctx, s.q, scanUpdate, `SELECT `+updateColumns+` FROM updates
		WHERE rollout_id = ? ORDER BY created_at, id`, rolloutID)
	if err != nil {
		return nil, wrapErr(err, fmt.Sprintf("list updates of rollout %d", rolloutID))
	}
	return us, nil
}

// RolloutLoad implements core.Store. An update is open while its state is
// not terminal, as for OpenUpdate; since is compared at millisecond
// precision.
func (s *Store) RolloutLoad(
	ctx context.Context,
	rolloutID int64,
	since time.Time,
) (open, recent int, err error) {
	err = s.q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM updates WHERE rollout_id = ? AND `+openUpdate+`),
		(SELECT COUNT(*) FROM updates WHERE rollout_id = ? AND created_at >= ?)`,
		rolloutID, rolloutID, millis(since)).Scan(&open, &recent)
	if err != nil {
		return 0, 0, wrapErr(err, fmt.Sprintf("load of rollout %d", rolloutID))
	}
	return open, recent, nil
}

func scanRollout(sc scanner) (core.Rollout, error) {
	var r core.Rollout
	var sel, phases, thresholds string
	var soak, created, updated, phaseStarted, finished int64
	err := sc.Scan(&r.ID, &r.ProductID, &r.ReleaseID, &r.Version, &sel, &phases, &thresholds,
		&r.Phase, &r.State, &r.Reason, &r.AutoAdvance, &soak, &r.SuccessRate, &r.MaxConcurrent,
		&r.OffersPerMinute, &r.FailPercent, &r.FailMinFinished, &r.FailCount, &r.CreatedBy,
		&created, &updated, &phaseStarted, &finished)
	if err != nil {
		return core.Rollout{}, err
	}

	r.Soak = fromMS(soak)
	r.CreatedAt = fromMillis(created)
	r.UpdatedAt = fromMillis(updated)
	r.PhaseStartedAt = fromMillis(phaseStarted)
	r.FinishedAt = fromMillis(finished)

	if err := json.Unmarshal([]byte(sel), &r.Selector); err != nil {
		return core.Rollout{}, fmt.Errorf("rollout %d: decode selector: %w", r.ID, err)
	}
	if r.Phases, err = decodeList[core.Phase](phases, "phases"); err != nil {
		return core.Rollout{}, fmt.Errorf("rollout %d: %w", r.ID, err)
	}
	if r.Thresholds, err = decodeList[float64](thresholds, "thresholds"); err != nil {
		return core.Rollout{}, fmt.Errorf("rollout %d: %w", r.ID, err)
	}
	return r, nil
}
