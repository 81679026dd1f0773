package api

import (
	"net/http"

	"github.com/ferry-ota/ferry/internal/httpkit"
)

// handleRevokeCredentials revokes every credential of a device, so that it
// is refused until it enrolls again. Revoking none is not an error: the
// answer says how many were valid.
func (h *Handler) handleRevokeCredentials(w http.ResponseWriter, r *http.Request) {
	n, err := h.svc.RevokeDeviceCredentials(r.Context(), r.PathValue("product"), r.PathValue("device"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, map[string]int{"revoked": n})
}
