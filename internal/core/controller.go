package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EvaluateRollouts advances and finishes active rollouts whose conditions
// hold. The service runs it every RolloutTick; it is safe to run
// concurrently and on several nodes, as each rollout is evaluated in its
// own transaction from what is stored.
func (s *Service) EvaluateRollouts(ctx context.Context) error {
	ros, err := s.store.ActiveRollouts(ctx)
	if err != nil {
		return fmt.Errorf("list active rollouts: %w", err)
	}
	var errs []error
	for _, ro := range ros {
		var after Rollout
		err := s.store.Tx(ctx, func(tx Store) error {
			var err error
			after, err = s.evaluate(ctx, tx, ro.ID)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("evaluate rollout %d: %w", ro.ID, err))
			continue
		}
		if after.Phase != ro.Phase || after.State != ro.State {
			// A new phase reaches more devices; a finished rollout may
			// have moved their channel.
			s.hub.Wake(ro.ProductID, 0)
		}
	}
	s.kick()
	return errors.Join(errs...)
}

// evaluate advances, pauses or finishes rollout id as its conditions say,
// and returns it as it is afterwards.
func (s *Service) evaluate(ctx context.Context, tx Store, id int64) (Rollout, error) {
	ro, err := tx.Rollout(ctx, id)
	if err != nil || ro.State != RolloutRunning {
		return ro, err
	}
	now := s.now()
	st, err := rolloutStatus(ctx, tx, ro)
	if err != nil {
		return ro, err
	}
	if reason := failureBreach(ro, st.Total.Succeeded, st.Total.Failed); reason != "" {
		return ro, s.pause(ctx, tx, &ro, reason, now)
	}

	last := len(ro.Phases) - 1
	if ro.Phase < last && ro.AutoAdvance && soaked(ro, st.Phases[ro.Phase], now) {
		ro.Phase++
		ro.PhaseStartedAt, ro.UpdatedAt = now, now
		s.log.Info("rollout advanced", "rollout_id", ro.ID, "phase", PhaseLabel(ro.Phases[ro.Phase]))
		return ro, tx.SaveRollout(ctx, ro)
	}
	if ro.Phase == last && st.Total.Selected > 0 && st.Total.Pending == 0 && len(inFlight(st.Total)) == 0 {
		return ro, s.complete(ctx, tx, &ro, st, now)
	}
	return ro, nil
}

// soaked reports whether the current phase has run for the soak time and
// enough of its devices succeeded: SuccessRate of the devices the phase
// selects, not only of those that finished, so devices that have not
// reported yet hold the rollout back rather than slip through.
func soaked(ro Rollout, ph PhaseStatus, now time.Time) bool {
	if now.Sub(ro.PhaseStartedAt) < ro.Soak {
		return false
	}
	if ph.Selected == 0 {
		return true
	}
	return float64(ph.Succeeded) >= ro.SuccessRate*float64(ph.Selected)
}

func inFlight(ph PhaseStatus) map[State]int {
	out := map[State]int{}
	for k, v := range ph.States {
		if !k.Terminal() && v > 0 {
			out[k] = v
		}
	}
	return out
}

// complete finishes a rollout whose every device in scope has an outcome,
// and moves the channel it was selected by to its release, so devices that
// join the channel later get it too.
func (s *Service) complete(ctx context.Context, tx Store, ro *Rollout, st RolloutStatus, now time.Time) error {
	ro.State, ro.UpdatedAt, ro.FinishedAt = RolloutFinished, now, now
	ro.Reason = fmt.Sprintf("all %d devices finished: %d succeeded, %d failed",
		st.Total.Selected, st.Total.Succeeded, st.Total.Failed)
	if err := tx.SaveRollout(ctx, *ro); err != nil {
		return err
	}
	// The channel follows only a rollout that covered it all; one that
	// stopped short (a canary of 10%) leaves the rest of the channel where
	// it was.
	if ch := ro.Selector.Channel; ch != "" && ro.Thresholds[len(ro.Thresholds)-1] >= 1 {
		err := tx.SetChannel(ctx, Channel{ProductID: ro.ProductID, Name: ch, ReleaseID: ro.ReleaseID, UpdatedAt: now})
		if err != nil {
			return err
		}
	}
	s.log.Info("rollout finished", "rollout_id", ro.ID, "reason", ro.Reason)
	return s.emitRollout(ctx, tx, *ro, "rollout.finished", now)
}
