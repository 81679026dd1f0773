// Package nudge sends Ferry's outbound nudges: requests to a carrier's API
// (or any URL an operator configures per product) that wake a device
// holding no connection, so that it checks in and fetches what is waiting.
//
// The core decides when a device is nudged: it writes a core.Nudge into the
// outbox in the transaction that queued the urgent command, after checking
// the device holds no connection and applying the product's rate limits. A
// Dispatcher reads due nudges, renders each from its product's current
// configuration (core.RenderNudge), makes the request, records the attempt
// (time, status, error, latency) and the outcome: sent on 2xx; failed and
// not retried on another 4xx or a 3xx; retried with capped exponential
// back-off on network errors, 5xx, 408 and 429, until the configuration's
// MaxAttempts. No request path ever waits on it.
//
// Delivery is at least once: if the store write after a 2xx fails, the
// nudge is sent again. A carrier message that wakes a modem is harmless
// twice; the template can pass {{.Nudge}} for a receiver that dedupes.
// docs/nudges.md describes the configuration for operators.
package nudge
