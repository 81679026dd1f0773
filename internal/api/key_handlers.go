package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
	"github.com/ferry-ota/ferry/manifest"
)

// Signed uploads carry their manifest and signature in these headers,
// base64 (standard, padded), so the body stays the bare image and streams.
const (
	headerManifest  = "X-Ferry-Manifest"
	headerSignature = "X-Ferry-Signature"
	// maxTrustHeader bounds each header's base64 text.
	maxTrustHeader = 4096
)

type keyView struct {
	Name        string     `json:"name"`
	Alg         string     `json:"alg"`
	PublicKey   string     `json:"public_key"` // lowercase hex of the raw key
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func viewKey(k core.ProductKey) keyView {
	v := keyView{Name: k.Name, Alg: string(k.Alg), PublicKey: fmt.Sprintf("%x", k.PublicKey),
		Fingerprint: k.Public().Fingerprint(), CreatedAt: k.CreatedAt}
	if !k.RevokedAt.IsZero() {
		v.RevokedAt = &k.RevokedAt
	}
	return v
}

func (h *Handler) handleAddKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"` // the key file's text
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	pub, err := manifest.DecodePublicKey([]byte(req.PublicKey))
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: public_key: %w", core.ErrInvalid, err))
		return
	}
	k, err := h.svc.AddKey(r.Context(), r.PathValue("product"), req.Name, pub)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusCreated, viewKey(k))
}

func (h *Handler) handleListKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.svc.Keys(r.Context(), r.PathValue("product"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]keyView, len(ks))
	for i, k := range ks {
		out[i] = viewKey(k)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (h *Handler) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.svc.RevokeKey(r.Context(), r.PathValue("product"), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpkit.JSON(w, http.StatusOK, viewKey(k))
}

// trustHeaders decodes an upload's manifest and signature headers; both
// absent is an unsigned upload.
func trustHeaders(r *http.Request) (m, sig []byte, err error) {
	if m, err = base64Header(r, headerManifest); err != nil {
		return nil, nil, err
	}
	if sig, err = base64Header(r, headerSignature); err != nil {
		return nil, nil, err
	}
	return m, sig, nil
}

func base64Header(r *http.Request, name string) ([]byte, error) {
	v := r.Header.Get(name)
	if len(v) > maxTrustHeader {
		return nil, fmt.Errorf("%w: %s longer than %d bytes", core.ErrInvalid, name, maxTrustHeader)
	}
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %w", core.ErrInvalid, name, err)
	}
	return b, nil
}
