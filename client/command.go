package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Command is a command the server hands a device with its check-in answer.
// The device answers each with Device.Ack.
type Command struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Payload string `json:"payload,omitempty"`
}

// Ack answers command id: ok says whether it worked, result is a short
// text (at most 256 bytes, printable, one line). Answers are idempotent, so
// a device may repeat one whose answer it did not see.
func (d *Device) Ack(ctx context.Context, id int64, ok bool, result string) error {
	in := struct {
		ID     string `json:"id"`
		Cmd    int64  `json:"cmd"`
		OK     bool   `json:"ok"`
		Result string `json:"result,omitempty"`
	}{d.id, id, ok, result}
	return d.c.doJSON(ctx, http.MethodPost, d.path("/ack"), nil, in, nil)
}

// Wait is a held check-in (long-poll): the server answers at once when it
// has an offer or a command for the device, and otherwise when something
// changes for the device or timeout (whole seconds, 1s to 600s; zero means
// the server's default of 240s) passes. req.Attrs is not sent. The caller's
// HTTP client must allow the request to take longer than timeout.
func (d *Device) Wait(ctx context.Context, req CheckInRequest, timeout time.Duration) (CheckInResponse, error) {
	q := url.Values{"id": {d.id}}
	if req.Version != "" {
		q.Set("version", req.Version)
	}
	if req.SHA256 != "" {
		q.Set("sha256", req.SHA256)
	}
	if req.Counter != nil {
		q.Set("counter", strconv.FormatInt(*req.Counter, 10))
	}
	if timeout > 0 {
		q.Set("timeout", strconv.FormatInt(int64(timeout/time.Second), 10))
	}
	var resp CheckInResponse
	err := d.c.doJSON(ctx, http.MethodGet, d.path("/wait"), q, nil, &resp)
	return resp, err
}

// CommandRequest is a command for a device: Name is required; Expires zero
// means the server's default of 24 hours.
type CommandRequest struct {
	Name    string
	Payload string
	Expires time.Duration
	Urgent  bool
}

// CommandEvent is one line of a command's history.
type CommandEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Via    string    `json:"via,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// CommandInfo is a command as operators see it. State is queued,
// delivered, acknowledged, failed, expired or canceled; Result is "ok" or
// "error" once the device answered.
type CommandInfo struct {
	ID            int64          `json:"id"`
	Product       string         `json:"product"`
	Device        string         `json:"device"`
	Name          string         `json:"name"`
	Payload       string         `json:"payload"`
	Urgent        bool           `json:"urgent"`
	State         string         `json:"state"`
	CreatedBy     string         `json:"created_by"`
	CreatedAt     time.Time      `json:"created_at"`
	ExpiresAt     time.Time      `json:"expires_at"`
	DeliveredAt   *time.Time     `json:"delivered_at,omitempty"`
	FinishedAt    *time.Time     `json:"finished_at,omitempty"`
	Via           string         `json:"via,omitempty"`
	Result        string         `json:"result,omitempty"`
	ResultPayload string         `json:"result_payload,omitempty"`
	History       []CommandEvent `json:"history,omitempty"`
}

// Open reports whether the command still waits for the device's answer.
func (c CommandInfo) Open() bool { return c.State == "queued" || c.State == "delivered" }

func commandsPath(product, device string) string {
	return productPath(product) + "/devices/" + url.PathEscape(device) + "/commands"
}

// QueueCommand queues a command for a device of product.
func (o *Operator) QueueCommand(ctx context.Context, product, device string, req CommandRequest) (CommandInfo, error) {
	in := struct {
		Name    string `json:"name"`
		Payload string `json:"payload,omitempty"`
		Expires string `json:"expires,omitempty"`
		Urgent  bool   `json:"urgent,omitempty"`
	}{Name: req.Name, Payload: req.Payload, Urgent: req.Urgent}
	if req.Expires != 0 {
		in.Expires = req.Expires.String()
	}
	var c CommandInfo
	err := o.c.doJSON(ctx, http.MethodPost, commandsPath(product, device), nil, in, &c)
	return c, err
}

// Commands lists a device's commands, newest first.
func (o *Operator) Commands(ctx context.Context, product, device string) ([]CommandInfo, error) {
	var cs []CommandInfo
	err := o.c.doJSON(ctx, http.MethodGet, commandsPath(product, device), nil, nil, &cs)
	return cs, err
}

// Command returns one command with its history. With wait > 0 (at most
// 5 minutes) the server first waits for the command to be answered,
// expire or be canceled; the answer may still be open when wait passed.
func (o *Operator) Command(ctx context.Context, product, device string, id int64, wait time.Duration,
) (CommandInfo, error) {
	var q url.Values
	if wait > 0 {
		q = url.Values{"wait": {wait.String()}}
	}
	var c CommandInfo
	path := commandsPath(product, device) + "/" + strconv.FormatInt(id, 10)
	err := o.c.doJSON(ctx, http.MethodGet, path, q, nil, &c)
	return c, err
}

// CancelCommand withdraws an open command.
func (o *Operator) CancelCommand(ctx context.Context, product, device string, id int64) (CommandInfo, error) {
	var c CommandInfo
	path := commandsPath(product, device) + "/" + strconv.FormatInt(id, 10) + "/cancel"
	err := o.c.doJSON(ctx, http.MethodPost, path, nil, nil, &c)
	return c, err
}
