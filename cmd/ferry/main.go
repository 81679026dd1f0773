// Command ferry is Ferry's one binary: the server, the operator CLI and the
// device agent are its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(exitCode(err))
	}
}

// env is what every subcommand gets: its arguments, standard streams and
// the environment, so tests run commands in-process with their own.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env) error
}

func commands() []command {
	return []command{
		{"serve", "run the server", runServe},
		{"product", "create and list products", runProduct},
		{"release", "publish and list releases", runRelease},
		{"key", "make, register and revoke release signing keys", runKey},
		{"channel", "show and move channels", runChannel},
		{"device", "list devices and show one's history", runDevice},
		{"rollout", "start, watch and steer staged rollouts", runRollout},
		{"webhook", "post outcome events to a URL", runWebhook},
		{"nudge", "wake devices that hold no connection", runNudge},
		{"audit", "show what operators did", runAudit},
		{"token", "create, list and revoke operator tokens", runToken},
		{"agent", "run the device agent (native protocol)", runAgent},
		{"sim", "simulate a fleet of devices", runSim},
		{"version", "print Ferry's version", runVersion},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, env{args: args, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func runEnv(ctx context.Context, e env) error {
	if len(e.args) == 0 || e.args[0] == "-h" || e.args[0] == "--help" || e.args[0] == "help" {
		usage(e.stderr)
		if len(e.args) == 0 {
			return errors.New("no command given")
		}
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name == e.args[0] {
			e.args = e.args[1:]
			return c.run(ctx, e)
		}
	}
	if strings.HasPrefix(e.args[0], "-") {
		return fmt.Errorf("unknown command %q: flags go after the command, e.g. ferry product list %s",
			e.args[0], e.args[0])
	}
	usage(e.stderr)
	return fmt.Errorf("unknown command %q", e.args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ferry COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ferry COMMAND -h' for a command's flags.")
}

// exitError carries a specific exit status, for the agent's --once.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
