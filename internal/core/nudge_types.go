package core

import "time"

// NudgeTrigger names what makes Ferry nudge a device.
type NudgeTrigger string

// Nudge triggers.
//
// TODO(nudge): a rollout offer becoming available to a device is not a
// trigger yet, so a device in a rollout's phase learns of it at its next
// poll. A trigger needs the devices a phase start newly reaches, nudged
// within the product's per-minute cap, which a large phase would spend
// at once; it matters once operators run rollouts against fleets that
// poll hours apart.
const (
	// TriggerUrgentCommand fires when an urgent command is queued for a
	// device that holds no connection.
	TriggerUrgentCommand NudgeTrigger = "urgent-command"
)

// NudgeHeader is one header of a nudge request. Name is literal; Value is
// a template that may use .Secret.
type NudgeHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NudgeConfig is a product's outbound nudge: the request Ferry makes to a
// carrier's API (or any URL the operator names) to wake a device that
// holds no connection, with its limits and retry policy. URL, header
// values and Body are text/template templates over NudgeView.
type NudgeConfig struct {
	ProductID int64
	// URL must start with a literal scheme and host; only the path and
	// query may be templated, so no device attribute can aim the request
	// at another host.
	URL     string
	Method  string
	Headers []NudgeHeader
	Body    string
	// Secret is what header templates read as .Secret (an API key, a
	// Basic password). It is stored, never shown back, never logged.
	Secret string

	// At most PerDevice nudges per device within PerDeviceWindow, and at
	// most PerMinute per product in any minute; those beyond are recorded
	// as suppressed and not sent.
	PerDevice       int
	PerDeviceWindow time.Duration
	PerMinute       int

	// A failed request (network error, 5xx) is retried after BackoffBase,
	// doubling up to BackoffCap, until MaxAttempts requests were made.
	MaxAttempts int
	BackoffBase time.Duration
	BackoffCap  time.Duration

	Triggers  []NudgeTrigger
	UpdatedAt time.Time
}

// NudgeState is where a nudge is in its short life.
type NudgeState string

// Nudge states.
const (
	// NudgeQueued: waiting to be sent, or to be retried.
	NudgeQueued NudgeState = "queued"
	// NudgeSent: the target answered 2xx.
	NudgeSent NudgeState = "sent"
	// NudgeFailed: the target answered 4xx, the attempts ran out, or the
	// request could not be built; Reason says which.
	NudgeFailed NudgeState = "failed"
	// NudgeSuppressed: a rate limit held it back; it was never sent.
	NudgeSuppressed NudgeState = "suppressed"
)

// Nudge is one request to wake one device, in the durable outbox.
type Nudge struct {
	ID        int64
	ProductID int64
	DeviceID  int64
	Device    string // the device's name
	Trigger   NudgeTrigger
	CommandID int64 // the command that fired it; zero for other triggers
	// Data is the JSON of the NudgeData the templates are rendered with,
	// taken when the nudge was queued.
	Data       []byte
	State      NudgeState
	Reason     string // why it failed or was suppressed
	Attempts   int
	NextAt     time.Time // when a queued nudge is due
	LastStatus int       // the HTTP status of the last attempt; 0 when none answered
	LastError  string
	CreatedAt  time.Time
	FinishedAt time.Time // zero while queued
}

// NudgeAttempt records one request made for a nudge.
type NudgeAttempt struct {
	ID      int64
	NudgeID int64
	At      time.Time
	Status  int    // HTTP status; 0 when no answer came
	Error   string // empty on a 2xx answer
	Latency time.Duration
}

// NudgeFilter narrows a nudge listing. Zero fields match everything.
type NudgeFilter struct {
	ProductID int64
	DeviceID  int64
	Limit     int // 0 means the store's default of 1000
}
