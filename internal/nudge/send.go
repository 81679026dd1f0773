package nudge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/outbox"
)

const (
	// maxDrain is how much of an answer is read so the connection can be
	// reused; a longer answer closes it instead.
	maxDrain = 64 << 10
)

// outcome is what one request came to.
type outcome struct {
	status  int
	err     error // nil on 2xx
	retry   bool  // worth another attempt later
	latency time.Duration
}

// send makes one attempt at n with c (nil when the product has none),
// records it and saves n. It returns only store errors.
func (d *Dispatcher) send(ctx context.Context, n core.Nudge, c *core.NudgeConfig) error {
	log := d.log.With("nudge_id", n.ID, "product_id", n.ProductID, "device_id", n.DeviceID)

	// No configuration (removed since the nudge was queued), or one that
	// cannot render this nudge (a missing device attribute): no request
	// is possible, and trying again would not change that.
	if c == nil {
		return d.finish(ctx, log, n, core.NudgeFailed, "no nudge configured", nil)
	}
	req, err := core.RenderNudge(*c, n)
	if err != nil {
		return d.finish(ctx, log, n, core.NudgeFailed, outbox.ErrorText(err, c.Secret), nil)
	}

	start := d.cfg.Now()
	out := d.do(ctx, req)
	if out.err != nil && ctx.Err() != nil {
		// Shutting down: not the target's fault. The nudge stays due.
		return nil
	}
	a := &core.NudgeAttempt{NudgeID: n.ID, At: start, Status: out.status, Latency: out.latency}
	n.Attempts++
	n.LastStatus = out.status
	log = log.With("attempts", n.Attempts, "host", outbox.HostOf(req.URL), "status", out.status)

	switch {
	case out.err == nil:
		n.LastError = ""
		return d.finish(ctx, log, n, core.NudgeSent, "", a)
	case !out.retry:
		a.Error = outbox.ErrorText(out.err, c.Secret)
		n.LastError = a.Error
		return d.finish(ctx, log, n, core.NudgeFailed, a.Error, a)
	case n.Attempts >= c.MaxAttempts:
		a.Error = outbox.ErrorText(out.err, c.Secret)
		n.LastError = a.Error
		reason := outbox.Truncate(fmt.Sprintf("gave up after %d attempts: %s", n.Attempts, a.Error), outbox.MaxErrorLen)
		return d.finish(ctx, log, n, core.NudgeFailed, reason, a)
	}
	a.Error = outbox.ErrorText(out.err, c.Secret)
	n.LastError = a.Error
	n.NextAt = d.cfg.Now().Add(outbox.Backoff(c.BackoffBase, c.BackoffCap, n.Attempts))
	log.Warn("nudge failed, will retry", "error", a.Error, "next_at", n.NextAt)
	return d.save(ctx, n, a)
}

// finish records n's end in state with reason, and the attempt a if one
// was made.
func (d *Dispatcher) finish(ctx context.Context, log *slog.Logger, n core.Nudge, state core.NudgeState,
	reason string, a *core.NudgeAttempt,
) error {
	n.State, n.Reason, n.FinishedAt = state, reason, d.cfg.Now()
	if state == core.NudgeSent {
		log.Debug("nudge sent")
	} else {
		log.Warn("nudge failed", "reason", reason)
	}
	return d.save(ctx, n, a)
}

// save writes the attempt and the nudge together, so a crash cannot record
// one without the other.
func (d *Dispatcher) save(ctx context.Context, n core.Nudge, a *core.NudgeAttempt) error {
	err := d.src.Tx(ctx, func(tx core.Store) error {
		if a != nil {
			if err := tx.AddNudgeAttempt(ctx, a); err != nil {
				return err
			}
		}
		return tx.SaveNudge(ctx, n)
	})
	if err != nil {
		return fmt.Errorf("save nudge %d: %w", n.ID, err)
	}
	return nil
}

// do makes the request and classifies the answer.
func (d *Dispatcher) do(ctx context.Context, r core.NudgeRequest) outcome {
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return outcome{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("User-Agent", "ferry-nudge")
	for _, h := range r.Headers {
		req.Header.Set(h.Name, h.Value)
	}

	// Latency is a measurement for the operator, so it uses the real
	// clock even when tests replace Config.Now.
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return outcome{err: err, retry: true, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	out := outcome{status: resp.StatusCode, latency: time.Since(start)}

	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
	case code >= 300 && code <= 399:
		out.err = fmt.Errorf("target answered %s (redirects are not followed)", resp.Status)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		out.err, out.retry = fmt.Errorf("target answered %s", resp.Status), true
	default:
		out.err = fmt.Errorf("target answered %s", resp.Status)
	}
	return out
}
