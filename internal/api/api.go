// Package api is Ferry's operator API: JSON over HTTP under /api/v1,
// authenticated with operator bearer tokens. It manages products, releases,
// channels and devices through the update core. See docs/api.md.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// Handler serves the operator API.
type Handler struct {
	svc   *core.Service
	log   *slog.Logger
	stall time.Duration
	mux   *http.ServeMux
}

// New returns a Handler. stall is how long an upload may make no progress
// before its connection is closed.
func New(svc *core.Service, stall time.Duration, logger *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: logger.With("component", "api"), stall: stall, mux: http.NewServeMux()}
	h.routes()
	return h
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("POST /api/v1/products", h.handleCreateProduct)
	m.HandleFunc("GET /api/v1/products", h.handleListProducts)
	m.HandleFunc("GET /api/v1/products/{product}", h.handleGetProduct)
	m.HandleFunc("POST /api/v1/products/{product}/releases", h.handlePushRelease)
	m.HandleFunc("GET /api/v1/products/{product}/releases", h.handleListReleases)
	m.HandleFunc("GET /api/v1/products/{product}/releases/{version}", h.handleGetRelease)
	m.HandleFunc("GET /api/v1/products/{product}/channels", h.handleListChannels)
	m.HandleFunc("PUT /api/v1/products/{product}/channels/{channel}", h.handleSetChannel)
	m.HandleFunc("GET /api/v1/devices", h.handleListDevices)
	m.HandleFunc("GET /api/v1/devices/{device}", h.handleGetDevice)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
}

// ServeHTTP authenticates the operator, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := h.svc.AuthenticateOperator(r.Context(), httpkit.Bearer(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
}

type tokenKey struct{}

// Operator requests never take the token from the URL, where logs would
// keep it: only the Authorization header counts.

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	h.writeError(w, r, status, msg, err)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if err != nil {
		httpkit.LogError(h.log, r, status, err)
	}
	httpkit.JSONError(w, status, msg)
}
