package sim

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// pieceSize is how much of the image a plain device asks for at a time,
// as a modem sketch with a small buffer does.
const pieceSize = 512

// maxText bounds the plain protocol's short answers (a version, a digest,
// "ok", an error's reason).
const maxText = 1 << 10

// plainCycle is one wake-up of a plain device: ask which version to run
// and, if it is not the running one, fetch it in pieces, compare the
// CRC32, report and "reboot". It returns the wait before the next cycle
// and whether the device has gone silent.
func (s *Sim) plainCycle(ctx context.Context, d *device) (time.Duration, bool) {
	wait := s.cfg.Poll
	run := d.running()
	want, err := s.plainText(ctx, d, "version", url.Values{"version": {run}})
	if err != nil {
		s.fail(ctx, err)
		return wait, false
	}
	s.checkedIn(d)
	if s.cfg.PlainCommands && s.plainCommands(ctx, d) {
		wait = 0
	}
	if want == run {
		s.idle(d)
		return wait, false
	}

	s.offered(d, want, want)
	send := func(ctx context.Context, state string, progress int64, detail string) error {
		return s.plainStatus(ctx, d, state, progress, detail)
	}
	size, ok := s.plainDownload(ctx, d, want, send)
	if !ok {
		return wait, false
	}
	if s.install(ctx, d, want, size, send) {
		return 0, true
	}
	return d.afterInstall(wait), false
}

// plainDownload fetches release want piece by piece, resuming at the first
// missing byte, and compares the CRC32 with the server's hash. A cut link
// is resumed at once; any other error leaves the pieces for the next
// cycle. It returns the image's size and whether it checked out.
func (s *Sim) plainDownload(ctx context.Context, d *device, want string, send reportFunc) (int64, bool) {
	if d.dl == nil || d.dl.key != want {
		d.dl = &download{
			key:  want,
			sink: newSink(ctx, crc32.NewIEEE(), d.link, &s.c.bytes),
			size: -1,
			cut:  Cut(s.cfg, d.id, want),
		}
		s.report(ctx, send, client.StateDownloading, 0, "")
	}

	dl := d.dl
	for dl.size < 0 || dl.sink.n < dl.size {
		err := s.call(ctx, func() error { return s.plainPiece(ctx, d, dl) })
		if errors.Is(err, errCut) {
			s.c.cuts.Add(1)
			continue
		}
		if err != nil {
			s.fail(ctx, err)
			return 0, false
		}
	}

	hash, err := s.plainText(ctx, d, "hash", nil)
	if err != nil {
		s.fail(ctx, err)
		return 0, false
	}
	if got := hex.EncodeToString(dl.sink.sum.Sum(nil)); dl.sink.n != dl.size || got != hash {
		s.corrupt(ctx, d, dl.sink.n, send, "crc "+got+", want "+hash)
		return 0, false
	}
	d.dl = nil
	return dl.size, true
}

// plainPiece fetches the next piece of the image into dl.
func (s *Sim) plainPiece(ctx context.Context, d *device, dl *download) error {
	off := dl.sink.n
	req, err := s.plainRequest(ctx, d, "bin", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+pieceSize-1))
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // closing early is how a cut link looks

	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if dl.size, err = contentRange(resp.Header.Get("Content-Range"), off); err != nil {
			return err
		}
		body = io.LimitReader(resp.Body, pieceSize)
	case http.StatusOK:
		// The server sent the whole image: keep it from the start.
		if err := dl.sink.Truncate(0); err != nil {
			return err
		}
		dl.size = resp.ContentLength
	default:
		return textError(resp)
	}

	if dl.cut && dl.size > 1 {
		dl.sink.cutAt, dl.cut = dl.size/2, false
	}
	_, err = io.Copy(dl.sink, body)
	return err
}

// contentRange parses "bytes FIRST-LAST/TOTAL", checks that the piece
// starts at off and returns TOTAL.
func contentRange(v string, off int64) (int64, error) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	span, total, ok2 := strings.Cut(spec, "/")
	first, _, ok3 := strings.Cut(span, "-")
	start, err := strconv.ParseInt(first, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	if !ok || !ok2 || !ok3 || err != nil || err2 != nil || size < 0 {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	if start != off {
		return 0, fmt.Errorf("piece starts at byte %d, asked for %d", start, off)
	}
	return size, nil
}

// plainText fetches one of the short text answers (version, hash) for
// device d.
func (s *Sim) plainText(ctx context.Context, d *device, name string, q url.Values) (string, error) {
	var text string
	err := s.call(ctx, func() error {
		req, err := s.plainRequest(ctx, d, name, q)
		if err != nil {
			return err
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }() // nothing to learn from closing a read body
		if resp.StatusCode != http.StatusOK {
			return textError(resp)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxText))
		text = string(b)
		return err
	})
	return text, err
}

// plainStatus sends a status report the way a sketch does: a GET with
// query parameters.
func (s *Sim) plainStatus(ctx context.Context, d *device, state string, progress int64, detail string) error {
	q := url.Values{"state": {state}, "progress": {strconv.FormatInt(progress, 10)}}
	if detail != "" {
		q.Set("detail", detail)
	}
	_, err := s.plainText(ctx, d, "status", q)
	return err
}

// plainRequest builds GET /fw/{product}/{name}?device=ID&q for device d.
func (s *Sim) plainRequest(ctx context.Context, d *device, name string, q url.Values) (*http.Request, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("device", d.id)
	u := strings.TrimRight(s.cfg.Server, "/") + "/fw/" + url.PathEscape(s.cfg.Product) + "/" + name + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	return req, nil
}

// textError turns a plain-protocol error answer into a *client.Error, so
// errors of both protocols are counted alike.
func textError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxText)) // the status is what matters
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return &client.Error{Status: resp.StatusCode, Message: line}
}
