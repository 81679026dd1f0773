package core

import "time"

// AuditEntry records one operator action.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string // the operator token's name
	Action  string // "product.create", "release.push", "rollout.pause", ...
	Product string // product name, when the action concerns one
	Object  string // what was acted on: a version, a rollout ID, a device ID
	Detail  string // JSON with the action's parameters; never a secret
}

// AuditFilter narrows an audit listing. Zero fields match everything.
type AuditFilter struct {
	Product string
	Since   time.Time
	Limit   int // 0 means the store's default of 1000
}

// Webhook is where a product's outcome events are posted, and the secret
// their HMAC signature is made with.
type Webhook struct {
	ProductID int64
	URL       string
	Secret    string
	UpdatedAt time.Time
}

// Delivery is one webhook event in the outbox.
type Delivery struct {
	ID          int64
	ProductID   int64
	Event       string // update.succeeded, update.failed, rollout.paused, rollout.canceled, rollout.finished
	Body        []byte // the JSON posted
	Attempts    int
	NextAt      time.Time // when to try next
	DeliveredAt time.Time // zero until a receiver answered 2xx
	LastError   string
	CreatedAt   time.Time
}
