package esp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
	"github.com/ferry-ota/ferry/internal/plain"
)

// Protocol names this adapter in device histories.
const Protocol = "esp"

// servedWhole is the history's note when the whole image went out in one
// answer: httpUpdate writes the image to flash as it arrives, checks its
// MD5 and restarts into it, and reports nothing.
const servedWhole = "image sent whole: httpUpdate flashes it as it arrives and restarts"

// Handler serves the httpUpdate endpoint under /esp/.
type Handler struct {
	svc   *core.Service
	log   *slog.Logger
	stall time.Duration
	mux   *http.ServeMux
}

// New returns a Handler. stall is how long a download may make no progress
// before its connection is closed.
func New(svc *core.Service, stall time.Duration, logger *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: logger.With("component", "esp"), stall: stall, mux: http.NewServeMux()}
	h.mux.HandleFunc("HEAD /esp/{product}", func(w http.ResponseWriter, _ *http.Request) {
		// Every GET is a check-in; HEAD must change nothing.
		w.Header().Set("Allow", "GET")
		httpkit.Text(w, http.StatusMethodNotAllowed, "the ESP endpoint takes GET")
	})
	h.mux.HandleFunc("GET /esp/{product}", h.handleUpdate)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.Text(w, status, msg)
}

// credential returns the device token r carries: a Bearer header, the
// token parameter, or the password of Basic authentication, which is what
// httpUpdate's setAuthorization(user, password) sends.
func credential(r *http.Request) string {
	if tok := httpkit.Credential(r); tok != "" {
		return tok
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	return ""
}

// handleUpdate is the whole exchange: the check-in, then 304, the image,
// or a refusal.
func (h *Handler) handleUpdate(w http.ResponseWriter, r *http.Request) {
	req, err := parseRequest(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	named := req.mac
	if named == "" {
		named = r.URL.Query().Get("device")
	}
	p, device, err := httpkit.AuthorizeDeviceWith(h.svc, r, named, httpkit.EmptyBody, credential(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !req.sketch {
		// TODO(esp): Ferry keeps no file-system images, so a mode=spiffs
		// request is told there is no update, and is not a check-in. A fix
		// is a second image kind per release, offered by the same rules.
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if device == "" {
		h.fail(w, r, fmt.Errorf("%w: no device identity: send %sSTA-MAC or the device parameter",
			core.ErrInvalid, prefix8266))
		return
	}
	if req.version == "" && req.md5 == "" {
		// Nothing would tell the board's next request from this one, so
		// it would be sent the image on every request, and flash it on
		// every one. The cores always send the sketch's MD5.
		h.fail(w, r, fmt.Errorf("%w: nothing says what the board runs: send %ssketch-md5, %sversion "+
			"or the version parameter", core.ErrInvalid, prefix8266, prefix8266))
		return
	}

	dec, err := h.svc.CheckIn(r.Context(), p, core.CheckIn{
		Device: device, Version: req.version, ImageMD5: req.md5, FreeSpace: req.free,
		Attributes: req.attrs, Protocol: Protocol,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case dec.Refused != "":
		// httpUpdate fails on any status but 200 and 304; 413 says why in
		// the status line already, for whoever reads the sketch's log.
		httpkit.Text(w, http.StatusRequestEntityTooLarge, dec.Refused)
	case dec.Release == nil:
		w.WriteHeader(http.StatusNotModified)
	default:
		h.serve(w, r, p, dec)
	}
}

// serve sends the offered image. When all of it went out in this answer,
// the update is recorded as installing: that is what the updater does with
// a whole image, so a later check-in on the old image is a failure.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, p core.Product, dec core.Decision) {
	rel := *dec.Release
	img, err := h.svc.OpenImage(r.Context(), rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer img.Close()

	// Spelled as the PHP scripts send it; the updaters match header names
	// in any case, but a byte-for-byte familiar answer is easier to debug.
	w.Header()["x-MD5"] = []string{rel.MD5}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.bin"`, p.Name, rel.Version))
	n := httpkit.ServeImage(w, r, httpkit.Image{
		Content: img, ETag: plain.ETag(rel), ContentType: "application/octet-stream",
	}, h.stall)
	h.svc.CountBytes(dec.Device.ID, rel.ID, n)
	// TODO(esp): "sent whole" means the last byte was handed to the
	// kernel, not that the board received it. A link lost in those last
	// buffered kilobytes is recorded as installing, and the board's next
	// check-in on its old image as a failure; the one after that gets the
	// image again, within the fail limit. A fix is to wait for the
	// socket's send queue to drain (every byte acknowledged) before
	// recording, which needs the connection, not the ResponseWriter.
	// Worse, n counts bytes accepted into net/http's buffers: when the
	// final flush in httpkit.ServeImage fails (the link dropped with the
	// last few KB unsent), its error is dropped and n still equals the
	// size. ServeImage reporting that failure (a second result) fixes it.
	if n != rel.Size {
		return
	}
	// The updater may hang up the moment it has the last byte, which
	// cancels r's context; the record must be written all the same.
	_, err = h.svc.Report(context.WithoutCancel(r.Context()), p, core.Report{
		Device: dec.Device.Name, UpdateID: dec.Update.ID, State: string(core.StateInstalling),
		Progress: n, Detail: servedWhole, Protocol: Protocol,
	})
	if err != nil {
		h.log.Error("record image sent whole", "device_id", dec.Device.Name, "version", rel.Version, "error", err)
	}
}
