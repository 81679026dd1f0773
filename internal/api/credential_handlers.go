package api

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
	"github.com/ferry-ota/ferry/manifest"
)

// handleRevokeCredentials revokes every credential of a device, tokens and
// keys, so that it is refused until it enrolls again or gets a new key. Revoking none is not an error: the
// answer says how many were valid.
func (h *Handler) handleRevokeCredentials(w http.ResponseWriter, r *http.Request) {
	n, err := h.svc.RevokeDeviceCredentials(r.Context(), r.PathValue("product"), r.PathValue("device"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// handleIssueDeviceToken issues a device token for a device of a key
// product, as enrolling would, for clients an operator configures instead
// (a hawkBit client's target token). The tokens issued before are revoked;
// the new one is shown this once and must not be cached.
func (h *Handler) handleIssueDeviceToken(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	tok, err := h.svc.IssueDeviceToken(r.Context(), r.PathValue("product"), device)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.JSON(w, http.StatusCreated, map[string]string{"device": device, "token": tok})
}

type deviceKeyView struct {
	Device      string    `json:"device"`
	PublicKey   string    `json:"public_key"` // lowercase hex of the raw X‖Y key
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}

// handleAddDeviceKey registers the P-256 key a device of a p256 product
// signs its requests with. public_key is the 128 hex digits of X‖Y or the
// text of a p256 public key file (ferry key generate --alg p256).
func (h *Handler) handleAddDeviceKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PublicKey string `json:"public_key"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	pub, err := parseDeviceKey(req.PublicKey)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: public_key: %w", core.ErrInvalid, err))
		return
	}

	c, err := h.svc.AddDeviceKey(r.Context(), r.PathValue("product"), r.PathValue("device"), pub)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusCreated, deviceKeyView{Device: c.DeviceName, PublicKey: hex.EncodeToString(pub),
		Fingerprint: manifest.PublicKey{Alg: manifest.P256, Key: pub}.Fingerprint(), CreatedAt: c.CreatedAt})
}

// parseDeviceKey reads a device's raw P-256 public key from the 128 hex
// digits of X‖Y or from a p256 public key file's text.
func parseDeviceKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "ferry") {
		k, err := manifest.DecodePublicKey([]byte(s))
		if err != nil {
			return nil, err
		}
		if k.Alg != manifest.P256 {
			return nil, fmt.Errorf("a device key must be %s, not %s", manifest.P256, k.Alg)
		}
		return k.Key, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != manifest.P256PublicSize {
		return nil, fmt.Errorf("want %d hex digits of X‖Y or a %s public key file",
			2*manifest.P256PublicSize, manifest.P256)
	}
	return b, nil
}
