package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestNudgeConfigRoundTrip(t *testing.T) {
	a := newTestAPI(t)
	const secret = "carrier-token-31337"
	body := `{"url":"https://api.carrier.example/v1/sims/{{urlquery (.Attr \"iccid\")}}/sms",
		"method":"post",
		"headers":[{"name":"Authorization","value":"Bearer {{.Secret}}"},
			{"name":"Content-Type","value":"application/json"}],
		"body":"{\"payload\":{{json .Command.Name}}}",
		"secret":"` + secret + `","per_device":2,"window":"30m","per_minute":10,
		"max_attempts":3,"backoff":"2s","backoff_cap":"1m"}`
	b := a.must(t, "PUT", "/api/v1/products/p/nudge", body, http.StatusOK)

	var got struct {
		URL         string `json:"url"`
		Method      string `json:"method"`
		SecretSet   bool   `json:"secret_set"`
		PerDevice   int    `json:"per_device"`
		Window      string `json:"window"`
		PerMinute   int    `json:"per_minute"`
		MaxAttempts int    `json:"max_attempts"`
		Backoff     string `json:"backoff"`
		BackoffCap  string `json:"backoff_cap"`
		Triggers    []string
		Headers     []struct{ Name, Value string }
	}
	for _, b := range [][]byte{b, a.must(t, "GET", "/api/v1/products/p/nudge", "", http.StatusOK)} {
		if strings.Contains(string(b), secret) {
			t.Errorf("answer shows the secret: %s", b)
		}
		decodeJSON(t, b, &got)
		if got.Method != "POST" || !got.SecretSet || got.PerDevice != 2 || got.Window != "30m0s" ||
			got.PerMinute != 10 || got.MaxAttempts != 3 || got.Backoff != "2s" || got.BackoffCap != "1m0s" ||
			len(got.Triggers) != 1 || got.Triggers[0] != "urgent-command" || len(got.Headers) != 2 {
			t.Errorf("nudge = %s, want the settings given, method POST, secret_set, trigger urgent-command", b)
		}
	}
	if b := a.must(t, "GET", "/api/v1/audit?product=p", "", http.StatusOK); strings.Contains(string(b), secret) ||
		!strings.Contains(string(b), "nudge.set") {
		t.Errorf("audit = %s, want nudge.set without the secret", b)
	}

	a.must(t, "DELETE", "/api/v1/products/p/nudge", "", http.StatusNoContent)
	a.must(t, "GET", "/api/v1/products/p/nudge", "", http.StatusNotFound)
	a.must(t, "DELETE", "/api/v1/products/p/nudge", "", http.StatusNoContent)
}

func TestNudgeRefusals(t *testing.T) {
	a := newTestAPI(t)
	tests := []struct {
		name, method, path, body string
		want                     int
		reason                   string
	}{
		{"bad template", "PUT", "/api/v1/products/p/nudge",
			`{"url":"https://a.example/","body":"{{.Device"}`, 400, "body template"},
		{"secret in body", "PUT", "/api/v1/products/p/nudge",
			`{"url":"https://a.example/","body":"{{.Secret}}"}`, 400, "header values only"},
		{"templated host", "PUT", "/api/v1/products/p/nudge",
			`{"url":"https://{{.Device}}.example/"}`, 400, "literal"},
		{"bad duration", "PUT", "/api/v1/products/p/nudge",
			`{"url":"https://a.example/","window":"soon"}`, 400, "window"},
		{"unknown field", "PUT", "/api/v1/products/p/nudge",
			`{"url":"https://a.example/","retries":3}`, 400, "retries"},
		{"unknown product", "PUT", "/api/v1/products/nope/nudge",
			`{"url":"https://a.example/"}`, 404, "nope"},
		{"bad limit", "GET", "/api/v1/products/p/nudges?limit=0", "", 400, "limit"},
		{"unknown device", "GET", "/api/v1/products/p/nudges?device=zz", "", 404, "zz"},
		{"bad id", "GET", "/api/v1/products/p/nudges/x", "", 400, "nudge id"},
		{"unknown id", "GET", "/api/v1/products/p/nudges/99", "", 404, "99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := a.call(t, a.token, tt.method, tt.path, tt.body)
			if status != tt.want || !strings.Contains(string(b), tt.reason) {
				t.Errorf("%s %s = %d %s, want %d mentioning %q", tt.method, tt.path, status, b, tt.want, tt.reason)
			}
		})
	}
	a.must(t, "GET", "/api/v1/products/p/nudge", "", http.StatusNotFound)
}
