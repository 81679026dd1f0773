package main

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/manifest"
)

func runKey(ctx context.Context, e env) error {
	return runVerb(ctx, e, "key", []verb{
		{"gen", "make a signing key pair (offline)", runKeyGen},
		{"add", "register a public key with a product", runKeyAdd},
		{"list", "list a product's keys", runKeyList},
		{"revoke", "stop trusting a product's key", runKeyRevoke},
	})
}

const keyAddUsage = `
Usage: ferry key add --product P --name N [flags] FILE.pub

Registers the public key in FILE.pub (from 'ferry key gen') with product
P under the name N. From then on the server accepts releases whose
manifest is signed with the matching private key. A product may have
several active keys, so a new one can be added before an old one is
revoked. Needs an admin token.

Example:
  ferry key add --product mkr-gsm-sensor --name release-2026 release-2026.pub
`

func runKeyAdd(ctx context.Context, e env) error {
	c := newOpCmd(e, "key add", keyAddUsage, "FILE.pub")
	product := c.productFlag()
	name := c.fs.String("name", "", "key `name`, unique within the product (required)")
	args, err := c.parse("product", "name")
	if err != nil {
		return err
	}
	// Check the file here, so that a private key given by mistake never
	// leaves this machine.
	b, err := readSmall(args[0], 4096)
	if err != nil {
		return c.wrap(err)
	}
	if _, err := manifest.DecodePublicKey(b); err != nil {
		return c.wrap(fmt.Errorf("%s: %w", args[0], err))
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	k, err := op.AddKey(ctx, *product, *name, b)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, k)
	}
	fmt.Fprintf(e.stdout, "added key %s (%s, fingerprint %s) to %s\n", k.Name, k.Alg, k.Fingerprint, *product)
	return nil
}

const keyListUsage = `
Usage: ferry key list --product P [flags]

Lists a product's signing keys, oldest first, revoked ones included.

Example:
  ferry key list --product mkr-gsm-sensor
`

func runKeyList(ctx context.Context, e env) error {
	c := newOpCmd(e, "key list", keyListUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	ks, err := op.Keys(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"keys": ks})
	}
	tw := newTable(e.stdout)
	row(tw, "NAME", "ALG", "FINGERPRINT", "CREATED", "REVOKED")
	for _, k := range ks {
		row(tw, k.Name, k.Alg, k.Fingerprint, when(k.CreatedAt), when(k.RevokedAt))
	}
	return tw.Flush()
}

const keyRevokeUsage = `
Usage: ferry key revoke --product P [flags] NAME

Revokes a product's key: no upload verifies with it from then on.
Releases pushed before stay as they are. Needs an admin token.

Example:
  ferry key revoke --product mkr-gsm-sensor release-2025
`

func runKeyRevoke(ctx context.Context, e env) error {
	c := newOpCmd(e, "key revoke", keyRevokeUsage, "NAME")
	product := c.productFlag()
	args, op, err := c.connect("product")
	if err != nil {
		return err
	}

	k, err := op.RevokeKey(ctx, *product, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, k)
	}
	fmt.Fprintf(e.stdout, "revoked key %s of %s (fingerprint %s)\n", k.Name, *product, k.Fingerprint)
	return nil
}
