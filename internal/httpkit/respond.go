package httpkit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Text answers with a short text/plain body and its Content-Length. No
// newline is added: plain clients compare the body with a string.
func Text(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body)) // the client hung up; nothing to do
}

// JSON answers with v encoded into a buffer first, so the answer carries a
// Content-Length and an encoding error can still become a 500.
func JSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		Text(w, http.StatusInternalServerError, "internal server error")
		return
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client hung up; nothing to do
}

// JSONError answers {"error": msg}.
func JSONError(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// Credential returns the bearer token of r, else its token query parameter.
func Credential(r *http.Request) string {
	if tok := Bearer(r); tok != "" {
		return tok
	}
	return r.URL.Query().Get("token")
}

// Bearer returns the token of an "Authorization: Bearer" header, or "".
// The scheme name is case-insensitive (RFC 9110, section 11.1).
func Bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
