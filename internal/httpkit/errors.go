package httpkit

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/ferry-ota/ferry/internal/core"
)

// Status returns the HTTP status for err and the reason to show the client.
// Errors that are not the client's fault get a fixed message, so internal
// details never leak.
func Status(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, core.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, core.ErrUnauthorized):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, core.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrAmbiguous), errors.Is(err, core.ErrState):
		return http.StatusConflict, err.Error()
	case errors.Is(err, core.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "request body too large"
	}
	return http.StatusInternalServerError, "internal server error"
}

// LogError logs a failed request once, at the boundary: server faults at
// Error, client mistakes at Debug.
func LogError(log *slog.Logger, r *http.Request, status int, err error) {
	if status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
		return
	}
	log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
}
