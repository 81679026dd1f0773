package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// maxJSON bounds an operator's JSON request body: large enough for a
// rollout that names core.MaxSelectorDevices devices by their longest IDs.
const maxJSON = 2 << 20

func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return h.decodeBody(w, r, v, false)
}

// decodeOptional is decode for requests whose body may be left out: an
// empty body leaves v as it is.
func (h *Handler) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	return h.decodeBody(w, r, v, true)
}

func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, httpkit.StallReader(w, r, h.stall), maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// Decode says io.EOF only when there is no JSON value at all; a
		// cut one is io.ErrUnexpectedEOF.
		if optional && errors.Is(err, io.EOF) {
			return nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: request body: %w", core.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body has data after the JSON object", core.ErrInvalid)
	}
	return nil
}

func (h *Handler) handleCreateProduct(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string `json:"name"`
		Access string `json:"access"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, key, err := h.svc.CreateProduct(r.Context(), req.Name, core.Access(req.Access))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := viewProduct(p)
	v.EnrollKey = key
	httpkit.JSON(w, http.StatusCreated, v)
}

func (h *Handler) handleListProducts(w http.ResponseWriter, r *http.Request) {
	ps, err := h.svc.Products(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]productView, len(ps))
	for i, p := range ps {
		out[i] = viewProduct(p)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"products": out})
}

func (h *Handler) handleGetProduct(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.Product(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewProduct(p))
}

// handlePushRelease streams the request body into the blob store. Every
// check that needs no body runs first, so a doomed upload is refused before
// its bytes cross the network (clients sending Expect: 100-continue send
// nothing at all).
func (h *Handler) handlePushRelease(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := core.Publish{
		Product: r.PathValue("product"), Version: q.Get("version"), Notes: q.Get("notes"),
		Channel: core.DefaultChannel, ExpectSHA256: q.Get("sha256"),
	}
	if cs, ok := q["channel"]; ok {
		in.Channel = cs[0]
	}
	if c := q.Get("counter"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			h.fail(w, r, fmt.Errorf("%w: counter %q: want a whole number, 0 or more", core.ErrInvalid, c))
			return
		}
		in.Counter = n
	}
	var err error
	if in.Manifest, in.Signature, err = trustHeaders(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if limit := h.svc.Config().MaxImageSize; r.ContentLength > limit {
		h.fail(w, r, fmt.Errorf("%w: image of %d bytes exceeds the upload limit of %d bytes",
			core.ErrTooLarge, r.ContentLength, limit))
		return
	}
	in.Image = httpkit.StallReader(w, r, h.stall)

	rel, err := h.svc.PublishRelease(r.Context(), in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusCreated, viewRelease(in.Product, rel))
}

func (h *Handler) handleListReleases(w http.ResponseWriter, r *http.Request) {
	product := r.PathValue("product")
	rs, err := h.svc.Releases(r.Context(), product)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]releaseView, len(rs))
	for i, rel := range rs {
		out[i] = viewRelease(product, rel)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"releases": out})
}

func (h *Handler) handleGetRelease(w http.ResponseWriter, r *http.Request) {
	product := r.PathValue("product")
	rel, err := h.svc.Release(r.Context(), product, r.PathValue("version"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewRelease(product, rel))
}

func (h *Handler) handleListChannels(w http.ResponseWriter, r *http.Request) {
	cs, err := h.svc.Channels(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]channelView, len(cs))
	for i, c := range cs {
		out[i] = viewChannel(c)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"channels": out})
}

func (h *Handler) handleSetChannel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version string `json:"version"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.SetChannel(r.Context(), r.PathValue("product"), r.PathValue("channel"), req.Version)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewChannel(c))
}

func (h *Handler) handleListDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dq := core.DeviceQuery{Product: q.Get("product"), Version: q.Get("version"), State: q.Get("state")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			h.fail(w, r, fmt.Errorf("%w: limit %q: want a positive number", core.ErrInvalid, s))
			return
		}
		dq.Limit = n
	}
	ds, err := h.svc.Devices(r.Context(), dq)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pins := pinResolver{svc: h.svc}
	out := make([]deviceView, len(ds))
	for i, d := range ds {
		pinned, err := pins.version(r.Context(), d.Product, d.PinnedReleaseID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out[i] = viewDevice(d.Product, d.Device, d.Latest, pinned)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (h *Handler) handleGetDevice(w http.ResponseWriter, r *http.Request) {
	d, err := h.svc.Device(r.Context(), r.URL.Query().Get("product"), r.PathValue("device"))
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
	httpkit.JSON(w, http.StatusOK, viewDeviceDetail(d, pinned))
}

// pinResolver turns the release IDs devices are pinned to into versions.
// It reads each product's releases at most once, and only for products
// with a pinned device, so a listing costs no more than before unless
// pins are in use.
type pinResolver struct {
	svc       *core.Service
	byProduct map[string]map[int64]string
}

func (p *pinResolver) version(ctx context.Context, product string, releaseID int64) (string, error) {
	if releaseID == 0 {
		return "", nil
	}
	versions, ok := p.byProduct[product]
	if !ok {
		rs, err := p.svc.Releases(ctx, product)
		if err != nil {
			return "", fmt.Errorf("pinned release of a %s device: %w", product, err)
		}
		versions = make(map[int64]string, len(rs))
		for _, rel := range rs {
			versions[rel.ID] = rel.Version
		}
		if p.byProduct == nil {
			p.byProduct = make(map[string]map[int64]string)
		}
		p.byProduct[product] = versions
	}
	return versions[releaseID], nil
}
