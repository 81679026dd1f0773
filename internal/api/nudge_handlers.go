package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// nudgeRequest is the body of PUT /nudge. Durations are Go duration
// strings; zero or absent fields take the defaults.
type nudgeRequest struct {
	URL         string              `json:"url"`
	Method      string              `json:"method"`
	Headers     []core.NudgeHeader  `json:"headers"`
	Body        string              `json:"body"`
	Secret      string              `json:"secret"`
	PerDevice   int                 `json:"per_device"`
	Window      string              `json:"window"`
	PerMinute   int                 `json:"per_minute"`
	MaxAttempts int                 `json:"max_attempts"`
	Backoff     string              `json:"backoff"`
	BackoffCap  string              `json:"backoff_cap"`
	Triggers    []core.NudgeTrigger `json:"triggers"`
}

// nudgeView shows a configuration without its secret: only whether one is
// set.
type nudgeView struct {
	URL         string              `json:"url"`
	Method      string              `json:"method"`
	Headers     []core.NudgeHeader  `json:"headers"`
	Body        string              `json:"body"`
	SecretSet   bool                `json:"secret_set"`
	PerDevice   int                 `json:"per_device"`
	Window      string              `json:"window"`
	PerMinute   int                 `json:"per_minute"`
	MaxAttempts int                 `json:"max_attempts"`
	Backoff     string              `json:"backoff"`
	BackoffCap  string              `json:"backoff_cap"`
	Triggers    []core.NudgeTrigger `json:"triggers"`
	UpdatedAt   time.Time           `json:"updated_at"`
}

func viewNudgeConfig(c core.NudgeConfig) nudgeView {
	v := nudgeView{URL: c.URL, Method: c.Method, Headers: c.Headers, Body: c.Body, SecretSet: c.Secret != "",
		PerDevice: c.PerDevice, Window: c.PerDeviceWindow.String(), PerMinute: c.PerMinute,
		MaxAttempts: c.MaxAttempts, Backoff: c.BackoffBase.String(), BackoffCap: c.BackoffCap.String(),
		Triggers: c.Triggers, UpdatedAt: c.UpdatedAt}
	if v.Headers == nil {
		v.Headers = []core.NudgeHeader{}
	}
	return v
}

func (h *Handler) handleSetNudge(w http.ResponseWriter, r *http.Request) {
	var req nudgeRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	c := core.NudgeConfig{URL: req.URL, Method: req.Method, Headers: req.Headers, Body: req.Body,
		Secret: req.Secret, PerDevice: req.PerDevice, PerMinute: req.PerMinute, MaxAttempts: req.MaxAttempts,
		Triggers: req.Triggers}
	for _, d := range []struct {
		field string
		in    string
		out   *time.Duration
	}{{"window", req.Window, &c.PerDeviceWindow}, {"backoff", req.Backoff, &c.BackoffBase},
		{"backoff_cap", req.BackoffCap, &c.BackoffCap}} {
		v, err := parseDuration(d.field, d.in)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		*d.out = v
	}

	c, err := h.svc.SetNudge(r.Context(), r.PathValue("product"), c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewNudgeConfig(c))
}

func (h *Handler) handleGetNudge(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.NudgeConfig(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewNudgeConfig(c))
}

func (h *Handler) handleRemoveNudge(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.RemoveNudge(r.Context(), r.PathValue("product")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type nudgeRecordView struct {
	ID         int64              `json:"id"`
	Device     string             `json:"device"`
	Trigger    core.NudgeTrigger  `json:"trigger"`
	CommandID  int64              `json:"command_id,omitempty"`
	State      core.NudgeState    `json:"state"`
	Reason     string             `json:"reason,omitempty"`
	Attempts   int                `json:"attempts"`
	LastStatus int                `json:"last_status,omitempty"`
	LastError  string             `json:"last_error,omitempty"`
	NextAt     *time.Time         `json:"next_at,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	FinishedAt *time.Time         `json:"finished_at,omitempty"`
	History    []nudgeAttemptView `json:"history,omitempty"`
}

type nudgeAttemptView struct {
	At        time.Time `json:"at"`
	Status    int       `json:"status,omitempty"`
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}

func viewNudge(n core.Nudge) nudgeRecordView {
	v := nudgeRecordView{ID: n.ID, Device: n.Device, Trigger: n.Trigger, CommandID: n.CommandID,
		State: n.State, Reason: n.Reason, Attempts: n.Attempts, LastStatus: n.LastStatus,
		LastError: n.LastError, CreatedAt: n.CreatedAt}
	if n.State == core.NudgeQueued {
		t := n.NextAt
		v.NextAt = &t
	}
	if !n.FinishedAt.IsZero() {
		t := n.FinishedAt
		v.FinishedAt = &t
	}
	return v
}

func (h *Handler) handleListNudges(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, 1000)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ns, err := h.svc.Nudges(r.Context(), r.PathValue("product"), r.URL.Query().Get("device"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]nudgeRecordView, len(ns))
	for i, n := range ns {
		out[i] = viewNudge(n)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"nudges": out})
}

func (h *Handler) handleGetNudgeRecord(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.fail(w, r, fmt.Errorf("%w: nudge id %q: want a positive number", core.ErrInvalid,
			truncate(r.PathValue("id"), 40)))
		return
	}
	n, as, err := h.svc.NudgeAttempts(r.Context(), r.PathValue("product"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := viewNudge(n)
	for _, a := range as {
		v.History = append(v.History, nudgeAttemptView{At: a.At, Status: a.Status, Error: a.Error,
			LatencyMS: float64(a.Latency.Microseconds()) / 1000})
	}
	httpkit.JSON(w, http.StatusOK, v)
}
