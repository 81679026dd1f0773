package core

import (
	"context"
	"fmt"
	"maps"
	"regexp"
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
	// ImageMD5 is the lowercase hex MD5 of the running image, for clients
	// that know no other digest of it (the ESP cores' httpUpdate sends
	// the sketch's MD5). Like ImageSHA256 it proves which release the
	// device runs, and names that release's version when Version is empty.
	ImageMD5 string
	// Counter, when not nil, is the security counter the device runs;
	// nil keeps the one it reported last.
	Counter *int64
	// FreeSpace, when not nil, is how many bytes the device has free for
	// a new image; a release larger than that is not handed to it (see
	// Decision.Refused).
	FreeSpace *int64
	// Attributes, when not nil, replace those the device reported before.
	Attributes map[string]string
	Protocol   string
	// Commands asks for the device's open commands in the decision, marked
	// delivered via Protocol: set it only when the answer carries them.
	Commands bool
}

// Decision is the core's answer to a check-in.
type Decision struct {
	Device Device
	// Update is the update the device should work on, and Release its
	// target; both nil when there is nothing to do.
	Update  *Update
	Release *Release
	// Commands are the device's open commands, oldest first, when the
	// check-in asked for them.
	Commands []Command
	// Cancel, only for protocols whose devices acknowledge cancels, is an
	// update the server canceled after giving it to the device, which has
	// not acknowledged yet; while it is set, Update and Release are nil.
	Cancel *Update
	// Installed, only for protocols without version check-ins, is the
	// device's latest update that succeeded to the version it runs; nil
	// if none did.
	Installed *Update
	// Refused, when not empty, says why the release meant for the device
	// was not handed to it: its image does not fit the space the device
	// has free. The update that offered it has failed for that reason,
	// and Update and Release are nil.
	Refused string
	// Poll is when the device should check in again.
	Poll time.Duration
	// active is set when an update or an active rollout concerns the
	// device, so it should come back sooner.
	active bool
}

// Want returns the version the device should run: the offered release's, or
// the one it runs. Empty only if neither is known.
func (d Decision) Want() string {
	if d.Release != nil {
		return d.Release.Version
	}
	return d.Device.Version
}

var md5Re = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidateMD5 reports whether s is a lowercase hex MD5.
func ValidateMD5(s string) error {
	if !md5Re.MatchString(s) {
		return fmt.Errorf("%w: md5 %q: want 32 lowercase hex digits", ErrInvalid, truncate(s, 80))
	}
	return nil
}

// namesImage reports whether a check-in names the running image by a
// digest, which then says what the device runs more surely than a version
// it reported before.
func (in CheckIn) namesImage() bool { return in.ImageSHA256 != "" || in.ImageMD5 != "" }

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
	if in.ImageMD5 != "" {
		if err := ValidateMD5(in.ImageMD5); err != nil {
			return err
		}
	}
	if in.FreeSpace != nil && *in.FreeSpace < 0 {
		return fmt.Errorf("%w: free space %d: want 0 or more bytes", ErrInvalid, *in.FreeSpace)
	}
	if in.Counter != nil && *in.Counter < 0 {
		return fmt.Errorf("%w: security counter %d: want 0 or more", ErrInvalid, *in.Counter)
	}
	return validateAttributes(in.Attributes)
}

// validateAttributes checks attributes a device reports against the bounds.
func validateAttributes(attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d allowed", ErrInvalid, len(attrs), MaxAttributes)
	}
	for k, v := range attrs {
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
	var dec Decision
	var now time.Time
	err := s.store.Tx(ctx, func(tx Store) error {
		// The clock is read once the transaction holds the store, so that
		// the order of recorded times is the order decisions were made in:
		// the rollout brakes count by these times.
		now = s.now()
		var err error
		if dec, err = s.checkIn(ctx, tx, p, in, now); err != nil {
			return err
		}
		if err := s.checkFit(ctx, tx, p, &dec, in, now); err != nil {
			return err
		}
		if traitsOf(in.Protocol).reportsProve {
			u, ok, err := installed(ctx, tx, dec.Device)
			if err != nil {
				return err
			}
			if ok {
				dec.Installed = &u
			}
		}
		if !in.Commands {
			return nil
		}
		dec.Commands, err = s.deliver(ctx, tx, p, dec.Device, in.Protocol, 0, now)
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("check-in of %s/%s: %w", p.Name, in.Device, err)
	}
	s.touch(dec.Device.ID, now, 0)
	s.kick()
	dec.Poll = s.poll(p, dec.Device, dec.active)
	return dec, nil
}

func (s *Service) checkIn(ctx context.Context, tx Store, p Product, in CheckIn, now time.Time) (Decision, error) {
	in, err := resolveImage(ctx, tx, p, in)
	if err != nil {
		return Decision{}, err
	}
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
			dec.active = true
			return dec, nil
		case StateSucceeded, StateCanceled:
		default:
			r, err := tx.Release(ctx, open.ReleaseID)
			if err != nil {
				return Decision{}, err
			}
			dec.Update, dec.Release, dec.active = &open, &r, true
			return dec, nil
		}
	case !notFound(err):
		return Decision{}, err
	}
	if traitsOf(in.Protocol).acksCancels {
		c, ok, err := pendingCancel(ctx, tx, dev)
		if err != nil {
			return Decision{}, err
		}
		if ok {
			dec.Cancel, dec.active = &c, true
			return dec, nil
		}
	}

	u, r, active, err := s.offer(ctx, tx, p, dev, in, now)
	if err != nil {
		return Decision{}, err
	}
	dec.Update, dec.Release, dec.active = u, r, active || u != nil
	return dec, nil
}

// pendingCancel returns the device's latest update and true if the server
// canceled it and the device has not acknowledged the cancel. Only the
// latest counts: a cancel the device never acknowledged stops mattering
// once a newer update exists.
func pendingCancel(ctx context.Context, tx Store, dev Device) (Update, bool, error) {
	us, err := tx.Updates(ctx, dev.ID)
	if err != nil || len(us) == 0 || !us[0].CancelPending {
		return Update{}, false, err
	}
	return us[0], true, nil
}

// installed returns the device's latest update that succeeded to the
// version it runs, and whether there is one.
func installed(ctx context.Context, tx Store, dev Device) (Update, bool, error) {
	us, err := tx.Updates(ctx, dev.ID)
	if err != nil {
		return Update{}, false, err
	}
	for _, u := range us {
		if u.State == StateSucceeded && sameVersion(dev.Version, u.Version) {
			return u, true, nil
		}
	}
	return Update{}, false, nil
}

// checkFit fails the update a decision hands the device when the image is
// larger than the space the device says it has free, rather than send
// bytes the device cannot store. A device on a metered link must not pay
// for an image it will refuse; the failure is what the operator sees, and
// counts against a rollout like any other, since a release too large for
// the fleet is one that should stop spreading. An update the device has
// begun to install is left to judgeOpen.
func (s *Service) checkFit(ctx context.Context, tx Store, p Product, dec *Decision, in CheckIn, now time.Time) error {
	if in.FreeSpace == nil || dec.Update == nil || dec.Release.Size <= *in.FreeSpace ||
		installStarted(dec.Update.State) {
		return nil
	}
	reason := fmt.Sprintf("does not fit: the image of %s is %d bytes, the device has %d bytes free",
		dec.Release.Version, dec.Release.Size, *in.FreeSpace)
	if in.Version == "" {
		in.Version = dec.Device.Version // as resolved from the image's digest, for the history
	}
	s.log.Warn("update failed", "product", p.Name, "device_id", dec.Device.Name, "version", dec.Release.Version,
		"reason", reason)
	if err := s.finish(ctx, tx, p, dec.Device, dec.Update, StateFailed, reason, in, now); err != nil {
		return err
	}
	dec.Refused, dec.Update, dec.Release = reason, nil, nil
	return nil
}

// resolveImage fills in the version of a check-in that names its image
// by digest: an image that is one of the product's releases runs that
// release's version. The digest also outweighs a reported version that
// contradicts it: a sketch's compiled-in version string is often left
// unchanged between builds, while its image's digest cannot be, so a board
// that runs the image of 1.1.0 but still says 1.0.0 is recorded on 1.1.0.
// A digest of no release leaves the version as reported.
func resolveImage(ctx context.Context, tx Store, p Product, in CheckIn) (CheckIn, error) {
	if !in.namesImage() {
		return in, nil
	}
	if in.Version != "" {
		// Two releases may hold the same image; the one the device names
		// stands when it is one of them.
		r, err := tx.ReleaseByVersion(ctx, p.ID, in.Version)
		switch {
		case err == nil && imageOf(in, r):
			return in, nil
		case err != nil && !notFound(err):
			return CheckIn{}, err
		}
	}
	var r Release
	err := ErrNotFound
	if in.ImageSHA256 != "" {
		r, err = tx.ReleaseBySHA256(ctx, p.ID, in.ImageSHA256)
	}
	if notFound(err) && in.ImageMD5 != "" {
		r, err = tx.ReleaseByMD5(ctx, p.ID, in.ImageMD5)
	}
	switch {
	case err == nil:
		in.Version = r.Version
	case !notFound(err):
		return CheckIn{}, err
	}
	return in, nil
}

// imageOf reports whether a check-in's digests name release r's image.
func imageOf(in CheckIn, r Release) bool {
	return (in.ImageSHA256 != "" && in.ImageSHA256 == r.SHA256) || (in.ImageMD5 != "" && in.ImageMD5 == r.MD5)
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
		if in.Counter != nil {
			dev.Counter = *in.Counter
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
	moved := in.Version != "" && !sameVersion(in.Version, dev.Version)
	if in.Version != "" && in.Version != dev.Version {
		if err := tx.AddEvent(ctx, &Event{
			DeviceID: dev.ID, At: now, Kind: EventCheckIn, Version: in.Version,
			Detail: fmt.Sprintf("version changed from %q", dev.Version), Protocol: in.Protocol,
		}); err != nil {
			return Device{}, err
		}
		dev.Version, changed = in.Version, true
	}
	switch {
	case in.ImageSHA256 != "" && in.ImageSHA256 != dev.ImageSHA256:
		dev.ImageSHA256, changed = in.ImageSHA256, true
	case in.ImageSHA256 == "" && dev.ImageSHA256 != "" && moved:
		// The device now runs another version and did not name its image
		// by SHA-256: the digest recorded for the old one is stale (a board
		// flashed by hand, or moved from the agent to a sketch that sends
		// only its version). Kept, it would say the device still runs the
		// release it has left.
		dev.ImageSHA256, changed = "", true
	}
	if in.Counter != nil && *in.Counter != dev.Counter {
		// The device is the truth about what it runs, even when the
		// counter went down (someone flashed it by hand).
		dev.Counter, changed = *in.Counter, true
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

// runs reports whether a check-in proves the device runs release r: by
// its version, or by a digest of its image. Either suffices: a sketch's
// compiled-in version string is often left unchanged between builds,
// while its image's digest cannot be.
func runs(in CheckIn, r Release) bool {
	return sameVersion(in.Version, r.Version) ||
		(in.ImageSHA256 != "" && in.ImageSHA256 == r.SHA256) ||
		(in.ImageMD5 != "" && in.ImageMD5 == r.MD5)
}

// stillRuns reports whether the device runs release r as far as the
// server knows: this check-in proves it, or the check-in says nothing of
// what runs and what the device reported before does. A check-in that
// names an image by digest or states a version is the fresher word:
// nothing recorded earlier outweighs it. Of what was recorded, the
// version decides when there is one; a digest alone names r only for a
// device whose version is unknown.
func stillRuns(in CheckIn, dev Device, r Release) bool {
	if runs(in, r) {
		return true
	}
	if in.namesImage() || in.Version != "" {
		return false
	}
	if dev.Version != "" {
		return sameVersion(dev.Version, r.Version)
	}
	return dev.ImageSHA256 != "" && dev.ImageSHA256 == r.SHA256
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
		return s.finish(ctx, tx, p, dev, u, StateSucceeded, "device checked in running "+target.Version, in, now)
	case (in.Version != "" || in.namesImage()) && installStarted(u.State):
		// The check-in says what runs, and it is not the target.
		reason := fmt.Sprintf("rolled back: device checked in running %s after installing %s",
			in.Version, target.Version)
		switch {
		case in.Version == "":
			reason = fmt.Sprintf("device checked in running an image of no release, not %s, after installing",
				target.Version)
		case u.FromVersion != "" && in.Version != u.FromVersion:
			reason = fmt.Sprintf("device checked in running %s, not %s, after installing", in.Version, target.Version)
		}
		s.log.Warn("update failed", "product", p.Name, "device_id", dev.Name, "version", target.Version,
			"reason", reason)
		return s.finish(ctx, tx, p, dev, u, StateFailed, reason, in, now)
	case installStarted(u.State):
		return nil
	case target.Counter < dev.Counter:
		reason := fmt.Sprintf("security counter %d of %s is below the device's %d",
			target.Counter, target.Version, dev.Counter)
		return s.finish(ctx, tx, p, dev, u, StateCanceled, reason, in, now)
	}

	if u.RolloutID != 0 {
		ro, err := tx.Rollout(ctx, u.RolloutID)
		if err != nil {
			return err
		}
		if ro.State == RolloutCanceled {
			return s.finish(ctx, tx, p, dev, u, StateCanceled, fmt.Sprintf("rollout %d canceled", ro.ID), in, now)
		}
	}
	want, err := s.desired(ctx, tx, p, dev)
	if err != nil && !notFound(err) {
		return err
	}
	if err == nil && want.release.ID != u.ReleaseID {
		reason := "superseded: the device should now run " + want.release.Version
		return s.finish(ctx, tx, p, dev, u, StateCanceled, reason, in, now)
	}
	return nil
}
