package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Rollout states, as the operator API shows them. Running and paused
// rollouts are active; a product has at most one.
const (
	RolloutRunning  = "running"
	RolloutPaused   = "paused"
	RolloutCanceled = "canceled"
	RolloutFinished = "finished"
)

// Rollout actions, for ChangeRollout.
const (
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionCancel  = "cancel"
	ActionAdvance = "advance"
)

// RolloutOptions describe a rollout to create. Only Product and Version are
// required; zero fields leave the server's defaults (one phase of 100%, no
// limits, advancing by hand).
type RolloutOptions struct {
	Product string
	Version string

	// Selection: devices that follow Channel (if set), carry every tag in
	// Tags (if any) and are named in Devices (if any).
	Channel string
	Tags    []string
	Devices []string

	// Phases is a comma-separated list of percentages ("1%") and counts
	// ("20") of the selected devices, such as "1%,10%,50%,100%".
	Phases string
	// AutoAdvance moves to the next phase after Soak once the success rate
	// of the finished devices is at least SuccessRate (0-1).
	AutoAdvance bool
	Soak        time.Duration
	SuccessRate float64

	// Brakes. Zero means no limit.
	MaxConcurrent   int
	OffersPerMinute int
	// The rollout pauses itself when more than FailPercent (0-100) of the
	// finished devices failed, once FailMinFinished have finished, or when
	// FailCount devices have failed.
	FailPercent     float64
	FailMinFinished int
	FailCount       int
}

// Rollout is a rollout as the operator API shows it. Soak is a Go duration
// ("1h0m0s"), empty when zero; Phase is the index of the furthest phase
// reached in Phases; FinishedAt is zero while the rollout is active.
type Rollout struct {
	ID              int64     `json:"id"`
	Product         string    `json:"product"`
	Version         string    `json:"version"`
	Channel         string    `json:"channel,omitempty"`
	Tags            []string  `json:"tags"`
	Devices         []string  `json:"devices"`
	Phases          string    `json:"phases"`
	Phase           int       `json:"phase"`
	State           string    `json:"state"`
	Reason          string    `json:"reason,omitempty"`
	AutoAdvance     bool      `json:"auto_advance"`
	Soak            string    `json:"soak,omitempty"`
	SuccessRate     float64   `json:"success_rate"`
	MaxConcurrent   int       `json:"max_concurrent"`
	OffersPerMinute int       `json:"offers_per_minute"`
	FailPercent     float64   `json:"fail_percent"`
	FailMinFinished int       `json:"fail_min_finished"`
	FailCount       int       `json:"fail_count"`
	CreatedBy       string    `json:"created_by"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	PhaseStartedAt  time.Time `json:"phase_started_at"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
}

// PhaseStatus counts a rollout's devices in one phase (or, as a rollout's
// Total, in all of them). States counts devices still in flight by state;
// Reasons counts failure reasons; SuccessRate is Succeeded over
// Succeeded+Failed, 0 when none finished.
type PhaseStatus struct {
	Label         string         `json:"label"`
	Reached       bool           `json:"reached"`
	Selected      int            `json:"selected"`
	Pending       int            `json:"pending"`
	States        map[string]int `json:"states"`
	Succeeded     int            `json:"succeeded"`
	Failed        int            `json:"failed"`
	Reasons       map[string]int `json:"reasons"`
	SuccessRate   float64        `json:"success_rate"`
	MedianSeconds float64        `json:"median_seconds"`
	BytesServed   int64          `json:"bytes_served"`
}

// RolloutStatus is a rollout with its counts, one PhaseStatus per phase.
type RolloutStatus struct {
	Rollout
	Status []PhaseStatus `json:"status"`
	Total  PhaseStatus   `json:"total"`
	// Hold says what a running rollout waits for before it moves on.
	Hold string `json:"hold,omitempty"`
}

// CreateRollout starts a rollout. The server answers 409 (as an *Error)
// when the product already has an active rollout.
func (o *Operator) CreateRollout(ctx context.Context, opts RolloutOptions) (Rollout, error) {
	var ro Rollout
	if opts.Product == "" || opts.Version == "" {
		return ro, errors.New("create rollout: product and version are required")
	}
	in := struct {
		Version         string   `json:"version"`
		Channel         string   `json:"channel,omitempty"`
		Tags            []string `json:"tags,omitempty"`
		Devices         []string `json:"devices,omitempty"`
		Phases          string   `json:"phases,omitempty"`
		AutoAdvance     bool     `json:"auto_advance,omitempty"`
		Soak            string   `json:"soak,omitempty"`
		SuccessRate     float64  `json:"success_rate,omitempty"`
		MaxConcurrent   int      `json:"max_concurrent,omitempty"`
		OffersPerMinute int      `json:"offers_per_minute,omitempty"`
		FailPercent     float64  `json:"fail_percent,omitempty"`
		FailMinFinished int      `json:"fail_min_finished,omitempty"`
		FailCount       int      `json:"fail_count,omitempty"`
	}{
		Version: opts.Version, Channel: opts.Channel, Tags: opts.Tags, Devices: opts.Devices, Phases: opts.Phases,
		AutoAdvance: opts.AutoAdvance, SuccessRate: opts.SuccessRate, MaxConcurrent: opts.MaxConcurrent,
		OffersPerMinute: opts.OffersPerMinute, FailPercent: opts.FailPercent, FailMinFinished: opts.FailMinFinished,
		FailCount: opts.FailCount,
	}
	if opts.Soak != 0 {
		in.Soak = opts.Soak.String()
	}
	err := o.c.doJSON(ctx, http.MethodPost, productPath(opts.Product)+"/rollouts", nil, in, &ro)
	return ro, err
}

// Rollouts lists rollouts, newest first: product's, or all when product is
// empty.
func (o *Operator) Rollouts(ctx context.Context, product string) ([]Rollout, error) {
	var q url.Values
	if product != "" {
		q = url.Values{"product": {product}}
	}
	var v struct {
		Rollouts []Rollout `json:"rollouts"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/rollouts", q, nil, &v)
	return v.Rollouts, err
}

// Rollout returns one rollout with its per-phase counts.
func (o *Operator) Rollout(ctx context.Context, id int64) (RolloutStatus, error) {
	var st RolloutStatus
	err := o.c.doJSON(ctx, http.MethodGet, rolloutPath(id), nil, nil, &st)
	return st, err
}

// ChangeRollout applies action (ActionPause, ActionResume, ActionCancel or
// ActionAdvance) to a rollout; reason, if not empty, is recorded with it.
// The server answers 409 when the rollout's state does not allow action.
func (o *Operator) ChangeRollout(ctx context.Context, id int64, action, reason string) (Rollout, error) {
	var ro Rollout
	switch action {
	case ActionPause, ActionResume, ActionCancel, ActionAdvance:
	default:
		return ro, fmt.Errorf("change rollout %d: unknown action %q", id, action)
	}
	in := struct {
		Reason string `json:"reason,omitempty"`
	}{reason}
	err := o.c.doJSON(ctx, http.MethodPost, rolloutPath(id)+"/"+action, nil, in, &ro)
	return ro, err
}

func rolloutPath(id int64) string {
	return "/api/v1/rollouts/" + strconv.FormatInt(id, 10)
}
