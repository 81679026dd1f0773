package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// checkInImage checks in as a client that names its running image by MD5,
// with an optional version and free space.
func (f *fixture) checkInImage(t *testing.T, dev, v, md5 string, free *int64) core.Decision {
	t.Helper()
	d, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{
		Device: dev, Version: v, ImageMD5: md5, FreeSpace: free, Protocol: "test",
	})
	if err != nil {
		t.Fatalf("CheckIn(%s, version %q, md5 %s): %v", dev, v, md5, err)
	}
	return d
}

func bytesFree(n int64) *int64 { return &n }

func TestCheckInMD5NamesTheVersion(t *testing.T) {
	f := newFixture(t, core.Config{})
	old := f.publish(t, "1.0.0")

	dec := f.checkInImage(t, "esp-1", "", old.MD5, nil)
	if dec.Release != nil || dec.Device.Version != "1.0.0" {
		t.Fatalf("CheckIn(md5 of 1.0.0) = offer %v, device version %q; want no offer, version 1.0.0",
			dec.Release != nil, dec.Device.Version)
	}

	// An image of no release leaves the version unknown, and the version
	// recorded before does not outweigh it: the device is offered 1.0.0.
	dec = f.checkInImage(t, "esp-1", "", strings.Repeat("ab", 16), nil)
	if dec.Release == nil || dec.Release.Version != "1.0.0" {
		t.Fatalf("CheckIn(md5 of no release) = %+v, want an offer of 1.0.0", dec.Release)
	}
}

func TestCheckInMD5Outcomes(t *testing.T) {
	tests := []struct {
		name       string
		version    string
		md5        func(old, target core.Release) string
		wantState  core.State
		wantReason string
	}{
		{"new image", "", func(_, r core.Release) string { return r.MD5 }, core.StateSucceeded, "running 1.1.0"},
		{"new image, version string unchanged", "1.0.0", func(_, r core.Release) string { return r.MD5 },
			core.StateSucceeded, "running 1.1.0"},
		{"old image", "", func(o, _ core.Release) string { return o.MD5 }, core.StateFailed,
			"rolled back: device checked in running 1.0.0 after installing 1.1.0"},
		{"image of no release", "", func(core.Release, core.Release) string { return strings.Repeat("0", 32) },
			core.StateFailed, "image of no release, not 1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, core.Config{})
			old := f.publish(t, "1.0.0")
			f.checkInImage(t, "esp-1", "", old.MD5, nil)
			target := f.publish(t, "1.1.0")
			if dec := f.checkInImage(t, "esp-1", "", old.MD5, nil); dec.Release == nil {
				t.Fatal("CheckIn after publishing 1.1.0 offered nothing")
			}
			f.report(t, "esp-1", "installing")

			f.checkInImage(t, "esp-1", tt.version, tt.md5(old, target), nil)
			u, _ := f.latest(t, "esp-1")
			if u.State != tt.wantState || !strings.Contains(u.Reason, tt.wantReason) {
				t.Errorf("after the check-in, update = %s %q, want %s with %q", u.State, u.Reason,
					tt.wantState, tt.wantReason)
			}
		})
	}
}

// TestCheckInMD5Downloaded: a device that has only downloaded and comes
// back on its old image has not installed anything; its update stays open
// and is offered again, as for a version check-in.
func TestCheckInMD5Downloaded(t *testing.T) {
	f := newFixture(t, core.Config{})
	old := f.publish(t, "1.0.0")
	f.checkInImage(t, "esp-1", "", old.MD5, nil)
	f.publish(t, "1.1.0")
	first := f.checkInImage(t, "esp-1", "", old.MD5, nil)
	f.report(t, "esp-1", "downloaded")

	again := f.checkInImage(t, "esp-1", "", old.MD5, nil)
	if again.Update == nil || again.Update.ID != first.Update.ID || again.Update.State != core.StateDownloaded {
		t.Errorf("CheckIn after downloaded = %+v, want update %d still downloaded", again.Update, first.Update.ID)
	}
}

func TestCheckInFreeSpace(t *testing.T) {
	f := newFixture(t, core.Config{})
	old := f.publish(t, "1.0.0")
	f.checkInImage(t, "esp-1", "", old.MD5, nil)
	target := f.publish(t, "1.1.0")

	dec := f.checkInImage(t, "esp-1", "", old.MD5, bytesFree(target.Size-1))
	if dec.Release != nil || dec.Update != nil || !strings.Contains(dec.Refused, "does not fit") {
		t.Fatalf("CheckIn(free %d of %d) = release %v, refused %q; want no release, refused",
			target.Size-1, target.Size, dec.Release, dec.Refused)
	}
	u, d := f.latest(t, "esp-1")
	if u.State != core.StateFailed || u.Reason != dec.Refused {
		t.Errorf("update = %s %q, want failed %q", u.State, u.Reason, dec.Refused)
	}
	if last := d.Events[len(d.Events)-1]; last.Kind != core.EventDecision || last.Detail != dec.Refused ||
		last.Version != "1.0.0" {
		t.Errorf("last event = %s %q on %q, want the decision %q on 1.0.0", last.Kind, last.Detail, last.Version,
			dec.Refused)
	}

	// Exactly enough space is enough.
	dec = f.checkInImage(t, "esp-1", "", old.MD5, bytesFree(target.Size))
	if dec.Release == nil || dec.Release.ID != target.ID || dec.Refused != "" {
		t.Errorf("CheckIn(free %d of %d) = release %v, refused %q; want the offer", target.Size, target.Size,
			dec.Release, dec.Refused)
	}
}

func TestCheckInRejectsBadImageFields(t *testing.T) {
	f := newFixture(t, core.Config{})
	old := f.publish(t, "1.0.0")
	tests := []struct {
		name string
		in   core.CheckIn
	}{
		{"short md5", core.CheckIn{Device: "esp-1", ImageMD5: "abc"}},
		{"uppercase md5", core.CheckIn{Device: "esp-1", ImageMD5: strings.ToUpper(old.MD5)}},
		{"negative free space", core.CheckIn{Device: "esp-1", ImageMD5: old.MD5, FreeSpace: bytesFree(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.CheckIn(t.Context(), f.p, tt.in); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("CheckIn(%+v) = %v, want ErrInvalid", tt.in, err)
			}
		})
	}
	if _, err := f.svc.Device(t.Context(), "sensor", "esp-1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Device(esp-1) after refused check-ins = %v, want ErrNotFound", err)
	}
}

// A device updated to 1.1.0 by a client that names its image by SHA-256,
// then flashed back to 1.0.0 by hand and checking in with the version
// alone, must be offered 1.1.0 again: the digest it reported before names
// the image it no longer runs.
func TestCheckInVersionAloneOutweighsStoredDigest(t *testing.T) {
	tests := []struct {
		name string
		in   core.CheckIn // Device and Protocol are filled in
	}{
		{"older version", core.CheckIn{Version: "1.0.0"}},
		{"older version spelled differently", core.CheckIn{Version: "v1.0"}},
		{"no version, then older version", core.CheckIn{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, core.Config{})
			f.publish(t, "1.0.0")
			f.checkIn(t, "r1", "1.0.0")
			target := f.publish(t, "1.1.0")
			if dec := f.checkIn(t, "r1", "1.0.0"); dec.Release == nil || dec.Release.ID != target.ID {
				t.Fatalf("CheckIn(r1, 1.0.0) offers %+v, want 1.1.0", dec.Release)
			}
			f.report(t, "r1", "installing")
			dec, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{
				Device: "r1", Version: "1.1.0", ImageSHA256: target.SHA256, Protocol: "test",
			})
			if err != nil || dec.Device.ImageSHA256 != target.SHA256 || dec.Release != nil {
				t.Fatalf("CheckIn(r1, 1.1.0, sha of 1.1.0) = device sha %s, offer %+v, %v; want sha of 1.1.0, "+
					"no offer", dec.Device.ImageSHA256, dec.Release, err)
			}

			in := tt.in
			in.Device, in.Protocol = "r1", "test"
			if in.Version == "" {
				// A check-in without a version keeps the one recorded.
				if dec, err = f.svc.CheckIn(t.Context(), f.p, in); err != nil || dec.Release != nil {
					t.Fatalf("CheckIn(r1, no version) = offer %+v, %v; want none", dec.Release, err)
				}
				in.Version = "1.0.0"
			}
			dec, err = f.svc.CheckIn(t.Context(), f.p, in)
			if err != nil || dec.Release == nil || dec.Release.ID != target.ID {
				t.Fatalf("CheckIn(r1, %q, no digest) = offer %+v, %v; want 1.1.0 offered again",
					in.Version, dec.Release, err)
			}
			_, d := f.latest(t, "r1")
			if d.ImageSHA256 != "" || d.Version != in.Version {
				t.Errorf("Device(r1) = version %q sha %q, want %s and no stale digest",
					d.Version, d.ImageSHA256, in.Version)
			}
		})
	}
}
