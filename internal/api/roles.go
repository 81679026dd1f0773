package api

import "github.com/ferry-ota/ferry/internal/core"

// minRole is the table of who may do what: the least role each route
// pattern registered in routes needs. Viewers read the fleet's state,
// device commands included; publishers also ship firmware and steer
// devices, which sending them commands is; only admins create and
// configure products, manage webhooks, nudges (whose configuration holds
// a carrier's credentials), tokens and signing keys, and read the audit
// log, which is about operators rather than devices. Adding or
// revoking a key decides which releases the product trusts, so it is an
// admin's; pushing a signed release stays a publisher's, since the
// signature was made offline by whoever holds the private key.
//
// A pattern missing here needs admin, so a route added without thought
// for roles fails closed.
func minRole(pattern string) core.Role {
	switch pattern {
	case "GET /api/v1/products",
		"GET /api/v1/products/{product}",
		"GET /api/v1/products/{product}/releases",
		"GET /api/v1/products/{product}/releases/{version}",
		"GET /api/v1/products/{product}/channels",
		"GET /api/v1/products/{product}/keys",
		"GET /api/v1/devices",
		"GET /api/v1/devices/{device}",
		"GET /api/v1/rollouts",
		"GET /api/v1/rollouts/{id}",
		"GET /api/v1/products/{product}/devices/{device}/commands",
		"GET /api/v1/products/{product}/devices/{device}/commands/{id}":
		return core.RoleViewer

	case "POST /api/v1/products/{product}/releases",
		"PUT /api/v1/products/{product}/channels/{channel}",
		"PATCH /api/v1/products/{product}/devices/{device}",
		"POST /api/v1/products/{product}/rollouts",
		"POST /api/v1/rollouts/{id}/pause",
		"POST /api/v1/rollouts/{id}/resume",
		"POST /api/v1/rollouts/{id}/cancel",
		"POST /api/v1/rollouts/{id}/advance",
		"POST /api/v1/products/{product}/devices/{device}/commands",
		"POST /api/v1/products/{product}/devices/{device}/commands/{id}/cancel":
		return core.RolePublisher

	case "", "/api/":
		// No route matched: the mux answers 404 or 405, to anyone.
		return core.RoleViewer
	}
	return core.RoleAdmin
}
