package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ferry-ota/ferry/client"
)

func runToken(ctx context.Context, e env) error {
	return runVerb(ctx, e, "token", []verb{
		{"create", "create an operator token", runTokenCreate},
		{"list", "list operator tokens", runTokenList},
		{"revoke", "revoke an operator token", runTokenRevoke},
	})
}

const tokenCreateUsage = `
Usage: ferry token create NAME --role admin|publisher|viewer [flags]

Creates an operator token. NAME (1-64 letters, digits, '.', '_' or '-')
is who the audit log says acted. Roles:
  viewer     reads products, releases, channels, devices and rollouts
  publisher  also pushes releases, moves channels, steers rollouts and
             configures devices
  admin      also creates and configures products, manages webhooks and
             tokens, and reads the audit log
The token is printed once, here; the server keeps only its hash. Creating
tokens needs an admin token.

Example:
  ferry token create ci-deploy --role publisher
`

func runTokenCreate(ctx context.Context, e env) error {
	c := newOpCmd(e, "token create", tokenCreateUsage, "NAME")
	role := c.fs.String("role", "", "the token's `role`: admin, publisher or viewer (required)")
	args, err := c.parse("role")
	if err != nil {
		return err
	}
	switch *role {
	case client.RoleAdmin, client.RolePublisher, client.RoleViewer:
	default:
		return c.wrap(fmt.Errorf("--role %q: want admin, publisher or viewer", *role))
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	t, err := op.CreateToken(ctx, args[0], *role)
	if err != nil {
		return c.wrap(err)
	}

	fmt.Fprintln(e.stderr, "Store this token now: it is not shown again, and anyone who has it can act as "+
		t.Name+".")
	if c.r.json {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintf(e.stdout, "created token %s (id %d, role %s)\n", t.Name, t.ID, t.Role)
	fmt.Fprintf(e.stdout, "token: %s\n", t.Secret)
	return nil
}

const tokenListUsage = `
Usage: ferry token list [flags]

Lists every operator token, revoked ones included, oldest first. Secrets
are never shown; LAST USED may lag a use by a few seconds. Needs an admin
token.

Example:
  ferry token list
`

func runTokenList(ctx context.Context, e env) error {
	c := newOpCmd(e, "token list", tokenListUsage)
	_, op, err := c.connect()
	if err != nil {
		return err
	}

	ts, err := op.Tokens(ctx)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"tokens": ts})
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED")
	for _, t := range ts {
		row(tw, t.ID, t.Name, t.Role, when(t.CreatedAt), when(t.LastUsedAt), when(t.RevokedAt))
	}
	return tw.Flush()
}

const tokenRevokeUsage = `
Usage: ferry token revoke ID [flags]

Revokes an operator token for good: from now on the server answers it
with 401. ID is the number 'ferry token list' shows. The last valid admin
token cannot be revoked, so that someone can still manage tokens; create
another admin token first. Needs an admin token.

Example:
  ferry token revoke 3
`

func runTokenRevoke(ctx context.Context, e env) error {
	c := newOpCmd(e, "token revoke", tokenRevokeUsage, "ID")
	args, err := c.parse()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(args[0]), 10, 64)
	if err != nil || id <= 0 {
		return c.wrap(fmt.Errorf("token ID %q: want the number 'ferry token list' shows", args[0]))
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	if err := op.RevokeToken(ctx, id); err != nil {
		return c.wrap(err)
	}
	fmt.Fprintf(e.stdout, "revoked token %d\n", id)
	return nil
}
