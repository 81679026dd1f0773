package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// nativeCycle is one wake-up of a native device: check in and apply what
// is offered. It returns the wait before the next cycle and whether the
// device has gone silent.
func (s *Sim) nativeCycle(ctx context.Context, d *device) (time.Duration, bool) {
	var resp client.CheckInResponse
	req := client.CheckInRequest{Version: d.running()}
	held := s.cfg.LongPoll && d.session == nil
	var err error
	if held {
		// Not through call: a held request waits, it does not work, and
		// the fleet's held requests would take every slot.
		resp, err = d.native.Wait(ctx, req, s.cfg.Hold)
	} else {
		err = s.call(ctx, func() error {
			var err error
			resp, err = d.talk().CheckIn(ctx, req)
			return err
		})
	}
	if err != nil {
		s.fail(ctx, err)
		return s.cfg.Poll, false
	}
	s.checkedIn(d)
	wait := s.pollWait(resp.PollInterval())
	if held {
		wait = 0 // ask again at once: the server holds the next one
	}
	if s.nativeCommands(ctx, d, resp.Commands) {
		wait = 0
	}
	o := resp.Offer
	if o == nil {
		s.idle(d)
		return wait, false
	}

	s.offered(d, strconv.FormatInt(o.ID, 10), o.Version)
	send := func(ctx context.Context, state string, progress int64, detail string) error {
		return s.call(ctx, func() error { return d.talk().Report(ctx, o.ID, state, progress, detail) })
	}
	if !s.nativeDownload(ctx, d, o, send) {
		return wait, false
	}
	if s.install(ctx, d, o.Version, o.Size, send) {
		return 0, true
	}
	return d.afterInstall(wait), false
}

// nativeDownload fetches the offered image, resuming what the device kept
// from an earlier try, and checks its size and SHA-256. A cut link is
// resumed at once; any other error leaves the part for the next cycle.
func (s *Sim) nativeDownload(ctx context.Context, d *device, o *client.Offer, send reportFunc) bool {
	if d.dl == nil || d.dl.key != o.SHA256 {
		d.dl = &download{key: o.SHA256, sink: newSink(ctx, sha256.New(), d.link, &s.c.bytes), size: o.Size}
		if Cut(s.cfg, d.id, o.Version) && o.Size > 1 {
			d.dl.sink.cutAt = o.Size / 2
		}
		s.report(ctx, send, client.StateDownloading, 0, "")
	}

	dl := d.dl
	for {
		var t client.Transfer
		err := s.call(ctx, func() error {
			var err error
			t, err = d.native.Download(ctx, o.URL, dl.sink, dl.sink.n, dl.etag)
			return err
		})
		if t.ETag != "" {
			dl.etag = t.ETag
		}
		if errors.Is(err, errCut) {
			s.c.cuts.Add(1)
			continue
		}
		if err != nil {
			s.fail(ctx, err)
			return false
		}
		break
	}

	got := hex.EncodeToString(dl.sink.sum.Sum(nil))
	if dl.sink.n != o.Size || got != o.SHA256 {
		s.corrupt(ctx, d, dl.sink.n, send, fmt.Sprintf("got %d bytes with sha256 %.16s, want %d with %.16s",
			dl.sink.n, got, o.Size, o.SHA256))
		return false
	}
	d.dl = nil
	return true
}
