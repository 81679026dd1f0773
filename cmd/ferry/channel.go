package main

import (
	"context"
	"fmt"
)

func runChannel(ctx context.Context, e env) error {
	return runVerb(ctx, e, "channel", []verb{
		{"list", "list a product's channels", runChannelList},
		{"set", "point a channel at a release", runChannelSet},
	})
}

const channelListUsage = `
Usage: ferry channel list --product P [flags]

Lists a product's channels and the release each points at.

Example:
  ferry channel list --product mkr-gsm-sensor
`

func runChannelList(ctx context.Context, e env) error {
	c := newOpCmd(e, "channel list", channelListUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	chs, err := op.Channels(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"channels": chs})
	}
	tw := newTable(e.stdout)
	row(tw, "CHANNEL", "VERSION", "SHA256", "UPDATED")
	for _, ch := range chs {
		row(tw, ch.Name, ch.Version, short(ch.SHA256), when(ch.UpdatedAt))
	}
	return tw.Flush()
}

const channelSetUsage = `
Usage: ferry channel set --product P [flags] CHANNEL VERSION

Points CHANNEL of product P at the published release VERSION, creating the
channel if needed. Devices on the channel are offered it at their next
check-in.

Example:
  ferry channel set --product mkr-gsm-sensor stable 1.1.0
`

func runChannelSet(ctx context.Context, e env) error {
	c := newOpCmd(e, "channel set", channelSetUsage, "CHANNEL", "VERSION")
	product := c.productFlag()
	args, op, err := c.connect("product")
	if err != nil {
		return err
	}

	ch, err := op.SetChannel(ctx, *product, args[0], args[1])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, ch)
	}
	fmt.Fprintf(e.stdout, "%s %s -> %s (sha256 %s)\n", *product, ch.Name, ch.Version, short(ch.SHA256))
	return nil
}
