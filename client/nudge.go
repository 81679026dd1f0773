package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// NudgeHeader is one header of a nudge request; Value is a template.
type NudgeHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Nudge is a product's outbound nudge: the request Ferry makes to wake a
// device that holds no connection. URL, header values and Body are Go
// templates (see docs/nudges.md). Secret is write-only: the server
// answers with SecretSet and never shows the secret. Zero limits take the
// server's defaults.
type Nudge struct {
	URL         string        `json:"url"`
	Method      string        `json:"method,omitempty"`
	Headers     []NudgeHeader `json:"headers,omitempty"`
	Body        string        `json:"body,omitempty"`
	Secret      string        `json:"secret,omitempty"`
	SecretSet   bool          `json:"secret_set,omitempty"`
	PerDevice   int           `json:"per_device,omitempty"`
	Window      time.Duration `json:"-"`
	PerMinute   int           `json:"per_minute,omitempty"`
	MaxAttempts int           `json:"max_attempts,omitempty"`
	Backoff     time.Duration `json:"-"`
	BackoffCap  time.Duration `json:"-"`
	Triggers    []string      `json:"triggers,omitempty"`
	UpdatedAt   time.Time     `json:"updated_at,omitzero"`
}

// nudgeWire is Nudge as the API spells it, durations as strings.
type nudgeWire struct {
	Nudge
	Window     string `json:"window,omitempty"`
	Backoff    string `json:"backoff,omitempty"`
	BackoffCap string `json:"backoff_cap,omitempty"`
}

func (w nudgeWire) nudge() (Nudge, error) {
	n := w.Nudge
	for _, d := range []struct {
		in  string
		out *time.Duration
	}{{w.Window, &n.Window}, {w.Backoff, &n.Backoff}, {w.BackoffCap, &n.BackoffCap}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return Nudge{}, err
		}
		*d.out = v
	}
	return n, nil
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// SetNudge sets product's nudge and returns it as stored, without the
// secret. An empty Secret keeps the one already set.
func (o *Operator) SetNudge(ctx context.Context, product string, n Nudge) (Nudge, error) {
	n.SecretSet, n.UpdatedAt = false, time.Time{}
	in := nudgeWire{Nudge: n, Window: durationText(n.Window), Backoff: durationText(n.Backoff),
		BackoffCap: durationText(n.BackoffCap)}
	var out nudgeWire
	if err := o.c.doJSON(ctx, http.MethodPut, productPath(product)+"/nudge", nil, in, &out); err != nil {
		return Nudge{}, err
	}
	return out.nudge()
}

// GetNudge returns product's nudge, without the secret. The server answers
// 404 (as an *Error) when the product has none.
func (o *Operator) GetNudge(ctx context.Context, product string) (Nudge, error) {
	var out nudgeWire
	if err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/nudge", nil, nil, &out); err != nil {
		return Nudge{}, err
	}
	return out.nudge()
}

// RemoveNudge removes product's nudge; removing none is not an error.
func (o *Operator) RemoveNudge(ctx context.Context, product string) error {
	return o.c.doJSON(ctx, http.MethodDelete, productPath(product)+"/nudge", nil, nil, nil)
}

// NudgeAttempt is one request made for a nudge.
type NudgeAttempt struct {
	At        time.Time `json:"at"`
	Status    int       `json:"status,omitempty"`
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}

// NudgeRecord is one nudge of a device: queued, sent, failed or
// suppressed (held back by a rate limit), with why.
type NudgeRecord struct {
	ID         int64          `json:"id"`
	Device     string         `json:"device"`
	Trigger    string         `json:"trigger"`
	CommandID  int64          `json:"command_id,omitempty"`
	State      string         `json:"state"`
	Reason     string         `json:"reason,omitempty"`
	Attempts   int            `json:"attempts"`
	LastStatus int            `json:"last_status,omitempty"`
	LastError  string         `json:"last_error,omitempty"`
	NextAt     time.Time      `json:"next_at,omitzero"`
	CreatedAt  time.Time      `json:"created_at"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	History    []NudgeAttempt `json:"history,omitempty"`
}

// Nudges lists product's recent nudges, newest first, only device's when
// device is not empty; a limit of 0 leaves the server's default of 100.
func (o *Operator) Nudges(ctx context.Context, product, device string, limit int) ([]NudgeRecord, error) {
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Nudges []NudgeRecord `json:"nudges"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/nudges", q, nil, &out)
	return out.Nudges, err
}

// NudgeRecord returns one of product's nudges with every attempt made.
func (o *Operator) NudgeRecord(ctx context.Context, product string, id int64) (NudgeRecord, error) {
	var out NudgeRecord
	path := productPath(product) + "/nudges/" + strconv.FormatInt(id, 10)
	err := o.c.doJSON(ctx, http.MethodGet, path, nil, nil, &out)
	return out, err
}
