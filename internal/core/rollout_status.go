package core

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// PhaseStatus counts a rollout's devices in one phase. Every count is
// derived from the devices' update records, never kept on its own.
type PhaseStatus struct {
	Label    string
	Reached  bool
	Selected int // devices the selector picks whose rank falls in this phase
	// Pending devices have had no offer from the rollout yet.
	Pending int
	// States counts devices by the state of their latest update from the
	// rollout, for devices still in flight or canceled.
	States    map[State]int
	Succeeded int
	Failed    int
	// Reasons counts the failure reasons of the failed devices.
	Reasons map[string]int
	// SuccessRate is Succeeded over Succeeded+Failed; zero when none finished.
	SuccessRate float64
	// MedianTime is the median time from offer to success.
	MedianTime  time.Duration
	BytesServed int64
}

// RolloutStatus is a rollout with its per-phase counts and their total.
type RolloutStatus struct {
	Rollout
	Product string
	Phases  []PhaseStatus
	Total   PhaseStatus
	// Hold says what a running rollout waits for before it moves on; empty
	// when it is not running.
	Hold string
}

// RolloutStatus returns a rollout with counts derived from the devices'
// update records.
func (s *Service) RolloutStatus(ctx context.Context, id int64) (RolloutStatus, error) {
	ro, err := s.Rollout(ctx, id)
	if err != nil {
		return RolloutStatus{}, err
	}
	st, err := rolloutStatus(ctx, s.store, ro)
	if err != nil {
		return RolloutStatus{}, fmt.Errorf("status of rollout %d: %w", id, err)
	}
	st.Hold = hold(st, s.now())
	return st, nil
}

// hold explains what a running rollout is waiting for, so an operator
// never wonders why it does not move.
func hold(st RolloutStatus, now time.Time) string {
	ro := st.Rollout
	if ro.State != RolloutRunning {
		return ""
	}
	ph := st.Phases[ro.Phase]
	if ro.Phase == len(ro.Phases)-1 {
		left := st.Total.Pending
		for _, n := range inFlight(st.Total) {
			left += n
		}
		return fmt.Sprintf("last phase: waiting for %d devices to finish", left)
	}
	if !ro.AutoAdvance {
		return fmt.Sprintf("phase %s reached: advance it by hand when ready", ph.Label)
	}
	if until := ro.PhaseStartedAt.Add(ro.Soak); now.Before(until) {
		return fmt.Sprintf("phase %s soaking until %s", ph.Label, until.Format(time.RFC3339))
	}
	need := int(math.Ceil(ro.SuccessRate * float64(ph.Selected)))
	return fmt.Sprintf("phase %s: %d of its %d devices succeeded; advancing needs %d (%g%%)",
		ph.Label, ph.Succeeded, ph.Selected, need, 100*ro.SuccessRate)
}

// deviceOutcome is one device's standing in a rollout.
type deviceOutcome struct {
	state    State // of its latest update from the rollout; "" if none
	reason   string
	took     time.Duration // offer to success, when it succeeded
	served   int64
	finished bool
}

func rolloutStatus(ctx context.Context, st Store, ro Rollout) (RolloutStatus, error) {
	p, err := productByID(ctx, st, ro.ProductID)
	if err != nil {
		return RolloutStatus{}, err
	}
	devs, err := st.ProductDevices(ctx, ro.ProductID)
	if err != nil {
		return RolloutStatus{}, err
	}
	ups, err := st.RolloutUpdates(ctx, ro.ID)
	if err != nil {
		return RolloutStatus{}, err
	}
	outcomes := outcomesByDevice(ups)

	out := RolloutStatus{Rollout: ro, Product: p.Name, Phases: make([]PhaseStatus, len(ro.Phases))}
	times := make([][]time.Duration, len(ro.Phases))
	for i := range out.Phases {
		out.Phases[i] = PhaseStatus{
			Label: PhaseLabel(ro.Phases[i]), Reached: i <= ro.Phase,
			States: map[State]int{}, Reasons: map[string]int{},
		}
	}
	for _, d := range devs {
		// A device beyond the last phase (which then stops short of 100%)
		// is outside the rollout's scope, as is one it does not select.
		_, touched := outcomes[d.ID]
		i := phaseOf(ro, d.Name)
		if !touched && (!selects(ro, d) || i >= len(ro.Phases)) {
			continue
		}
		i = min(i, len(ro.Phases)-1)
		o := outcomes[d.ID]
		out.Phases[i].add(o)
		if o.state == StateSucceeded {
			times[i] = append(times[i], o.took)
		}
	}

	out.Total = PhaseStatus{Label: "total", Reached: true, States: map[State]int{}, Reasons: map[string]int{}}
	var all []time.Duration
	for i := range out.Phases {
		ph := &out.Phases[i]
		ph.finish(times[i])
		out.Total.merge(*ph)
		all = append(all, times[i]...)
	}
	out.Total.finish(all)
	return out, nil
}

// outcomesByDevice reduces a rollout's updates to each device's standing:
// succeeded if any update succeeded, else as its latest update stands.
func outcomesByDevice(ups []Update) map[int64]deviceOutcome {
	out := make(map[int64]deviceOutcome)
	for _, u := range ups { // oldest first
		o := out[u.DeviceID]
		o.served += u.Served
		if o.state != StateSucceeded {
			o.state, o.reason, o.finished = u.State, u.Reason, u.State == StateSucceeded || u.State == StateFailed
			if u.State == StateSucceeded {
				o.took = u.FinishedAt.Sub(u.CreatedAt)
			}
		}
		out[u.DeviceID] = o
	}
	return out
}

func (ph *PhaseStatus) add(o deviceOutcome) {
	ph.Selected++
	ph.BytesServed += o.served
	switch o.state {
	case "":
		ph.Pending++
	case StateSucceeded:
		ph.Succeeded++
	case StateFailed:
		ph.Failed++
		ph.Reasons[o.reason]++
	default:
		ph.States[o.state]++
	}
}

func (ph *PhaseStatus) merge(o PhaseStatus) {
	ph.Selected += o.Selected
	ph.Pending += o.Pending
	ph.Succeeded += o.Succeeded
	ph.Failed += o.Failed
	ph.BytesServed += o.BytesServed
	for k, v := range o.States {
		ph.States[k] += v
	}
	for k, v := range o.Reasons {
		ph.Reasons[k] += v
	}
}

func (ph *PhaseStatus) finish(times []time.Duration) {
	if n := ph.Succeeded + ph.Failed; n > 0 {
		ph.SuccessRate = float64(ph.Succeeded) / float64(n)
	}
	if len(times) > 0 {
		slices.Sort(times)
		ph.MedianTime = times[len(times)/2]
	}
}

// checkFailures pauses a running rollout whose failures cross its
// threshold, recording the reason.
func (s *Service) checkFailures(ctx context.Context, tx Store, ro *Rollout, now time.Time) error {
	if ro.FailPercent == 0 && ro.FailCount == 0 {
		return nil
	}
	ups, err := tx.RolloutUpdates(ctx, ro.ID)
	if err != nil {
		return err
	}
	var succeeded, failed int
	for _, o := range outcomesByDevice(ups) {
		switch o.state {
		case StateSucceeded:
			succeeded++
		case StateFailed:
			failed++
		}
	}
	if reason := failureBreach(*ro, succeeded, failed); reason != "" {
		return s.pause(ctx, tx, ro, reason, now)
	}
	return nil
}

// failureBreach returns why the counts cross the rollout's failure
// threshold, or "" if they do not.
func failureBreach(ro Rollout, succeeded, failed int) string {
	finished := succeeded + failed
	if ro.FailCount > 0 && failed >= ro.FailCount {
		return fmt.Sprintf("failure threshold: %d devices failed (limit %d)", failed, ro.FailCount)
	}
	if ro.FailPercent > 0 && finished > 0 && finished >= ro.FailMinFinished &&
		float64(failed)*100 > ro.FailPercent*float64(finished) {
		return fmt.Sprintf("failure threshold: %.1f%% of %d finished devices failed (%d), above %g%%",
			100*float64(failed)/float64(finished), finished, failed, ro.FailPercent)
	}
	return ""
}
