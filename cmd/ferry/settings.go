package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/ferry-ota/ferry/client"
)

const deviceSetUsage = `
Usage: ferry device set --product P [flags] ID

Changes what the operator controls about a device that has checked in:
its tags (which rollouts select by), its channel, a pinned version it runs
and no other, whether rollouts leave it out, and its own poll interval
(0 returns it to the product's).

Example:
  ferry device set --product mkr-gsm-sensor 358273091234567 --tag eu,lab --untag beta
  ferry device set --product mkr-gsm-sensor 358273091234567 --pin 1.1.0 --exclude
`

func runDeviceSet(ctx context.Context, e env) error {
	c := newOpCmd(e, "device set", deviceSetUsage, "ID")
	product := c.productFlag()
	var s client.DeviceSettings
	var add, remove listFlag
	c.fs.Var(&add, "tag", "add these comma-separated `tags` (repeatable)")
	c.fs.Var(&remove, "untag", "remove these comma-separated `tags` (repeatable)")
	channel := c.fs.String("channel", "", "make the device follow this `channel`")
	pin := c.fs.String("pin", "", "pin the device to this `version`")
	unpin := c.fs.Bool("unpin", false, "remove the device's pin")
	exclude := c.fs.Bool("exclude", false, "leave the device out of rollouts")
	include := c.fs.Bool("include", false, "let rollouts select the device again")
	poll := c.fs.Duration("poll", 0, "the device's own poll interval (0: the product's)")
	args, err := c.parse("product")
	if err != nil {
		return err
	}
	if err := deviceSettingsFrom(c.fs, &s, *pin, *unpin, *exclude, *include); err != nil {
		return c.wrap(err)
	}
	s.AddTags, s.RemoveTags = add, remove
	if flagSet(c.fs, "channel") {
		s.Channel = channel
	}
	if flagSet(c.fs, "poll") {
		s.Poll = poll
	}
	if s.AddTags == nil && s.RemoveTags == nil && s.Channel == nil && s.Pin == nil && s.Excluded == nil &&
		s.Poll == nil {
		return fmt.Errorf("%s: nothing to change (run 'ferry %s -h')", c.name, c.name)
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	d, err := op.ConfigureDevice(ctx, *product, args[0], s)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, d)
	}
	fmt.Fprintf(e.stdout, "%s: channel %s, %s\n", d.ID, dash(d.Channel), deviceSettings(d))
	return nil
}

// deviceSettingsFrom sets s's pin and exclusion from flags that come in
// exclusive pairs.
func deviceSettingsFrom(fs *flag.FlagSet, s *client.DeviceSettings, pin string, unpin, exclude, include bool) error {
	switch {
	case flagSet(fs, "pin") && unpin:
		return errors.New("--pin and --unpin exclude each other")
	case exclude && include:
		return errors.New("--exclude and --include exclude each other")
	case flagSet(fs, "pin") && pin == "":
		return errors.New("--pin needs a version; use --unpin to remove a pin")
	}
	if flagSet(fs, "pin") {
		s.Pin = &pin
	}
	if unpin {
		none := ""
		s.Pin = &none
	}
	if exclude || include {
		s.Excluded = &exclude
	}
	return nil
}

// deviceSettings sums up a device's operator settings in one line:
// "tags eu,lab, pinned 1.1.0, excluded, poll 30m0s".
func deviceSettings(d client.DeviceInfo) string {
	parts := []string{"tags " + dash(strings.Join(d.Tags, ","))}
	if d.PinnedVersion != "" {
		parts = append(parts, "pinned "+d.PinnedVersion)
	}
	if d.Excluded {
		parts = append(parts, "excluded from rollouts")
	}
	if d.Poll != "" {
		parts = append(parts, "poll "+d.Poll)
	}
	return strings.Join(parts, ", ")
}

const productSetUsage = `
Usage: ferry product set [--poll-idle D] [--poll-active D] [--require-signature[=false]]
                         [--board B --loader L] [flags] NAME

Sets how long the product's devices wait between check-ins: when idle, and
while an update or rollout concerns them. 0 returns an interval to the
server's default.

--require-signature makes the server refuse every release push without a
manifest and signature (see 'ferry release sign'); add a key first with
'ferry key add'. --require-signature=false accepts unsigned pushes again.

--board gives the product an Arduino board profile (mkrgsm1400,
mkrwifi1010, nano33iot) and --loader the second-stage loader its sketches
are built with (none, sdu, ssu, snu): every push is then checked against
the board's flash layout, and each release also gets the .ota file and
the LZSS stream the loaders flash (docs/arduino.md). --board none takes
the profile away.

Example:
  ferry product set mkr-gsm-sensor --poll-idle 6h --poll-active 5m
  ferry product set mkr-gsm-sensor --require-signature
  ferry product set mkr-gsm-sensor --board mkrgsm1400 --loader ssu
`

func runProductSet(ctx context.Context, e env) error {
	c := newOpCmd(e, "product set", productSetUsage, "NAME")
	idle := c.fs.Duration("poll-idle", 0, "poll interval of idle devices (0: the server's default)")
	active := c.fs.Duration("poll-active", 0, "poll interval while an update concerns a device (0: the default)")
	signed := c.fs.Bool("require-signature", false, "refuse release pushes without a manifest and signature")
	board := c.fs.String("board", "", "Arduino board `profile`, or none to remove it")
	loader := c.fs.String("loader", "", "second-stage `loader` of the board's sketches: none, sdu, ssu or snu")
	args, err := c.parse()
	if err != nil {
		return err
	}
	var s client.ProductSettings
	if flagSet(c.fs, "poll-idle") {
		s.PollIdle = idle
	}
	if flagSet(c.fs, "poll-active") {
		s.PollActive = active
	}
	if flagSet(c.fs, "require-signature") {
		s.RequireSignature = signed
	}
	if err := boardSettings(c, &s, *board, *loader); err != nil {
		return err
	}
	if s.PollIdle == nil && s.PollActive == nil && s.RequireSignature == nil && s.Board == nil {
		return fmt.Errorf("%s: nothing to change: give --poll-idle, --poll-active, --require-signature or --board",
			c.name)
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	p, err := op.ConfigureProduct(ctx, args[0], s)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, p)
	}
	// The signature rule is named when it is on or was just changed, so
	// that the line for poll changes alone stays as scripts know it.
	rule := ""
	if p.RequireSignature {
		rule = ", signature required"
	} else if s.RequireSignature != nil {
		rule = ", signature not required"
	}
	if s.Board != nil {
		rule += ", board " + boardText(p)
	}
	fmt.Fprintf(e.stdout, "%s: poll idle %s, poll active %s%s\n", p.Name, orDefault(p.PollIdle),
		orDefault(p.PollActive), rule)
	return nil
}

// boardSettings checks --board and --loader against each other and fills
// in s.
func boardSettings(c *opCmd, s *client.ProductSettings, board, loader string) error {
	switch {
	case !flagSet(c.fs, "board") && flagSet(c.fs, "loader"):
		return fmt.Errorf("%s: --loader needs --board", c.name)
	case !flagSet(c.fs, "board"):
		return nil
	case board == "none" || board == "":
		if flagSet(c.fs, "loader") {
			return fmt.Errorf("%s: --board %s removes the profile, so --loader has nothing to go with", c.name,
				orNone(board))
		}
		board = ""
	case !flagSet(c.fs, "loader"):
		return fmt.Errorf("%s: --board needs --loader: none, sdu, ssu or snu, as the board allows", c.name)
	}
	s.Board, s.Loader = &board, &loader
	return nil
}

// boardText shows a product's board profile as "mkrgsm1400 (loader ssu)",
// or "none".
func boardText(p client.Product) string {
	if p.Board == "" {
		return "none"
	}
	return p.Board + " (loader " + p.Loader + ")"
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func orDefault(d string) string {
	if d == "" {
		return "default"
	}
	return d
}
