package native

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// ViaLongPoll names held check-ins in command histories.
const ViaLongPoll = "longpoll"

// command is a device command as a check-in answer carries it.
type command struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Payload string `json:"payload,omitempty"`
}

func commands(cs []core.Command) []command {
	if len(cs) == 0 {
		return nil
	}
	out := make([]command, len(cs))
	for i, c := range cs {
		out[i] = command{ID: c.ID, Name: c.Name, Payload: c.Payload}
	}
	return out
}

type ackRequest struct {
	ID      string `json:"id"`
	Command int64  `json:"cmd"`
	// OK is required: a device that forgot it must not be taken to have
	// succeeded, or to have failed.
	OK     *bool  `json:"ok"`
	Result string `json:"result"`
}

// handleAck records a device's answer to one of its commands. Answers are
// idempotent, so a device that lost the 204 sends the same one again.
func (h *Handler) handleAck(w http.ResponseWriter, r *http.Request) {
	var req ackRequest
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
	switch {
	case dev == "":
		err = fmt.Errorf("%w: ack needs the device id", core.ErrInvalid)
	case req.Command <= 0:
		err = fmt.Errorf("%w: ack needs the command id cmd, a positive number", core.ErrInvalid)
	case req.OK == nil:
		err = fmt.Errorf("%w: ack needs ok: true or false", core.ErrInvalid)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}

	if _, err := h.svc.AckCommand(r.Context(), p, dev, req.Command, *req.OK, req.Result); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Wait serves held check-ins, GET /device/v1/{product}/wait: a check-in
// that answers at once when there is an offer or a command for the device,
// and otherwise waits until something changes for it or its timeout
// passes, then answers the check-in afresh. It is a handler of its own so
// the server can keep it out of the device request limit.
type Wait struct {
	svc  *core.Service
	hold *httpkit.Holder
	log  *slog.Logger
}

// NewWait returns the held check-in handler.
func NewWait(svc *core.Service, hold *httpkit.Holder, logger *slog.Logger) *Wait {
	return &Wait{svc: svc, hold: hold, log: logger.With("component", "native")}
}

func (h *Wait) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.JSONError(w, status, msg)
}

// ServeHTTP implements http.Handler. What touches the store runs through
// httpkit.Shallow, so the goroutine held for minutes keeps a small stack.
func (h *Wait) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, timeout, err := waitQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var (
		p   core.Product
		dev string
	)
	httpkit.Shallow(func() { p, dev, err = httpkit.AuthorizeDevice(h.svc, r, in.Device, httpkit.EmptyBody) })
	if err == nil && dev == "" {
		err = fmt.Errorf("%w: wait needs the device id", core.ErrInvalid)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.Device = dev

	if !h.hold.Acquire() {
		h.hold.Busy(w)
		return
	}
	defer h.hold.Release()

	ctx := r.Context()
	var dec core.Decision
	check := func() (bool, error) {
		var err error
		dec, err = h.svc.CheckIn(ctx, p, in)
		return dec.Update != nil || len(dec.Commands) > 0, err
	}
	var devID int64
	answered := false
	httpkit.Shallow(func() {
		devID, err = h.svc.DeviceRowID(ctx, p, dev)
		if errors.Is(err, core.ErrNotFound) {
			// A first contact: the check-in registers the device, which
			// can then be held.
			var ready bool
			if ready, err = check(); err != nil || ready {
				h.respond(w, r, p, dec, err)
				answered = true
			}
			devID = dec.Device.ID
		} else if err != nil {
			h.fail(w, r, err)
			answered = true
		}
	})
	if answered {
		return
	}

	res, err := h.hold.Hold(ctx, p.ID, devID, timeout, check)
	switch {
	case err != nil:
		h.fail(w, r, err)
	case res == httpkit.WaitGone:
	case res == httpkit.WaitClosing:
		h.hold.ShuttingDown(w)
	case res == httpkit.WaitTimedOut:
		// Answer what is true now, so the device's record is fresh.
		httpkit.Shallow(func() {
			_, err := check()
			h.respond(w, r, p, dec, err)
		})
	default:
		h.respond(w, r, p, dec, nil)
	}
}

func (h *Wait) respond(w http.ResponseWriter, r *http.Request, p core.Product, dec core.Decision, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, checkInAnswer(p, dec))
}

// waitQuery reads a held check-in's query: id (or device), version,
// sha256, counter and timeout.
func waitQuery(r *http.Request) (core.CheckIn, time.Duration, error) {
	q := r.URL.Query()
	in := core.CheckIn{Device: q.Get("id"), Version: q.Get("version"), ImageSHA256: q.Get("sha256"),
		Protocol: ViaLongPoll, Commands: true}
	if d := q.Get("device"); d != "" {
		if in.Device != "" && in.Device != d {
			return in, 0, fmt.Errorf("%w: id and device name different devices", core.ErrInvalid)
		}
		in.Device = d
	}
	if s := q.Get("counter"); s != "" {
		n, err := parseCounter(s)
		if err != nil {
			return in, 0, err
		}
		in.Counter = &n
	}
	timeout, err := httpkit.ParseHold("timeout", q.Get("timeout"))
	return in, timeout, err
}
