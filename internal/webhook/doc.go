// Package webhook sends Ferry's outbound webhook events.
//
// The core writes each event as a core.Delivery row in the same transaction
// as the change that caused it, so a device request never waits on a
// receiver. A Dispatcher reads due rows from that outbox, POSTs each one to
// its product's webhook URL with an HMAC-SHA256 signature (see Sign and
// Verify), and records the outcome: delivered on a 2xx answer, otherwise
// retried later with capped exponential back-off until MaxAttempts.
// Delivery.Attempts counts every POST made, the successful one included.
//
// Delivery is at least once: a receiver can see the same event twice (for
// example when the store write after a successful POST fails), so it must
// dedupe on the X-Ferry-Delivery header. Events of one product are not
// ordered: a batch is sent concurrently, and a retried event arrives after
// later ones that succeeded at once.
// docs/webhooks.md describes the wire format for receivers.
package webhook
