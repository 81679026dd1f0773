package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// tokenView is an operator token as the API shows it. Secret is set in the
// answer to its creation only; the server keeps no copy to show again.
type tokenView struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Secret     string    `json:"token,omitempty"`
}

func viewToken(t core.Token) tokenView {
	return tokenView{
		ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
	}
}

func (h *Handler) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}

	secret, t, err := h.svc.CreateToken(r.Context(), req.Name, core.Role(req.Role))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := viewToken(t)
	v.Secret = secret
	httpkit.JSON(w, http.StatusCreated, v)
}

func (h *Handler) handleListTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.svc.Tokens(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]tokenView, len(ts))
	for i, t := range ts {
		out[i] = viewToken(t)
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (h *Handler) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		h.fail(w, r, fmt.Errorf("%w: token id %q: want a positive number", core.ErrInvalid, truncate(s, 40)))
		return
	}

	if _, err := h.svc.RevokeToken(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
