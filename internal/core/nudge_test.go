package core_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func TestSetNudgeDefaultsAndKeepsSecret(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	in := core.NudgeConfig{
		URL:     "https://api.carrier.example/sms",
		Headers: []core.NudgeHeader{{Name: "x-api-key", Value: "{{.Secret}}"}},
		Body:    `{"to":{{json (.Attr "msisdn")}}}`,
		Secret:  "k-123",
	}
	got, err := f.svc.SetNudge(ctx, "sensor", in)
	if err != nil {
		t.Fatalf("SetNudge() = %v, want nil", err)
	}
	want := in
	want.ProductID, want.Method, want.Triggers = f.p.ID, "POST", []core.NudgeTrigger{core.TriggerUrgentCommand}
	want.PerDevice, want.PerDeviceWindow, want.PerMinute = 1, 10*time.Minute, 60
	want.MaxAttempts, want.BackoffBase, want.BackoffCap = 5, 5*time.Second, 5*time.Minute
	want.UpdatedAt = got.UpdatedAt
	if !equalNudge(got, want) {
		t.Errorf("SetNudge() = %+v, want %+v", got, want)
	}

	// Setting it again without a secret keeps the stored one.
	in.Secret, in.Method = "", "put"
	if _, err := f.svc.SetNudge(ctx, "sensor", in); err != nil {
		t.Fatalf("SetNudge(no secret) = %v, want nil", err)
	}
	stored, err := f.svc.NudgeConfig(ctx, "sensor")
	if err != nil || stored.Secret != "k-123" || stored.Method != "PUT" {
		t.Errorf("NudgeConfig() = %+v, %v; want secret kept, method PUT", stored, err)
	}

	if err := f.svc.RemoveNudge(ctx, "sensor"); err != nil {
		t.Fatalf("RemoveNudge() = %v, want nil", err)
	}
	if _, err := f.svc.NudgeConfig(ctx, "sensor"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("NudgeConfig() after RemoveNudge = %v, want ErrNotFound", err)
	}
}

func equalNudge(a, b core.NudgeConfig) bool {
	return a.ProductID == b.ProductID && a.URL == b.URL && a.Method == b.Method && a.Body == b.Body &&
		a.Secret == b.Secret && len(a.Headers) == len(b.Headers) && len(a.Triggers) == len(b.Triggers) &&
		a.PerDevice == b.PerDevice && a.PerDeviceWindow == b.PerDeviceWindow && a.PerMinute == b.PerMinute &&
		a.MaxAttempts == b.MaxAttempts && a.BackoffBase == b.BackoffBase && a.BackoffCap == b.BackoffCap
}

func TestSetNudgeRefusesBadInput(t *testing.T) {
	ok := core.NudgeConfig{URL: "https://api.carrier.example/sms"}
	with := func(change func(*core.NudgeConfig)) core.NudgeConfig {
		c := ok
		change(&c)
		return c
	}
	tests := []struct {
		name string
		in   core.NudgeConfig
		want string // in the reason
	}{
		{"bad body template", with(func(c *core.NudgeConfig) { c.Body = "{{.Device" }), "body template"},
		{"unknown field", with(func(c *core.NudgeConfig) { c.Body = "{{.IMEI}}" }), "IMEI"},
		{"unknown function", with(func(c *core.NudgeConfig) { c.Body = "{{base64 .Device}}" }), "base64"},
		{"secret in body", with(func(c *core.NudgeConfig) { c.Body = "{{.Secret}}" }), "header values only"},
		{"secret in url", with(func(c *core.NudgeConfig) { c.URL += "?k={{.Secret}}" }), "header values only"},
		{"templated host", with(func(c *core.NudgeConfig) { c.URL = `https://{{.Attr "h"}}/sms` }), "literal"},
		{"templated port", with(func(c *core.NudgeConfig) { c.URL = "https://a.example:{{.Nudge}}/" }), "literal"},
		{"not http", with(func(c *core.NudgeConfig) { c.URL = "file:///etc/passwd" }), "http or https"},
		{"relative", with(func(c *core.NudgeConfig) { c.URL = "/sms" }), "absolute"},
		{"user info", with(func(c *core.NudgeConfig) { c.URL = "https://u:p@a.example/" }), "user name"},
		{"space in url", with(func(c *core.NudgeConfig) { c.URL += "/a b" }), "space"},
		{"method", with(func(c *core.NudgeConfig) { c.Method = "DELETE" }), "method"},
		{"get with body", with(func(c *core.NudgeConfig) { c.Method, c.Body = "GET", "x" }), "GET"},
		{"trigger", with(func(c *core.NudgeConfig) { c.Triggers = []core.NudgeTrigger{"boot"} }), "trigger"},
		{"header name", with(func(c *core.NudgeConfig) {
			c.Headers = []core.NudgeHeader{{Name: "Bad Name", Value: "x"}}
		}), "header name"},
		{"reserved header", with(func(c *core.NudgeConfig) {
			c.Headers = []core.NudgeHeader{{Name: "host", Value: "evil.example"}}
		}), "Host"},
		{"header twice", with(func(c *core.NudgeConfig) {
			c.Headers = []core.NudgeHeader{{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}}
		}), "twice"},
		{"header newline", with(func(c *core.NudgeConfig) {
			c.Headers = []core.NudgeHeader{{Name: "X-A", Value: "1\r\nX-B: 2"}}
		}), "one line"},
		{"secret newline", with(func(c *core.NudgeConfig) { c.Secret = "a\nb" }), "secret"},
		{"per device", with(func(c *core.NudgeConfig) { c.PerDevice = -1 }), "per_device"},
		{"window", with(func(c *core.NudgeConfig) { c.PerDeviceWindow = time.Second }), "window"},
		{"per minute", with(func(c *core.NudgeConfig) { c.PerMinute = 10001 }), "per_minute"},
		{"attempts", with(func(c *core.NudgeConfig) { c.MaxAttempts = 21 }), "max_attempts"},
		{"backoff", with(func(c *core.NudgeConfig) { c.BackoffBase = time.Millisecond }), "backoff"},
		{"cap below base", with(func(c *core.NudgeConfig) {
			c.BackoffBase, c.BackoffCap = time.Minute, time.Second
		}), "backoff_cap"},
		{"huge output", with(func(c *core.NudgeConfig) {
			c.Body = strings.Repeat(`{{printf "%0999d" 1}}`, 70) // 70 KB from 1.5 KB
		}), "longer than"},
	}
	f := newFixture(t, core.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.SetNudge(t.Context(), "sensor", tt.in)
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SetNudge(%s) = %v, want ErrInvalid mentioning %q", tt.name, err, tt.want)
			}
		})
	}
	if _, err := f.svc.NudgeConfig(t.Context(), "sensor"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("NudgeConfig() after refused sets = %v, want ErrNotFound: nothing stored", err)
	}
	if _, err := f.svc.SetNudge(t.Context(), "nope", ok); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetNudge(unknown product) = %v, want ErrNotFound", err)
	}
}

// states returns the product's nudges, oldest first, as state or
// state:reason-prefix strings.
func nudgeStates(t *testing.T, f *fixture) []string {
	t.Helper()
	ns, err := f.svc.Nudges(t.Context(), "sensor", "", 0)
	if err != nil {
		t.Fatalf("Nudges() = %v", err)
	}
	var out []string
	for i := len(ns) - 1; i >= 0; i-- {
		s := ns[i].Device + ":" + string(ns[i].State)
		if ns[i].Reason != "" {
			s += ":" + ns[i].Reason
		}
		out = append(out, s)
	}
	return out
}

func TestUrgentBurstIsRateLimited(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	if _, err := f.svc.SetNudge(ctx, "sensor", core.NudgeConfig{URL: "https://127.0.0.1/sms",
		PerDevice: 1, PerDeviceWindow: 10 * time.Minute, PerMinute: 3}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d1", "d2", "d3", "d4"} {
		f.checkIn(t, d, "1.0.0")
	}

	// A burst for one device: one nudge, the rest suppressed.
	for range 4 {
		f.queue(t, "d1", core.CommandRequest{Name: "reboot", Urgent: true})
	}
	f.queue(t, "d1", core.CommandRequest{Name: "blink"}) // not urgent: no nudge at all
	// Three more devices at once: the product's cap of 3 a minute holds
	// back the third.
	for _, d := range []string{"d2", "d3", "d4"} {
		f.queue(t, d, core.CommandRequest{Name: "check-update", Urgent: true})
	}
	perDevice := "rate limit: 1 per device per 10m0s"
	perMinute := "rate limit: 3 per product per minute"
	want := []string{"d1:queued", "d1:suppressed:" + perDevice, "d1:suppressed:" + perDevice,
		"d1:suppressed:" + perDevice, "d2:queued", "d3:queued", "d4:suppressed:" + perMinute}
	if got := nudgeStates(t, f); !slices.Equal(got, want) {
		t.Errorf("nudges after the burst = %q, want %q", got, want)
	}

	// A minute later the product has room again, but d1's window is
	// still open; ten minutes later d1 may be nudged again.
	f.clock.Add(time.Minute)
	f.queue(t, "d4", core.CommandRequest{Name: "check-update", Urgent: true})
	f.queue(t, "d1", core.CommandRequest{Name: "reboot", Urgent: true})
	f.clock.Add(9 * time.Minute)
	f.queue(t, "d1", core.CommandRequest{Name: "reboot", Urgent: true})
	got := nudgeStates(t, f)[len(want):]
	if want := []string{"d4:queued", "d1:suppressed:" + perDevice, "d1:queued"}; !slices.Equal(got, want) {
		t.Errorf("later nudges = %q, want %q", got, want)
	}
}

func TestNoNudgeWithoutConfiguration(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.checkIn(t, "d1", "1.0.0")
	f.queue(t, "d1", core.CommandRequest{Name: "reboot", Urgent: true})
	if got := nudgeStates(t, f); len(got) != 0 {
		t.Errorf("nudges without a configuration = %q, want none", got)
	}
}
