package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// finish ends an update in a terminal state, records why, queues the
// outcome's webhook event, and lets its rollout react to the outcome.
func (s *Service) finish(
	ctx context.Context, tx Store, p Product, dev Device, u *Update, st State, reason string, in CheckIn,
	now time.Time,
) error {
	u.State, u.Reason, u.UpdatedAt, u.FinishedAt = st, reason, now, now
	// The device holds the update; over a protocol that tells devices of
	// cancels, it hears of this one until it acknowledges.
	u.CancelPending = st == StateCanceled && traitsOf(in.Protocol).acksCancels
	if err := tx.SaveUpdate(ctx, *u); err != nil {
		return err
	}
	err := tx.AddEvent(ctx, &Event{
		DeviceID: u.DeviceID, UpdateID: u.ID, At: now, Kind: EventDecision, State: st,
		Version: in.Version, Detail: reason, Protocol: in.Protocol,
	})
	if err != nil {
		return err
	}
	return s.outcome(ctx, tx, p, dev, *u, now)
}

// outcome is called when an update succeeded or failed: it queues the
// webhook event and checks the update's rollout against its failure
// threshold, so a bad release stops spreading at the failure that shows it.
func (s *Service) outcome(ctx context.Context, tx Store, p Product, dev Device, u Update, now time.Time) error {
	if u.State != StateSucceeded && u.State != StateFailed {
		return nil
	}
	if err := s.emitUpdate(ctx, tx, p, dev, u, now); err != nil {
		return err
	}
	if u.RolloutID == 0 {
		return nil
	}
	ro, err := tx.Rollout(ctx, u.RolloutID)
	if err != nil || ro.State != RolloutRunning {
		return err
	}
	return s.checkFailures(ctx, tx, &ro, now)
}

// offer creates an update to the release the device should run when it
// does not run it yet, the release's rollout (if any) lets it through, and
// the device has not failed it too often lately. It reports whether the
// device should come back soon: an update or an active rollout concerns it.
func (s *Service) offer(
	ctx context.Context, tx Store, p Product, dev Device, in CheckIn, now time.Time,
) (*Update, *Release, bool, error) {
	t, err := s.desired(ctx, tx, p, dev)
	if notFound(err) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	want := t.release
	if stillRuns(in, dev, want) {
		return nil, nil, t.waiting, nil
	}
	if t.rollout != nil {
		ok, err := s.admit(ctx, tx, *t.rollout, now)
		if err != nil || !ok {
			return nil, nil, true, err
		}
	}

	n, last, err := tx.Failures(ctx, dev.ID, want.ID, now.Add(-s.cfg.CoolDown))
	if err != nil {
		return nil, nil, false, err
	}
	if n >= s.cfg.FailLimit {
		s.log.Debug("offer held back by cool-down", "device_id", dev.Name, "version", want.Version,
			"failures", n, "until", last.Add(s.cfg.CoolDown))
		return nil, nil, false, nil
	}

	u, err := s.createOffer(ctx, tx, dev, t, in.Protocol, now)
	if err != nil {
		return nil, nil, false, err
	}
	return &u, &want, true, nil
}

// admit applies a rollout's brakes to a new offer: no offers while it is
// paused, at most MaxConcurrent devices in flight, at most OffersPerMinute
// offers in any minute. Check-ins run one at a time in a transaction, so
// the counts cannot be overtaken between this check and the offer.
func (s *Service) admit(ctx context.Context, tx Store, ro Rollout, now time.Time) (bool, error) {
	if ro.State != RolloutRunning {
		return false, nil
	}
	if ro.MaxConcurrent == 0 && ro.OffersPerMinute == 0 {
		return true, nil
	}
	open, recent, err := tx.RolloutLoad(ctx, ro.ID, now.Add(-time.Minute))
	if err != nil {
		return false, err
	}
	if ro.MaxConcurrent > 0 && open >= ro.MaxConcurrent {
		return false, nil
	}
	return ro.OffersPerMinute == 0 || recent < ro.OffersPerMinute, nil
}

func (s *Service) createOffer(ctx context.Context, tx Store, dev Device, t target, protocol string, now time.Time,
) (Update, error) {
	u := Update{
		DeviceID: dev.ID, ReleaseID: t.release.ID, Version: t.release.Version, FromVersion: dev.Version,
		State: StateOffered, CreatedAt: now, UpdatedAt: now,
	}
	why := "offered " + t.release.Version + " from channel " + dev.Channel
	switch {
	case dev.PinnedReleaseID != 0:
		why = "offered " + t.release.Version + ": the device is pinned to it"
	case t.rollout != nil:
		u.RolloutID = t.rollout.ID
		why = fmt.Sprintf("offered %s by rollout %d", t.release.Version, t.rollout.ID)
	}
	if t.assign {
		dev.AssignedReleaseID, dev.AssignedRolloutID, dev.AssignedAt = t.release.ID, t.rollout.ID, now
		if err := tx.SaveDevice(ctx, dev); err != nil {
			return Update{}, err
		}
	}
	if err := tx.CreateUpdate(ctx, &u); err != nil {
		return Update{}, err
	}
	err := tx.AddEvent(ctx, &Event{
		DeviceID: dev.ID, UpdateID: u.ID, At: now, Kind: EventOffer, State: StateOffered,
		Version: dev.Version, Detail: why, Protocol: protocol,
	})
	if err != nil {
		return Update{}, err
	}
	s.log.Debug("update offered", "device_id", dev.Name, "version", t.release.Version, "rollout_id", u.RolloutID)
	return u, nil
}

// poll steers when a device checks in next: sooner while something is in
// motion for it, later when idle, spread by jitter so that devices told
// the same interval do not come back in step.
func (s *Service) poll(p Product, dev Device, active bool) time.Duration {
	base := s.cfg.PollInterval
	if p.PollIdle > 0 {
		base = p.PollIdle
	}
	if active {
		base = min(base, s.cfg.PollActive)
		if p.PollActive > 0 {
			base = p.PollActive
		}
	}
	if dev.Poll > 0 {
		base = dev.Poll
	}
	j := s.cfg.PollJitter
	d := time.Duration(float64(base) * (1 - j + 2*j*rand.Float64()))
	return max(d.Round(time.Second), time.Second)
}
