package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

func (h *Handler) handleConfigureDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AddTags    []string `json:"add_tags"`
		RemoveTags []string `json:"remove_tags"`
		Channel    *string  `json:"channel"`
		Pin        *string  `json:"pin"`
		Excluded   *bool    `json:"excluded"`
		Poll       *string  `json:"poll"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	in := core.DeviceSettings{
		AddTags: req.AddTags, RemoveTags: req.RemoveTags, Channel: req.Channel, Pin: req.Pin, Excluded: req.Excluded,
	}
	if req.Poll != nil {
		d, err := parseDuration("poll", *req.Poll)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		in.Poll = &d
	}

	product, name := r.PathValue("product"), r.PathValue("device")
	if _, err := h.svc.ConfigureDevice(r.Context(), product, name, in); err != nil {
		h.fail(w, r, err)
		return
	}
	// The answer shows the device as a listing does, with its latest update.
	d, err := h.svc.Device(r.Context(), product, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pins := pinResolver{svc: h.svc}
	pinned, err := pins.version(r.Context(), d.Product, d.PinnedReleaseID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var latest *core.Update
	if len(d.Updates) > 0 {
		latest = &d.Updates[0]
	}
	httpkit.JSON(w, http.StatusOK, viewDevice(d.Product, d.Device, latest, pinned))
}

func (h *Handler) handleConfigureProduct(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PollIdle         *string `json:"poll_idle"`
		PollActive       *string `json:"poll_active"`
		RequireSignature *bool   `json:"require_signature"`
		// Board and Loader go together: "board": "" removes the profile.
		Board  *string `json:"board"`
		Loader *string `json:"loader"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	idle, err := optionalDuration("poll_idle", req.PollIdle)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	active, err := optionalDuration("poll_active", req.PollActive)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Loader != nil && req.Board == nil {
		h.fail(w, r, fmt.Errorf("%w: loader without board: give both", core.ErrInvalid))
		return
	}
	if req.Board != nil {
		// Checked before anything is written, so a bad profile changes
		// nothing.
		if err := core.ValidateBoard(*req.Board, deref(req.Loader)); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	p, err := h.svc.ConfigureProduct(r.Context(), r.PathValue("product"), idle, active)
	if err == nil && req.RequireSignature != nil {
		p, err = h.svc.SetRequireSignature(r.Context(), p.Name, *req.RequireSignature)
	}
	if err == nil && req.Board != nil {
		p, err = h.svc.SetBoard(r.Context(), p.Name, *req.Board, deref(req.Loader))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewProduct(p))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// optionalDuration parses s when it is given: nil stays nil.
func optionalDuration(field string, s *string) (*time.Duration, error) {
	if s == nil {
		return nil, nil
	}
	d, err := parseDuration(field, *s)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// handleSetWebhook answers with the secret, the one time it is shown: the
// receiver needs it to check signatures, and no GET returns it.
func (h *Handler) handleSetWebhook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	wh, err := h.svc.SetWebhook(r.Context(), r.PathValue("product"), req.URL, req.Secret)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, map[string]string{"url": wh.URL, "secret": wh.Secret})
}

func (h *Handler) handleRemoveWebhook(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.RemoveWebhook(r.Context(), r.PathValue("product")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) handleListDeliveries(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, 1000)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ds, err := h.svc.Deliveries(r.Context(), r.PathValue("product"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]deliveryView, len(ds))
	for i, d := range ds {
		out[i] = viewDelivery(d)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func (h *Handler) handleListAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := core.AuditFilter{Product: q.Get("product")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			h.fail(w, r, fmt.Errorf("%w: since %q: want an RFC 3339 time such as 2025-01-02T03:04:05Z",
				core.ErrInvalid, truncate(s, 40)))
			return
		}
		f.Since = t
	}
	limit, err := queryLimit(r, 10000)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f.Limit = limit

	es, err := h.svc.AuditLog(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]auditView, len(es))
	for i, e := range es {
		out[i] = viewAudit(e)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"entries": out})
}

// queryLimit reads the limit query parameter: 0 when absent, else 1 to max.
func queryLimit(r *http.Request, most int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > most {
		return 0, fmt.Errorf("%w: limit %q: want 1-%d", core.ErrInvalid, truncate(s, 40), most)
	}
	return n, nil
}
