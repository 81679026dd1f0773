package ddi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// maxBody bounds a feedback or configData body. SWUpdate batches its log
// lines into a feedback's details, so this is larger than what the native
// protocol allows; what is kept of the details is cut to core.MaxDetailLen.
const maxBody = 64 << 10

// prefix is what follows the tenant in every DDI path.
const prefix = "/controller/v1/"

// Handler serves the DDI API under /{tenant}/controller/v1/{controller}.
//
// TODO(ddi): polls carry no ETag, so a client's If-None-Match never gets
// the 304 hawkBit gives; every poll is answered in full (about 200 bytes).
// An ETag over the answer's body would fix it once clients that send
// If-None-Match show up on metered links.
//
// TODO(ddi): the actionHistory parameter of deploymentBase is ignored, and
// bodies are JSON only: a client that sends CBOR, which hawkBit accepts,
// gets 400. Both matter only for clients that use them; none of the ones
// tested (SWUpdate) does.
type Handler struct {
	svc   *core.Service
	log   *slog.Logger
	stall time.Duration
	mux   *http.ServeMux
}

// New returns a Handler. stall is how long a download may make no progress
// before its connection is closed.
func New(svc *core.Service, stall time.Duration, logger *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: logger.With("component", "ddi"), stall: stall, mux: http.NewServeMux()}
	const base = "/{tenant}/controller/v1/{controller}"
	h.mux.HandleFunc("HEAD "+base, func(w http.ResponseWriter, r *http.Request) {
		// A poll records a check-in; HEAD must change nothing.
		w.Header().Set("Allow", "GET")
		httpkit.Text(w, http.StatusMethodNotAllowed, "poll with GET")
	})
	h.mux.HandleFunc("GET "+base, h.handlePoll)
	h.mux.HandleFunc("PUT "+base+"/configData", h.handleConfigData)
	h.mux.HandleFunc("GET "+base+"/deploymentBase/{action}", h.handleDeployment)
	h.mux.HandleFunc("POST "+base+"/deploymentBase/{action}/feedback", h.handleFeedback)
	h.mux.HandleFunc("GET "+base+"/cancelAction/{action}", h.handleCancel)
	h.mux.HandleFunc("POST "+base+"/cancelAction/{action}/feedback", h.handleCancelFeedback)
	h.mux.HandleFunc("GET "+base+"/installedBase/{action}", h.handleInstalled)
	h.mux.HandleFunc("PUT "+base+"/installedBase", h.handleDeclareInstalled)
	h.mux.HandleFunc("GET "+base+"/confirmationBase", h.handleConfirmation)
	h.mux.HandleFunc("GET "+base+"/softwaremodules/{module}/artifacts", h.handleArtifacts)
	h.mux.HandleFunc("GET "+base+"/softwaremodules/{module}/artifacts/{file}", h.handleArtifact)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// DeviceKey returns the tenant and controller a DDI path names, joined, for
// limiting requests per device; "" for a path that is not a DDI one.
func DeviceKey(path string) string {
	tenant, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok {
		return ""
	}
	rest, ok = strings.CutPrefix("/"+rest, prefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if tenant == "" || id == "" {
		return ""
	}
	return tenant + "\x00" + id
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.JSONError(w, status, msg)
}

// authorize checks r's credential for the device its path names and
// returns the product and the device. "TargetToken" is a device token (see
// core.Service.AuthorizeDevice), "GatewayToken" the product's enrollment
// key (core.Service.AuthorizeGateway); a public product needs neither.
func (h *Handler) authorize(r *http.Request) (core.Product, string, error) {
	tenant, id := r.PathValue("tenant"), r.PathValue("controller")
	if err := core.ValidateDeviceID(id); err != nil {
		return core.Product{}, "", err
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if strings.EqualFold(scheme, "GatewayToken") {
		p, err := h.svc.AuthorizeGateway(r.Context(), tenant, tok)
		return p, id, err
	}
	if !strings.EqualFold(scheme, "TargetToken") {
		tok = ""
	}
	p, bound, err := h.svc.AuthorizeDevice(r.Context(), tenant, tok)
	if err != nil {
		return core.Product{}, "", err
	}
	if err := core.SameDevice(bound, id); err != nil {
		return core.Product{}, "", err
	}
	return p, id, nil
}

// actionID parses the action in r's path: a Ferry update ID.
func actionID(r *http.Request) (int64, error) {
	s := r.PathValue("action")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: action id %q: want a positive number", core.ErrInvalid, truncate(s, 40))
	}
	return id, nil
}

// decode reads a bounded JSON body into v, cutting a sender that stalls.
// Unknown fields are ignored: clients send legacy ones.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, httpkit.StallReader(w, r, h.stall), maxBody))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: body is not the expected JSON: %s", core.ErrInvalid, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body has data after the JSON object", core.ErrInvalid)
	}
	return nil
}

// jsonProblem describes a decoding error in a few words, without quoting
// the offending input.
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
	return truncate(err.Error(), 80)
}

// ok answers 200 with an empty body and its Content-Length.
func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// sleep formats a poll interval as DDI's fixed-length HH:MM:SS. Clients
// parse it as a time of day, so it is capped just short of a day.
func sleep(d time.Duration) string {
	secs := int64(min(max(d, time.Second), 24*time.Hour-time.Second) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
}

// baseURL is the absolute URL of the device's DDI root as the client
// reached it: hrefs must be absolute, and SWUpdate follows them as given.
func baseURL(r *http.Request, p core.Product, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + p.Name + prefix + id
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errInvalid is a 400 with reason msg.
func errInvalid(msg string) error { return fmt.Errorf("%w: %s", core.ErrInvalid, msg) }
