package webhook_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/webhook"
)

func TestSignKnownAnswer(t *testing.T) {
	// Computed outside Go: printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret
	const want = "sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
	if got := webhook.Sign("s3cret", 1700000000, []byte("{}")); got != want {
		t.Errorf("Sign(s3cret, 1700000000, {}) = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	const secret = "s3cret"
	now := time.Unix(1700000000, 0)
	body := []byte(`{"event":"update.succeeded","device":"d1"}`)
	tampered := []byte(`{"event":"update.failed","device":"d1"}`)
	ts := now.Unix()
	sig := webhook.Sign(secret, ts, body)
	stamp := strconv.FormatInt(ts, 10)

	tests := []struct {
		name     string
		secret   string
		header   string
		tsHeader string
		body     []byte
		now      time.Time
		want     error
	}{
		{"valid", secret, sig, stamp, body, now, nil},
		{"valid within tolerance", secret, sig, stamp, body, now.Add(4 * time.Minute), nil},
		{"tampered body", secret, sig, stamp, tampered, now, webhook.ErrSignature},
		{"wrong secret", "other", sig, stamp, body, now, webhook.ErrSignature},
		{"timestamp moved", secret, sig, strconv.FormatInt(ts+1, 10), body, now.Add(time.Second), webhook.ErrSignature},
		{"old timestamp", secret, sig, stamp, body, now.Add(6 * time.Minute), webhook.ErrTimestamp},
		{"future timestamp", secret, sig, stamp, body, now.Add(-6 * time.Minute), webhook.ErrTimestamp},
		{"timestamp not a number", secret, sig, "yesterday", body, now, webhook.ErrTimestamp},
		{"no prefix", secret, sig[len("sha256="):], stamp, body, now, webhook.ErrSignature},
		{"not hex", secret, "sha256=zz", stamp, body, now, webhook.ErrSignature},
		{"empty", secret, "", stamp, body, now, webhook.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header, tt.tsHeader, tt.body, tt.now, webhook.DefaultTolerance)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify(%q, %q, %q, …) = %v, want %v", tt.secret, tt.header, tt.tsHeader, err, tt.want)
			}
		})
	}
}
