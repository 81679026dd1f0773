package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

const versionUsage = `
Usage: ferry version

Prints the version of the ferry module this binary was built from, or
"devel" for a build from a working tree.

Example:
  ferry version
`

func runVersion(_ context.Context, e env) error {
	fs := newFlagSet(e, "version", versionUsage)
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs("version", args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "ferry", buildVersion())
	return nil
}

// buildVersion returns the main module's version as the go command
// recorded it: a tag or pseudo-version for "go install …@version", none
// for "go build" in a working tree.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "devel"
	}
	return bi.Main.Version
}
