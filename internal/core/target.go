package core

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// target is the release a device should run and why.
type target struct {
	release Release
	// rollout is set when an active rollout decides the target: the device
	// is assigned to it, or newly reached by one of its phases (assign).
	rollout *Rollout
	assign  bool
	// waiting is set when a running rollout selects the device for a
	// phase not reached yet: it should check in sooner.
	waiting bool
}

// desired decides, without side effects, the release a device should run:
// its pin; else its rollout assignment if newer than the channel's last
// move; else the product's running rollout if a reached phase of it selects
// the device; else its channel's release. ErrNotFound when none applies,
// or when that release's security counter is below the device's: a device
// is never sent back to a release it has outgrown, whoever asks.
func (s *Service) desired(ctx context.Context, tx Store, p Product, dev Device) (target, error) {
	t, err := s.decide(ctx, tx, p, dev)
	if err == nil && t.release.Counter < dev.Counter {
		return target{}, fmt.Errorf("%s %s has security counter %d, below the %d device %s runs: %w",
			p.Name, t.release.Version, t.release.Counter, dev.Counter, dev.Name, ErrNotFound)
	}
	return t, err
}

// decide is desired without the security counter's floor.
func (s *Service) decide(ctx context.Context, tx Store, p Product, dev Device) (target, error) {
	if dev.PinnedReleaseID != 0 {
		r, err := tx.Release(ctx, dev.PinnedReleaseID)
		return target{release: r}, err
	}

	ch, chErr := tx.Channel(ctx, p.ID, dev.Channel)
	if chErr != nil && !notFound(chErr) {
		return target{}, chErr
	}
	if dev.AssignedReleaseID != 0 && (chErr != nil || !dev.AssignedAt.Before(ch.UpdatedAt)) {
		t, ok, err := assigned(ctx, tx, dev)
		if err != nil || ok {
			return t, err
		}
	}

	var waiting bool
	ro, err := tx.ActiveRollout(ctx, p.ID)
	switch {
	case err == nil:
		if ro.State == RolloutRunning && !ro.CreatedAt.Before(ch.UpdatedAt) && selects(ro, dev) {
			if phaseOf(ro, dev.Name) <= ro.Phase {
				r, err := tx.Release(ctx, ro.ReleaseID)
				if err != nil {
					return target{}, err
				}
				return target{release: r, rollout: &ro, assign: true}, nil
			}
			waiting = phaseOf(ro, dev.Name) < len(ro.Phases)
		}
	case !notFound(err):
		return target{}, err
	}

	if chErr != nil {
		return target{}, lookupErr(chErr, "no release on channel "+dev.Channel+" of product "+p.Name)
	}
	r, err := tx.Release(ctx, ch.ReleaseID)
	return target{release: r, waiting: waiting}, err
}

// assigned returns the release a rollout assigned the device. The
// assignment of a canceled rollout holds only for a device that runs its
// release (it had installed before the cancel), so that it is not moved
// back; every other device returns to its channel.
func assigned(ctx context.Context, tx Store, dev Device) (target, bool, error) {
	r, err := tx.Release(ctx, dev.AssignedReleaseID)
	if err != nil {
		return target{}, false, err
	}
	t := target{release: r}
	if dev.AssignedRolloutID == 0 {
		return t, true, nil
	}
	ro, err := tx.Rollout(ctx, dev.AssignedRolloutID)
	if err != nil {
		return target{}, false, err
	}
	switch {
	case ro.State.Active():
		t.rollout = &ro
	case ro.State == RolloutCanceled && !sameVersion(dev.Version, r.Version):
		return target{}, false, nil
	}
	return t, true, nil
}

// selects reports whether the rollout's selector picks the device.
func selects(ro Rollout, dev Device) bool {
	if dev.Excluded || dev.PinnedReleaseID != 0 {
		return false
	}
	sel := ro.Selector
	if sel.Channel != "" && dev.Channel != sel.Channel {
		return false
	}
	if len(sel.Devices) > 0 && !slices.Contains(sel.Devices, dev.Name) {
		return false
	}
	for _, tag := range sel.Tags {
		if !hasTag(dev, tag) {
			return false
		}
	}
	return true
}

// hasTag reports whether the device carries tag as an operator tag or, as
// "name=value", a reported attribute.
func hasTag(dev Device, tag string) bool {
	if slices.Contains(dev.Tags, tag) {
		return true
	}
	for k, v := range dev.Attributes {
		if len(tag) == len(k)+1+len(v) && tag == k+"="+v {
			return true
		}
	}
	return false
}

// deviceRank places a device in [0,1) for a rollout by a hash of both, so that a
// device's phase is stable for the rollout's life yet independent between
// rollouts (the same devices are not always first).
func deviceRank(ro Rollout, device string) float64 {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d/%s", ro.ProductID, ro.ReleaseID, ro.CreatedAt.UnixMilli(), device))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// DevicePhase returns the index of the rollout phase a device belongs to,
// whether or not the rollout selects it; len(ro.Phases) if no phase ever
// reaches it (the last phase is below 100%).
func DevicePhase(ro Rollout, device string) int { return phaseOf(ro, device) }

// phaseOf returns the index of the first phase whose threshold the device's
// rank falls under; len(Thresholds) if none (it is never reached).
func phaseOf(ro Rollout, device string) int {
	u := deviceRank(ro, device)
	for i, t := range ro.Thresholds {
		if u < t {
			return i
		}
	}
	return len(ro.Thresholds)
}
