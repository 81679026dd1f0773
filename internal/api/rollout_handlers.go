package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// rolloutRequest is the body of POST /api/v1/products/{product}/rollouts.
type rolloutRequest struct {
	Version         string   `json:"version"`
	Channel         string   `json:"channel"`
	Tags            []string `json:"tags"`
	Devices         []string `json:"devices"`
	Phases          string   `json:"phases"`
	AutoAdvance     bool     `json:"auto_advance"`
	Soak            string   `json:"soak"`
	SuccessRate     float64  `json:"success_rate"`
	MaxConcurrent   int      `json:"max_concurrent"`
	OffersPerMinute int      `json:"offers_per_minute"`
	FailPercent     float64  `json:"fail_percent"`
	FailMinFinished int      `json:"fail_min_finished"`
	FailCount       int      `json:"fail_count"`
}

func (req rolloutRequest) spec(product string) (core.RolloutSpec, error) {
	soak, err := parseDuration("soak", req.Soak)
	if err != nil {
		return core.RolloutSpec{}, err
	}
	return core.RolloutSpec{
		Product: product, Version: req.Version,
		Selector: core.Selector{Channel: req.Channel, Tags: req.Tags, Devices: req.Devices},
		Phases:   req.Phases, AutoAdvance: req.AutoAdvance, Soak: soak, SuccessRate: req.SuccessRate,
		MaxConcurrent: req.MaxConcurrent, OffersPerMinute: req.OffersPerMinute, FailPercent: req.FailPercent,
		FailMinFinished: req.FailMinFinished, FailCount: req.FailCount,
	}, nil
}

func (h *Handler) handleCreateRollout(w http.ResponseWriter, r *http.Request) {
	var req rolloutRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	product := r.PathValue("product")
	spec, err := req.spec(product)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ro, err := h.svc.CreateRollout(r.Context(), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusCreated, viewRollout(product, ro))
}

func (h *Handler) handleListRollouts(w http.ResponseWriter, r *http.Request) {
	ros, err := h.svc.Rollouts(r.Context(), r.URL.Query().Get("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names, err := h.productNames(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]rolloutView, len(ros))
	for i, ro := range ros {
		out[i] = viewRollout(names[ro.ProductID], ro)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"rollouts": out})
}

func (h *Handler) handleGetRollout(w http.ResponseWriter, r *http.Request) {
	id, err := rolloutID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.svc.RolloutStatus(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewRolloutStatus(st))
}

// handleChangeRollout returns the handler of one rollout action; the body,
// with an optional reason, may be left out.
func (h *Handler) handleChangeRollout(action core.RolloutAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Reason string `json:"reason"`
		}
		if err := h.decodeOptional(w, r, &req); err != nil {
			h.fail(w, r, err)
			return
		}
		id, err := rolloutID(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ro, err := h.svc.ChangeRollout(r.Context(), id, action, req.Reason)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		names, err := h.productNames(r.Context())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, viewRollout(names[ro.ProductID], ro))
	}
}

func rolloutID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: rollout id %q: want a positive number", core.ErrInvalid, truncate(s, 40))
	}
	return id, nil
}

// productNames maps product IDs to names, for rollouts, which the core
// returns with their product's ID only.
func (h *Handler) productNames(ctx context.Context) (map[int64]string, error) {
	ps, err := h.svc.Products(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(ps))
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	return names, nil
}

// parseDuration parses a Go duration string ("90s", "1h30m"); "" is zero.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: want a duration such as 30m or 1h", core.ErrInvalid, field, truncate(s, 40))
	}
	return d, nil
}

// truncate keeps hostile input from bloating error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
