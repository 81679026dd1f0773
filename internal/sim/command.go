package sim

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// Bounds on a held check-in's wait, as the server takes it.
const (
	DefaultHold = 240 * time.Second
	maxHold     = 600 * time.Second
)

// maxPlainCommands bounds the commands a plain device fetches in one
// cycle; the server keeps at most 16 open per device.
const maxPlainCommands = 16

// answer is how a simulated board answers a command: check-update
// succeeds and asks for a check-in now (now is true), set-poll-interval
// succeeds, anything else fails as unsupported.
func answer(name string) (ok bool, result string, now bool) {
	switch name {
	case "check-update":
		return true, "checking in", true
	case "set-poll-interval":
		return true, "noted", false
	}
	return false, "not supported by the simulator", false
}

// nativeCommands answers the commands a native check-in carried and
// reports whether one asked for a check-in now. A lost answer is counted
// as an error: the server hands the command over again.
func (s *Sim) nativeCommands(ctx context.Context, d *device, cs []client.Command) bool {
	now := false
	for _, c := range cs {
		ok, result, asap := answer(c.Name)
		if err := s.call(ctx, func() error { return d.native.Ack(ctx, c.ID, ok, result) }); err != nil {
			s.fail(ctx, err)
			continue
		}
		s.c.httpAcks.Add(1)
		now = now || asap
	}
	return now
}

// plainCommands asks for the device's commands one at a time, as a sketch
// does after its check-in, and answers each with a GET. It reports whether
// one asked for a check-in now.
func (s *Sim) plainCommands(ctx context.Context, d *device) bool {
	now := false
	for range maxPlainCommands {
		line, err := s.plainText(ctx, d, "cmd", nil)
		if err != nil {
			s.fail(ctx, err)
			return now
		}
		if line == "none" {
			return now
		}
		id, name, err := parseCommandLine(line)
		if err != nil {
			s.fail(ctx, err)
			return now
		}
		ok, result, asap := answer(name)
		q := url.Values{"id": {strconv.FormatInt(id, 10)}, "ok": {"0"}, "result": {result}}
		if ok {
			q.Set("ok", "1")
		}
		if _, err := s.plainText(ctx, d, "ack", q); err != nil {
			s.fail(ctx, err)
			return now
		}
		s.c.httpAcks.Add(1)
		now = now || asap
	}
	return now
}

// parseCommandLine splits a plain command line, "42 reboot" or
// "43 set-poll-interval 90s", as a sketch does: at the first two spaces.
func parseCommandLine(line string) (int64, string, error) {
	num, rest, _ := strings.Cut(line, " ")
	name, _, _ := strings.Cut(rest, " ")
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 || name == "" {
		return 0, "", fmt.Errorf("command line %.40q: want ID NAME [PAYLOAD]", line)
	}
	return id, name, nil
}
