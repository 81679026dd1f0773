package main

import (
	"context"
	"fmt"
)

func runDeviceKey(ctx context.Context, e env) error {
	return runVerb(ctx, e, "device key", []verb{
		{"add", "register the P-256 key a device signs its requests with", runDeviceKeyAdd},
	})
}

const deviceKeyAddUsage = `
Usage: ferry device key add --product P [flags] ID FILE

Registers the P-256 public key that device ID of a p256 product signs its
requests with, creating the device if it never checked in. FILE holds the
raw key as 128 hex digits of X‖Y (as read out of a secure element) or is a
p256 public key file. A device may have several keys; 'ferry device
revoke' revokes them all.

Example:
  ferry product create meter --p256
  ferry device key add --product meter 358273091234567 358273091234567.pub
`

func runDeviceKeyAdd(ctx context.Context, e env) error {
	c := newOpCmd(e, "device key add", deviceKeyAddUsage, "ID", "FILE")
	product := c.productFlag()
	args, err := c.parse("product")
	if err != nil {
		return err
	}
	b, err := readSmall(args[1], 4096)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	k, err := op.AddDeviceKey(ctx, *product, args[0], b)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, k)
	}
	fmt.Fprintf(e.stdout, "%s: key %s added\n", k.Device, k.Fingerprint)
	return nil
}
