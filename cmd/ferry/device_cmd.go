package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// commandWaitStep is the longest wait one request asks the server for;
// longer --wait values are several requests in a row.
const commandWaitStep = 5 * time.Minute

const deviceCmdUsage = `
Usage: ferry device cmd [--product P] [--payload TEXT] [--expires DUR] [--urgent]
                        [--wait DUR] [flags] ID NAME

Queues a command for a device. The device gets it at its next native
check-in, plain /fw/P/cmd request or MQTT check-in (at once if it holds a
long-poll or MQTT session) and answers it; hawkBit DDI and ESP httpUpdate
carry no commands, so for a device that speaks only those the command
stays queued until it expires. Payloads are readable by every operator
token and, on public products, by anyone who knows the device's name:
keep secrets out of them (docs/security.md). Built-in names:
check-update (check in now), reboot, and set-poll-interval, whose payload is
a duration such as 90s; other names go to the device untouched. The payload
is at most 1024 bytes of printable text on one line. --expires (default 24h,
10s to 30 days) is how long the command waits for an answer.

With --wait the command waits that long for the device's answer and prints
it. Exit status:
  0  queued (without --wait), or the device answered ok
  2  no answer within --wait (the command stays open until it expires)
  3  the device answered error, or the command expired or was canceled
--product is needed only when devices of several products share the ID.

Example:
  ferry device cmd --product mkr-gsm-sensor --payload 90s --wait 10m \
    358273091234567 set-poll-interval
`

func runDeviceCmd(ctx context.Context, e env) error {
	c := newOpCmd(e, "device cmd", deviceCmdUsage, "ID", "NAME")
	product := c.fs.String("product", "", "product `name` the device belongs to")
	var req client.CommandRequest
	c.fs.StringVar(&req.Payload, "payload", "", "the command's payload `text`")
	c.fs.DurationVar(&req.Expires, "expires", 0, "how long the command waits for an answer (default 24h)")
	c.fs.BoolVar(&req.Urgent, "urgent", false, "nudge a device that holds no connection, where a nudge is set up")
	wait := c.fs.Duration("wait", 0, "wait this long for the device's answer and print it")
	args, op, err := c.connect()
	if err != nil {
		return err
	}
	if *wait < 0 {
		return fmt.Errorf("%s: --wait must be 0 or more, got %s", c.name, *wait)
	}
	req.Name = args[1]
	if *product, err = deviceProduct(ctx, op, args[0], *product); err != nil {
		return c.wrap(err)
	}

	cmd, err := op.QueueCommand(ctx, *product, args[0], req)
	if err != nil {
		return c.wrap(err)
	}
	if *wait > 0 {
		if cmd, err = awaitCommand(ctx, op, cmd, *wait); err != nil {
			return c.wrap(err)
		}
	}
	if c.r.json {
		if err := printJSON(e.stdout, cmd); err != nil {
			return err
		}
	} else {
		printCommand(e, cmd)
	}
	return commandOutcome(c.name, cmd, *wait)
}

// deviceProduct returns product, or when it is empty the product of the
// only device called id.
func deviceProduct(ctx context.Context, op *client.Operator, id, product string) (string, error) {
	if product != "" {
		return product, nil
	}
	d, err := op.Device(ctx, id, "")
	if err != nil {
		return "", err
	}
	return d.Product, nil
}

// awaitCommand asks the server to wait for the command's answer, in steps
// of at most commandWaitStep, until it is answered or wait has passed.
func awaitCommand(ctx context.Context, op *client.Operator, cmd client.CommandInfo, wait time.Duration,
) (client.CommandInfo, error) {
	deadline := time.Now().Add(wait)
	for cmd.Open() {
		left := time.Until(deadline).Round(time.Second)
		if left < time.Second {
			break
		}
		var err error
		cmd, err = op.Command(ctx, cmd.Product, cmd.Device, cmd.ID, min(left, commandWaitStep))
		if err != nil {
			return cmd, err
		}
	}
	return cmd, nil
}

func printCommand(e env, c client.CommandInfo) {
	switch c.State {
	case "queued":
		fmt.Fprintf(e.stdout, "command %d (%s) queued for %s\n", c.ID, printable(c.Name), printable(c.Device))
	case "delivered":
		fmt.Fprintf(e.stdout, "command %d (%s) delivered to %s via %s, not answered yet\n", c.ID,
			printable(c.Name), printable(c.Device), printable(c.Via))
	case "acknowledged", "failed":
		fmt.Fprintf(e.stdout, "command %d (%s) %s by %s: %s %s\n", c.ID, printable(c.Name), c.State,
			printable(c.Device), c.Result, printable(c.ResultPayload))
	default:
		fmt.Fprintf(e.stdout, "command %d (%s) %s\n", c.ID, printable(c.Name), printable(c.State))
	}
}

// commandOutcome turns what became of a command into the exit status the
// usage promises.
func commandOutcome(name string, c client.CommandInfo, wait time.Duration) error {
	switch {
	case c.State == "acknowledged" || (wait == 0 && c.Open()):
		return nil
	case c.Open():
		return &exitError{code: 2, err: fmt.Errorf("%s: no answer from %s within %s; command %d stays %s "+
			"until it expires (see ferry device cmds)", name, printable(c.Device), wait, c.ID, c.State)}
	case c.State == "failed":
		return &exitError{code: 3, err: fmt.Errorf("%s: %s answered error: %s", name, printable(c.Device),
			printable(c.ResultPayload))}
	}
	return &exitError{code: 3, err: fmt.Errorf("%s: command %d %s without an answer", name, c.ID,
		printable(c.State))}
}

const deviceCmdsUsage = `
Usage: ferry device cmds [--product P] [flags] ID

Lists a device's commands, newest first (at most 100), with their state and
the device's answers. --product is needed only when devices of several
products share the ID.

Example:
  ferry device cmds --product mkr-gsm-sensor 358273091234567
`

func runDeviceCmds(ctx context.Context, e env) error {
	c := newOpCmd(e, "device cmds", deviceCmdsUsage, "ID")
	product := c.fs.String("product", "", "product `name` the device belongs to")
	args, op, err := c.connect()
	if err != nil {
		return err
	}
	if *product, err = deviceProduct(ctx, op, args[0], *product); err != nil {
		return c.wrap(err)
	}

	cs, err := op.Commands(ctx, *product, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, cs)
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "NAME", "PAYLOAD", "STATE", "VIA", "CREATED", "ANSWER")
	for _, cmd := range cs {
		answer := "-"
		if cmd.Result != "" {
			answer = cmd.Result + " " + oneLine(cmd.ResultPayload, 60)
		}
		row(tw, cmd.ID, cmd.Name, oneLine(cmd.Payload, 40), cmd.State, dash(cmd.Via), when(cmd.CreatedAt),
			answer)
	}
	return tw.Flush()
}
