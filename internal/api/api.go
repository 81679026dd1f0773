// Package api is Ferry's operator API: JSON over HTTP under /api/v1,
// authenticated with operator bearer tokens. It manages products, releases,
// channels, devices, rollouts, webhooks and nudges through the update core, and
// shows the audit log of what operators did. See docs/api.md.
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
	m.HandleFunc("PATCH /api/v1/products/{product}", h.handleConfigureProduct)
	m.HandleFunc("POST /api/v1/products/{product}/releases", h.handlePushRelease)
	m.HandleFunc("GET /api/v1/products/{product}/releases", h.handleListReleases)
	m.HandleFunc("GET /api/v1/products/{product}/releases/{version}", h.handleGetRelease)
	m.HandleFunc("GET /api/v1/products/{product}/channels", h.handleListChannels)
	m.HandleFunc("POST /api/v1/products/{product}/keys", h.handleAddKey)
	m.HandleFunc("GET /api/v1/products/{product}/keys", h.handleListKeys)
	m.HandleFunc("DELETE /api/v1/products/{product}/keys/{name}", h.handleRevokeKey)
	m.HandleFunc("PUT /api/v1/products/{product}/channels/{channel}", h.handleSetChannel)
	m.HandleFunc("GET /api/v1/devices", h.handleListDevices)
	m.HandleFunc("GET /api/v1/devices/{device}", h.handleGetDevice)
	m.HandleFunc("PATCH /api/v1/products/{product}/devices/{device}", h.handleConfigureDevice)
	m.HandleFunc("DELETE /api/v1/products/{product}/devices/{device}/credentials", h.handleRevokeCredentials)
	m.HandleFunc("POST /api/v1/products/{product}/devices/{device}/keys", h.handleAddDeviceKey)
	m.HandleFunc("POST /api/v1/products/{product}/devices/{device}/token", h.handleIssueDeviceToken)
	m.HandleFunc("POST /api/v1/products/{product}/devices/{device}/commands", h.handleQueueCommand)
	m.HandleFunc("GET /api/v1/products/{product}/devices/{device}/commands", h.handleListCommands)
	m.HandleFunc("GET /api/v1/products/{product}/devices/{device}/commands/{id}", h.handleGetCommand)
	m.HandleFunc("POST /api/v1/products/{product}/devices/{device}/commands/{id}/cancel", h.handleCancelCommand)
	m.HandleFunc("PUT /api/v1/products/{product}/webhook", h.handleSetWebhook)
	m.HandleFunc("DELETE /api/v1/products/{product}/webhook", h.handleRemoveWebhook)
	m.HandleFunc("GET /api/v1/products/{product}/webhook/deliveries", h.handleListDeliveries)
	m.HandleFunc("PUT /api/v1/products/{product}/nudge", h.handleSetNudge)
	m.HandleFunc("GET /api/v1/products/{product}/nudge", h.handleGetNudge)
	m.HandleFunc("DELETE /api/v1/products/{product}/nudge", h.handleRemoveNudge)
	m.HandleFunc("GET /api/v1/products/{product}/nudges", h.handleListNudges)
	m.HandleFunc("GET /api/v1/products/{product}/nudges/{id}", h.handleGetNudgeRecord)
	m.HandleFunc("POST /api/v1/products/{product}/rollouts", h.handleCreateRollout)
	m.HandleFunc("GET /api/v1/rollouts", h.handleListRollouts)
	m.HandleFunc("GET /api/v1/rollouts/{id}", h.handleGetRollout)
	m.HandleFunc("POST /api/v1/rollouts/{id}/pause", h.handleChangeRollout(core.ActionPause))
	m.HandleFunc("POST /api/v1/rollouts/{id}/resume", h.handleChangeRollout(core.ActionResume))
	m.HandleFunc("POST /api/v1/rollouts/{id}/cancel", h.handleChangeRollout(core.ActionCancel))
	m.HandleFunc("POST /api/v1/rollouts/{id}/advance", h.handleChangeRollout(core.ActionAdvance))
	m.HandleFunc("GET /api/v1/audit", h.handleListAudit)
	m.HandleFunc("POST /api/v1/tokens", h.handleCreateToken)
	m.HandleFunc("GET /api/v1/tokens", h.handleListTokens)
	m.HandleFunc("DELETE /api/v1/tokens/{id}", h.handleRevokeToken)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
}

// ServeHTTP authenticates the operator, checks the token's role against
// the route's (see minRole), then routes. The token's name goes into the
// context as the actor, so the audit log records who did what.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := h.svc.AuthenticateOperator(r.Context(), httpkit.Bearer(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_, pattern := h.mux.Handler(r)
	if err := core.Authorize(tok, minRole(pattern), r.Method+" "+r.URL.Path); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := core.WithActor(context.WithValue(r.Context(), tokenKey{}, tok), tok.Name)
	h.mux.ServeHTTP(w, r.WithContext(ctx))
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
