package main

import (
	"context"
	"fmt"
)

func runWebhook(ctx context.Context, e env) error {
	return runVerb(ctx, e, "webhook", []verb{
		{"set", "post a product's outcome events to a URL", runWebhookSet},
		{"rm", "stop a product's outcome events", runWebhookRemove},
		{"deliveries", "list a product's recent webhook deliveries", runWebhookDeliveries},
	})
}

const webhookSetUsage = `
Usage: ferry webhook set --product P --url U [--secret S] [flags]

Posts the product's outcome events (update.succeeded, update.failed,
rollout.paused, rollout.finished, rollout.canceled) to URL, signed with a
secret. Without --secret the server makes one. The secret is printed once,
here: the receiver needs it to check signatures, and it is not shown again.
A secret given on the command line may be seen by other local users; prefer
the server's.

Example:
  ferry webhook set --product mkr-gsm-sensor --url https://ops.example.com/ferry
`

func runWebhookSet(ctx context.Context, e env) error {
	c := newOpCmd(e, "webhook set", webhookSetUsage)
	product := c.productFlag()
	url := c.fs.String("url", "", "http or https `URL` to post events to (required)")
	secret := c.fs.String("secret", "", "signing `secret`, 16-256 characters (default: a new one)")
	_, op, err := c.connect("product", "url")
	if err != nil {
		return err
	}

	wh, err := op.SetWebhook(ctx, *product, *url, *secret)
	if err != nil {
		return c.wrap(err)
	}
	fmt.Fprintln(e.stderr, "Store this secret now: the receiver needs it, and it is not shown again.")
	if c.r.json {
		return printJSON(e.stdout, wh)
	}
	fmt.Fprintf(e.stdout, "webhook of %s: %s\nsecret: %s\n", *product, wh.URL, wh.Secret)
	return nil
}

const webhookRemoveUsage = `
Usage: ferry webhook rm --product P [flags]

Stops posting the product's outcome events. Events already queued are
not sent.

Example:
  ferry webhook rm --product mkr-gsm-sensor
`

func runWebhookRemove(ctx context.Context, e env) error {
	c := newOpCmd(e, "webhook rm", webhookRemoveUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	if err := op.RemoveWebhook(ctx, *product); err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]string{"product": *product, "webhook": "removed"})
	}
	fmt.Fprintf(e.stdout, "removed the webhook of %s\n", *product)
	return nil
}

const webhookDeliveriesUsage = `
Usage: ferry webhook deliveries --product P [--limit N] [flags]

Lists the product's recent webhook deliveries, newest first: the event,
how many attempts it took, when it was delivered or will be tried next,
and the last error.

Example:
  ferry webhook deliveries --product mkr-gsm-sensor --limit 20
`

func runWebhookDeliveries(ctx context.Context, e env) error {
	c := newOpCmd(e, "webhook deliveries", webhookDeliveriesUsage)
	product := c.productFlag()
	limit := c.fs.Int("limit", 0, "at most `n` deliveries (0: the server's default of 100)")
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	ds, err := op.Deliveries(ctx, *product, *limit)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"deliveries": ds})
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "EVENT", "CREATED", "ATTEMPTS", "DELIVERED", "NEXT TRY", "LAST ERROR")
	for _, d := range ds {
		next := when(d.NextAt)
		if !d.DeliveredAt.IsZero() {
			next = "-"
		}
		row(tw, d.ID, d.Event, when(d.CreatedAt), d.Attempts, when(d.DeliveredAt), next, oneLine(d.LastError, 60))
	}
	return tw.Flush()
}
