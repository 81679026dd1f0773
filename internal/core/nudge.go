package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults and bounds of a nudge configuration.
const (
	DefaultNudgePerDevice   = 1
	DefaultNudgeWindow      = 10 * time.Minute
	DefaultNudgePerMinute   = 60
	DefaultNudgeMaxAttempts = 5
	DefaultNudgeBackoffBase = 5 * time.Second
	DefaultNudgeBackoffCap  = 5 * time.Minute

	maxNudgeTemplate = 8 << 10
	maxNudgeHeaders  = 16
	maxNudgeSecret   = 512
)

// nudgeHeaderRe is an HTTP header name (RFC 9110 token), at most 64 bytes.
var nudgeHeaderRe = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")

// reservedNudgeHeaders are set by the HTTP client from the request itself.
var reservedNudgeHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Upgrade"}

// SetNudge sets product's nudge configuration, replacing any it had. Zero
// limits and retry fields take the defaults above; no triggers means
// urgent commands. An empty Secret keeps the one already set. Every
// template is parsed and rendered once with sample data, so a mistake is
// refused here (ErrInvalid, with the reason) rather than found when a
// device needs waking.
func (s *Service) SetNudge(ctx context.Context, product string, c NudgeConfig) (NudgeConfig, error) {
	c = nudgeDefaults(c)
	if err := validateNudge(c); err != nil {
		return NudgeConfig{}, err
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return NudgeConfig{}, err
	}
	c.ProductID, c.UpdatedAt = p.ID, s.now()
	err = s.store.Tx(ctx, func(tx Store) error {
		if c.Secret == "" {
			if old, err := tx.NudgeConfig(ctx, p.ID); err == nil {
				c.Secret = old.Secret
			} else if !notFound(err) {
				return err
			}
		}
		if err := tx.SetNudgeConfig(ctx, c); err != nil {
			return err
		}
		origin, _ := nudgeOrigin(c.URL)
		return audit(ctx, tx, c.UpdatedAt, "nudge.set", product, "", map[string]any{
			"origin": origin, "method": c.Method, "triggers": c.Triggers,
			"per_device": c.PerDevice, "window": c.PerDeviceWindow.String(), "per_minute": c.PerMinute,
		})
	})
	return c, err
}

// NudgeConfig returns product's nudge configuration, secret included:
// adapters must not show it.
func (s *Service) NudgeConfig(ctx context.Context, product string) (NudgeConfig, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return NudgeConfig{}, err
	}
	c, err := s.store.NudgeConfig(ctx, p.ID)
	return c, lookupErr(err, "product "+product+" has no nudge")
}

// RemoveNudge removes product's nudge configuration. Nudges already queued
// are then dropped by the sender, recorded as failed.
func (s *Service) RemoveNudge(ctx context.Context, product string) error {
	p, err := s.Product(ctx, product)
	if err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx Store) error {
		if err := tx.DeleteNudgeConfig(ctx, p.ID); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), "nudge.remove", product, "", nil)
	})
}

// Nudges lists product's recent nudges, newest first, only device's when
// device is not empty.
func (s *Service) Nudges(ctx context.Context, product, device string, limit int) ([]Nudge, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return nil, err
	}
	f := NudgeFilter{ProductID: p.ID, Limit: min(max(limit, 0), 1000)}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if device != "" {
		dev, err := s.store.Device(ctx, p.ID, device)
		if err != nil {
			return nil, lookupErr(err, "product "+product+" has no device "+device)
		}
		f.DeviceID = dev.ID
	}
	return s.store.Nudges(ctx, f)
}

// NudgeAttempts returns one of product's nudges with every request made
// for it, oldest first.
func (s *Service) NudgeAttempts(ctx context.Context, product string, id int64) (Nudge, []NudgeAttempt, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Nudge{}, nil, err
	}
	n, err := s.store.Nudge(ctx, id)
	if err != nil || n.ProductID != p.ID {
		return Nudge{}, nil, fmt.Errorf("product %s has no nudge %d: %w", product, id, ErrNotFound)
	}
	as, err := s.store.NudgeAttempts(ctx, id)
	return n, as, err
}

// queueNudge queues a nudge for dev in tx when p has a nudge for trigger:
// sent later by the nudge sender, or recorded at once as suppressed when a
// rate limit holds it back. Both limits count the nudges that were not
// suppressed, so a device that keeps getting urgent commands is nudged
// once per window, not never. Callers check that the device holds no
// connection.
//
// TODO(nudge): the hub knows only the connections held on this node, so
// with several nodes a device waiting on another is nudged needlessly,
// and the nudges table grows without bound, as deliveries do. Harmless
// for one node; a shared presence table and pruning of finished nudges
// older than their window matter once Ferry runs on several nodes or for
// years.
func (s *Service) queueNudge(ctx context.Context, tx Store, p Product, dev Device,
	trigger NudgeTrigger, cmd NudgeCommand, now time.Time,
) error {
	c, err := tx.NudgeConfig(ctx, p.ID)
	if notFound(err) || err == nil && !slices.Contains(c.Triggers, trigger) {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := json.Marshal(NudgeData{Product: p.Name, Device: dev.Name, Attributes: dev.Attributes,
		Trigger: trigger, Command: cmd})
	if err != nil {
		return err
	}
	n := Nudge{ProductID: p.ID, DeviceID: dev.ID, Device: dev.Name, Trigger: trigger, CommandID: cmd.ID,
		Data: data, State: NudgeQueued, NextAt: now, CreatedAt: now}

	reason, err := nudgeLimited(ctx, tx, c, dev.ID, now)
	if err != nil {
		return err
	}
	if reason != "" {
		n.State, n.Reason, n.FinishedAt = NudgeSuppressed, reason, now
	} else {
		s.nudged.Store(true)
	}
	return tx.AddNudge(ctx, &n)
}

// nudgeLimited returns why a nudge for the device may not be sent now, or
// "" when it may.
func nudgeLimited(ctx context.Context, tx Store, c NudgeConfig, deviceID int64, now time.Time) (string, error) {
	// A window of 10 minutes holds nudges created less than 10 minutes
	// ago: the store counts from since on, at millisecond precision.
	within := func(d time.Duration) time.Time { return now.Add(-d + time.Millisecond) }
	n, err := tx.CountNudges(ctx, c.ProductID, deviceID, within(c.PerDeviceWindow))
	if err != nil {
		return "", err
	}
	if n >= c.PerDevice {
		return fmt.Sprintf("rate limit: %d per device per %s", c.PerDevice, c.PerDeviceWindow), nil
	}
	n, err = tx.CountNudges(ctx, c.ProductID, 0, within(time.Minute))
	if err != nil {
		return "", err
	}
	if n >= c.PerMinute {
		return fmt.Sprintf("rate limit: %d per product per minute", c.PerMinute), nil
	}
	return "", nil
}

func nudgeDefaults(c NudgeConfig) NudgeConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.PerDevice, DefaultNudgePerDevice)
	defDur(&c.PerDeviceWindow, DefaultNudgeWindow)
	def(&c.PerMinute, DefaultNudgePerMinute)
	def(&c.MaxAttempts, DefaultNudgeMaxAttempts)
	defDur(&c.BackoffBase, DefaultNudgeBackoffBase)
	defDur(&c.BackoffCap, DefaultNudgeBackoffCap)
	if c.Method == "" {
		c.Method = "POST"
	}
	c.Method = strings.ToUpper(c.Method)
	if len(c.Triggers) == 0 {
		c.Triggers = []NudgeTrigger{TriggerUrgentCommand}
	}
	return c
}

func validateNudge(c NudgeConfig) error {
	if err := validateNudgeLimits(c); err != nil {
		return err
	}
	switch c.Method {
	case "GET", "POST", "PUT", "PATCH":
	default:
		return errInvalidf("nudge method %q: want GET, POST, PUT or PATCH", truncate(c.Method, 20))
	}
	if c.Method == "GET" && c.Body != "" {
		return errInvalidf("nudge body: a GET request has none")
	}
	for _, t := range c.Triggers {
		if t != TriggerUrgentCommand {
			return errInvalidf("nudge trigger %q: want %s", truncate(string(t), 40), TriggerUrgentCommand)
		}
	}
	if len(c.Secret) > maxNudgeSecret || strings.ContainsFunc(c.Secret, isControl) {
		return errInvalidf("nudge secret: want at most %d bytes and no control characters", maxNudgeSecret)
	}
	if err := validateNudgeHeaders(c.Headers); err != nil {
		return err
	}
	if len(c.URL) > 2048 || len(c.Body) > maxNudgeTemplate {
		return errInvalidf("nudge url longer than 2048 bytes or body template longer than %d", maxNudgeTemplate)
	}
	if _, err := nudgeOrigin(c.URL); err != nil {
		return errInvalidf("nudge url: %v", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}

	// Render once with sample data: catches parse errors, unknown fields
	// and functions, .Secret outside headers.
	sample := NudgeView{Product: "sample-product", Device: "sample-device", Trigger: string(c.Triggers[0]),
		Nudge: 1, Command: NudgeCommand{ID: 1, Name: "reboot", Payload: `{"sample":true}`},
		secret: c.Secret, sample: true}
	if _, err := render(c, sample); err != nil {
		return errInvalidf("nudge %v", err)
	}
	return nil
}

func validateNudgeLimits(c NudgeConfig) error {
	switch {
	case c.PerDevice < 1 || c.PerDevice > 100:
		return errInvalidf("nudge per_device %d: want 1-100", c.PerDevice)
	case c.PerDeviceWindow < time.Minute || c.PerDeviceWindow > 24*time.Hour:
		return errInvalidf("nudge window %s: want 1m to 24h", c.PerDeviceWindow)
	case c.PerMinute < 1 || c.PerMinute > 10000:
		return errInvalidf("nudge per_minute %d: want 1-10000", c.PerMinute)
	case c.MaxAttempts < 1 || c.MaxAttempts > 20:
		return errInvalidf("nudge max_attempts %d: want 1-20", c.MaxAttempts)
	case c.BackoffBase < time.Second || c.BackoffBase > time.Hour:
		return errInvalidf("nudge backoff %s: want 1s to 1h", c.BackoffBase)
	case c.BackoffCap < c.BackoffBase || c.BackoffCap > 24*time.Hour:
		return errInvalidf("nudge backoff_cap %s: want from backoff (%s) to 24h", c.BackoffCap, c.BackoffBase)
	}
	return nil
}

func validateNudgeHeaders(hs []NudgeHeader) error {
	if len(hs) > maxNudgeHeaders {
		return errInvalidf("nudge has %d headers, at most %d allowed", len(hs), maxNudgeHeaders)
	}
	seen := map[string]bool{}
	for _, h := range hs {
		if !nudgeHeaderRe.MatchString(h.Name) {
			return errInvalidf("nudge header name %q: want letters, digits and -, at most 64", truncate(h.Name, 40))
		}
		canon := textproto.CanonicalMIMEHeaderKey(h.Name)
		if slices.Contains(reservedNudgeHeaders, canon) {
			return errInvalidf("nudge header %s is set by Ferry", canon)
		}
		if seen[canon] {
			return errInvalidf("nudge header %s given twice", canon)
		}
		seen[canon] = true
		if len(h.Value) > 1024 || strings.ContainsFunc(h.Value, isControl) {
			return errInvalidf("nudge header %s: want a value template of at most 1024 bytes on one line", canon)
		}
	}
	return nil
}
