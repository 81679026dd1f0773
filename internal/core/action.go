package core

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// DeviceUpdate returns update id of product p's device name, with its
// release. It is ErrNotFound when the device or the update does not
// exist, and when the update is another device's, so that a device learns
// nothing about others' updates.
func (s *Service) DeviceUpdate(ctx context.Context, p Product, name string, id int64) (Update, Release, error) {
	if err := ValidateDeviceID(name); err != nil {
		return Update{}, Release{}, err
	}
	dev, err := s.store.Device(ctx, p.ID, name)
	if err != nil {
		return Update{}, Release{}, lookupErr(err, "product "+p.Name+" has no device "+name)
	}
	u, err := s.store.Update(ctx, id)
	if notFound(err) || (err == nil && u.DeviceID != dev.ID) {
		return Update{}, Release{}, fmt.Errorf("device %s has no update %d: %w", name, id, ErrNotFound)
	}
	if err != nil {
		return Update{}, Release{}, err
	}
	r, err := s.store.Release(ctx, u.ReleaseID)
	if err != nil {
		return Update{}, Release{}, err
	}
	return u, r, nil
}

// DeviceRelease returns the release id for product p's device name to
// download: the target of its open update, or the release of the update
// that installed what it runs. Any other release is ErrNotFound, so that a
// device fetches only what it was given.
func (s *Service) DeviceRelease(ctx context.Context, p Product, name string, id int64) (Release, Device, error) {
	if err := ValidateDeviceID(name); err != nil {
		return Release{}, Device{}, err
	}
	dev, err := s.store.Device(ctx, p.ID, name)
	if err != nil {
		return Release{}, Device{}, lookupErr(err, "product "+p.Name+" has no device "+name)
	}
	us, err := s.store.Updates(ctx, dev.ID)
	if err != nil {
		return Release{}, Device{}, err
	}
	for _, u := range us {
		if u.ReleaseID != id {
			continue
		}
		if !u.State.Terminal() || (u.State == StateSucceeded && sameVersion(dev.Version, u.Version)) {
			r, err := s.store.Release(ctx, id)
			return r, dev, err
		}
	}
	return Release{}, Device{}, fmt.Errorf("release %d is not one device %s was given: %w", id, name, ErrNotFound)
}

// CancelAnswer is a device's answer to the cancel of an update.
type CancelAnswer struct {
	Device   string
	UpdateID int64
	// Accepted is whether the device stopped working on the update.
	Accepted bool
	// Final is whether the answer ends the exchange: an acceptance or a
	// refusal, rather than word that the device is still at it.
	Final    bool
	Detail   string
	Protocol string
}

// AnswerCancel records a device's answer to the server's cancel of one of
// its updates in the history. A final answer, accepted or not, stops the
// cancel from being pending: the device has heard it. Repeating the last
// answer records nothing. It is ErrNotFound when the update is not the
// device's, ErrState when the update is not canceled.
func (s *Service) AnswerCancel(ctx context.Context, p Product, in CancelAnswer) (Update, error) {
	if err := ValidateDeviceID(in.Device); err != nil {
		return Update{}, err
	}
	if len(in.Detail) > MaxDetailLen {
		return Update{}, fmt.Errorf("%w: detail longer than %d bytes", ErrInvalid, MaxDetailLen)
	}
	var u Update
	var devID int64
	var now time.Time
	err := s.store.Tx(ctx, func(tx Store) error {
		now = s.now()
		dev, err := tx.Device(ctx, p.ID, in.Device)
		if err != nil {
			return lookupErr(err, "unknown device "+in.Device+": check in first")
		}
		devID = dev.ID
		if u, err = reportTarget(ctx, tx, dev, in.UpdateID); err != nil {
			return err
		}
		if u.State != StateCanceled {
			return fmt.Errorf("%w: update %d is %s, not canceled", ErrState, u.ID, u.State)
		}
		return s.recordCancelAnswer(ctx, tx, &u, in, now)
	})
	if err != nil {
		return Update{}, fmt.Errorf("cancel answer of %s/%s: %w", p.Name, in.Device, err)
	}
	s.touch(devID, now, 0)
	return u, nil
}

func (s *Service) recordCancelAnswer(ctx context.Context, tx Store, u *Update, in CancelAnswer, now time.Time) error {
	detail := "cancel in progress"
	switch {
	case in.Final && in.Accepted:
		detail = "cancel acknowledged"
	case in.Final:
		detail = "cancel refused"
	}
	if in.Detail != "" {
		detail += ": " + in.Detail
	}
	detail = truncate(detail, MaxDetailLen)

	last, err := tx.LastEvent(ctx, u.ID)
	if err != nil && !notFound(err) {
		return err
	}
	if err != nil || last.Kind != EventReport || last.State != StateCanceled || last.Detail != detail {
		err := tx.AddEvent(ctx, &Event{
			DeviceID: u.DeviceID, UpdateID: u.ID, At: now, Kind: EventReport, State: StateCanceled,
			Detail: detail, Protocol: in.Protocol,
		})
		if err != nil {
			return err
		}
	}
	if !in.Final || !u.CancelPending {
		return nil
	}
	u.CancelPending, u.UpdatedAt = false, now
	return tx.SaveUpdate(ctx, *u)
}

// Attribute modes say how reported attributes combine with those stored.
const (
	AttrMerge   = "merge"   // add the reported ones, replacing equal names
	AttrReplace = "replace" // keep only the reported ones
	AttrRemove  = "remove"  // drop the reported names; their values are ignored
)

// SetAttributes changes the attributes of product p's device name as mode
// (AttrMerge when empty) says. The result is held to the bounds a check-in
// is: if it would exceed them, nothing changes and the error is ErrInvalid.
// The device must have checked in before.
func (s *Service) SetAttributes(ctx context.Context, p Product, name, mode string, data map[string]string,
) (Device, error) {
	if err := ValidateDeviceID(name); err != nil {
		return Device{}, err
	}
	if mode == "" {
		mode = AttrMerge
	}
	if mode != AttrMerge && mode != AttrReplace && mode != AttrRemove {
		return Device{}, errInvalidf("attribute mode %q: want merge, replace or remove", truncate(mode, 40))
	}
	if mode == AttrRemove {
		// Only the names are read, but they are held to the same bounds.
		names := make(map[string]string, len(data))
		for k := range data {
			names[k] = ""
		}
		data = names
	}
	if err := validateAttributes(data); err != nil {
		return Device{}, err
	}

	var dev Device
	var now time.Time
	err := s.store.Tx(ctx, func(tx Store) error {
		now = s.now()
		var err error
		if dev, err = tx.Device(ctx, p.ID, name); err != nil {
			return lookupErr(err, "unknown device "+name+": check in first")
		}
		attrs := combineAttributes(dev.Attributes, mode, data)
		if err := validateAttributes(attrs); err != nil {
			return err
		}
		if maps.Equal(attrs, dev.Attributes) {
			return nil
		}
		dev.Attributes, dev.LastSeen = attrs, now
		return tx.SaveDevice(ctx, dev)
	})
	if err != nil {
		return Device{}, fmt.Errorf("attributes of %s/%s: %w", p.Name, name, err)
	}
	s.touch(dev.ID, now, 0)
	return dev, nil
}

func combineAttributes(cur map[string]string, mode string, data map[string]string) map[string]string {
	out := make(map[string]string, len(cur)+len(data))
	switch mode {
	case AttrReplace:
		maps.Copy(out, data)
	case AttrRemove:
		for k, v := range cur {
			if _, ok := data[k]; !ok {
				out[k] = v
			}
		}
	default:
		maps.Copy(out, cur)
		maps.Copy(out, data)
	}
	return out
}
