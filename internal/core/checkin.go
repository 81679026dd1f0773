package core

import (
	"context"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/internal/version"
)

// Bounds on what a device may send in one check-in.
const (
	MaxAttributes   = 32
	MaxAttrKeyLen   = 64
	MaxAttrValueLen = 256
)

// CheckIn is what a device says when it asks what to do.
type CheckIn struct {
	Device string
	// Version is what the device runs now; empty when it did not say, and
	// then the last version it reported is assumed.
	Version     string
	ImageSHA256 string
	// Attributes, when not nil, replace those the device reported before.
	Attributes map[string]string
	Protocol   string
}

// Decision is the core's answer to a check-in.
type Decision struct {
	Device Device
	// Update is the update the device should work on, and Release its
	// target; both nil when there is nothing to do.
	Update  *Update
	Release *Release
	// Poll is when the device should check in again.
	Poll time.Duration
}

// Want returns the version the device should run: the offered release's, or
// the one it runs. Empty only if neither is known.
func (d Decision) Want() string {
	if d.Release != nil {
		return d.Release.Version
	}
	return d.Device.Version
}

func validateCheckIn(in CheckIn) error {
	if err := ValidateDeviceID(in.Device); err != nil {
		return err
	}
	if in.Version != "" {
		if err := ValidateVersion(in.Version); err != nil {
			return err
		}
	}
	if in.ImageSHA256 != "" {
		if err := ValidateSHA256(in.ImageSHA256); err != nil {
			return err
		}
	}
	if len(in.Attributes) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d allowed", ErrInvalid, len(in.Attributes), MaxAttributes)
	}
	for k, v := range in.Attributes {
		if k == "" || len(k) > MaxAttrKeyLen || !utf8.ValidString(k) {
			return fmt.Errorf("%w: attribute name %q: want 1-%d bytes of UTF-8",
				ErrInvalid, truncate(k, 40), MaxAttrKeyLen)
		}
		if len(v) > MaxAttrValueLen || !utf8.ValidString(v) {
			return fmt.Errorf("%w: attribute %q: value longer than %d bytes or not UTF-8",
				ErrInvalid, k, MaxAttrValueLen)
		}
	}
	return nil
}

// CheckIn records a device's check-in and decides what it should do: finish
// an update whose outcome the reported version proves, keep or replace the
// open update, or offer the release of the device's channel.
func (s *Service) CheckIn(ctx context.Context, p Product, in CheckIn) (Decision, error) {
	if err := validateCheckIn(in); err != nil {
		return Decision{}, err
	}
	now := s.now()
	var dec Decision
	err := s.store.Tx(ctx, func(tx Store) error {
		var err error
		dec, err = s.checkIn(ctx, tx, p, in, now)
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("check-in of %s/%s: %w", p.Name, in.Device, err)
	}
	s.touch(dec.Device.ID, now, 0)
	dec.Poll = s.cfg.PollInterval
	return dec, nil
}

func (s *Service) checkIn(ctx context.Context, tx Store, p Product, in CheckIn, now time.Time) (Decision, error) {
	dev, err := s.recordDevice(ctx, tx, p, in, now)
	if err != nil {
		return Decision{}, err
	}
	dec := Decision{Device: dev}

	open, err := tx.OpenUpdate(ctx, dev.ID)
	switch {
	case err == nil:
		if err := s.judgeOpen(ctx, tx, p, dev, &open, in, now); err != nil {
			return Decision{}, err
		}
		switch open.State {
		case StateFailed:
			// Answer "nothing to do" once, so the failure is what the
			// operator sees; the next check-in may offer the release again.
			return dec, nil
		case StateSucceeded, StateCanceled:
		default:
			r, err := tx.Release(ctx, open.ReleaseID)
			if err != nil {
				return Decision{}, err
			}
			dec.Update, dec.Release = &open, &r
			return dec, nil
		}
	case !notFound(err):
		return Decision{}, err
	}

	u, r, err := s.offer(ctx, tx, p, dev, in.Protocol, now)
	if err != nil {
		return Decision{}, err
	}
	dec.Update, dec.Release = u, r
	return dec, nil
}

// recordDevice creates the device on its first check-in, or stores what
// changed. A check-in that changes nothing writes nothing here; its last
// seen time is batched.
func (s *Service) recordDevice(ctx context.Context, tx Store, p Product, in CheckIn, now time.Time) (Device, error) {
	dev, err := tx.Device(ctx, p.ID, in.Device)
	if notFound(err) {
		dev = Device{
			ProductID: p.ID, Name: in.Device, Channel: DefaultChannel, Version: in.Version,
			ImageSHA256: in.ImageSHA256, Attributes: in.Attributes, FirstSeen: now, LastSeen: now,
		}
		if err := tx.CreateDevice(ctx, &dev); err != nil {
			return Device{}, err
		}
		s.log.Info("device registered", "product", p.Name, "device_id", dev.Name, "version", dev.Version)
		return dev, tx.AddEvent(ctx, &Event{
			DeviceID: dev.ID, At: now, Kind: EventCheckIn, Version: in.Version,
			Detail: "first check-in", Protocol: in.Protocol,
		})
	}
	if err != nil {
		return Device{}, err
	}

	changed := false
	if in.Version != "" && in.Version != dev.Version {
		if err := tx.AddEvent(ctx, &Event{
			DeviceID: dev.ID, At: now, Kind: EventCheckIn, Version: in.Version,
			Detail: fmt.Sprintf("version changed from %q", dev.Version), Protocol: in.Protocol,
		}); err != nil {
			return Device{}, err
		}
		dev.Version, changed = in.Version, true
	}
	if in.ImageSHA256 != "" && in.ImageSHA256 != dev.ImageSHA256 {
		dev.ImageSHA256, changed = in.ImageSHA256, true
	}
	if in.Attributes != nil && !maps.Equal(in.Attributes, dev.Attributes) {
		dev.Attributes, changed = in.Attributes, true
	}
	if changed {
		dev.LastSeen = now
		if err := tx.SaveDevice(ctx, dev); err != nil {
			return Device{}, err
		}
	}
	return dev, nil
}

// runs reports whether a check-in proves the device runs release r.
func runs(in CheckIn, r Release) bool {
	return sameVersion(in.Version, r.Version) || (in.ImageSHA256 != "" && in.ImageSHA256 == r.SHA256)
}

// sameVersion reports whether a device's version names the release
// version v. Versions compare as semver does, so "v1.3.0", "1.3.0" and
// "1.3" are one version: a sketch's compiled-in string need not match the
// publisher's spelling.
func sameVersion(device, v string) bool {
	if device == "" {
		return false
	}
	if device == v {
		return true
	}
	a, errA := version.Parse(device)
	b, errB := version.Parse(v)
	return errA == nil && errB == nil && version.Compare(a, b) == 0
}

// judgeOpen applies the truth rules to the device's open update. It
// finishes the update when the check-in proves success or a roll-back, and
// cancels it when the channel has moved on and the device has not started
// installing; otherwise u stays open.
func (s *Service) judgeOpen(
	ctx context.Context, tx Store, p Product, dev Device, u *Update, in CheckIn, now time.Time,
) error {
	target, err := tx.Release(ctx, u.ReleaseID)
	if err != nil {
		return err
	}
	switch {
	case runs(in, target):
		s.log.Info("update succeeded", "product", p.Name, "device_id", dev.Name, "version", target.Version)
		return s.finish(ctx, tx, u, StateSucceeded, "device checked in running "+target.Version, in, now)
	case in.Version != "" && installStarted(u.State):
		reason := fmt.Sprintf("rolled back: device checked in running %s after installing %s",
			in.Version, target.Version)
		if u.FromVersion != "" && in.Version != u.FromVersion {
			reason = fmt.Sprintf("device checked in running %s, not %s, after installing", in.Version, target.Version)
		}
		s.log.Warn("update failed", "product", p.Name, "device_id", dev.Name, "version", target.Version,
			"reason", reason)
		return s.finish(ctx, tx, u, StateFailed, reason, in, now)
	case installStarted(u.State):
		return nil
	}

	want, err := channelRelease(ctx, tx, p, dev.Channel)
	if err != nil && !notFound(err) {
		return err
	}
	if err == nil && want.ID != u.ReleaseID {
		reason := fmt.Sprintf("superseded: channel %s now points to %s", dev.Channel, want.Version)
		return s.finish(ctx, tx, u, StateCanceled, reason, in, now)
	}
	return nil
}

// finish ends an update in a terminal state and records why.
func (s *Service) finish(
	ctx context.Context, tx Store, u *Update, st State, reason string, in CheckIn, now time.Time,
) error {
	u.State, u.Reason, u.UpdatedAt, u.FinishedAt = st, reason, now, now
	if err := tx.SaveUpdate(ctx, *u); err != nil {
		return err
	}
	return tx.AddEvent(ctx, &Event{
		DeviceID: u.DeviceID, UpdateID: u.ID, At: now, Kind: EventDecision, State: st,
		Version: in.Version, Detail: reason, Protocol: in.Protocol,
	})
}

// offer creates an update to the device's channel release when the device
// does not run it and has not failed it too often lately.
func (s *Service) offer(
	ctx context.Context, tx Store, p Product, dev Device, protocol string, now time.Time,
) (*Update, *Release, error) {
	want, err := channelRelease(ctx, tx, p, dev.Channel)
	if notFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if sameVersion(dev.Version, want.Version) || (dev.ImageSHA256 != "" && dev.ImageSHA256 == want.SHA256) {
		return nil, nil, nil
	}

	n, last, err := tx.Failures(ctx, dev.ID, want.ID, now.Add(-s.cfg.CoolDown))
	if err != nil {
		return nil, nil, err
	}
	if n >= s.cfg.FailLimit {
		s.log.Debug("offer held back by cool-down", "device_id", dev.Name, "version", want.Version,
			"failures", n, "until", last.Add(s.cfg.CoolDown))
		return nil, nil, nil
	}

	u := Update{
		DeviceID: dev.ID, ReleaseID: want.ID, Version: want.Version, FromVersion: dev.Version,
		State: StateOffered, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.CreateUpdate(ctx, &u); err != nil {
		return nil, nil, err
	}
	err = tx.AddEvent(ctx, &Event{
		DeviceID: dev.ID, UpdateID: u.ID, At: now, Kind: EventOffer, State: StateOffered,
		Version: dev.Version, Detail: "offered " + want.Version + " from channel " + dev.Channel,
		Protocol: protocol,
	})
	if err != nil {
		return nil, nil, err
	}
	s.log.Debug("update offered", "device_id", dev.Name, "version", want.Version)
	return &u, &want, nil
}
