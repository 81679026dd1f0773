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
	// Note makes the report a remark: Detail is kept in the history and
	// the update is left as it is. State and Progress are not read.
	Note bool
}

// Receipt says what a recorded report did.
type Receipt struct {
	Update Update
	// Repeat is set when the report repeated the last one recorded for the
	// update: it was not recorded again and changed nothing.
	Repeat bool
	// Late is set when the update had finished before the report came: the
	// report is in the history, but the outcome stands.
	Late bool
}

func validateReport(in Report) (State, error) {
	if err := ValidateDeviceID(in.Device); err != nil {
		return "", err
	}
	if in.Note {
		if len(in.Detail) > MaxDetailLen {
			return "", fmt.Errorf("%w: detail longer than %d bytes", ErrInvalid, MaxDetailLen)
		}
		return "", nil
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

// Report records a status report; see Record.
func (s *Service) Report(ctx context.Context, p Product, in Report) (Update, error) {
	rc, err := s.Record(ctx, p, in)
	return rc.Update, err
}

// Record records a status report. Reports are idempotent: repeating the
// last one changes nothing. The update keeps the furthest state reached; a
// failure finishes it; a report about a finished update is kept in the
// history but changes no outcome. A report of success is only a claim,
// which a check-in running the release proves, except over a protocol
// whose check-ins never say what the device runs (ProtocolDDI): there the
// report is the proof, finishing the update as succeeded and recording the
// device on the release, even when the update had finished otherwise,
// unless a newer update of the device has succeeded since.
func (s *Service) Record(ctx context.Context, p Product, in Report) (Receipt, error) {
	st, err := validateReport(in)
	if err != nil {
		return Receipt{}, err
	}
	in.Detail = strings.ToValidUTF8(in.Detail, "?")
	var rc Receipt
	var devID int64
	var now time.Time
	err = s.store.Tx(ctx, func(tx Store) error {
		now = s.now() // inside the transaction; see CheckIn
		dev, err := tx.Device(ctx, p.ID, in.Device)
		if err != nil {
			return lookupErr(err, "unknown device "+in.Device+": check in first")
		}
		devID = dev.ID
		if rc.Update, err = reportTarget(ctx, tx, dev, in.UpdateID); err != nil {
			return err
		}
		return s.applyReport(ctx, tx, p, dev, &rc, st, in, now)
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("report of %s/%s: %w", p.Name, in.Device, err)
	}
	s.touch(devID, now, 0)
	s.kick()
	return rc, nil
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
	ctx context.Context, tx Store, p Product, dev Device, rc *Receipt, st State, in Report, now time.Time,
) error {
	u := &rc.Update
	last, err := tx.LastEvent(ctx, u.ID)
	if err != nil && !notFound(err) {
		return err
	}
	if err == nil && last.Kind == EventReport && last.State == st &&
		last.Progress == in.Progress && last.Detail == in.Detail {
		rc.Repeat = true
		return nil // a retried report: already recorded
	}
	err = tx.AddEvent(ctx, &Event{
		DeviceID: dev.ID, UpdateID: u.ID, At: now, Kind: EventReport, State: st,
		Progress: in.Progress, Detail: in.Detail, Protocol: in.Protocol,
	})
	proof := st == StateSucceeded && traitsOf(in.Protocol).reportsProve
	switch {
	case err != nil:
		return err
	case u.State.Terminal():
		rc.Late = true
		if !proof {
			return nil
		}
		if later, err := laterSuccess(ctx, tx, dev, *u); err != nil || later {
			return err
		}
		return s.proveRuns(ctx, tx, p, dev, *u, in.Protocol, now)
	case in.Note:
		return nil
	}

	if in.Progress > 0 {
		r, err := tx.Release(ctx, u.ReleaseID)
		if err != nil {
			return err
		}
		// A board may download the release's .ota file or LZSS stream
		// instead of the image, and count its bytes; those files are
		// larger than an image that does not compress.
		if most := r.largestFile(); in.Progress > most {
			return fmt.Errorf("%w: progress %d exceeds the size %d of the release's largest file", ErrInvalid,
				in.Progress, most)
		}
	}
	next := advance(u.State, st)
	if proof {
		next = StateSucceeded
	}
	progress := max(u.Progress, in.Progress)
	if next == u.State && progress == u.Progress {
		return nil
	}
	u.State, u.Progress, u.UpdatedAt = next, progress, now
	switch next {
	case StateFailed:
		u.Reason, u.FinishedAt = "device reported failure", now
		if in.Detail != "" {
			u.Reason += ": " + in.Detail
		}
		s.log.Warn("update failed", "product", p.Name, "device_id", dev.Name, "version", u.Version, "reason", u.Reason)
	case StateSucceeded:
		u.Reason, u.FinishedAt = "device reported success over "+in.Protocol+", which has no version check-in", now
		s.log.Info("update succeeded", "product", p.Name, "device_id", dev.Name, "version", u.Version)
		if err := s.proveRuns(ctx, tx, p, dev, *u, in.Protocol, now); err != nil {
			return err
		}
	}
	if err := tx.SaveUpdate(ctx, *u); err != nil {
		return err
	}
	return s.outcome(ctx, tx, p, dev, *u, now)
}

// laterSuccess reports whether an update of dev newer than u has
// succeeded. A late report of success for u, such as a retry whose answer
// was lost, then proves nothing about what the device runs now: the newer
// success already moved it on, and taking the late report's word would
// move it back to u's release and offer it the newer one again.
//
// TODO(ddi): only a newer update's success counts. A device that said it
// runs a newer version through PUT installedBase (a check-in, no update)
// and then sends a late success for an older action is still moved back
// to the older release. Comparing the late report with the device's last
// version change in its history would cover that too.
func laterSuccess(ctx context.Context, tx Store, dev Device, u Update) (bool, error) {
	us, err := tx.Updates(ctx, dev.ID)
	if err != nil {
		return false, err
	}
	for _, o := range us {
		if o.ID > u.ID && o.State == StateSucceeded {
			return true, nil
		}
	}
	return false, nil
}

// proveRuns records that dev runs u's release, as a report of success over
// a protocol without version check-ins proves, the way a check-in running
// it would have: the device's version becomes the release's.
func (s *Service) proveRuns(ctx context.Context, tx Store, p Product, dev Device, u Update, protocol string,
	now time.Time,
) error {
	if sameVersion(dev.Version, u.Version) {
		return nil
	}
	err := tx.AddEvent(ctx, &Event{
		DeviceID: dev.ID, At: now, Kind: EventCheckIn, Version: u.Version, Protocol: protocol,
		Detail: fmt.Sprintf("version changed from %q: the device reported installing update %d", dev.Version, u.ID),
	})
	if err != nil {
		return err
	}
	s.log.Info("device moved to a new version", "product", p.Name, "device_id", dev.Name, "version", u.Version)
	dev.Version, dev.LastSeen = u.Version, now
	return tx.SaveDevice(ctx, dev)
}
