package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxErrorBody bounds how much of an error answer is read: reasons are one
// line, and a misbehaving server must not make the client buffer a page.
const maxErrorBody = 8 << 10

// Error is an error status from the server. Message is the server's own
// reason (the "error" field of the JSON body, or the first line of a plain
// text body); it may be empty.
type Error struct {
	Status  int
	Message string
}

// Error reads like "server said 409 Conflict: release p 1.1.0: already exists".
func (e *Error) Error() string {
	s := fmt.Sprintf("server said %d %s", e.Status, http.StatusText(e.Status))
	if e.Message == "" {
		return s
	}
	return s + ": " + e.Message
}

// errorFrom builds an *Error from a non-2xx answer, reading a bounded part
// of its body.
func errorFrom(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}

	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != "" {
		e.Message = v.Error
		return e
	}

	// Plain-protocol errors and proxies answer with text; keep its first line.
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if !strings.HasPrefix(line, "{") && !strings.HasPrefix(line, "<") {
		e.Message = strings.TrimSpace(line)
	}
	return e
}
