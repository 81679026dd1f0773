package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/ferry-ota/ferry/internal/sim"
)

const simUsage = `
Usage: ferry sim --product P [--devices N] [flags]

Simulates a fleet of devices in this one process, over real HTTP, against a
running server: most speak the native protocol, --plain-share of them the
plain one (version check-in, the image in 512-byte Range pieces, CRC32
check, status reports, "reboot", check-in on the new version), and
--esp-share of them the ESP cores' httpUpdate (one request with the
board's headers; 304, or the whole image checked against x-MD5, then
"restart" and ask again; these boards report nothing, so a failed install
shows as a roll-back, and their downloads are never cut).

With --mqtt, --mqtt-share of the native devices (all by default) keep a
session with that broker instead of polling: they check in, report and
answer commands over MQTT, are pushed offers, and download over HTTP. Each
logs in as its device id, with the password in the URL if any
(docs/mqtt.md).

With --long-poll, the native devices that keep no MQTT session and do not
speak DDI hold their check-ins open at the server (up to --hold) and ask
again as soon as one is answered; each holds a connection, so the fleet
needs a file descriptor per device. Native devices answer the commands their
check-ins carry; with --plain-commands, plain devices ask for theirs
(/fw/P/cmd) after each check-in: check-update and set-poll-interval succeed, anything else fails as
unsupported, and check-update makes the device check in again at once.

--ddi-share of the native devices that keep no MQTT session speak hawkBit
DDI as SWUpdate's suricatta does: poll, fetch the deployment, report
proceeding, download with Range resumes, check SHA-1 and SHA-256, report
closed/success or closed/failure, and acknowledge cancels (docs/ddi.md).

--cut-share of the downloads lose their link midway and resume with Range;
--fail-install, --rollback and --silent are the shares of devices that fail
every install they are offered, come back on their old version, or go
silent after downloading. Which devices do what depends only on --seed and
the device id, so the same devices misbehave on every run.

Native devices wait as long as the server's poll hint says, at most
--poll-max; plain devices wait --poll. Without --duration the run ends when
the fleet has settled: something was offered, and every device still
talking has checked in idle three times in a row while nothing changed in
the fleet. Ctrl-C ends it early; the report is printed either way. A live
summary goes to stderr every 2s when it is a terminal, or with --progress.

Example:
  ferry sim --server http://127.0.0.1:8080 --product mkr-gsm-sensor \
    --devices 2000 --version 1.0.0 --fail-install 0.05 --poll 30s
`

func runSim(ctx context.Context, e env) error {
	fs := newFlagSet(e, "sim", simUsage)
	server := e.getenv("FERRY_SERVER")
	if server == "" {
		server = defaultServer
	}
	var cfg sim.Config
	fs.StringVar(&cfg.Server, "server", server, "server base URL (env FERRY_SERVER)")
	fs.StringVar(&cfg.Product, "product", "", "product `name` (required)")
	fs.IntVar(&cfg.Devices, "devices", 100, "number of devices")
	fs.StringVar(&cfg.Prefix, "prefix", "sim-", "device id prefix: ids are PREFIX00001, PREFIX00002, ...")
	fs.StringVar(&cfg.Version, "version", "1.0.0", "the `version` every device runs at the start")
	fs.StringVar(&cfg.Token, "token", "", "the product's enrollment key (env FERRY_DEVICE_TOKEN)")
	fs.Float64Var(&cfg.PlainShare, "plain-share", 0.2, "share of devices that speak the plain protocol")
	fs.StringVar(&cfg.MQTT, "mqtt", "",
		"MQTT `broker` (tcp://[USER:PASSWORD@]HOST:PORT); --mqtt-share of the native devices keep a session with it")
	fs.Float64Var(&cfg.MQTTShare, "mqtt-share", 1, "with --mqtt, share of the native devices that use MQTT")
	fs.Float64Var(&cfg.DDIShare, "ddi-share", 0,
		"share of the native devices (without MQTT) that speak hawkBit DDI, as SWUpdate does")
	fs.Float64Var(&cfg.ESPShare, "esp-share", 0, "share of devices that speak the ESP cores' httpUpdate")
	fs.BoolVar(&cfg.LongPoll, "long-poll", false, "native devices hold their check-ins open at the server")
	fs.DurationVar(&cfg.Hold, "hold", sim.DefaultHold, "with --long-poll, how long a check-in waits (1s to 600s)")
	fs.BoolVar(&cfg.PlainCommands, "plain-commands", false, "plain devices ask for their commands after each check-in")
	fs.DurationVar(&cfg.Poll, "poll", sim.DefaultPoll, "the devices' own wait between check-ins")
	fs.DurationVar(&cfg.PollMax, "poll-max", sim.DefaultPollMax, "cap on the server's poll hint (native devices)")
	fs.DurationVar(&cfg.Ramp, "ramp", 0, "spread the first check-ins over this long (default --poll)")
	fs.Int64Var(&cfg.Link, "link", 0, "each device's download speed in `bytes` per second; 0 is unlimited")
	fs.Float64Var(&cfg.CutShare, "cut-share", 0.1, "share of downloads cut once midway and resumed")
	fs.Float64Var(&cfg.FailInstall, "fail-install", 0.05, "share of devices whose installs fail")
	fs.Float64Var(&cfg.Rollback, "rollback", 0, "share of devices that roll back after installing")
	fs.Float64Var(&cfg.Silent, "silent", 0, "share of devices that go silent after downloading")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long; 0 runs until the fleet settles")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", false,
		"run until --duration even when the fleet looks settled (a rollout soaking between phases)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed that picks which devices misbehave")
	fs.IntVar(&cfg.Concurrency, "concurrency", sim.DefaultConcurrency, "most HTTP requests in flight at once")
	asJSON := fs.Bool("json", false, "print the final report as JSON")
	progress := fs.Bool("progress", false, "print the live summary even when stderr is not a terminal")
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs("sim", args); err != nil {
		return err
	}
	if err := required("sim", "product", cfg.Product); err != nil {
		return err
	}
	if cfg.MQTT == "" {
		cfg.MQTTShare = 0 // the flag's default applies only with --mqtt
	}
	if err := checkSimFlags(cfg); err != nil {
		return err
	}
	if cfg.Token == "" {
		cfg.Token = e.getenv("FERRY_DEVICE_TOKEN")
	}
	if *progress || isTerminal(e.stderr) {
		cfg.Progress = e.stderr
	}

	s, err := sim.New(cfg)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	r := s.Run(ctx)
	if *asJSON {
		return printJSON(e.stdout, r)
	}
	return r.WriteText(e.stdout)
}

// checkSimFlags rejects values the sim would otherwise replace with its
// defaults, so a typo such as --poll 0 is not silently ignored.
func checkSimFlags(cfg sim.Config) error {
	switch {
	case cfg.Poll <= 0:
		return fmt.Errorf("sim: --poll must be positive, got %s", cfg.Poll)
	case cfg.PollMax <= 0:
		return fmt.Errorf("sim: --poll-max must be positive, got %s", cfg.PollMax)
	case cfg.Ramp < 0:
		return fmt.Errorf("sim: --ramp must not be negative, got %s", cfg.Ramp)
	case cfg.Concurrency <= 0:
		return fmt.Errorf("sim: --concurrency must be positive, got %d", cfg.Concurrency)
	}
	return nil
}

// isTerminal reports whether w is a terminal, where a live summary helps;
// in a log file or a pipe it would only be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
