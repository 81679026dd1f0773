package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-ota/ferry/client"
)

func runNudge(ctx context.Context, e env) error {
	return runVerb(ctx, e, "nudge", []verb{
		{"set", "set the request that wakes a product's devices", runNudgeSet},
		{"show", "show a product's nudge (never its secret)", runNudgeShow},
		{"rm", "stop nudging a product's devices", runNudgeRemove},
		{"list", "list recent nudges, or one with its attempts", runNudgeList},
	})
}

const nudgeSetUsage = `
Usage: ferry nudge set --product P --url U [--header 'Name: value']... [--body T] [flags]

Sets the request Ferry makes to wake a device of the product that holds
no connection when an urgent command is queued for it: typically a
carrier's SMS or cloud-messaging API, which sends a short message to the
SIM's modem. URL, header values and body are Go templates with .Product,
.Device, .Nudge, .Command.ID, .Command.Name, .Command.Payload,
.Attr "name" (a device attribute) and, in header values only, .Secret;
functions urlquery, json and basicauth USER PASS. The scheme and host of
--url must be literal. Templates are checked when set. See docs/nudges.md.

Each set replaces the product's whole nudge configuration: a flag left out
takes its default, not its earlier value (the secret alone is kept, below).
Give every header, the body and the limits again when you change one.

The secret (an API key or password) is read from --secret-file or the
environment variable FERRY_NUDGE_SECRET, never from the command line; set
again without either, the stored secret is kept. No command shows it.

Example (Twilio-style SMS to the number in the device's msisdn attribute):
  FERRY_NUDGE_SECRET=$TWILIO_TOKEN ferry nudge set --product mkr-gsm-sensor \
    --url 'https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json' \
    --header 'Authorization: Basic {{basicauth "AC123" .Secret}}' \
    --header 'Content-Type: application/x-www-form-urlencoded' \
    --body 'To={{urlquery (.Attr "msisdn")}}&From=%2B15005550006&Body=ferry+wake' \
    --per-device 1 --window 10m --per-minute 30
`

// headerFlags collects repeated --header 'Name: value' flags.
type headerFlags []client.NudgeHeader

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return errors.New("want 'Name: value'")
	}
	*h = append(*h, client.NudgeHeader{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	return nil
}

func runNudgeSet(ctx context.Context, e env) error {
	c := newOpCmd(e, "nudge set", nudgeSetUsage)
	product := c.productFlag()
	var n client.Nudge
	var headers headerFlags
	c.fs.StringVar(&n.URL, "url", "", "http or https `URL` template (required)")
	c.fs.StringVar(&n.Method, "method", "POST", "HTTP `method`: GET, POST, PUT or PATCH")
	c.fs.Var(&headers, "header", "a header 'Name: value template' (repeatable)")
	c.fs.StringVar(&n.Body, "body", "", "body `template`")
	bodyFile := c.fs.String("body-file", "", "read the body template from this `file`")
	secretFile := c.fs.String("secret-file", "", "read the secret from this `file` (else FERRY_NUDGE_SECRET)")
	c.fs.IntVar(&n.PerDevice, "per-device", 0, "at most `n` nudges per device per --window (default 1)")
	c.fs.DurationVar(&n.Window, "window", 0, "the per-device rate window (default 10m)")
	c.fs.IntVar(&n.PerMinute, "per-minute", 0, "at most `n` nudges per product per minute (default 60)")
	c.fs.IntVar(&n.MaxAttempts, "max-attempts", 0, "requests per nudge before giving up (default 5)")
	c.fs.DurationVar(&n.Backoff, "backoff", 0, "wait after the first failure, doubling (default 5s)")
	c.fs.DurationVar(&n.BackoffCap, "backoff-cap", 0, "longest wait between attempts (default 5m)")
	if _, err := c.parse("product", "url"); err != nil {
		return err
	}
	n.Headers = headers
	if *bodyFile != "" {
		if flagSet(c.fs, "body") {
			return c.wrap(errors.New("give --body or --body-file, not both"))
		}
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return c.wrap(fmt.Errorf("read body template: %w", err))
		}
		n.Body = string(b)
	}
	n.Secret = e.getenv("FERRY_NUDGE_SECRET")
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return c.wrap(fmt.Errorf("read secret file: %w", err))
		}
		n.Secret = strings.TrimSpace(string(b))
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	got, err := op.SetNudge(ctx, *product, n)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, got)
	}
	// A set is a PUT: say so, so an operator who meant to change one
	// field sees that the others went back to their defaults.
	fmt.Fprintf(e.stdout, "replaced the nudge configuration of %s; unspecified fields are defaults\n", *product)
	printNudge(e, *product, got)
	return nil
}

func printNudge(e env, product string, n client.Nudge) {
	fmt.Fprintf(e.stdout, "nudge of %s: %s %s\n", product, n.Method, printable(n.URL))
	for _, h := range n.Headers {
		fmt.Fprintf(e.stdout, "header: %s: %s\n", printable(h.Name), printable(h.Value))
	}
	if n.Body != "" {
		fmt.Fprintf(e.stdout, "body: %s\n", printable(n.Body))
	}
	secret := "not set"
	if n.SecretSet {
		secret = "set (not shown)"
	}
	fmt.Fprintf(e.stdout, "secret: %s\n", secret)
	fmt.Fprintf(e.stdout, "triggers: %s\n", strings.Join(n.Triggers, ", "))
	fmt.Fprintf(e.stdout, "limits: %d per device per %s, %d per minute\n", n.PerDevice, n.Window, n.PerMinute)
	fmt.Fprintf(e.stdout, "retries: %d attempts, back-off %s to %s\n", n.MaxAttempts, n.Backoff, n.BackoffCap)
}

const nudgeShowUsage = `
Usage: ferry nudge show --product P [flags]

Shows the product's nudge: the request templates, whether a secret is set
(never the secret), its triggers, rate limits and retry policy.

Example:
  ferry nudge show --product mkr-gsm-sensor
`

func runNudgeShow(ctx context.Context, e env) error {
	c := newOpCmd(e, "nudge show", nudgeShowUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	n, err := op.GetNudge(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, n)
	}
	printNudge(e, *product, n)
	return nil
}

const nudgeRemoveUsage = `
Usage: ferry nudge rm --product P [flags]

Stops nudging the product's devices. Nudges already queued are dropped,
recorded as failed.

Example:
  ferry nudge rm --product mkr-gsm-sensor
`

func runNudgeRemove(ctx context.Context, e env) error {
	c := newOpCmd(e, "nudge rm", nudgeRemoveUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	if err := op.RemoveNudge(ctx, *product); err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]string{"product": *product, "nudge": "removed"})
	}
	fmt.Fprintf(e.stdout, "removed the nudge of %s\n", *product)
	return nil
}

const nudgeListUsage = `
Usage: ferry nudge list --product P [--device ID] [--limit N] [ID] [flags]

Lists the product's recent nudges, newest first: the device, what fired
it, its state (queued, sent, failed, or suppressed by a rate limit) and
why, attempts and the last answer. With a nudge ID, shows that nudge with
every attempt: time, status, error and latency.

Example:
  ferry nudge list --product mkr-gsm-sensor --device mkr-0042
  ferry nudge list --product mkr-gsm-sensor 17
`

func runNudgeList(ctx context.Context, e env) error {
	c := newOpCmd(e, "nudge list", nudgeListUsage)
	product := c.productFlag()
	device := c.fs.String("device", "", "only this device's `ID`")
	limit := c.fs.Int("limit", 0, "at most `n` nudges (0: the server's default of 100)")
	args, err := parseArgs(c.fs, e.args)
	if err != nil {
		return err
	}
	if len(args) > 1 {
		return wantArgs(c.name, args, "[ID]")
	}
	if err := required(c.name, "product", *product); err != nil {
		return err
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	if len(args) == 1 {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id <= 0 {
			return c.wrap(fmt.Errorf("nudge ID %q: want a positive number", args[0]))
		}
		return showNudgeRecord(ctx, c, op, *product, id)
	}
	ns, err := op.Nudges(ctx, *product, *device, *limit)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"nudges": ns})
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "DEVICE", "TRIGGER", "COMMAND", "CREATED", "STATE", "ATTEMPTS", "LAST", "REASON")
	for _, n := range ns {
		row(tw, n.ID, n.Device, n.Trigger, n.CommandID, when(n.CreatedAt), n.State, n.Attempts,
			dash(statusText(n.LastStatus)), oneLine(n.Reason, 60))
	}
	return tw.Flush()
}

func showNudgeRecord(ctx context.Context, c *opCmd, op *client.Operator, product string, id int64) error {
	n, err := op.NudgeRecord(ctx, product, id)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(c.e.stdout, n)
	}
	w := c.e.stdout
	fmt.Fprintf(w, "nudge %d of %s: %s, %s\n", n.ID, printable(n.Device), n.State, printable(dash(n.Reason)))
	fmt.Fprintf(w, "trigger: %s (command %d), created %s\n", n.Trigger, n.CommandID, when(n.CreatedAt))
	if !n.NextAt.IsZero() {
		fmt.Fprintf(w, "next attempt: %s\n", when(n.NextAt))
	}
	tw := newTable(w)
	row(tw, "AT", "STATUS", "LATENCY", "ERROR")
	for _, a := range n.History {
		row(tw, when(a.At), dash(statusText(a.Status)), fmt.Sprintf("%.1fms", a.LatencyMS), oneLine(a.Error, 80))
	}
	return tw.Flush()
}

func statusText(code int) string {
	if code == 0 {
		return ""
	}
	return strconv.Itoa(code)
}
