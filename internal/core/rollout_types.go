package core

import "time"

// RolloutState is where a rollout stands.
type RolloutState string

// Rollout states. Running and paused rollouts are active: a product has at
// most one active rollout.
const (
	RolloutRunning  RolloutState = "running"
	RolloutPaused   RolloutState = "paused"
	RolloutCanceled RolloutState = "canceled"
	RolloutFinished RolloutState = "finished"
)

// Active reports whether the rollout may still offer its release.
func (s RolloutState) Active() bool { return s == RolloutRunning || s == RolloutPaused }

// Selector says which devices of a product a rollout moves. Devices match
// when they follow Channel (if set), carry every tag in Tags (if any; a
// reported attribute matches as "name=value"), and are named in Devices
// (if any). Excluded and pinned devices never match.
type Selector struct {
	Channel string   `json:"channel,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Devices []string `json:"devices,omitempty"`
}

// Phase is one step of a rollout: a share of the selected devices
// (Percent, 0-100) or a number of them (Count).
type Phase struct {
	Percent float64 `json:"percent,omitempty"`
	Count   int     `json:"count,omitempty"`
}

// Rollout moves the devices a selector picks to one release, in phases,
// under a concurrency cap, an offer rate and a failure threshold.
type Rollout struct {
	ID        int64
	ProductID int64
	ReleaseID int64
	Version   string // the release's version, for display
	Selector  Selector
	Phases    []Phase
	// Thresholds holds, per phase, the bound below which a device's stable
	// hash in [0,1) places it in that phase or an earlier one. They are
	// fixed when the rollout is created, so a device's phase never changes.
	Thresholds []float64
	Phase      int // index of the furthest phase reached
	State      RolloutState
	Reason     string // why it paused, was canceled or finished

	// Advancing: by hand, or after Soak once the success rate among the
	// finished devices of the reached phases is at least SuccessRate.
	AutoAdvance bool
	Soak        time.Duration
	SuccessRate float64 // 0-1

	// Protection. Zero means no limit.
	MaxConcurrent   int     // devices with an open update of this rollout at once
	OffersPerMinute int     // new offers per minute
	FailPercent     float64 // pause when failed/finished exceeds this share (0-100) ...
	FailMinFinished int     // ... once this many devices have finished
	FailCount       int     // pause when this many devices have failed

	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	PhaseStartedAt time.Time
	FinishedAt     time.Time
}
