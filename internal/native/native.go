// Package native adapts Ferry's own JSON device protocol to the update
// core: a check-in that answers "nothing to do" or an offer, immutable
// content-addressed image downloads, and status reports. Answers are kept
// small because devices pay per byte. See docs/protocol.md.
package native

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
	"github.com/ferry-ota/ferry/internal/plain"
)

// Protocol names this adapter in device histories.
const Protocol = "native"

// maxBody bounds a check-in or status body: 32 attributes of the largest
// size fit with room to spare.
const maxBody = 16 << 10

// Handler serves the native protocol under /device/v1/.
type Handler struct {
	svc   *core.Service
	log   *slog.Logger
	stall time.Duration
	mux   *http.ServeMux
}

// New returns a Handler. stall is how long a download may make no progress
// before its connection is closed.
func New(svc *core.Service, stall time.Duration, logger *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: logger.With("component", "native"), stall: stall, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /device/v1/{product}/enroll", h.handleEnroll)
	h.mux.HandleFunc("POST /device/v1/{product}/checkin", h.handleCheckIn)
	h.mux.HandleFunc("GET /device/v1/{product}/img/{sha256}", h.handleImage)
	h.mux.HandleFunc("POST /device/v1/{product}/status", h.handleStatus)
	h.mux.HandleFunc("POST /device/v1/{product}/ack", h.handleAck)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.JSONError(w, status, msg)
}

// product authorizes r, whose body hashes to body, for the device it names;
// see httpkit.AuthorizeDevice.
func (h *Handler) product(r *http.Request, named string, body [32]byte) (core.Product, string, error) {
	return httpkit.AuthorizeDevice(h.svc, r, named, body)
}

type enrollRequest struct {
	ID string `json:"id"`
}

type enrollResponse struct {
	Token string `json:"token"`
}

// handleEnroll registers a device of a key product with the product's
// enrollment key and answers the device token it uses from then on.
func (h *Handler) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req enrollRequest
	if _, err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}

	tok, err := h.svc.Enroll(r.Context(), r.PathValue("product"), httpkit.Credential(r), req.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	w.Header().Set("Cache-Control", "no-store")
	httpkit.JSON(w, http.StatusCreated, enrollResponse{Token: tok})
}

// decode reads a bounded JSON body, cutting a sender that stalls, and
// returns the SHA-256 of the body, which a signed request signs. Unknown
// fields are ignored so newer devices can talk to older servers.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) ([32]byte, error) {
	// The hash sees every byte the decoder reads; when decoding succeeds
	// the decoder has read up to EOF, so the hash covers the whole body.
	sum := sha256.New()
	body := io.TeeReader(http.MaxBytesReader(w, httpkit.StallReader(w, r, h.stall), maxBody), sum)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return [32]byte{}, err
		}
		return [32]byte{}, fmt.Errorf("%w: body is not the expected JSON: %s", core.ErrInvalid, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return [32]byte{}, fmt.Errorf("%w: body has data after the JSON object", core.ErrInvalid)
	}
	return [32]byte(sum.Sum(nil)), nil
}

// jsonProblem describes a decoding error in a few words. The decoder's own
// text may quote the offending value, however long; a device pays for
// every byte of the answer.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("malformed at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the body ends too early"
	}
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return msg
}

type checkInRequest struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Counter is the security counter the device runs; absent keeps the
	// one it reported before.
	Counter *int64            `json:"counter"`
	Attrs   map[string]string `json:"attrs"`
}

type offer struct {
	ID      int64  `json:"id"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	MD5     string `json:"md5"`
	CRC32   string `json:"crc32"`
	URL     string `json:"url"`
	Format  string `json:"format"`
	Counter int64  `json:"counter"`
	// Manifest and Sig are the publisher's signed manifest and its
	// signature, standard base64 in JSON; omitted for unsigned releases.
	Manifest []byte `json:"manifest,omitempty"`
	Sig      []byte `json:"sig,omitempty"`
}

type checkInResponse struct {
	Poll   int64  `json:"poll"`
	Update *offer `json:"update,omitempty"`
	// Commands are the device's open commands, oldest first; it answers
	// each with an ack.
	Commands []command `json:"cmds,omitempty"`
}

func (h *Handler) handleCheckIn(w http.ResponseWriter, r *http.Request) {
	var req checkInRequest
	body, err := h.decode(w, r, &req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, dev, err := h.product(r, req.ID, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.ID = dev

	dec, err := h.svc.CheckIn(r.Context(), p, core.CheckIn{
		Device: req.ID, Version: req.Version, ImageSHA256: req.SHA256, Counter: req.Counter,
		Attributes: req.Attrs, Protocol: Protocol, Commands: true,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, checkInAnswer(p, dec))
}

// checkInAnswer is the answer to a check-in, held or not.
func checkInAnswer(p core.Product, dec core.Decision) checkInResponse {
	resp := checkInResponse{Poll: int64(dec.Poll / time.Second), Commands: commands(dec.Commands)}
	if dec.Update != nil {
		rel := dec.Release
		resp.Update = &offer{
			ID: dec.Update.ID, Version: rel.Version, Size: rel.Size, SHA256: rel.SHA256, MD5: rel.MD5,
			CRC32: fmt.Sprintf("%08x", rel.CRC32), Format: "full",
			URL:     ImageURL(p.Name, rel.SHA256) + "?id=" + url.QueryEscape(dec.Device.Name),
			Counter: rel.Counter, Manifest: rel.Manifest, Sig: rel.Signature,
		}
	}
	return resp
}

// parseCounter reads a security counter from a query parameter.
func parseCounter(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if len(s) > 20 {
			s = s[:20] + "…"
		}
		return 0, fmt.Errorf("%w: counter %q is not a number", core.ErrInvalid, s)
	}
	return n, nil
}

// ImageURL is the path under which a product's image is downloaded.
func ImageURL(product, sha256 string) string {
	return "/device/v1/" + product + "/img/" + sha256
}

func (h *Handler) handleImage(w http.ResponseWriter, r *http.Request) {
	p, id, err := h.product(r, r.URL.Query().Get("id"), httpkit.EmptyBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rel, err := h.svc.ImageRelease(r.Context(), p, r.PathValue("sha256"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var devID int64
	if id != "" {
		if devID, err = h.svc.DeviceRowID(r.Context(), p, id); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	img, err := h.svc.OpenImage(r.Context(), rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer img.Close()

	// An image never changes under its address, so caches may keep it;
	// private products' images must not sit in shared caches.
	cache := "public, max-age=31536000, immutable"
	if p.Access != core.AccessPublic {
		cache = "private, max-age=31536000, immutable"
	}
	n := httpkit.ServeImage(w, r, httpkit.Image{
		Content: img, ETag: plain.ETag(rel), ContentType: "application/octet-stream", CacheControl: cache,
	}, h.stall)
	if devID != 0 {
		h.svc.CountBytes(devID, rel.ID, n)
	}
}

type statusRequest struct {
	ID       string `json:"id"`
	Update   int64  `json:"update"`
	State    string `json:"state"`
	Progress int64  `json:"progress"`
	Detail   string `json:"detail"`
}

func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	var req statusRequest
	body, err := h.decode(w, r, &req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, dev, err := h.product(r, req.ID, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.ID = dev
	if req.Update < 0 {
		h.fail(w, r, fmt.Errorf("%w: update id %d is negative", core.ErrInvalid, req.Update))
		return
	}

	_, err = h.svc.Report(r.Context(), p, core.Report{
		Device: req.ID, UpdateID: req.Update, State: req.State, Progress: req.Progress, Detail: req.Detail,
		Protocol: Protocol,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
