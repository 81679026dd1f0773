package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-ota/ferry/client"
)

func runDevice(ctx context.Context, e env) error {
	return runVerb(ctx, e, "device", []verb{
		{"list", "list devices", runDeviceList},
		{"show", "show one device, its updates and its history", runDeviceShow},
		{"set", "tag, pin, exclude or move a device", runDeviceSet},
		{"revoke", "revoke a device's credentials until it enrolls again", runDeviceRevoke},
		{"token", "issue a device token, for a client an operator configures", runDeviceToken},
		{"key", "register a device's P-256 request signing key", runDeviceKey},
		{"cmd", "send a device a command and, with --wait, print its answer", runDeviceCmd},
		{"cmds", "list a device's commands and their answers", runDeviceCmds},
	})
}

const deviceListUsage = `
Usage: ferry device list [--product P] [--version V] [--state S] [flags]

Lists devices with the version they run and their latest update. --state
matches the state of that latest update (offered, downloading, downloaded,
verified, installing, rebooting, succeeded, failed, canceled).

Example:
  ferry device list --product mkr-gsm-sensor --state failed
`

func runDeviceList(ctx context.Context, e env) error {
	c := newOpCmd(e, "device list", deviceListUsage)
	var q client.DeviceQuery
	c.fs.StringVar(&q.Product, "product", "", "only devices of this product `name`")
	c.fs.StringVar(&q.Version, "version", "", "only devices running this `version`")
	c.fs.StringVar(&q.State, "state", "", "only devices whose latest update is in this `state`")
	c.fs.IntVar(&q.Limit, "limit", 0, "at most `n` devices (0: the server's default)")
	if _, err := c.parse(); err != nil {
		return err
	}
	if q.Limit < 0 {
		return fmt.Errorf("%s: --limit must be 0 or more, got %d", c.name, q.Limit)
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	ds, err := op.Devices(ctx, q)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"devices": ds})
	}
	tw := newTable(e.stdout)
	row(tw, "ID", "PRODUCT", "VERSION", "CHANNEL", "LAST SEEN", "UPDATE", "BYTES SERVED")
	for _, d := range ds {
		row(tw, d.ID, d.Product, dash(d.Version), dash(d.Channel), when(d.LastSeen), updateCell(d.Update),
			d.BytesServed)
	}
	return tw.Flush()
}

// updateCell sums up an update in one table cell: "1.1.0 downloading".
func updateCell(u *client.Update) string {
	if u == nil {
		return "-"
	}
	return u.Version + " " + u.State
}

const deviceShowUsage = `
Usage: ferry device show [--product P] [flags] ID

Shows one device: what it runs, its attributes, its current or last update,
all its updates and its history. --product is needed only when devices of
several products share the ID.

Example:
  ferry device show --product mkr-gsm-sensor 358273091234567
`

func runDeviceShow(ctx context.Context, e env) error {
	c := newOpCmd(e, "device show", deviceShowUsage, "ID")
	product := c.fs.String("product", "", "product `name` the device belongs to")
	args, op, err := c.connect()
	if err != nil {
		return err
	}

	d, err := op.Device(ctx, args[0], *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, d)
	}
	if err := printDeviceSummary(e.stdout, d); err != nil {
		return err
	}
	if err := printUpdates(e.stdout, d.Updates); err != nil {
		return err
	}
	return printHistory(e.stdout, d.History)
}

func printDeviceSummary(w io.Writer, d client.DeviceDetail) error {
	tw := newTable(w)
	row(tw, "device", d.ID)
	row(tw, "product", d.Product)
	row(tw, "version", dash(d.Version))
	row(tw, "sha256", dash(d.SHA256))
	row(tw, "channel", dash(d.Channel))
	row(tw, "first seen", when(d.FirstSeen))
	row(tw, "last seen", when(d.LastSeen))
	row(tw, "bytes served", d.BytesServed)
	row(tw, "attributes", attrs(d.Attributes))
	row(tw, "settings", deviceSettings(d.DeviceInfo))
	row(tw, "update", updateSummary(d.Update))
	return tw.Flush()
}

// updateSummary describes the current or last update in one line:
// "#7 1.0.0 -> 1.1.0: failed (rolled back), 148496 bytes".
func updateSummary(u *client.Update) string {
	if u == nil {
		return "none"
	}
	s := fmt.Sprintf("#%d %s -> %s: %s", u.ID, dash(u.FromVersion), u.Version, u.State)
	if u.Reason != "" {
		s += " (" + u.Reason + ")"
	}
	if u.FinishedAt.IsZero() {
		s += ", open"
	}
	return s + fmt.Sprintf(", %d bytes", u.Progress)
}

func printUpdates(w io.Writer, us []client.Update) error {
	fmt.Fprintln(w, "\nUpdates (newest first):")
	if len(us) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw := newTable(w)
	row(tw, "ID", "FROM", "TO", "STATE", "PROGRESS", "CREATED", "FINISHED", "REASON")
	for _, u := range us {
		row(tw, u.ID, dash(u.FromVersion), u.Version, u.State, u.Progress, when(u.CreatedAt),
			when(u.FinishedAt), oneLine(u.Reason, 60))
	}
	return tw.Flush()
}

func printHistory(w io.Writer, evs []client.Event) error {
	fmt.Fprintln(w, "\nHistory (oldest first):")
	if len(evs) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw := newTable(w)
	row(tw, "AT", "KIND", "UPDATE", "STATE", "VERSION", "PROGRESS", "PROTOCOL", "DETAIL")
	for _, ev := range evs {
		upd := "-"
		if ev.UpdateID != 0 {
			upd = fmt.Sprint(ev.UpdateID)
		}
		row(tw, when(ev.At), ev.Kind, upd, dash(ev.State), dash(ev.Version), ev.Progress,
			dash(ev.Protocol), oneLine(ev.Detail, 60))
	}
	return tw.Flush()
}
