package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/outbox"
)

const (
	// maxDrain is how much of a receiver's answer is read (and dropped) so
	// that its connection can be reused; a longer answer closes it instead.
	maxDrain = 64 << 10
	// noWebhook is the LastError of a delivery dropped because its product
	// has no webhook; together with a set DeliveredAt it marks a skip.
	noWebhook = "no webhook configured"
)

// never is the NextAt of an abandoned delivery: far enough ahead that no
// DueDeliveries call returns it again, yet storable as Unix milliseconds
// and in every SQL timestamp type.
var never = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)

// Abandoned reports whether the Dispatcher gave up on d after MaxAttempts
// failures. Such a delivery keeps DeliveredAt zero, its last error, and a
// NextAt of 9999-12-31T00:00:00Z; setting NextAt back to now (and Attempts
// to 0 for a full new schedule) queues it again.
func Abandoned(d core.Delivery) bool {
	return d.DeliveredAt.IsZero() && !d.NextAt.Before(never)
}

// deliver sends dl to hook (nil when its product has none), records the
// outcome in dl and saves it. It returns only store errors.
func (d *Dispatcher) deliver(ctx context.Context, dl core.Delivery, hook *core.Webhook) error {
	log := d.log.With("delivery_id", dl.ID, "product_id", dl.ProductID, "event", dl.Event)

	// A product without a webhook: the event is dropped, not kept, so the
	// outbox does not grow without bound for products that never set one.
	if hook == nil {
		dl.DeliveredAt = d.cfg.Now()
		dl.LastError = noWebhook
		log.Debug("webhook delivery dropped", "reason", noWebhook)
		return d.save(ctx, dl)
	}

	err := d.post(ctx, dl, *hook)
	if err != nil && ctx.Err() != nil {
		// Shutting down: not the receiver's fault. The row stays due as it
		// was and is sent again by the next Run.
		return nil
	}
	dl.Attempts++
	now := d.cfg.Now()
	log = log.With("attempts", dl.Attempts, "host", outbox.HostOf(hook.URL))

	switch {
	case err == nil:
		dl.DeliveredAt = now
		dl.LastError = ""
		log.Debug("webhook delivered")
	case dl.Attempts >= d.cfg.MaxAttempts:
		dl.LastError = outbox.ErrorText(err, hook.Secret)
		dl.NextAt = never
		log.Warn("webhook delivery abandoned", "error", dl.LastError)
	default:
		dl.LastError = outbox.ErrorText(err, hook.Secret)
		dl.NextAt = now.Add(outbox.Backoff(d.cfg.BackoffBase, d.cfg.BackoffCap, dl.Attempts))
		log.Warn("webhook delivery failed", "error", dl.LastError, "next_at", dl.NextAt)
	}
	return d.save(ctx, dl)
}

func (d *Dispatcher) save(ctx context.Context, dl core.Delivery) error {
	if err := d.src.SaveDelivery(ctx, dl); err != nil {
		return fmt.Errorf("save webhook delivery %d: %w", dl.ID, err)
	}
	return nil
}

// post makes one signed POST of dl's body to hook and returns nil only for a
// 2xx answer.
func (d *Dispatcher) post(ctx context.Context, dl core.Delivery, hook core.Webhook) error {
	if err := ValidateURL(hook.URL); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}

	ts := d.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry-webhook")
	req.Header.Set("X-Ferry-Event", dl.Event)
	req.Header.Set("X-Ferry-Delivery", strconv.FormatInt(dl.ID, 10))
	req.Header.Set("X-Ferry-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Ferry-Signature", Sign(hook.Secret, ts, dl.Body))

	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return fmt.Errorf("receiver answered %s (redirects are not followed)", resp.Status)
	default:
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
}
