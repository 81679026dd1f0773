package plain

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// NoCommand is the answer to a command request when the device has none:
// a word no command line can be, since those start with a digit.
const NoCommand = "none"

// CommandLine renders a command as one line without a newline: its ID,
// a space, its name, and a space and the payload when there is one. A
// sketch splits it at the first two spaces.
func CommandLine(c core.Command) string {
	line := strconv.FormatInt(c.ID, 10) + " " + c.Name
	if c.Payload != "" {
		line += " " + c.Payload
	}
	return line
}

// handleCmd answers the device's oldest open command as one line, or
// NoCommand, and marks it delivered. A device answers each command with
// ack before it asks for the next.
func (h *Handler) handleCmd(w http.ResponseWriter, r *http.Request) {
	p, device, err := h.product(r, r.URL.Query().Get("device"), httpkit.EmptyBody)
	if err == nil && device == "" {
		err = fmt.Errorf("%w: cmd needs the device parameter", core.ErrInvalid)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.svc.DeliverCommands(r.Context(), p, device, Protocol, 1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.Text(w, http.StatusOK, firstLine(cs))
}

func firstLine(cs []core.Command) string {
	if len(cs) == 0 {
		return NoCommand
	}
	return CommandLine(cs[0])
}

// handleAck records the device's answer to a command: id, ok (1 or 0,
// true or false) and an optional result. It is a GET because the
// smallest clients only send GETs; repeating it changes nothing.
func (h *Handler) handleAck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, device, err := h.product(r, q.Get("device"), httpkit.EmptyBody)
	if err == nil && device == "" {
		err = fmt.Errorf("%w: ack needs the device parameter", core.ErrInvalid)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := strconv.ParseInt(q.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		h.fail(w, r, fmt.Errorf("%w: ack needs id, the command's number", core.ErrInvalid))
		return
	}
	var ok bool
	switch q.Get("ok") {
	case "1", "true":
		ok = true
	case "0", "false":
	default:
		h.fail(w, r, fmt.Errorf("%w: ack needs ok=1 or ok=0", core.ErrInvalid))
		return
	}

	if _, err := h.svc.AckCommand(r.Context(), p, device, id, ok, q.Get("result")); err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.Text(w, http.StatusOK, "ok")
}

// Wait serves GET /fw/{product}/cmd?device=ID&wait=N: the command request
// held up to N seconds (1-600) until the device has a command. It answers
// like the command request, NoCommand when the time passes. It is a
// handler of its own so the server can keep it out of the device request
// limit.
type Wait struct {
	svc  *core.Service
	hold *httpkit.Holder
	log  *slog.Logger
}

// NewWait returns the held command handler.
func NewWait(svc *core.Service, hold *httpkit.Holder, logger *slog.Logger) *Wait {
	return &Wait{svc: svc, hold: hold, log: logger.With("component", "plain")}
}

func (h *Wait) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpkit.Status(err)
	httpkit.LogError(h.log, r, status, err)
	httpkit.Text(w, status, msg)
}

// ServeHTTP implements http.Handler.
func (h *Wait) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout, err := httpkit.ParseHold("wait", q.Get("wait"))
	if q.Get("wait") == "" {
		err = fmt.Errorf("%w: wait needs whole seconds from 1 to 600", core.ErrInvalid)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// What touches the store runs through httpkit.Shallow, so the
	// goroutine held for minutes keeps a small stack.
	ctx := r.Context()
	var (
		p      core.Product
		device string
		devID  int64
	)
	httpkit.Shallow(func() {
		p, device, err = httpkit.AuthorizeDevice(h.svc, r, q.Get("device"), httpkit.EmptyBody)
		if err == nil && device == "" {
			err = fmt.Errorf("%w: cmd needs the device parameter", core.ErrInvalid)
		}
		if err == nil {
			// Only a device that has checked in has commands, and can be
			// held.
			devID, err = h.svc.DeviceRowID(ctx, p, device)
		}
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.hold.Acquire() {
		h.hold.Busy(w)
		return
	}
	defer h.hold.Release()

	var cs []core.Command
	res, err := h.hold.Hold(ctx, p.ID, devID, timeout, func() (bool, error) {
		var err error
		cs, err = h.svc.DeliverCommands(ctx, p, device, Protocol, 1)
		return len(cs) > 0, err
	})
	switch {
	case err != nil:
		h.fail(w, r, err)
	case res == httpkit.WaitGone:
	case res == httpkit.WaitClosing:
		h.hold.ShuttingDown(w)
	default:
		w.Header().Set("Cache-Control", "no-store")
		httpkit.Text(w, http.StatusOK, firstLine(cs))
	}
}
