package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/client"
)

const auditUsage = `
Usage: ferry audit [--product P] [--since 24h|TIME] [--limit N] [flags]

Lists what operators did, newest first: who (the name of the token used),
what, to which product and object, with the action's parameters. --since
takes a duration back from now or an RFC 3339 time.

Example:
  ferry audit --product mkr-gsm-sensor --since 24h
`

func runAudit(ctx context.Context, e env) error {
	c := newOpCmd(e, "audit", auditUsage)
	product := c.fs.String("product", "", "only actions on this product `name`")
	since := c.fs.String("since", "", "only actions after this `time` (24h, or 2025-01-02T03:04:05Z)")
	limit := c.fs.Int("limit", 0, "at most `n` entries (0: the server's default of 1000)")
	_, err := c.parse()
	if err != nil {
		return err
	}
	q := client.AuditQuery{Product: *product, Limit: *limit}
	if *since != "" {
		if q.Since, err = parseSince(*since, time.Now()); err != nil {
			return c.wrap(err)
		}
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	es, err := op.Audit(ctx, q)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"entries": es})
	}
	tw := newTable(e.stdout)
	row(tw, "AT", "ACTOR", "ACTION", "PRODUCT", "OBJECT", "DETAIL")
	for _, en := range es {
		row(tw, when(en.At), en.Actor, en.Action, dash(en.Product), dash(en.Object), oneLine(string(en.Detail), 80))
	}
	return tw.Flush()
}

// parseSince reads --since: a duration back from now ("24h") or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration such as 24h or a time such as "+
			"2025-01-02T03:04:05Z", s)
	}
	return t, nil
}
