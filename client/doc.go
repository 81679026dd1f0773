// Package client is the Go side of Ferry's two HTTP APIs, for the ferry
// CLI, the device agent, tests and anyone scripting a fleet.
//
// [Operator] speaks the operator API under /api/v1 (products, releases,
// channels, devices, rollouts, webhooks and the audit log) with an
// operator token. [Device] speaks the native device protocol under
// /device/v1/{product}: check-in, resumable image download and status
// reports.
//
// Both return a [*Error] when the server answers with an error status, so
// callers can tell a 404 from a 409 with errors.As and show the server's
// reason unchanged. Neither holds state beyond its configuration; both are
// safe for concurrent use.
package client
