package client

import "time"

// Product access modes, as the operator API spells them.
const (
	// AccessPublic lets any device read the product's firmware.
	AccessPublic = "public"
	// AccessKey requires the product's enrollment key on every device request.
	AccessKey = "key"
	// AccessP256 requires every device request to be signed with the
	// device's own P-256 key (WithDeviceKey, Operator.AddDeviceKey).
	AccessP256 = "p256"
)

// Update states, as devices report them and the operator API shows them.
const (
	StateOffered     = "offered"
	StateDownloading = "downloading"
	StateDownloaded  = "downloaded"
	StateVerified    = "verified"
	StateInstalling  = "installing"
	StateRebooting   = "rebooting"
	StateSucceeded   = "succeeded"
	StateFailed      = "failed"
	StateCanceled    = "canceled"
)

// Product is a kind of device that runs one firmware line.
type Product struct {
	Name      string    `json:"name"`
	Access    string    `json:"access"`
	CreatedAt time.Time `json:"created_at"`
	// PollIdle and PollActive are the product's poll intervals as Go
	// durations ("1h0m0s"); empty means the server's default.
	PollIdle   string `json:"poll_idle,omitempty"`
	PollActive string `json:"poll_active,omitempty"`
	// EnrollKey is set only in the answer to CreateProduct for a product
	// with AccessKey access; the server keeps no copy it could show again.
	EnrollKey string `json:"enroll_key,omitempty"`
	// RequireSignature makes the server refuse release uploads that carry
	// no manifest and signature.
	RequireSignature bool `json:"require_signature"`
	// Board is the product's board profile (mkrgsm1400, mkrwifi1010,
	// nano33iot) and Loader the second-stage loader its sketches are built
	// with (none, sdu, ssu, snu); both empty without a profile.
	Board  string `json:"board,omitempty"`
	Loader string `json:"loader,omitempty"`
}

// Release is one published firmware version of a product. Digests are
// lowercase hex; CRC32 is 8 hex digits.
type Release struct {
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	Size      int64     `json:"size"`
	CRC32     string    `json:"crc32"`
	MD5       string    `json:"md5"`
	SHA256    string    `json:"sha256"`
	Notes     string    `json:"notes"`
	CreatedAt time.Time `json:"created_at"`
	// Counter is the release's security counter: the signed manifest's,
	// or the one given with an unsigned upload.
	Counter int64 `json:"counter"`
	// Signed tells whether the release was uploaded with a manifest and a
	// signature that verified.
	Signed bool `json:"signed"`
	// Derived are the files the server made from the image for the
	// product's board profile (the Arduino .ota file and LZSS stream);
	// none without a profile.
	Derived []Derived `json:"derived,omitempty"`
}

// Derived is a file the server made from a release's image: Format "ota"
// or "lzss". Saved is how many bytes it saves against the image, and
// SavedPercent that as a share of the image; both negative when it is
// larger.
type Derived struct {
	Format       string  `json:"format"`
	Size         int64   `json:"size"`
	CRC32        string  `json:"crc32"`
	MD5          string  `json:"md5"`
	SHA256       string  `json:"sha256"`
	Saved        int64   `json:"saved"`
	SavedPercent float64 `json:"saved_percent"`
}

// Key is a public key registered with a product to verify its release
// manifests. PublicKey is the raw key in lowercase hex; Fingerprint is the
// short form people compare. RevokedAt is zero while the key is active.
type Key struct {
	Name        string    `json:"name"`
	Alg         string    `json:"alg"`
	PublicKey   string    `json:"public_key"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
}

// Channel is a named pointer from a product to the release its devices
// should run.
type Channel struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Update is one device moving to one release. FinishedAt is zero while the
// update is open.
type Update struct {
	ID          int64     `json:"id"`
	Version     string    `json:"version"`
	FromVersion string    `json:"from_version"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Progress    int64     `json:"progress"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// DeviceInfo is a device as the operator API lists it. Update is its latest
// update, nil if it never had one. Tags, PinnedVersion, Excluded and Poll
// are the operator's settings (see ConfigureDevice); Poll is a Go duration
// and empty when the product's intervals apply.
type DeviceInfo struct {
	ID            string            `json:"id"`
	Product       string            `json:"product"`
	Channel       string            `json:"channel"`
	Version       string            `json:"version"`
	SHA256        string            `json:"sha256"`
	Attributes    map[string]string `json:"attributes"`
	Tags          []string          `json:"tags"`
	PinnedVersion string            `json:"pinned_version,omitempty"`
	Excluded      bool              `json:"excluded"`
	Poll          string            `json:"poll,omitempty"`
	FirstSeen     time.Time         `json:"first_seen"`
	LastSeen      time.Time         `json:"last_seen"`
	BytesServed   int64             `json:"bytes_served"`
	Update        *Update           `json:"update"`
}

// DeviceDetail is one device with all its updates (newest first) and its
// history (oldest first).
type DeviceDetail struct {
	DeviceInfo
	Updates []Update `json:"updates"`
	History []Event  `json:"history"`
}

// Event is one line of a device's history. Kind is offer, report, checkin
// or decision; UpdateID is zero for events about no update.
type Event struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	UpdateID int64     `json:"update_id,omitempty"`
	State    string    `json:"state,omitempty"`
	Version  string    `json:"version,omitempty"`
	Progress int64     `json:"progress,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
}
