package core

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds on a rollout's definition.
const (
	MaxPhases          = 20
	MaxSelectorDevices = 10000
	MaxSelectorTags    = 16
	MaxTagLen          = 64
)

// RolloutSpec describes a rollout to create.
type RolloutSpec struct {
	Product  string
	Version  string
	Selector Selector
	// Phases is a comma-separated list of percentages ("1%") and counts
	// ("20") of the selected devices, each phase including the ones before
	// it; "all" means 100%. Empty means one phase of 100%.
	Phases          string
	AutoAdvance     bool
	Soak            time.Duration
	SuccessRate     float64 // 0-1; the share of a phase's devices that must succeed
	MaxConcurrent   int
	OffersPerMinute int
	FailPercent     float64
	FailMinFinished int
	FailCount       int
}

// ParsePhases parses a phase list such as "1%,10%,50%,100%" or "20,200,all".
func ParsePhases(s string) ([]Phase, error) {
	if strings.TrimSpace(s) == "" {
		return []Phase{{Percent: 100}}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxPhases {
		return nil, errInvalidf("%d phases, at most %d allowed", len(parts), MaxPhases)
	}
	out := make([]Phase, 0, len(parts))
	var lastPct float64
	var lastCount int
	for i, part := range parts {
		part = strings.TrimSpace(part)
		var ph Phase
		switch {
		case part == "all":
			ph.Percent = 100
		case strings.HasSuffix(part, "%"):
			f, err := strconv.ParseFloat(strings.TrimSuffix(part, "%"), 64)
			if err != nil || math.IsNaN(f) || f <= 0 || f > 100 {
				return nil, errInvalidf("phase %q: want a percentage above 0 and at most 100", truncate(part, 20))
			}
			ph.Percent = f
		default:
			n, err := strconv.Atoi(part)
			if err != nil || n <= 0 || n > 10_000_000 {
				return nil, errInvalidf("phase %q: want a percentage such as 10%% or a device count such as 20",
					truncate(part, 20))
			}
			ph.Count = n
		}
		// Each phase includes the ones before it, so it must reach further.
		switch {
		case i > 0 && out[i-1].Percent == 100:
			return nil, errInvalidf("phase %q comes after 100%%: nothing is left for it", truncate(part, 20))
		case ph.Percent > 0 && ph.Percent <= lastPct:
			return nil, errInvalidf("phase %q does not reach beyond the %g%% before it", truncate(part, 20), lastPct)
		case ph.Count > 0 && ph.Count <= lastCount:
			return nil, errInvalidf("phase %q does not reach beyond the %d devices before it",
				truncate(part, 20), lastCount)
		}
		lastPct, lastCount = max(lastPct, ph.Percent), max(lastCount, ph.Count)
		out = append(out, ph)
	}
	return out, nil
}

// PhaseLabel renders a phase as the operator wrote it.
func PhaseLabel(ph Phase) string {
	if ph.Count > 0 {
		return strconv.Itoa(ph.Count)
	}
	return strconv.FormatFloat(ph.Percent, 'f', -1, 64) + "%"
}

func validateSelector(sel Selector) error {
	if sel.Channel != "" {
		if err := ValidateChannelName(sel.Channel); err != nil {
			return err
		}
	}
	if len(sel.Tags) > MaxSelectorTags {
		return errInvalidf("%d tags, at most %d allowed", len(sel.Tags), MaxSelectorTags)
	}
	for _, t := range sel.Tags {
		if err := ValidateTag(t); err != nil {
			return err
		}
	}
	if len(sel.Devices) > MaxSelectorDevices {
		return errInvalidf("%d devices, at most %d allowed", len(sel.Devices), MaxSelectorDevices)
	}
	for _, d := range sel.Devices {
		if err := ValidateDeviceID(d); err != nil {
			return err
		}
	}
	return nil
}

// tagRe keeps tags to characters that read the same everywhere: no
// spaces, no control or invisible characters. "=" lets a selector name a
// reported attribute ("modem=sara-u201").
var tagRe = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,64}$`)

// ValidateTag reports whether t can be a device tag or a tag selector.
func ValidateTag(t string) error {
	if !tagRe.MatchString(t) {
		return errInvalidf("tag %q: want 1-%d letters, digits or . _ : / + = -", truncate(t, 80), MaxTagLen)
	}
	return nil
}

func validateSpec(spec RolloutSpec) ([]Phase, error) {
	phases, err := ParsePhases(spec.Phases)
	if err != nil {
		return nil, err
	}
	if err := validateSelector(spec.Selector); err != nil {
		return nil, err
	}
	switch {
	case spec.Soak < 0:
		return nil, errInvalidf("soak %s is negative", spec.Soak)
	case spec.SuccessRate < 0 || spec.SuccessRate > 1:
		return nil, errInvalidf("success rate %v: want 0 to 1", spec.SuccessRate)
	case spec.MaxConcurrent < 0 || spec.OffersPerMinute < 0 || spec.FailCount < 0 || spec.FailMinFinished < 0:
		return nil, errInvalidf("limits must not be negative")
	case spec.FailPercent < 0 || spec.FailPercent > 100:
		return nil, errInvalidf("failure threshold %v%%: want 0 to 100", spec.FailPercent)
	}
	return phases, nil
}

// CreateRollout starts a rollout. Its first phase is reached at once.
func (s *Service) CreateRollout(ctx context.Context, spec RolloutSpec) (Rollout, error) {
	phases, err := validateSpec(spec)
	if err != nil {
		return Rollout{}, err
	}
	rel, err := s.Release(ctx, spec.Product, spec.Version)
	if err != nil {
		return Rollout{}, err
	}
	now := s.now().Truncate(time.Millisecond)
	ro := Rollout{
		ProductID: rel.ProductID, ReleaseID: rel.ID, Version: rel.Version, Selector: spec.Selector,
		Phases: phases, State: RolloutRunning, AutoAdvance: spec.AutoAdvance, Soak: spec.Soak,
		SuccessRate: spec.SuccessRate, MaxConcurrent: spec.MaxConcurrent, OffersPerMinute: spec.OffersPerMinute,
		FailPercent: spec.FailPercent, FailMinFinished: spec.FailMinFinished, FailCount: spec.FailCount,
		CreatedBy: Actor(ctx), CreatedAt: now, UpdatedAt: now, PhaseStartedAt: now,
	}

	err = s.store.Tx(ctx, func(tx Store) error {
		if cur, err := tx.ActiveRollout(ctx, rel.ProductID); err == nil {
			return fmt.Errorf("%w: product %s already has rollout %d (%s) active: finish or cancel it first",
				ErrState, spec.Product, cur.ID, cur.State)
		} else if !notFound(err) {
			return err
		}
		devs, err := tx.ProductDevices(ctx, rel.ProductID)
		if err != nil {
			return err
		}
		ranks := selectedRanks(ro, devs)
		if len(ranks) == 0 {
			return errInvalidf("the selector picks no device of product %s: a rollout needs at least one",
				spec.Product)
		}
		ro.Thresholds = thresholds(ro, ranks)
		if err := tx.CreateRollout(ctx, &ro); err != nil {
			return err
		}
		return audit(ctx, tx, now, "rollout.create", spec.Product, strconv.FormatInt(ro.ID, 10), specDetail(spec))
	})
	if err != nil {
		return Rollout{}, fmt.Errorf("create rollout of %s %s: %w", spec.Product, spec.Version, err)
	}
	s.log.Info("rollout started", "rollout_id", ro.ID, "product", spec.Product, "version", ro.Version,
		"phases", spec.Phases)
	s.hub.Wake(ro.ProductID, 0)
	return ro, nil
}

// specDetail is a rollout's definition for the audit log, in the same
// snake_case and duration strings as the API.
func specDetail(spec RolloutSpec) map[string]any {
	return map[string]any{
		"version": spec.Version, "selector": spec.Selector, "phases": spec.Phases,
		"auto_advance": spec.AutoAdvance, "soak": spec.Soak.String(), "success_rate": spec.SuccessRate,
		"max_concurrent": spec.MaxConcurrent, "offers_per_minute": spec.OffersPerMinute,
		"fail_percent": spec.FailPercent, "fail_min_finished": spec.FailMinFinished, "fail_count": spec.FailCount,
	}
}

// thresholds fixes each phase's rank bound between the ranks of the n-th
// and the next selected device today, n being the phase's count or its
// share of the selection: a phase reaches exactly that many of today's
// fleet, while devices that register later fall in by their rank.
func thresholds(ro Rollout, ranks []float64) []float64 {
	out := make([]float64, len(ro.Phases))
	for i, ph := range ro.Phases {
		n := ph.Count
		if ph.Count == 0 {
			// A share of today's selection, rounded up so that no phase
			// of a small fleet is empty.
			n = int(math.Ceil(ph.Percent / 100 * float64(len(ranks))))
		}
		switch {
		case ph.Percent == 100 || n >= len(ranks):
			out[i] = 1
		case n <= 0:
			out[i] = 0
		default:
			out[i] = (ranks[n-1] + ranks[n]) / 2
		}
		if i > 0 && out[i] < out[i-1] {
			out[i] = out[i-1]
		}
	}
	return out
}

// selectedRanks returns the sorted ranks of the devices the rollout selects.
func selectedRanks(ro Rollout, devs []Device) []float64 {
	var ranks []float64
	for _, d := range devs {
		if selects(ro, d) {
			ranks = append(ranks, deviceRank(ro, d.Name))
		}
	}
	slices.Sort(ranks)
	return ranks
}

// Rollout returns one rollout.
func (s *Service) Rollout(ctx context.Context, id int64) (Rollout, error) {
	ro, err := s.store.Rollout(ctx, id)
	if err != nil {
		return Rollout{}, lookupErr(err, "unknown rollout "+strconv.FormatInt(id, 10))
	}
	return ro, nil
}

// Rollouts lists rollouts, of one product or of all when product is empty.
func (s *Service) Rollouts(ctx context.Context, product string) ([]Rollout, error) {
	var pid int64
	if product != "" {
		p, err := s.Product(ctx, product)
		if err != nil {
			return nil, err
		}
		pid = p.ID
	}
	return s.store.Rollouts(ctx, pid)
}

// RolloutAction is what an operator can do to a rollout.
type RolloutAction string

// Rollout actions.
const (
	ActionPause   RolloutAction = "pause"
	ActionResume  RolloutAction = "resume"
	ActionCancel  RolloutAction = "cancel"
	ActionAdvance RolloutAction = "advance"
)

// ChangeRollout pauses, resumes, cancels or advances a rollout by hand.
// Canceling stops new offers; devices with an update in flight are told at
// their next check-in, unless they are already installing, and every
// outcome is still recorded.
func (s *Service) ChangeRollout(ctx context.Context, id int64, action RolloutAction, reason string) (Rollout, error) {
	if len(reason) > MaxDetailLen {
		return Rollout{}, errInvalidf("reason longer than %d bytes", MaxDetailLen)
	}
	var ro Rollout
	err := s.store.Tx(ctx, func(tx Store) error {
		now := s.now()
		var err error
		if ro, err = tx.Rollout(ctx, id); err != nil {
			return lookupErr(err, "unknown rollout "+strconv.FormatInt(id, 10))
		}
		if err := s.applyAction(ctx, tx, &ro, action, reason, now); err != nil {
			return err
		}
		return s.auditRollout(ctx, tx, ro, "rollout."+string(action), now, reason)
	})
	if err != nil {
		return Rollout{}, err
	}
	s.kick()
	s.log.Info("rollout changed", "rollout_id", id, "action", string(action), "state", string(ro.State))
	if action != ActionPause {
		// Resuming and advancing reach devices; canceling sends the
		// rollout's devices back to their channel.
		s.hub.Wake(ro.ProductID, 0)
	}
	return ro, nil
}

func (s *Service) auditRollout(
	ctx context.Context, tx Store, ro Rollout, action string, now time.Time, reason string,
) error {
	p, err := productByID(ctx, tx, ro.ProductID)
	if err != nil {
		return err
	}
	return audit(ctx, tx, now, action, p.Name, strconv.FormatInt(ro.ID, 10), map[string]string{"reason": reason})
}

func (s *Service) applyAction(ctx context.Context, tx Store, ro *Rollout, action RolloutAction, reason string,
	now time.Time,
) error {
	by := "by " + Actor(ctx)
	if reason != "" {
		by += ": " + reason
	}
	switch action {
	case ActionPause:
		if ro.State != RolloutRunning {
			return fmt.Errorf("%w: rollout %d is %s, not running", ErrState, ro.ID, ro.State)
		}
		return s.pause(ctx, tx, ro, "paused "+by, now)
	case ActionResume:
		if ro.State != RolloutPaused {
			return fmt.Errorf("%w: rollout %d is %s, not paused", ErrState, ro.ID, ro.State)
		}
		ro.State, ro.Reason, ro.UpdatedAt = RolloutRunning, "", now
		return tx.SaveRollout(ctx, *ro)
	case ActionCancel:
		if !ro.State.Active() {
			return fmt.Errorf("%w: rollout %d is already %s", ErrState, ro.ID, ro.State)
		}
		return s.cancel(ctx, tx, ro, "canceled "+by, now)
	case ActionAdvance:
		if !ro.State.Active() {
			return fmt.Errorf("%w: rollout %d is %s", ErrState, ro.ID, ro.State)
		}
		if ro.Phase >= len(ro.Phases)-1 {
			return fmt.Errorf("%w: rollout %d is in its last phase", ErrState, ro.ID)
		}
		ro.Phase++
		ro.PhaseStartedAt, ro.UpdatedAt = now, now
		return tx.SaveRollout(ctx, *ro)
	}
	return errInvalidf("unknown rollout action %q: want pause, resume, cancel or advance", truncate(string(action), 20))
}

func (s *Service) pause(ctx context.Context, tx Store, ro *Rollout, reason string, now time.Time) error {
	ro.State, ro.Reason, ro.UpdatedAt = RolloutPaused, reason, now
	if err := tx.SaveRollout(ctx, *ro); err != nil {
		return err
	}
	s.log.Warn("rollout paused", "rollout_id", ro.ID, "reason", reason)
	return s.emitRollout(ctx, tx, *ro, "rollout.paused", now)
}

// cancel ends the rollout. Its assignments then hold only for devices that
// run its release (see assigned); the others return to their channel at
// their next check-in, which also cancels an update they have not started
// installing.
func (s *Service) cancel(ctx context.Context, tx Store, ro *Rollout, reason string, now time.Time) error {
	ro.State, ro.Reason, ro.UpdatedAt, ro.FinishedAt = RolloutCanceled, reason, now, now
	if err := tx.SaveRollout(ctx, *ro); err != nil {
		return err
	}
	return s.emitRollout(ctx, tx, *ro, "rollout.canceled", now)
}

func productByID(ctx context.Context, tx Store, id int64) (Product, error) {
	ps, err := tx.Products(ctx)
	if err != nil {
		return Product{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return Product{}, fmt.Errorf("product %d: %w", id, ErrNotFound)
}
