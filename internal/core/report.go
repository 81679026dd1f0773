package core

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MaxDetailLen bounds the free text of a status report.
const MaxDetailLen = 1024

// Report is a device's status report about an update.
type Report struct {
	Device string
	// UpdateID names the update; zero means the device's open update, or
	// its latest one when none is open (plain clients do not know IDs).
	UpdateID int64
	State    string
	Progress int64 // bytes downloaded so far, when the device says
	Detail   string
	Protocol string
}

func validateReport(in Report) (State, error) {
	if err := ValidateDeviceID(in.Device); err != nil {
		return "", err
	}
	st, err := ParseReportState(in.State)
	if err != nil {
		return "", err
	}
	if in.Progress < 0 {
		return "", fmt.Errorf("%w: progress %d is negative", ErrInvalid, in.Progress)
	}
	if len(in.Detail) > MaxDetailLen {
		return "", fmt.Errorf("%w: detail longer than %d bytes", ErrInvalid, MaxDetailLen)
	}
	return st, nil
}

// Report records a status report. Reports are idempotent: repeating the
// last one changes nothing. The update keeps the furthest state reached; a
// failure finishes it; a report about a finished update is kept in the
// history but changes nothing else.
func (s *Service) Report(ctx context.Context, p Product, in Report) (Update, error) {
	st, err := validateReport(in)
	if err != nil {
		return Update{}, err
	}
	in.Detail = strings.ToValidUTF8(in.Detail, "?")
	var u Update
	var devID int64
	var now time.Time
	err = s.store.Tx(ctx, func(tx Store) error {
		now = s.now() // inside the transaction; see CheckIn
		dev, err := tx.Device(ctx, p.ID, in.Device)
		if err != nil {
			return lookupErr(err, "unknown device "+in.Device+": check in first")
		}
		devID = dev.ID
		if u, err = reportTarget(ctx, tx, dev, in.UpdateID); err != nil {
			return err
		}
		return s.applyReport(ctx, tx, p, dev, &u, st, in, now)
	})
	if err != nil {
		return Update{}, fmt.Errorf("report of %s/%s: %w", p.Name, in.Device, err)
	}
	s.touch(devID, now, 0)
	s.kick()
	return u, nil
}

// reportTarget finds the update a report is about.
func reportTarget(ctx context.Context, tx Store, dev Device, id int64) (Update, error) {
	if id != 0 {
		u, err := tx.Update(ctx, id)
		if err != nil {
			return Update{}, err
		}
		if u.DeviceID != dev.ID {
			return Update{}, fmt.Errorf("update %d of device %s: %w", id, dev.Name, ErrNotFound)
		}
		return u, nil
	}
	u, err := tx.OpenUpdate(ctx, dev.ID)
	if !notFound(err) {
		return u, err
	}
	us, err := tx.Updates(ctx, dev.ID)
	if err != nil {
		return Update{}, err
	}
	if len(us) == 0 {
		return Update{}, fmt.Errorf("device %s has never been offered an update: %w", dev.Name, ErrNotFound)
	}
	return us[0], nil
}

func (s *Service) applyReport(
	ctx context.Context, tx Store, p Product, dev Device, u *Update, st State, in Report, now time.Time,
) error {
	last, err := tx.LastEvent(ctx, u.ID)
	if err != nil && !notFound(err) {
		return err
	}
	if err == nil && last.Kind == EventReport && last.State == st &&
		last.Progress == in.Progress && last.Detail == in.Detail {
		return nil // a retried report: already recorded
	}
	err = tx.AddEvent(ctx, &Event{
		DeviceID: dev.ID, UpdateID: u.ID, At: now, Kind: EventReport, State: st,
		Progress: in.Progress, Detail: in.Detail, Protocol: in.Protocol,
	})
	if err != nil || u.State.Terminal() {
		return err
	}

	if in.Progress > 0 {
		r, err := tx.Release(ctx, u.ReleaseID)
		if err != nil {
			return err
		}
		if in.Progress > r.Size {
			return fmt.Errorf("%w: progress %d exceeds the image size %d", ErrInvalid, in.Progress, r.Size)
		}
	}
	next := advance(u.State, st)
	progress := max(u.Progress, in.Progress)
	if next == u.State && progress == u.Progress {
		return nil
	}
	u.State, u.Progress, u.UpdatedAt = next, progress, now
	if next == StateFailed {
		u.Reason, u.FinishedAt = "device reported failure", now
		if in.Detail != "" {
			u.Reason += ": " + in.Detail
		}
		s.log.Warn("update failed", "product", p.Name, "device_id", dev.Name, "version", u.Version, "reason", u.Reason)
	}
	if err := tx.SaveUpdate(ctx, *u); err != nil {
		return err
	}
	return s.outcome(ctx, tx, p, dev, *u, now)
}
