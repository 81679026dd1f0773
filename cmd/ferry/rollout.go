package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/client"
)

func runRollout(ctx context.Context, e env) error {
	return runVerb(ctx, e, "rollout", []verb{
		{"create", "start a staged rollout of a release", runRolloutCreate},
		{"list", "list rollouts", runRolloutList},
		{"status", "show a rollout's progress, phase by phase", runRolloutStatus},
		{client.ActionPause, "stop a rollout's new offers for now", rolloutAction(client.ActionPause)},
		{client.ActionResume, "let a paused rollout go on", rolloutAction(client.ActionResume)},
		{client.ActionCancel, "end a rollout for good", rolloutAction(client.ActionCancel)},
		{client.ActionAdvance, "move a rollout to its next phase", rolloutAction(client.ActionAdvance)},
	})
}

const rolloutCreateUsage = `
Usage: ferry rollout create --product P --release V [flags]

Starts moving a product's devices to release V in phases. Devices are
selected by --channel, --tags (all must match; an attribute matches as
name=value) and --devices (or --devices-file, one ID per line); excluded and
pinned devices are never selected. --phases lists shares (10%) or counts
(20) of the selected devices, each including the ones before.

Phases advance with 'ferry rollout advance', or by themselves with
--auto-advance once --soak has passed and the success rate of the finished
devices is at least --success-rate. The rollout pauses itself when
--fail-count devices failed, or more than --fail-percent of the finished
ones once --fail-min-finished have finished.

Example:
  ferry rollout create --product mkr-gsm-sensor --release 1.2.0 --tags eu \
    --phases 1%,10%,50%,100% --auto-advance --soak 1h --success-rate 0.95 \
    --max-concurrent 50 --fail-percent 3 --fail-min-finished 20
`

func runRolloutCreate(ctx context.Context, e env) error {
	c := newOpCmd(e, "rollout create", rolloutCreateUsage)
	var o client.RolloutOptions
	var tags, devices listFlag
	c.fs.StringVar(&o.Product, "product", "", "product `name` (required)")
	c.fs.StringVar(&o.Version, "release", "", "`version` to roll out (required)")
	c.fs.StringVar(&o.Channel, "channel", "", "only devices that follow this `channel`")
	c.fs.Var(&tags, "tags", "only devices with all these comma-separated `tags`")
	c.fs.Var(&devices, "devices", "only these comma-separated device `IDs`")
	devicesFile := c.fs.String("devices-file", "", "only the device IDs in this `file`, one per line (- for stdin)")
	c.fs.StringVar(&o.Phases, "phases", "", "comma-separated `phases` such as 1%,10%,50%,100% (default one of 100%)")
	c.fs.BoolVar(&o.AutoAdvance, "auto-advance", false, "advance phases without an operator")
	c.fs.DurationVar(&o.Soak, "soak", 0, "with --auto-advance, how long each phase runs at least")
	c.fs.Float64Var(&o.SuccessRate, "success-rate", 0, "with --auto-advance, the share (0-1) that must succeed")
	c.fs.IntVar(&o.MaxConcurrent, "max-concurrent", 0, "at most `n` devices updating at once (0: no limit)")
	c.fs.IntVar(&o.OffersPerMinute, "offers-per-minute", 0, "at most `n` new offers a minute (0: no limit)")
	c.fs.Float64Var(&o.FailPercent, "fail-percent", 0, "pause above this `percent` of failed devices")
	c.fs.IntVar(&o.FailMinFinished, "fail-min-finished", 0, "apply --fail-percent once `n` devices finished")
	c.fs.IntVar(&o.FailCount, "fail-count", 0, "pause once `n` devices failed")
	_, err := c.parse("product", "release")
	if err != nil {
		return err
	}
	o.Tags, o.Devices = tags, devices
	if *devicesFile != "" {
		if len(devices) > 0 {
			return fmt.Errorf("%s: --devices and --devices-file exclude each other", c.name)
		}
		if o.Devices, err = readDeviceList(*devicesFile, e.stdin); err != nil {
			return c.wrap(err)
		}
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	ro, err := op.CreateRollout(ctx, o)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, ro)
	}
	fmt.Fprintf(e.stdout, "started rollout %d: %s %s, phases %s\n", ro.ID, ro.Product, ro.Version, ro.Phases)
	return nil
}

// readDeviceList reads device IDs one per line from path ("-" for stdin),
// skipping blank lines and # comments.
func readDeviceList(path string, stdin io.Reader) ([]string, error) {
	rd := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read device list: %w", err)
		}
		defer func() { _ = f.Close() }() // read only
		rd = f
	}
	var ids []string
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			ids = append(ids, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read device list %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("device list %s names no device", path)
	}
	return ids, nil
}

// listFlag is a flag that takes comma-separated values and may be
// repeated: --tags a,b --tags c is a, b and c.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

const rolloutListUsage = `
Usage: ferry rollout list [--product P] [flags]

Lists rollouts, newest first.

Example:
  ferry rollout list --product mkr-gsm-sensor
`

func runRolloutList(ctx context.Context, e env) error {
	c := newOpCmd(e, "rollout list", rolloutListUsage)
	product := c.fs.String("product", "", "only rollouts of this product `name`")
	_, op, err := c.connect()
	if err != nil {
		return err
	}

	ros, err := op.Rollouts(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"rollouts": ros})
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "PRODUCT", "VERSION", "STATE", "PHASE", "CREATED BY", "CREATED", "REASON")
	for _, ro := range ros {
		row(tw, ro.ID, ro.Product, ro.Version, ro.State, phaseCell(ro), ro.CreatedBy, when(ro.CreatedAt),
			oneLine(ro.Reason, 60))
	}
	return tw.Flush()
}

// phaseCell shows how far a rollout got: "2/4 (10%)".
func phaseCell(ro client.Rollout) string {
	labels := strings.Split(ro.Phases, ",")
	s := fmt.Sprintf("%d/%d", ro.Phase+1, len(labels))
	if ro.Phase >= 0 && ro.Phase < len(labels) {
		s += " (" + labels[ro.Phase] + ")"
	}
	return s
}

const rolloutStatusUsage = `
Usage: ferry rollout status [flags] ID

Shows a rollout phase by phase: devices selected, pending (not offered the
release yet), in flight by state, succeeded and failed, the success rate,
the median time from offer to success and the image bytes served; then the
total, the failure reasons, and where the rollout stands.

Example:
  ferry rollout status 3
`

func runRolloutStatus(ctx context.Context, e env) error {
	c := newOpCmd(e, "rollout status", rolloutStatusUsage, "ID")
	id, op, err := connectRollout(c)
	if err != nil {
		return err
	}

	st, err := op.Rollout(ctx, id)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, st)
	}
	return printRolloutStatus(e.stdout, st)
}

// connectRollout is opCmd.connect for a command whose one argument is a
// rollout ID, which it checks before making the client.
func connectRollout(c *opCmd) (int64, *client.Operator, error) {
	args, err := c.parse()
	if err != nil {
		return 0, nil, err
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, fmt.Errorf("%s: rollout ID %q: want a positive number (see 'ferry rollout list')",
			c.name, args[0])
	}
	op, err := c.operator()
	return id, op, err
}

func printRolloutStatus(w io.Writer, st client.RolloutStatus) error {
	fmt.Fprintf(w, "rollout %d: %s %s to %s, created by %s %s\n\n", st.ID, st.Product, st.Version,
		selection(st.Rollout), st.CreatedBy, when(st.CreatedAt))
	tw := newTable(w)
	row(tw, "PHASE", "REACHED", "SELECTED", "PENDING", "IN-FLIGHT", "SUCCEEDED", "FAILED", "SUCCESS", "MEDIAN",
		"BYTES")
	for _, ph := range st.Status {
		phaseRow(tw, ph)
	}
	phaseRow(tw, st.Total)
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(st.Total.Reasons) > 0 {
		fmt.Fprintln(w, "\nFailure reasons:")
		tw = newTable(w)
		for _, reason := range byCount(st.Total.Reasons) {
			row(tw, "  "+strconv.Itoa(st.Total.Reasons[reason]), oneLine(reason, 100))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nstate: %s, phase %s since %s\n", st.State, phaseCell(st.Rollout), when(st.PhaseStartedAt))
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	if st.Hold != "" {
		fmt.Fprintf(w, "waiting: %s\n", st.Hold)
	}
	return nil
}

// selection describes which devices a rollout picks.
func selection(ro client.Rollout) string {
	var parts []string
	if ro.Channel != "" {
		parts = append(parts, "channel "+ro.Channel)
	}
	if len(ro.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(ro.Tags, ","))
	}
	if n := len(ro.Devices); n > 0 {
		parts = append(parts, fmt.Sprintf("%d named devices", n))
	}
	if len(parts) == 0 {
		return "all devices"
	}
	return strings.Join(parts, ", ")
}

func phaseRow(tw io.Writer, ph client.PhaseStatus) {
	reached := "no"
	if ph.Reached {
		reached = "yes"
	}
	success, median := "-", "-"
	if ph.Succeeded+ph.Failed > 0 {
		success = strconv.FormatFloat(100*ph.SuccessRate, 'f', 1, 64) + "%"
	}
	if ph.Succeeded > 0 {
		median = time.Duration(ph.MedianSeconds * float64(time.Second)).Round(100 * time.Millisecond).String()
	}
	row(tw, ph.Label, reached, ph.Selected, ph.Pending, counts(ph.States), ph.Succeeded, ph.Failed, success,
		median, ph.BytesServed)
}

// counts formats state counts as "downloading=2 installing=1", in the
// order updates progress through them.
func counts(m map[string]int) string {
	order := []string{client.StateOffered, client.StateDownloading, client.StateDownloaded, client.StateVerified,
		client.StateInstalling, client.StateRebooting, client.StateCanceled}
	var parts []string
	for _, s := range order {
		if m[s] > 0 {
			parts = append(parts, s+"="+strconv.Itoa(m[s]))
		}
	}
	for _, s := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(order, s) && m[s] > 0 {
			parts = append(parts, s+"="+strconv.Itoa(m[s]))
		}
	}
	return dash(strings.Join(parts, " "))
}

// byCount returns m's keys, the most frequent first.
func byCount(m map[string]int) []string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	return keys
}

const rolloutActionUsage = `
Usage: ferry rollout %[1]s [--reason R] [flags] ID

%[2]s
A reason, if given, is kept with the rollout and in the audit log.

Example:
  ferry rollout %[1]s 3 --reason "%[3]s"
`

// rolloutActionText returns what action does and an example reason.
func rolloutActionText(action string) (what, example string) {
	switch action {
	case client.ActionPause:
		return "Stops the rollout's new offers; updates in flight go on. Resume it with\n" +
			"'ferry rollout resume'.", "battery complaints"
	case client.ActionResume:
		return "Lets a paused rollout offer its release again.", "fixed the download mirror"
	case client.ActionCancel:
		return "Ends the rollout: no new offers, and devices that do not run its release\n" +
			"yet return to their channel.", "wrong build"
	}
	return "Moves the rollout to its next phase now.", "canary looks good"
}

func rolloutAction(action string) func(ctx context.Context, e env) error {
	return func(ctx context.Context, e env) error {
		what, example := rolloutActionText(action)
		c := newOpCmd(e, "rollout "+action, fmt.Sprintf(rolloutActionUsage, action, what, example), "ID")
		reason := c.fs.String("reason", "", "why, for the record")
		id, op, err := connectRollout(c)
		if err != nil {
			return err
		}

		ro, err := op.ChangeRollout(ctx, id, action, *reason)
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == 409 {
				return fmt.Errorf("%s: cannot %s rollout %d: %s", c.name, action, id, ce.Message)
			}
			return c.wrap(err)
		}
		if c.r.json {
			return printJSON(e.stdout, ro)
		}
		fmt.Fprintf(e.stdout, "rollout %d: %s, phase %s\n", ro.ID, ro.State, phaseCell(ro))
		return nil
	}
}
