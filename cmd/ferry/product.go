package main

import (
	"context"
	"fmt"

	"github.com/ferry-ota/ferry/client"
)

func runProduct(ctx context.Context, e env) error {
	return runVerb(ctx, e, "product", []verb{
		{"create", "create a product", runProductCreate},
		{"list", "list products", runProductList},
		{"show", "show one product and its settings", runProductShow},
		{"set", "set a product's poll intervals and signature rule", runProductSet},
	})
}

const productCreateUsage = `
Usage: ferry product create NAME [--public | --p256] [flags]

Creates a product. By default devices enroll with the product's enrollment
key, printed once, here (the server cannot show it again), and then use
the device token enrolling returns. --public lets any device fetch
firmware; --p256 makes each device sign its requests with its own P-256
key, registered with 'ferry device key add'.

Example:
  ferry product create mkr-gsm-sensor
  ferry product create demo-board --public
  ferry product create meter --p256
`

func runProductCreate(ctx context.Context, e env) error {
	c := newOpCmd(e, "product create", productCreateUsage, "NAME")
	public := c.fs.Bool("public", false, "let any device fetch firmware without a key")
	p256 := c.fs.Bool("p256", false, "make devices sign requests with their own P-256 keys")
	args, op, err := c.connect()
	if err != nil {
		return err
	}

	access := client.AccessKey
	switch {
	case *public && *p256:
		return fmt.Errorf("%s: --public and --p256 exclude each other", c.name)
	case *public:
		access = client.AccessPublic
	case *p256:
		access = client.AccessP256
	}
	p, err := op.CreateProduct(ctx, args[0], access)
	if err != nil {
		return c.wrap(err)
	}

	if p.EnrollKey != "" {
		fmt.Fprintln(e.stderr, "Store this enrollment key now: devices need it, and it is not shown again.")
	}
	if c.r.json {
		return printJSON(e.stdout, p)
	}
	fmt.Fprintf(e.stdout, "created product %s (access %s)\n", p.Name, p.Access)
	if p.EnrollKey != "" {
		fmt.Fprintf(e.stdout, "enrollment key: %s\n", p.EnrollKey)
	}
	return nil
}

const productListUsage = `
Usage: ferry product list [flags]

Lists all products.

Example:
  ferry product list --server http://127.0.0.1:8080
`

func runProductList(ctx context.Context, e env) error {
	c := newOpCmd(e, "product list", productListUsage)
	_, op, err := c.connect()
	if err != nil {
		return err
	}

	ps, err := op.Products(ctx)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"products": ps})
	}
	tw := newTable(e.stdout)
	row(tw, "NAME", "ACCESS", "BOARD", "CREATED")
	for _, p := range ps {
		board := "-"
		if p.Board != "" {
			board = p.Board + "/" + p.Loader
		}
		row(tw, p.Name, p.Access, board, when(p.CreatedAt))
	}
	return tw.Flush()
}

const productShowUsage = `
Usage: ferry product show [flags] NAME

Shows a product: its access mode, poll intervals, signature rule and board
profile.

Example:
  ferry product show mkr-gsm-sensor
`

func runProductShow(ctx context.Context, e env) error {
	c := newOpCmd(e, "product show", productShowUsage, "NAME")
	args, op, err := c.connect()
	if err != nil {
		return err
	}

	p, err := op.Product(ctx, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, p)
	}
	tw := newTable(e.stdout)
	row(tw, "name", p.Name)
	row(tw, "access", p.Access)
	row(tw, "poll idle", orDefault(p.PollIdle))
	row(tw, "poll active", orDefault(p.PollActive))
	row(tw, "signature", map[bool]string{true: "required", false: "not required"}[p.RequireSignature])
	row(tw, "board", boardText(p))
	row(tw, "created", when(p.CreatedAt))
	return tw.Flush()
}
