package ddi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// handlePoll is the check-in. Of the actions, only one is linked: a cancel
// the device must acknowledge, else the open update. installedBase names
// the update that installed what the device runs; configData asks for
// attributes while the device has none.
func (h *Handler) handlePoll(w http.ResponseWriter, r *http.Request) {
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	dec, err := h.svc.CheckIn(r.Context(), p, core.CheckIn{Device: id, Protocol: core.ProtocolDDI})
	if err != nil {
		h.fail(w, r, err)
		return
	}

	base := baseURL(r, p, id)
	links := make(map[string]link)
	switch {
	case dec.Cancel != nil:
		links["cancelAction"] = link{base + "/cancelAction/" + strconv.FormatInt(dec.Cancel.ID, 10)}
	case dec.Update != nil:
		links["deploymentBase"] = link{base + "/deploymentBase/" + strconv.FormatInt(dec.Update.ID, 10)}
	}
	if dec.Installed != nil {
		links["installedBase"] = link{base + "/installedBase/" + strconv.FormatInt(dec.Installed.ID, 10)}
	}
	if len(dec.Device.Attributes) == 0 {
		links["configData"] = link{base + "/configData"}
	}
	resp := pollResponse{Config: pollConfig{Polling: polling{Sleep: sleep(dec.Poll)}}}
	if len(links) > 0 {
		resp.Links = links
	}
	httpkit.JSON(w, http.StatusOK, resp)
}

// handleConfigData stores the attributes a device sends, merged with,
// replacing or removed from those it has, as its mode says.
func (h *Handler) handleConfigData(w http.ResponseWriter, r *http.Request) {
	var req configData
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	if _, err := h.svc.SetAttributes(r.Context(), p, id, req.Mode, req.Data); err != nil {
		h.fail(w, r, err)
		return
	}
	ok(w)
}

// handleConfirmation answers that the device's actions need no
// confirmation: Ferry's rollouts decide when an update goes out, and
// clients that ask must not wait for a confirmation that never comes.
func (h *Handler) handleConfirmation(w http.ResponseWriter, r *http.Request) {
	if _, _, err := h.authorize(r); err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, confirmationResponse{AutoConfirm: autoConfirm{Active: true}})
}

// handleDeclareInstalled takes a device's word for the version it runs,
// as a check-in with that version: 201 when it changed, 200 when not.
func (h *Handler) handleDeclareInstalled(w http.ResponseWriter, r *http.Request) {
	var req installedBase
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Version == "" {
		h.fail(w, r, errInvalid("installedBase needs the version the device runs"))
		return
	}

	_, before, err := h.svc.Target(r.Context(), p, id)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		h.fail(w, r, err)
		return
	}
	dec, err := h.svc.CheckIn(r.Context(), p, core.CheckIn{Device: id, Version: req.Version,
		Protocol: core.ProtocolDDI})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if before.ID == 0 || before.Version != dec.Device.Version {
		status = http.StatusCreated
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
