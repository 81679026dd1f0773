package core

import "time"

// Access is how devices of a product authenticate.
type Access string

// Access modes.
const (
	// AccessPublic serves firmware to anyone, like the classic web server
	// layout; device IDs are taken at their word.
	AccessPublic Access = "public"
	// AccessKey requires the product's enrollment key on every device request.
	AccessKey Access = "key"
	// AccessP256 requires every device request to be signed with the
	// device's own P-256 key, registered beforehand by an operator (see
	// AuthorizeSigned).
	AccessP256 Access = "p256"
)

// Product is a kind of device that runs one firmware line.
type Product struct {
	ID     int64
	Name   string
	Access Access
	// KeyHash is the lowercase hex SHA-256 of the enrollment key; empty for
	// public products. The key itself is shown once and never stored.
	KeyHash   string
	CreatedAt time.Time
	// PollIdle and PollActive tell devices when to check in again: idle,
	// and while an update or rollout concerns them. Zero means the
	// server's default.
	PollIdle   time.Duration
	PollActive time.Duration
	// RequireSignature refuses releases without a manifest signed by one
	// of the product's active keys.
	RequireSignature bool
	// Board names the product's board profile (package arduino), and
	// Loader the second-stage loader its sketches are built with; both
	// empty for a product without one. With a profile, every upload is
	// checked against it, and each release gets the .ota and LZSS files
	// the board's loaders flash (see Derived).
	Board  string
	Loader string
}

// Digests describe an image: its size and the digests devices check.
// Hex strings are lowercase.
type Digests struct {
	Size   int64
	CRC32  uint32
	MD5    string
	SHA256 string
	// SHA1 is what SWUpdate's hawkBit client checks a download against.
	// Releases published before Ferry recorded it have none until
	// ReleaseSHA1 computes it.
	SHA1 string
}

// Release is one published firmware version of a product. It never changes
// once created.
type Release struct {
	ID        int64
	ProductID int64
	Version   string
	Digests
	Notes     string
	CreatedAt time.Time
	// Counter is the security counter: devices running a higher one are
	// never offered the release.
	Counter int64
	// Manifest and Signature are what the publisher signed (see package
	// manifest), and KeyID the product key that verified them; all empty
	// for an unsigned release.
	Manifest  []byte
	Signature []byte
	KeyID     int64
	// Derived lists the files made from the image when the release was
	// published, in the order of Formats; none for a product without a
	// board profile.
	Derived []Derived
}

// Format names a file Ferry derives from a release's image.
type Format string

// Formats, in the order a release lists them.
const (
	// FormatOTA is the Arduino .ota file: a 20-byte header and the LZSS
	// stream of the image.
	FormatOTA Format = "ota"
	// FormatLZSS is the bare LZSS stream, which the SSU loader flashes
	// from the file UPDATE.BIN.LZSS.
	FormatLZSS Format = "lzss"
)

// Derived is a file made from a release's image at publish. It is stored
// in the blob store under its SHA-256, like images, and never changes.
type Derived struct {
	Format Format
	Digests
}

// DerivedFile returns the release's file of format f, if it has one.
func (r Release) DerivedFile(f Format) (Derived, bool) {
	for _, d := range r.Derived {
		if d.Format == f {
			return d, true
		}
	}
	return Derived{}, false
}

// DefaultChannel is the channel devices follow unless told otherwise, and
// the one a release push moves when no channel is named.
const DefaultChannel = "stable"

// Channel points devices that follow it at a release.
type Channel struct {
	ProductID int64
	Name      string
	ReleaseID int64
	UpdatedAt time.Time
}

// Device is one board as the server knows it. Name is the identity the
// device states (serial, IMEI, MAC); ID is the store's own key.
type Device struct {
	ID        int64
	ProductID int64
	Name      string
	Channel   string
	// Version is the running version as last reported; empty if the
	// device never said.
	Version     string
	ImageSHA256 string
	// Counter is the security counter the device last reported running.
	Counter     int64
	Attributes  map[string]string
	FirstSeen   time.Time
	LastSeen    time.Time
	BytesServed int64

	// Operator settings.
	Tags            []string      // sorted, unique
	PinnedReleaseID int64         // when not zero, the device runs this release and no other
	Excluded        bool          // rollouts never select the device
	Poll            time.Duration // overrides the product's poll intervals when not zero

	// Assignment is the release a rollout moved the device to. It wins over
	// the channel when it is newer than the channel's last move.
	AssignedReleaseID int64
	AssignedRolloutID int64
	AssignedAt        time.Time
}

// Update is one device moving to one release: the state machine's record.
type Update struct {
	ID          int64
	DeviceID    int64
	ReleaseID   int64
	Version     string // target version, copied from the release
	FromVersion string // what the device ran when offered; may be empty
	State       State
	Reason      string // why it failed or was canceled
	Progress    int64  // furthest byte count the device reported
	Served      int64  // image bytes the server sent the device while the update was open
	RolloutID   int64  // the rollout that made the offer; zero for channel offers
	// CancelPending is set when the server canceled the update after giving
	// it to a device whose protocol acknowledges cancels (see
	// ProtocolDDI), until the device acknowledges; meanwhile the cancel is
	// what the device is told.
	CancelPending bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time // zero while the update is open
}

// EventKind says what produced a history event.
type EventKind string

// Event kinds.
const (
	EventOffer    EventKind = "offer"    // the server offered an update
	EventReport   EventKind = "report"   // the device reported a status
	EventCheckIn  EventKind = "checkin"  // a check-in that changed something
	EventDecision EventKind = "decision" // the server finished or canceled an update
)

// Event is one timestamped line of a device's history.
type Event struct {
	ID       int64
	DeviceID int64
	UpdateID int64 // zero for events about no update (a version change)
	At       time.Time
	Kind     EventKind
	State    State  // reported or decided state; empty for plain check-ins
	Version  string // version the device reported, when it did
	Progress int64
	Detail   string
	Protocol string // plain, native, ...
}

// DeviceStatus is a device with its latest update, as listings show it.
type DeviceStatus struct {
	Device
	Latest *Update
}

// DeviceFilter narrows a device listing. Zero fields match everything.
type DeviceFilter struct {
	ProductID int64
	Version   string
	State     State // state of the latest update
	Limit     int   // at most this many; 0 means the store's default of 1000
}

// Role is what an operator token may do.
type Role string

// Roles, from the most to the least powerful; each may do all the ones
// below it may.
const (
	RoleAdmin     Role = "admin"     // everything, including tokens, webhooks and the audit log
	RolePublisher Role = "publisher" // also pushes releases, moves channels, steers rollouts, sets up devices
	RoleViewer    Role = "viewer"    // reads releases, channels, devices and rollouts
)

// Token is an operator credential. Only its hash is stored.
type Token struct {
	ID         int64
	Name       string
	Role       Role
	Hash       string // lowercase hex SHA-256 of the secret
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while the token is valid
	LastUsedAt time.Time // zero if never used; written in batches, so it may lag
}
