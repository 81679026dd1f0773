// Package plain adapts the classic web-server layout of OTA files
// (version, bin, hash) to the update core, for the smallest clients: every
// answer is a short text/plain body or the image, always with a
// Content-Length, and the device's identity and running version are
// optional query parameters. See docs/protocol.md.
package plain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// Protocol names this adapter in device histories.
const Protocol = "plain"

// maxForm bounds a POSTed status form.
const maxForm = 4 << 10

// Handler serves the plain protocol under /fw/.
type Handler struct {
	svc   *core.Service
	log   *slog.Logger
	stall time.Duration
	mux   *http.ServeMux
}

// New returns a Handler. stall is how long a download may make no progress
// before its connection is closed.
func New(svc *core.Service, stall time.Duration, logger *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: logger.With("component", "plain"), stall: stall, mux: http.NewServeMux()}
	h.mux.HandleFunc("HEAD /fw/{product}/enroll", func(w http.ResponseWriter, r *http.Request) {
		// Enrolling issues a token and revokes the old ones; HEAD must
		// change nothing.
		w.Header().Set("Allow", "GET")
		httpkit.Text(w, http.StatusMethodNotAllowed, "enroll takes GET")
	})
	h.mux.HandleFunc("GET /fw/{product}/enroll", h.handleEnroll)
	h.mux.HandleFunc("GET /fw/{product}/version", h.handleVersion)
	h.mux.HandleFunc("GET /fw/{product}/bin", h.handleBin)
	h.mux.HandleFunc("GET /fw/{product}/hash", h.digest(func(r core.Release) string {
		return fmt.Sprintf("%08x", r.CRC32)
	}))
	h.mux.HandleFunc("GET /fw/{product}/md5", h.digest(func(r core.Release) string { return r.MD5 }))
	h.mux.HandleFunc("GET /fw/{product}/sha256", h.digest(func(r core.Release) string { return r.SHA256 }))
	// The Arduino files (docs/arduino.md): the .ota file and the bare LZSS
	// stream, also under the names sketches store them as.
	for _, f := range []core.Format{core.FormatOTA, core.FormatLZSS} {
		h.mux.HandleFunc("GET /fw/{product}/"+string(f), h.handleDerived(f))
		h.mux.HandleFunc("GET /fw/{product}/update."+string(f), h.handleDerived(f))
		h.mux.HandleFunc("GET /fw/{product}/"+string(f)+".hash", h.derivedDigest(f, func(d core.Derived) string {
			return fmt.Sprintf("%08x", d.CRC32)
		}))
		h.mux.HandleFunc("GET /fw/{product}/"+string(f)+".md5", h.derivedDigest(f, func(d core.Derived) string {
			return d.MD5
		}))
		h.mux.HandleFunc("GET /fw/{product}/"+string(f)+".sha256", h.derivedDigest(f, func(d core.Derived) string {
			return d.SHA256
		}))
	}
	h.mux.HandleFunc("GET /fw/{product}/manifest", h.signed("text/plain", "manifest",
		func(r core.Release) []byte { return r.Manifest }))
	h.mux.HandleFunc("GET /fw/{product}/sig", h.signed("application/octet-stream", "signature",
		func(r core.Release) []byte { return r.Signature }))
	h.mux.HandleFunc("HEAD /fw/{product}/status", func(w http.ResponseWriter, r *http.Request) {
		// A status request records a report; HEAD must change nothing.
		w.Header().Set("Allow", "GET, POST")
		httpkit.Text(w, http.StatusMethodNotAllowed, "status takes GET or POST")
	})
	h.mux.HandleFunc("GET /fw/{product}/status", h.handleStatus)
	h.mux.HandleFunc("POST /fw/{product}/status", h.handleStatus)
	// Asking for a command delivers it and an ack records an answer;
	// HEAD must change nothing.
	for _, name := range []string{"cmd", "ack"} {
		h.mux.HandleFunc("HEAD /fw/{product}/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET")
			httpkit.Text(w, http.StatusMethodNotAllowed, name+" takes GET")
		})
	}
	h.mux.HandleFunc("GET /fw/{product}/cmd", h.handleCmd)
	h.mux.HandleFunc("GET /fw/{product}/ack", h.handleAck)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.Text(w, status, msg)
}

// product authorizes r, whose body hashes to body, for the device it names;
// see httpkit.AuthorizeDevice.
func (h *Handler) product(r *http.Request, named string, body [32]byte) (core.Product, string, error) {
	return httpkit.AuthorizeDevice(h.svc, r, named, body)
}

// handleEnroll registers the device parameter with the enrollment key in
// token and answers its device token. The answer must not be cached.
func (h *Handler) handleEnroll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok, err := h.svc.Enroll(r.Context(), r.PathValue("product"), httpkit.Credential(r), q.Get("device"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.Text(w, http.StatusOK, tok)
}

// handleVersion is the check-in: with a device ID it records the device and
// lets the core decide; without one it answers like a static file.
func (h *Handler) handleVersion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, device, err := h.product(r, q.Get("device"), httpkit.EmptyBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if device != "" && r.Method == http.MethodHead {
		// HEAD must not record a check-in: answer the length of what a GET
		// would answer now, without deciding anything new.
		rel, _, err := h.svc.Target(r.Context(), p, device)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		httpkit.Text(w, http.StatusOK, rel.Version)
		return
	}
	if device == "" {
		rel, err := h.svc.ChannelRelease(r.Context(), p, core.DefaultChannel)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		httpkit.Text(w, http.StatusOK, rel.Version)
		return
	}

	in := core.CheckIn{Device: device, Version: q.Get("version"), Protocol: Protocol}
	if s := q.Get("counter"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			h.fail(w, r, fmt.Errorf("%w: counter %q is not a number", core.ErrInvalid, s))
			return
		}
		in.Counter = &n
	}
	dec, err := h.svc.CheckIn(r.Context(), p, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	want := dec.Want()
	if want == "" {
		h.fail(w, r, fmt.Errorf("no release published on channel %s of %s: %w",
			dec.Device.Channel, p.Name, core.ErrNotFound))
		return
	}
	httpkit.Text(w, http.StatusOK, want)
}

// target returns the release a request is about: the device's, when it
// is about one, else the default channel's.
func (h *Handler) target(ctx context.Context, p core.Product, device string) (core.Release, core.Device, error) {
	if device != "" {
		return h.svc.Target(ctx, p, device)
	}
	rel, err := h.svc.ChannelRelease(ctx, p, core.DefaultChannel)
	return rel, core.Device{}, err
}

// release authorizes a body-less request and returns the release it is
// about: the named device's (see target), else the default channel's.
func (h *Handler) release(r *http.Request) (core.Product, core.Release, core.Device, error) {
	p, device, err := h.product(r, r.URL.Query().Get("device"), httpkit.EmptyBody)
	if err != nil {
		return core.Product{}, core.Release{}, core.Device{}, err
	}
	rel, dev, err := h.target(r.Context(), p, device)
	return p, rel, dev, err
}

func (h *Handler) handleBin(w http.ResponseWriter, r *http.Request) {
	_, rel, dev, err := h.release(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	img, err := h.svc.OpenImage(r.Context(), rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer img.Close()

	n := httpkit.ServeImage(w, r, httpkit.Image{
		Content: img, ETag: ETag(rel), ContentType: "application/octet-stream",
	}, h.stall)
	if dev.ID != 0 {
		h.svc.CountBytes(dev.ID, rel.ID, n)
	}
}

// handleDerived serves one of the files derived from the release bin
// serves, with everything bin has: Range, If-Range, HEAD, an ETag, and the
// bytes counted for the device, whose download it is.
func (h *Handler) handleDerived(f core.Format) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, rel, dev, err := h.release(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d, file, err := h.svc.OpenDerived(r.Context(), p, rel, f)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defer file.Close()

		n := httpkit.ServeImage(w, r, httpkit.Image{
			Content: file, ETag: `"` + d.SHA256[:16] + `"`, ContentType: "application/octet-stream",
		}, h.stall)
		if dev.ID != 0 {
			h.svc.CountBytes(dev.ID, rel.ID, n)
		}
	}
}

// derivedDigest answers a digest of a derived file of the release bin
// serves.
func (h *Handler) derivedDigest(f core.Format, pick func(core.Derived) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, rel, _, err := h.release(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d, err := core.DerivedOf(p, rel, f)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		httpkit.Text(w, http.StatusOK, pick(d))
	}
}

// ETag is the strong validator of a release's image: short, because plain
// clients pay for every header byte, and unique enough among one
// product's releases.
func ETag(r core.Release) string { return `"` + r.SHA256[:16] + `"` }

func (h *Handler) digest(pick func(core.Release) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, rel, _, err := h.release(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		httpkit.Text(w, http.StatusOK, pick(rel))
	}
}

// signed answers the raw bytes pick takes from the same release bin and
// hash answer for: the signed manifest or its signature. An unsigned
// release has neither, and a device that wants one must not install it.
func (h *Handler) signed(contentType, what string, pick func(core.Release) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, rel, _, err := h.release(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		b := pick(rel)
		if len(b) == 0 {
			h.fail(w, r, fmt.Errorf("%s %s is not signed, so it has no %s: %w", p.Name, rel.Version, what,
				core.ErrNotFound))
			return
		}

		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(b) // the client hung up; nothing to do
		}
	}
}

func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	// The form is read whole first so that a signed request's body hash
	// covers exactly the bytes parsed.
	b, err := io.ReadAll(http.MaxBytesReader(w, httpkit.StallReader(w, r, h.stall), maxForm))
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: status form: %w", core.ErrInvalid, err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, fmt.Errorf("%w: status form: %w", core.ErrInvalid, err))
		return
	}
	p, device, err := h.product(r, r.Form.Get("device"), sha256.Sum256(b))
	if err != nil {
		h.fail(w, r, err)
		return
	}

	in := core.Report{Device: device, State: r.Form.Get("state"), Detail: r.Form.Get("detail"),
		Protocol: Protocol}
	if in.Device == "" {
		h.fail(w, r, fmt.Errorf("%w: status needs the device parameter", core.ErrInvalid))
		return
	}
	if s := r.Form.Get("progress"); s != "" {
		if in.Progress, err = strconv.ParseInt(s, 10, 64); err != nil {
			h.fail(w, r, fmt.Errorf("%w: progress %q is not a number of bytes", core.ErrInvalid, s))
			return
		}
	}
	if _, err := h.svc.Report(r.Context(), p, in); err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.Text(w, http.StatusOK, "ok")
}
