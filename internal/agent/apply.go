package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/ferry-ota/ferry/client"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// errStalled means a download stopped delivering bytes.
var errStalled = errors.New("no data")

// apply downloads, verifies and installs offer o, reporting each step, and
// returns what the device runs afterwards.
func (a *Agent) apply(ctx context.Context, o *client.Offer, cur installed) (installed, error) {
	if err := checkOffer(o); err != nil {
		a.report(ctx, o.ID, client.StateFailed, 0, err.Error())
		return installed{}, err
	}
	counter, signed := cur.Counter, len(a.trust) > 0
	if signed {
		var err error
		if counter, err = a.checkSigned(o, cur.Counter); err != nil {
			a.report(ctx, o.ID, client.StateFailed, 0, refusal(err))
			return installed{}, errors.Join(err, a.st.remove(partFile), a.st.remove(pendingFile))
		}
	}
	p, offset, err := a.prepare(o, counter, signed)
	if err != nil {
		return installed{}, err
	}

	a.report(ctx, o.ID, client.StateDownloading, offset, "")
	if err := a.download(ctx, &p, offset); err != nil {
		return installed{}, err
	}
	if err := a.verify(p); err != nil {
		a.report(ctx, o.ID, client.StateFailed, p.Size, err.Error())
		return installed{}, err
	}
	a.report(ctx, o.ID, client.StateDownloaded, p.Size, "")
	a.report(ctx, o.ID, client.StateVerified, p.Size, "")

	if !a.stillWanted(ctx, o, cur) {
		return installed{}, errors.Join(errWithdrawn, a.st.remove(partFile), a.st.remove(pendingFile))
	}
	a.report(ctx, o.ID, client.StateInstalling, p.Size, "")
	if err := a.install(p); err != nil {
		a.report(ctx, o.ID, client.StateFailed, p.Size, err.Error())
		return installed{}, err
	}
	a.report(ctx, o.ID, client.StateRebooting, p.Size, "")
	return installed{Version: p.Version, SHA256: p.SHA256, Counter: p.Counter}, nil
}

// checkOffer refuses offers this agent cannot apply.
func checkOffer(o *client.Offer) error {
	switch {
	case o.Format != "" && o.Format != "full":
		return fmt.Errorf("format %q not supported", o.Format)
	case !sha256Hex.MatchString(o.SHA256):
		return fmt.Errorf("offer has no valid sha256 (%q)", o.SHA256)
	case o.Size < 0 || o.URL == "" || o.Version == "":
		return fmt.Errorf("offer is incomplete: size %d, url %q, version %q", o.Size, o.URL, o.Version)
	}
	return nil
}

// prepare records the download in download.json and returns how many bytes
// of it download.part already holds. A part of another image, or longer
// than this one, is discarded.
func (a *Agent) prepare(o *client.Offer, counter int64, signed bool) (pending, int64, error) {
	var p pending
	if err := a.st.readJSON(pendingFile, &p); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("ignoring unreadable download record", keyError, err)
	}
	offset, err := a.st.size(partFile)
	if err != nil {
		return p, 0, err
	}

	if p.SHA256 != o.SHA256 || p.Size != o.Size || offset > o.Size {
		if offset > 0 {
			a.log.Info("discarding partial download of another image", keyVersion, p.Version, "bytes", offset)
		}
		if err := a.st.remove(partFile); err != nil {
			return p, 0, err
		}
		p, offset = pending{}, 0
	} else if offset > 0 {
		a.log.Info("resuming download", keyUpdateID, o.ID, "offset", offset, "size", o.Size)
	}

	// The id may change (a retried update) while the image stays the same;
	// the kept ETag belongs to the image, so it stays too.
	p.UpdateID, p.Version, p.SHA256, p.Size, p.URL = o.ID, o.Version, o.SHA256, o.Size, o.URL
	p.Counter, p.Signed = counter, signed
	if err := a.st.writeJSON(pendingFile, p); err != nil {
		return p, 0, err
	}
	return p, offset, nil
}

// download fetches the rest of the image into download.part.
func (a *Agent) download(ctx context.Context, p *pending, offset int64) error {
	if offset == p.Size {
		return nil
	}
	f, err := os.OpenFile(a.st.path(partFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open download: %w", err)
	}
	defer func() { _ = f.Close() }() // synced below; a close error would add nothing
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("open download: %w", err)
	}

	// A link that stops delivering without closing would hold the
	// download forever; give up after a.stallTimeout without a byte and
	// keep what arrived for the next attempt.
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(a.stallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()

	pw := &partWriter{f: f, n: offset, synced: offset, syncEvery: a.syncEvery}
	report := a.progressReporter(ctx, p.UpdateID, p.Size, offset)
	pw.progress = func(n int64) {
		stall.Reset(a.stallTimeout)
		report(n)
		stall.Reset(a.stallTimeout) // the report itself may have taken a while
	}
	t, err := a.dev.Download(dctx, p.URL, pw, offset, p.ETag)
	if err != nil && errors.Is(context.Cause(dctx), errStalled) {
		err = fmt.Errorf("%w for %s", errStalled, a.stallTimeout)
	}
	if t.Restarted {
		a.log.Warn("server sent the whole image instead of the rest; restarted", keyUpdateID, p.UpdateID,
			"offset", offset)
	}
	syncErr := f.Sync()

	// Keep the validator for the next resume whatever happened to the body.
	if t.ETag != "" && t.ETag != p.ETag {
		p.ETag = t.ETag
		if werr := a.st.writeJSON(pendingFile, p); werr != nil && err == nil {
			err = werr
		}
	}

	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusRequestedRangeNotSatisfiable:
		// The kept part does not fit the image the server has; start over.
		_ = a.st.remove(partFile) // a failure here shows up as the same error next time
		return fmt.Errorf("download: %w; discarded the partial download", err)
	case errors.As(err, &ce):
		return fmt.Errorf("download: %w", err)
	case err != nil:
		return fmt.Errorf("download interrupted at %d of %d bytes (%w); run again to resume", pw.n, p.Size, err)
	case syncErr != nil:
		return fmt.Errorf("download: %w", syncErr)
	}
	return nil
}

// progressReporter returns a function that reports download progress
// each time another quarter of the image arrives, or when a.reportEvery has
// passed since the last report: often enough to watch, rarely enough not
// to add much to the bill on a slow link. The caller reports the start
// (offset) and the end (downloaded) itself.
func (a *Agent) progressReporter(ctx context.Context, id, size, offset int64) func(n int64) {
	step := max(size/4, 1)
	mark, lastAt := offset/step, time.Now()
	return func(n int64) {
		if n >= size || (n/step == mark && time.Since(lastAt) < a.reportEvery) {
			return
		}
		mark, lastAt = n/step, time.Now()
		a.report(ctx, id, client.StateDownloading, n, "")
	}
}

// verify checks the complete part against the offer's size and SHA-256. A
// part that fails is deleted: its bytes cannot be trusted for a resume.
func (a *Agent) verify(p pending) error {
	n, err := a.st.size(partFile)
	if err != nil {
		return err
	}
	var bad error
	if n != p.Size {
		bad = fmt.Errorf("size mismatch: got %d bytes, want %d", n, p.Size)
		if p.Signed {
			bad = fmt.Errorf("manifest size does not match the image: manifest says %d bytes, the image has %d",
				p.Size, n)
		}
	} else if sum, err := a.st.hash(partFile); err != nil {
		return err
	} else if sum != p.SHA256 {
		bad = fmt.Errorf("sha256 mismatch: got %s, want %s", sum, p.SHA256)
		if p.Signed {
			bad = fmt.Errorf("manifest sha256 does not match the image: manifest says %s, the image has %s",
				p.SHA256, sum)
		}
	}
	if bad == nil {
		return nil
	}

	if err := a.st.remove(partFile); err != nil {
		return errors.Join(bad, err)
	}
	if err := a.st.remove(pendingFile); err != nil {
		return errors.Join(bad, err)
	}
	return bad
}

// install makes the verified part the installed image: rename it over
// firmware.bin (the part was fsynced when the download ended), fsync the
// directory, then record the new version. A crash between the two steps
// is repaired by recoverInstall.
func (a *Agent) install(p pending) error {
	if err := os.Rename(a.st.path(partFile), a.st.path(firmwareFile)); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := a.st.syncDir(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := a.record(p); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	a.log.Info("update installed", keyUpdateID, p.UpdateID, keyVersion, p.Version)
	return nil
}

// partWriter writes a download to the part file, fsyncing every syncEvery
// bytes so that a power cut loses little of what a metered link paid for,
// and calling progress after each write.
type partWriter struct {
	f         *os.File
	n         int64 // bytes in the part file
	synced    int64 // n at the last fsync
	syncEvery int64
	progress  func(n int64)
}

func (w *partWriter) Write(b []byte) (int, error) {
	k, err := w.f.Write(b)
	w.n += int64(k)
	if err != nil {
		return k, err
	}
	if w.n-w.synced >= w.syncEvery {
		if err := w.f.Sync(); err != nil {
			return k, err
		}
		w.synced = w.n
	}
	w.progress(w.n)
	return k, nil
}

// Truncate and Seek let client.Download restart the part from zero when
// the server sends the whole image instead of the rest.
func (w *partWriter) Truncate(size int64) error {
	if err := w.f.Truncate(size); err != nil {
		return err
	}
	w.n, w.synced = size, min(w.synced, size)
	return nil
}

func (w *partWriter) Seek(offset int64, whence int) (int64, error) {
	return w.f.Seek(offset, whence)
}

// errWithdrawn means the server no longer wants the update installed: its
// rollout was canceled, or its channel moved on, while it downloaded.
var errWithdrawn = errors.New("update withdrawn")

// stillWanted checks in once more between download and install: the only
// moment a device can learn that the update it fetched was withdrawn
// (a canceled rollout, a channel moved on) before it replaces its image.
// If the server cannot be asked, the offer it made stands: on a flaky link
// a lost check-in must not stall updates.
func (a *Agent) stillWanted(ctx context.Context, o *client.Offer, cur installed) bool {
	resp, err := a.talk().CheckIn(ctx, a.checkInRequest(cur))
	if err != nil {
		a.log.Warn("check-in before install failed; installing as offered", keyUpdateID, o.ID, "error", err)
		return true
	}
	return resp.Offer != nil && resp.Offer.ID == o.ID
}
