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
	const cmd = "channel list"
	fs := newFlagSet(e, cmd, channelListUsage)
	product := fs.String("product", "", "product `name` (required)")
	r := addRemoteFlags(fs, e)
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, args); err != nil {
		return err
	}
	if err := required(cmd, "product", *product); err != nil {
		return err
	}
	op, err := r.operator(e)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}

	chs, err := op.Channels(ctx, *product)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if r.json {
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
	const cmd = "channel set"
	fs := newFlagSet(e, cmd, channelSetUsage)
	product := fs.String("product", "", "product `name` (required)")
	r := addRemoteFlags(fs, e)
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, args, "CHANNEL", "VERSION"); err != nil {
		return err
	}
	if err := required(cmd, "product", *product); err != nil {
		return err
	}
	op, err := r.operator(e)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}

	ch, err := op.SetChannel(ctx, *product, args[0], args[1])
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if r.json {
		return printJSON(e.stdout, ch)
	}
	fmt.Fprintf(e.stdout, "%s %s -> %s (sha256 %s)\n", *product, ch.Name, ch.Version, short(ch.SHA256))
	return nil
}
