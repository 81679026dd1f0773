package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Device is a client of the native device protocol (/device/v1/{product})
// acting as one device.
type Device struct {
	c       conn
	product string
	id      string
}

// NewDevice returns a client that speaks for device id of product to the
// server at baseURL. token is the device's token, or the enrollment key
// for Enroll, or empty for a public or p256 product. A nil hc means a new
// http.Client with no timeout; bound calls with their context. Options
// such as WithDeviceKey apply in order.
func NewDevice(baseURL, product, id, token string, hc *http.Client, opts ...DeviceOption) *Device {
	d := &Device{c: newConn(baseURL, token, hc), product: product, id: id}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Enroll registers the device with the product's enrollment key, which d
// must have been made with, and returns its device token: a client made
// with that token speaks for the device from then on. Enrolling again
// revokes the tokens issued before.
func (d *Device) Enroll(ctx context.Context) (string, error) {
	in := struct {
		ID string `json:"id"`
	}{d.id}
	var out struct {
		Token string `json:"token"`
	}
	if err := d.c.doJSON(ctx, http.MethodPost, d.path("/enroll"), nil, in, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("enroll %s: the server answered no token", d.id)
	}
	return out.Token, nil
}

// CheckInRequest is what a device tells the server when it checks in.
type CheckInRequest struct {
	// Version is the version the device runs now.
	Version string
	// SHA256 is the hex digest of the running image; optional.
	SHA256 string
	// Counter, when not nil, is the security counter the device runs; the
	// server never offers a release whose counter is below it. Nil keeps
	// the counter the device reported last.
	Counter *int64
	// Attrs, when not nil, replaces the attributes the device reported
	// before (signal, battery, ...).
	Attrs map[string]string
}

// CheckInResponse is the server's answer to a check-in.
type CheckInResponse struct {
	// Poll is how many seconds to wait before the next check-in.
	Poll int `json:"poll"`
	// Offer is the update the device should apply, nil when there is
	// nothing to do.
	Offer *Offer `json:"update,omitempty"`
	// Commands are the device's open commands, oldest first; answer each
	// with Ack.
	Commands []Command `json:"cmds,omitempty"`
}

// PollInterval returns Poll as a duration.
func (r CheckInResponse) PollInterval() time.Duration {
	return time.Duration(r.Poll) * time.Second
}

// Offer is an update the server wants the device to apply. URL is relative
// to the server; pass it to Download as it is.
type Offer struct {
	ID      int64  `json:"id"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	MD5     string `json:"md5"`
	CRC32   string `json:"crc32"`
	URL     string `json:"url"`
	Format  string `json:"format"`
	// Counter is the release's security counter.
	Counter int64 `json:"counter"`
	// Manifest and Sig are the publisher's signed manifest and its
	// signature (see package manifest); both nil for an unsigned release.
	// The server only relays them: a device that holds trusted keys
	// verifies them itself.
	Manifest []byte `json:"manifest,omitempty"`
	Sig      []byte `json:"sig,omitempty"`
}

// CheckIn tells the server what the device runs and returns what it should
// do next.
func (d *Device) CheckIn(ctx context.Context, req CheckInRequest) (CheckInResponse, error) {
	in := struct {
		ID      string            `json:"id"`
		Version string            `json:"version"`
		SHA256  string            `json:"sha256,omitempty"`
		Counter *int64            `json:"counter,omitempty"`
		Attrs   map[string]string `json:"attrs,omitempty"`
	}{d.id, req.Version, req.SHA256, req.Counter, req.Attrs}

	var resp CheckInResponse
	err := d.c.doJSON(ctx, http.MethodPost, d.path("/checkin"), nil, in, &resp)
	return resp, err
}

// Report sends a status report about update updateID: state is one of the
// State constants a device may report, progress the bytes downloaded so
// far, detail free text (a failure's reason). Reports are idempotent, so a
// caller may repeat one whose answer it did not see.
func (d *Device) Report(ctx context.Context, updateID int64, state string, progress int64, detail string) error {
	in := struct {
		ID       string `json:"id"`
		Update   int64  `json:"update"`
		State    string `json:"state"`
		Progress int64  `json:"progress"`
		Detail   string `json:"detail"`
	}{d.id, updateID, state, progress, detail}
	return d.c.doJSON(ctx, http.MethodPost, d.path("/status"), nil, in, nil)
}

// Transfer describes what one Download call did.
type Transfer struct {
	// Restarted is true when a download asked to resume at a non-zero
	// offset got the whole image instead (the server ignored the range or
	// the If-Range validator no longer matched): the bytes written start
	// at byte 0 of the image, not at the offset.
	Restarted bool
	// Written is the number of bytes written to w, even when Download
	// returns an error part way.
	Written int64
	// Size is the full image size as the server stated it; -1 if unknown.
	Size int64
	// ETag is the image's validator, to pass as ifRange when resuming.
	ETag string
}

// rewinder is a destination that can drop what it holds, as *os.File can.
type rewinder interface {
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
}

// Download fetches the image at rawURL (an Offer's URL, resolved against the
// server) into w. With offset > 0 it asks for the rest of the image from
// offset, sending ifRange (an ETag from an earlier Transfer) as If-Range if
// it is not empty, and w is expected to already hold the first offset bytes.
//
// If the server answers with the whole image instead, Download reports
// Transfer.Restarted. When w has Truncate and Seek methods (as *os.File
// does), Download truncates it to zero and rewinds it before writing, so
// the old bytes and the new never mix; other writers get the whole image
// and the caller must discard what it held before.
//
// The device's id is added to same-server URLs so the server counts the
// bytes it serves, and the credential is sent only to the server itself.
// A failed transfer returns the bytes written so far in Transfer.Written.
func (d *Device) Download(
	ctx context.Context,
	rawURL string,
	w io.Writer,
	offset int64,
	ifRange string,
) (Transfer, error) {
	t := Transfer{Size: -1}
	req, err := d.downloadRequest(ctx, rawURL, offset, ifRange)
	if err != nil {
		return t, err
	}
	resp, err := d.c.hc.Do(req)
	if err != nil {
		return t, err
	}
	defer func() { _ = resp.Body.Close() }() // nothing to learn from closing a read body

	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if t.Size, err = checkContentRange(resp.Header.Get("Content-Range"), offset); err != nil {
			return t, err
		}
	case resp.StatusCode == http.StatusOK:
		t.Size = resp.ContentLength
		if offset > 0 {
			t.Restarted = true
			if err := rewind(w); err != nil {
				return t, fmt.Errorf("restart download: %w", err)
			}
		}
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return t, fmt.Errorf("download %s: unexpected status %s", req.URL.Path, resp.Status)
	default:
		return t, errorFrom(resp)
	}
	t.ETag = resp.Header.Get("ETag")

	t.Written, err = io.Copy(w, resp.Body)
	if err != nil {
		return t, fmt.Errorf("download %s: %w", req.URL.Path, err)
	}
	return t, nil
}

func (d *Device) downloadRequest(
	ctx context.Context,
	rawURL string,
	offset int64,
	ifRange string,
) (*http.Request, error) {
	base, err := url.Parse(d.c.base)
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	ref, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("download URL: %w", err)
	}
	u := base.ResolveReference(ref)

	// Only the server that made the offer gets the device's id and
	// credential; an image elsewhere (a CDN, a presigned store URL) must not.
	same := u.Scheme == base.Scheme && u.Host == base.Host
	if same && !u.Query().Has("id") {
		q := u.Query()
		q.Set("id", d.id)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if same && d.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.c.token)
	}
	if same && d.c.signer != nil {
		if err := d.c.signer.sign(req); err != nil {
			return nil, err
		}
	}

	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		if ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	return req, nil
}

// checkContentRange parses "bytes FIRST-LAST/TOTAL" and makes sure the part
// starts where the caller's copy ends; a part starting elsewhere would
// splice two different stretches of the image. It returns TOTAL, or -1
// when the server sent "*".
func checkContentRange(v string, offset int64) (int64, error) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	rng, total, ok2 := strings.Cut(spec, "/")
	first, _, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	if start != offset {
		return 0, fmt.Errorf("server sent bytes from %d, asked for %d", start, offset)
	}
	if total == "*" {
		return -1, nil
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	return size, nil
}

func rewind(w io.Writer) error {
	r, ok := w.(rewinder)
	if !ok {
		return nil
	}
	if err := r.Truncate(0); err != nil {
		return err
	}
	_, err := r.Seek(0, io.SeekStart)
	return err
}

func (d *Device) path(suffix string) string {
	return "/device/v1/" + url.PathEscape(d.product) + suffix
}
