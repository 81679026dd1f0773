package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DeviceSettings change what an operator controls about a device. Nil
// fields are left as they are.
type DeviceSettings struct {
	AddTags    []string
	RemoveTags []string
	Channel    *string
	// Pin is a version to pin the device to; a pointer to "" removes the pin.
	Pin      *string
	Excluded *bool
	// Poll overrides the product's poll intervals; a pointer to 0 removes
	// the override.
	Poll *time.Duration
}

// ConfigureDevice applies settings to a device of product and returns the
// device as it is now. The device must have checked in at least once.
func (o *Operator) ConfigureDevice(ctx context.Context, product, id string, s DeviceSettings) (DeviceInfo, error) {
	in := struct {
		AddTags    []string `json:"add_tags,omitempty"`
		RemoveTags []string `json:"remove_tags,omitempty"`
		Channel    *string  `json:"channel,omitempty"`
		Pin        *string  `json:"pin,omitempty"`
		Excluded   *bool    `json:"excluded,omitempty"`
		Poll       *string  `json:"poll,omitempty"`
	}{AddTags: s.AddTags, RemoveTags: s.RemoveTags, Channel: s.Channel, Pin: s.Pin, Excluded: s.Excluded}
	in.Poll = durationPtr(s.Poll)
	var d DeviceInfo
	path := productPath(product) + "/devices/" + url.PathEscape(id)
	err := o.c.doJSON(ctx, http.MethodPatch, path, nil, in, &d)
	return d, err
}

// ProductSettings change a product's poll intervals: how long devices
// wait between check-ins when idle, and while an update or rollout
// concerns them. Nil leaves one as it is; a pointer to 0 returns it to the
// server's default. RequireSignature, when set, turns the refusal of
// unsigned release uploads on or off.
//
// Board, when set, gives the product a board profile with Loader (both
// names as in Product), or takes the profile away when it points to "".
type ProductSettings struct {
	PollIdle         *time.Duration
	PollActive       *time.Duration
	RequireSignature *bool
	Board            *string
	Loader           *string
}

// ConfigureProduct applies settings to a product and returns it.
func (o *Operator) ConfigureProduct(ctx context.Context, product string, s ProductSettings) (Product, error) {
	in := struct {
		PollIdle         *string `json:"poll_idle,omitempty"`
		PollActive       *string `json:"poll_active,omitempty"`
		RequireSignature *bool   `json:"require_signature,omitempty"`
		Board            *string `json:"board,omitempty"`
		Loader           *string `json:"loader,omitempty"`
	}{durationPtr(s.PollIdle), durationPtr(s.PollActive), s.RequireSignature, s.Board, s.Loader}
	var p Product
	err := o.c.doJSON(ctx, http.MethodPatch, productPath(product), nil, in, &p)
	return p, err
}

// durationPtr renders an optional duration as the API takes it.
func durationPtr(d *time.Duration) *string {
	if d == nil {
		return nil
	}
	s := d.String()
	return &s
}

// Webhook is where a product's outcome events are posted. Secret signs
// them; the server shows it only in the answer to SetWebhook.
type Webhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// SetWebhook points a product's outcome events at rawURL. An empty secret
// asks the server to make one; either way the returned Webhook holds it,
// and it is never shown again.
func (o *Operator) SetWebhook(ctx context.Context, product, rawURL, secret string) (Webhook, error) {
	in := struct {
		URL    string `json:"url"`
		Secret string `json:"secret,omitempty"`
	}{rawURL, secret}
	var w Webhook
	err := o.c.doJSON(ctx, http.MethodPut, productPath(product)+"/webhook", nil, in, &w)
	return w, err
}

// RemoveWebhook stops a product's outcome events. Removing a webhook that
// is not set is not an error.
func (o *Operator) RemoveWebhook(ctx context.Context, product string) error {
	return o.c.doJSON(ctx, http.MethodDelete, productPath(product)+"/webhook", nil, nil, nil)
}

// Delivery is one webhook event and how sending it went. DeliveredAt is
// zero until a receiver accepted it.
type Delivery struct {
	ID          int64     `json:"id"`
	Event       string    `json:"event"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Deliveries lists a product's recent webhook deliveries, newest first; a
// limit of 0 leaves the server's default.
func (o *Operator) Deliveries(ctx context.Context, product string, limit int) ([]Delivery, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var v struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/webhook/deliveries", q, nil, &v)
	return v.Deliveries, err
}

// AuditEntry records one operator action. Actor is the name of the token
// used; Object is what was acted on (a version, a rollout ID, a device ID);
// Detail is a JSON object with the action's parameters.
type AuditEntry struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Product string          `json:"product,omitempty"`
	Object  string          `json:"object,omitempty"`
	Detail  json.RawMessage `json:"detail"`
}

// AuditQuery narrows an audit listing. Zero fields match everything; a
// zero Limit leaves the server's default.
type AuditQuery struct {
	Product string
	Since   time.Time
	Limit   int
}

// Audit lists audit entries matching q, newest first.
func (o *Operator) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	v := url.Values{}
	if q.Product != "" {
		v.Set("product", q.Product)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Entries []AuditEntry `json:"entries"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/audit", v, nil, &out)
	return out.Entries, err
}

// RevokeDeviceCredentials revokes every credential of a product's device
// and returns how many were valid; the device is refused until it enrolls
// again. The server answers 404 (as an *Error) for an unknown device.
func (o *Operator) RevokeDeviceCredentials(ctx context.Context, product, id string) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	path := productPath(product) + "/devices/" + url.PathEscape(id) + "/credentials"
	err := o.c.doJSON(ctx, http.MethodDelete, path, nil, nil, &out)
	return out.Revoked, err
}

// IssueDeviceToken issues a device token for device id of a key product,
// as enrolling would, and revokes the ones issued before: for clients whose
// token an operator configures, such as a hawkBit client's target token.
// The server answers 409 (as an *Error) for a product without key access.
func (o *Operator) IssueDeviceToken(ctx context.Context, product, id string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	path := productPath(product) + "/devices/" + url.PathEscape(id) + "/token"
	err := o.c.doJSON(ctx, http.MethodPost, path, nil, nil, &out)
	return out.Token, err
}
