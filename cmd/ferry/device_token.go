package main

import (
	"context"
	"fmt"
)

const deviceTokenUsage = `
Usage: ferry device token --product P [flags] ID

Issues a device token for a device of a key product, as enrolling with the
enrollment key would, for device clients that cannot enroll themselves and
are given their token by an operator: a hawkBit DDI client's target token
(SWUpdate's -k, docs/ddi.md). The device is registered if it is new; the
tokens it was issued before are revoked. The token is printed this once.

Example:
  ferry device token --product gateway-os gw-0042
`

func runDeviceToken(ctx context.Context, e env) error {
	c := newOpCmd(e, "device token", deviceTokenUsage, "ID")
	product := c.productFlag()
	args, err := c.parse("product")
	if err != nil {
		return err
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	tok, err := op.IssueDeviceToken(ctx, *product, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"device": args[0], "token": tok})
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
