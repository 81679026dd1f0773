package core

import (
	"context"
	"time"
)

// Store keeps Ferry's metadata. Implementations: internal/store/sqlite (the
// embedded default) and, later, PostgreSQL; all pass coretest.StoreSuite.
//
// Lookups return an error wrapping ErrNotFound when nothing matches; Create
// methods return one wrapping ErrConflict when a unique key is taken, and
// one wrapping ErrNotFound when an object they refer to does not exist.
// Times are stored in UTC with at least millisecond precision.
type Store interface {
	// Tx runs fn in one transaction that serialises with other writers,
	// passing a Store bound to it. It commits when fn returns nil and rolls
	// back otherwise, returning fn's error. Nested Tx calls on the bound
	// Store run inside the same transaction, without a savepoint: an inner
	// error that the outer fn ignores does not undo the inner writes.
	Tx(ctx context.Context, fn func(Store) error) error

	// CreateProduct inserts p and sets p.ID. ErrConflict if the name is
	// taken in any letter case.
	CreateProduct(ctx context.Context, p *Product) error
	// ProductByName returns the product called exactly name (case matters).
	ProductByName(ctx context.Context, name string) (Product, error)
	// Products lists all products ordered by name.
	Products(ctx context.Context) ([]Product, error)

	// CreateRelease inserts r and sets r.ID. ErrConflict if the product
	// already has that version.
	CreateRelease(ctx context.Context, r *Release) error
	// Release returns the release with the given ID.
	Release(ctx context.Context, id int64) (Release, error)
	// ReleaseByVersion returns the product's release with exactly that version text.
	ReleaseByVersion(ctx context.Context, productID int64, version string) (Release, error)
	// ReleaseBySHA256 returns the product's newest (highest ID) release
	// with that image.
	ReleaseBySHA256(ctx context.Context, productID int64, sha256 string) (Release, error)
	// ReleaseByMD5 returns the product's newest (highest ID) release with
	// that image MD5 (lowercase hex).
	ReleaseByMD5(ctx context.Context, productID int64, md5 string) (Release, error)
	// Releases lists a product's releases, newest (highest ID) first.
	Releases(ctx context.Context, productID int64) ([]Release, error)
	// SetReleaseSHA1 records the SHA-1 of a release published before
	// Ferry recorded one. ErrNotFound if id does not exist.
	SetReleaseSHA1(ctx context.Context, id int64, sha1 string) error

	// SetChannel creates the channel or points it at c.ReleaseID.
	SetChannel(ctx context.Context, c Channel) error
	// Channel returns one channel of a product.
	Channel(ctx context.Context, productID int64, name string) (Channel, error)
	// Channels lists a product's channels ordered by name.
	Channels(ctx context.Context, productID int64) ([]Channel, error)

	// CreateDevice inserts d and sets d.ID. ErrConflict if the product
	// already has a device of that name.
	CreateDevice(ctx context.Context, d *Device) error
	// Device returns a product's device by name.
	Device(ctx context.Context, productID int64, name string) (Device, error)
	// DevicesNamed returns the devices called name in every product,
	// ordered by product ID; an empty slice (not ErrNotFound) if none.
	DevicesNamed(ctx context.Context, name string) ([]Device, error)
	// Devices lists devices matching f with their latest update, ordered
	// by product ID then name.
	Devices(ctx context.Context, f DeviceFilter) ([]DeviceStatus, error)
	// SaveDevice writes d's mutable fields: channel, version, image hash, counter,
	// attributes, last seen, and the operator settings and assignment.
	// ErrNotFound if d.ID does not exist.
	SaveDevice(ctx context.Context, d Device) error
	// TouchDevices applies batched hot-path writes: for each device ID, last
	// seen moves forward to at least Seen, and Bytes is added to the
	// device's bytes served and to the Served bytes of its latest update to
	// ReleaseID, if it has one. Unknown IDs are ignored.
	TouchDevices(ctx context.Context, touches map[int64]Touch) error

	// CreateUpdate inserts u (including its RolloutID) and sets u.ID. ErrConflict if u is open (zero
	// FinishedAt) and the device already has an open update.
	CreateUpdate(ctx context.Context, u *Update) error
	// Update returns the update with the given ID.
	Update(ctx context.Context, id int64) (Update, error)
	// OpenUpdate returns the device's update that is not finished.
	OpenUpdate(ctx context.Context, deviceID int64) (Update, error)
	// Updates lists a device's updates, newest (highest ID) first.
	Updates(ctx context.Context, deviceID int64) ([]Update, error)
	// SaveUpdate writes u's state, reason, progress, updated and finished
	// times and CancelPending. ErrNotFound if u.ID does not exist.
	SaveUpdate(ctx context.Context, u Update) error
	// Failures counts the device's updates to the release that finished as
	// failed at or after since, and returns when the last of them finished.
	Failures(ctx context.Context, deviceID, releaseID int64, since time.Time) (int, time.Time, error)

	// AddEvent appends e to its device's history and sets e.ID.
	AddEvent(ctx context.Context, e *Event) error
	// Events returns a device's history, oldest first (by time, then ID).
	Events(ctx context.Context, deviceID int64) ([]Event, error)
	// LastEvent returns the newest event of an update.
	LastEvent(ctx context.Context, updateID int64) (Event, error)

	// SaveProduct writes p's poll intervals and RequireSignature. ErrNotFound if p.ID does not exist.
	SaveProduct(ctx context.Context, p Product) error
	// CreateProductKey inserts k and sets k.ID. ErrConflict if the product
	// already has a key of that name, revoked or not.
	CreateProductKey(ctx context.Context, k *ProductKey) error
	// ProductKeys lists a product's keys, revoked ones included, oldest first.
	ProductKeys(ctx context.Context, productID int64) ([]ProductKey, error)
	// RevokeProductKey sets the key's RevokedAt to at unless it is revoked
	// already. ErrNotFound if the product has no key of that name.
	RevokeProductKey(ctx context.Context, productID int64, name string, at time.Time) error
	// MaxCounter returns the highest security counter of the product's
	// releases; 0 when it has none.
	MaxCounter(ctx context.Context, productID int64) (int64, error)

	// ProductDevices lists every device of a product, ordered by name.
	ProductDevices(ctx context.Context, productID int64) ([]Device, error)

	// CreateRollout inserts r and sets r.ID. ErrConflict if r is active and
	// the product already has an active rollout.
	CreateRollout(ctx context.Context, r *Rollout) error
	// Rollout returns the rollout with the given ID.
	Rollout(ctx context.Context, id int64) (Rollout, error)
	// Rollouts lists a product's rollouts, or every product's when
	// productID is zero, newest (highest ID) first.
	Rollouts(ctx context.Context, productID int64) ([]Rollout, error)
	// ActiveRollout returns the product's running or paused rollout.
	ActiveRollout(ctx context.Context, productID int64) (Rollout, error)
	// ActiveRollouts lists every running or paused rollout, oldest first.
	ActiveRollouts(ctx context.Context) ([]Rollout, error)
	// SaveRollout writes r's phase, state, reason, updated, phase-started
	// and finished times. ErrNotFound if r.ID does not exist.
	SaveRollout(ctx context.Context, r Rollout) error
	// RolloutUpdates lists every update a rollout offered, oldest first.
	RolloutUpdates(ctx context.Context, rolloutID int64) ([]Update, error)
	// RolloutLoad counts the rollout's open updates, and its updates
	// created at or after since.
	RolloutLoad(ctx context.Context, rolloutID int64, since time.Time) (open, recent int, err error)

	// AddAudit appends an entry to the audit log and sets e.ID.
	AddAudit(ctx context.Context, e *AuditEntry) error
	// Audit lists audit entries matching f, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// SetWebhook creates or replaces a product's webhook.
	SetWebhook(ctx context.Context, w Webhook) error
	// Webhook returns a product's webhook.
	Webhook(ctx context.Context, productID int64) (Webhook, error)
	// DeleteWebhook removes a product's webhook; a missing one is not an error.
	DeleteWebhook(ctx context.Context, productID int64) error
	// AddDelivery queues a webhook event and sets d.ID.
	AddDelivery(ctx context.Context, d *Delivery) error
	// DueDeliveries returns up to limit undelivered deliveries whose NextAt
	// is at or before now, oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// SaveDelivery writes d's attempts, next attempt, delivered time and
	// last error. ErrNotFound if d.ID does not exist.
	SaveDelivery(ctx context.Context, d Delivery) error
	// Deliveries lists a product's deliveries, newest first, at most limit.
	Deliveries(ctx context.Context, productID int64, limit int) ([]Delivery, error)

	// SetNudgeConfig creates or replaces a product's nudge configuration.
	SetNudgeConfig(ctx context.Context, c NudgeConfig) error
	// NudgeConfig returns a product's nudge configuration.
	NudgeConfig(ctx context.Context, productID int64) (NudgeConfig, error)
	// DeleteNudgeConfig removes a product's nudge configuration; a missing
	// one is not an error.
	DeleteNudgeConfig(ctx context.Context, productID int64) error
	// AddNudge queues n and sets n.ID. ErrNotFound if its product or device
	// does not exist.
	AddNudge(ctx context.Context, n *Nudge) error
	// CountNudges counts the nudges of the product, or only of the device
	// (which must be the product's) when deviceID is not zero, created at or
	// after since and not suppressed.
	CountNudges(ctx context.Context, productID, deviceID int64, since time.Time) (int, error)
	// Nudge returns the nudge with the given ID.
	Nudge(ctx context.Context, id int64) (Nudge, error)
	// DueNudges returns up to limit queued nudges whose NextAt is at or
	// before now, the longest due first.
	DueNudges(ctx context.Context, now time.Time, limit int) ([]Nudge, error)
	// SaveNudge writes n's state, reason, attempts, next attempt, last
	// status and error, and finished time. ErrNotFound if n.ID does not
	// exist.
	SaveNudge(ctx context.Context, n Nudge) error
	// AddNudgeAttempt appends a to its nudge's attempts and sets a.ID.
	// ErrNotFound if the nudge does not exist.
	AddNudgeAttempt(ctx context.Context, a *NudgeAttempt) error
	// NudgeAttempts lists a nudge's attempts, oldest first.
	NudgeAttempts(ctx context.Context, nudgeID int64) ([]NudgeAttempt, error)
	// Nudges lists nudges matching f, newest (latest CreatedAt, then
	// highest ID) first. A DeviceID, when given, must be of ProductID.
	Nudges(ctx context.Context, f NudgeFilter) ([]Nudge, error)

	// CreateToken inserts t and sets t.ID. ErrConflict if the hash exists.
	CreateToken(ctx context.Context, t *Token) error
	// TokenByHash returns the token whose secret hashes to hash.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// ListTokens lists every token, revoked ones included, in the order
	// they were created (by ID).
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken sets the token's RevokedAt to at unless it is revoked
	// already, which keeps the first time. ErrNotFound if id does not exist.
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// TouchTokens applies batched last-use times: each token's LastUsedAt
	// moves forward to at least the given time. Unknown IDs are ignored.
	TouchTokens(ctx context.Context, used map[int64]time.Time) error

	// CreateDeviceCredential inserts c and sets c.ID. ErrConflict if its
	// secret hash exists; ErrNotFound if its device does not.
	CreateDeviceCredential(ctx context.Context, c *DeviceCredential) error
	// DeviceCredentialByHash returns the credential whose secret hashes to
	// hash, revoked or not, with its device's product ID and name.
	DeviceCredentialByHash(ctx context.Context, hash string) (DeviceCredential, error)
	// RevokeDeviceCredentials sets RevokedAt to at on the device's valid
	// credentials of that kind, or of every kind when kind is empty, and
	// returns how many it revoked. An unknown device revokes nothing.
	RevokeDeviceCredentials(ctx context.Context, deviceID int64, kind string, at time.Time) (int, error)
	// DeviceKeys returns the valid CredentialP256 credentials of product
	// productID's device name, oldest first; none (and no error) when the
	// device or its keys do not exist.
	DeviceKeys(ctx context.Context, productID int64, name string) ([]DeviceCredential, error)

	// CreateCommand inserts c and sets c.ID; c.ProductID and c.Device are
	// not stored (they are read through the device). ErrNotFound if its
	// device does not exist.
	CreateCommand(ctx context.Context, c *Command) error
	// Command returns the command with the given ID, with its device's
	// product ID and name, and a nil History.
	Command(ctx context.Context, id int64) (Command, error)
	// Commands lists a device's commands, newest (highest ID) first, at
	// most limit (0 or less means 100); empty for an unknown device.
	Commands(ctx context.Context, deviceID int64, limit int) ([]Command, error)
	// OpenCommands lists a device's open commands (zero FinishedAt),
	// oldest (lowest ID) first; empty for an unknown device.
	OpenCommands(ctx context.Context, deviceID int64) ([]Command, error)
	// DueCommands returns up to limit open commands of any device whose
	// ExpiresAt is at or before now, earliest expiry first (then by ID).
	DueCommands(ctx context.Context, now time.Time, limit int) ([]Command, error)
	// SaveCommand writes c's state, delivered and finished times, Via,
	// Result and ResultPayload. ErrNotFound if c.ID does not exist.
	SaveCommand(ctx context.Context, c Command) error
	// AddCommandEvent appends e to its command's history and sets e.ID.
	// ErrNotFound if the command does not exist.
	AddCommandEvent(ctx context.Context, e *CommandEvent) error
	// CommandEvents returns a command's history, oldest first (by time,
	// then ID); empty for an unknown command.
	CommandEvents(ctx context.Context, commandID int64) ([]CommandEvent, error)
}

// Touch is a batched hot-path write for one device.
type Touch struct {
	Seen  time.Time
	Bytes int64
	// ReleaseID is the release the bytes were of; zero when none were
	// served.
	ReleaseID int64
}
