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

// maxCommandWait bounds how long a command read may wait for the device's
// answer; a client that wants longer asks again.
const maxCommandWait = 5 * time.Minute

// commandRecheck is how often a waiting read looks at the store as well as
// at this node's hub: the answer may arrive at another node, or the
// command expire.
const commandRecheck = 2 * time.Second

type commandEventView struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Via    string    `json:"via,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

type commandView struct {
	ID            int64              `json:"id"`
	Product       string             `json:"product"`
	Device        string             `json:"device"`
	Name          string             `json:"name"`
	Payload       string             `json:"payload"`
	Urgent        bool               `json:"urgent"`
	State         string             `json:"state"`
	CreatedBy     string             `json:"created_by"`
	CreatedAt     time.Time          `json:"created_at"`
	ExpiresAt     time.Time          `json:"expires_at"`
	DeliveredAt   *time.Time         `json:"delivered_at,omitempty"`
	FinishedAt    *time.Time         `json:"finished_at,omitempty"`
	Via           string             `json:"via,omitempty"`
	Result        string             `json:"result,omitempty"`
	ResultPayload string             `json:"result_payload,omitempty"`
	History       []commandEventView `json:"history,omitempty"`
}

func viewCommand(product string, c core.Command) commandView {
	v := commandView{
		ID: c.ID, Product: product, Device: c.Device, Name: c.Name, Payload: c.Payload, Urgent: c.Urgent,
		State: string(c.State), CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt,
		Via: c.Via, Result: c.Result, ResultPayload: c.ResultPayload,
	}
	if !c.DeliveredAt.IsZero() {
		t := c.DeliveredAt
		v.DeliveredAt = &t
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		v.FinishedAt = &t
	}
	for _, e := range c.History {
		v.History = append(v.History, commandEventView{At: e.At, Kind: string(e.Kind), Via: e.Via, Detail: e.Detail})
	}
	return v
}

func (h *Handler) handleQueueCommand(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    string `json:"name"`
		Payload string `json:"payload"`
		Expires string `json:"expires"`
		Urgent  bool   `json:"urgent"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	expires, err := parseDuration("expires", req.Expires)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	p, err := h.svc.Product(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.QueueCommand(r.Context(), p, r.PathValue("device"), core.CommandRequest{
		Name: req.Name, Payload: req.Payload, Expires: expires, Urgent: req.Urgent,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusCreated, viewCommand(p.Name, c))
}

func (h *Handler) handleListCommands(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.Product(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.svc.Commands(r.Context(), p, r.PathValue("device"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]commandView, len(cs))
	for i, c := range cs {
		out[i] = viewCommand(p.Name, c)
	}
	httpkit.JSON(w, http.StatusOK, out)
}

// handleGetCommand shows one command with its history. With wait (a
// duration up to five minutes) it first waits for the command to be
// answered, to expire or to be canceled, and shows it as it is then,
// answered or not.
func (h *Handler) handleGetCommand(w http.ResponseWriter, r *http.Request) {
	id, err := commandID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	wait, err := parseDuration("wait", r.URL.Query().Get("wait"))
	if err == nil && (wait < 0 || wait > maxCommandWait) {
		err = fmt.Errorf("%w: wait %s: want 0 to %s", core.ErrInvalid, wait, maxCommandWait)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}

	p, c, err := h.deviceCommand(r, id)
	if err == nil && wait > 0 && c.State.Open() {
		c, err = h.awaitAnswer(r.Context(), id, wait)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewCommand(p.Name, c))
}

// deviceCommand returns command id if it is one of the device in r's path.
func (h *Handler) deviceCommand(r *http.Request, id int64) (core.Product, core.Command, error) {
	p, err := h.svc.Product(r.Context(), r.PathValue("product"))
	if err != nil {
		return core.Product{}, core.Command{}, err
	}
	c, err := h.svc.Command(r.Context(), id)
	if err == nil && (c.ProductID != p.ID || c.Device != r.PathValue("device")) {
		err = fmt.Errorf("device %s of %s has no command %d: %w", truncate(r.PathValue("device"), 80), p.Name, id,
			core.ErrNotFound)
	}
	return p, c, err
}

// awaitAnswer waits up to wait for command id to leave the open states,
// woken by this node's hub or by a periodic look at the store, and returns
// it as it is then. A client that hangs up ends the wait.
func (h *Handler) awaitAnswer(ctx context.Context, id int64, wait time.Duration) (core.Command, error) {
	answered, stop := h.svc.Hub().WatchAck(id)
	defer stop()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(commandRecheck)
	defer tick.Stop()
	for {
		c, err := h.svc.Command(ctx, id)
		if err != nil || !c.State.Open() {
			return c, err
		}
		select {
		case <-answered:
		case <-tick.C:
		case <-deadline.C:
			return c, nil
		case <-ctx.Done():
			return c, ctx.Err()
		}
	}
}

func (h *Handler) handleCancelCommand(w http.ResponseWriter, r *http.Request) {
	id, err := commandID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.svc.Product(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.CancelCommand(r.Context(), p, r.PathValue("device"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewCommand(p.Name, c))
}

func commandID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: command id %q: want a positive number", core.ErrInvalid, truncate(s, 40))
	}
	return id, nil
}
