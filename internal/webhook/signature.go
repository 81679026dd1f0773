package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/internal/outbox"
)

// DefaultTolerance is how far a signed timestamp may be from a receiver's
// clock before Verify rejects it: enough for clock skew and a slow network,
// short enough that a captured request cannot be replayed much later.
const DefaultTolerance = 5 * time.Minute

// signaturePrefix names the algorithm in X-Ferry-Signature, so another one
// can be added later without breaking receivers that check the prefix.
const signaturePrefix = "sha256="

var (
	// ErrSignature means the X-Ferry-Signature header is malformed or does not
	// match the body, timestamp and secret.
	ErrSignature = errors.New("webhook signature does not match")
	// ErrTimestamp means X-Ferry-Timestamp is malformed or outside the
	// tolerance: a stale (possibly replayed) or future-dated request.
	ErrTimestamp = errors.New("webhook timestamp not acceptable")
)

// Sign returns the X-Ferry-Signature value for body sent at ts (Unix
// seconds): "sha256=" and the lowercase hex HMAC-SHA256, keyed with secret,
// of the decimal ts, a full stop, and body. Putting ts inside the MAC means
// a receiver that checks the timestamp also rejects replays.
func Sign(secret string, ts int64, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a request a receiver got: header is X-Ferry-Signature,
// tsHeader is X-Ferry-Timestamp, body the raw request body exactly as read.
// It returns an error wrapping ErrTimestamp when tsHeader is not an integer
// or lies more than tolerance away from now (in either direction), and one
// wrapping ErrSignature when header is malformed or does not match. The
// comparison takes constant time.
func Verify(secret, header, tsHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not Unix seconds: %w", outbox.Truncate(tsHeader, 32), ErrTimestamp)
	}
	if skew := now.Sub(time.Unix(ts, 0)).Abs(); skew > tolerance {
		return fmt.Errorf("timestamp %d is %s away from now: %w", ts, skew.Truncate(time.Second), ErrTimestamp)
	}

	hexMAC, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("signature header lacks %q: %w", signaturePrefix, ErrSignature)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return fmt.Errorf("signature is not hex: %w", ErrSignature)
	}
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrSignature
	}
	return nil
}

// mac is the raw HMAC that Sign encodes.
func mac(secret string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
