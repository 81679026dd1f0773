package main

import (
	"context"
	"fmt"
)

const deviceRevokeUsage = `
Usage: ferry device revoke --product P [flags] ID

Revokes every credential of a device: the device tokens of a key product
are refused from now on, until the device enrolls again with the product's
enrollment key; the keys of a p256 product, until an operator adds a new
one. Use it for a device that was lost, stolen or retired.

Example:
  ferry device revoke --product mkr-gsm-sensor 358273091234567
`

func runDeviceRevoke(ctx context.Context, e env) error {
	c := newOpCmd(e, "device revoke", deviceRevokeUsage, "ID")
	product := c.productFlag()
	args, err := c.parse("product")
	if err != nil {
		return err
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	n, err := op.RevokeDeviceCredentials(ctx, *product, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"device": args[0], "revoked": n})
	}
	fmt.Fprintf(e.stdout, "%s: %d credentials revoked\n", args[0], n)
	return nil
}
