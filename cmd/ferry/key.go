package main

import "context"

func runKey(ctx context.Context, e env) error {
	return runVerb(ctx, e, "key", []verb{
		{"gen", "make a signing key pair (offline)", runKeyGen},
	})
}
