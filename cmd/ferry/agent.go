package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/agent"
)

const agentUsage = `
Usage: ferry agent --product P --device ID --state-dir DIR [--version V] [flags]

Runs a device agent that speaks the native protocol: it checks in, downloads
offered updates (resuming a cut download, even after a restart), verifies
their size and SHA-256, installs them into DIR/firmware.bin and reports
every step. --version seeds DIR/state.json on the first run only.

With --once it runs one cycle and exits 0 when the device is up to date or
was updated and verified, 2 otherwise (for example after a cut download;
run it again to resume).

Example:
  ferry agent --server http://127.0.0.1:8080 --product mkr-gsm-sensor \
    --device d1 --version 1.0.0 --state-dir ./agent-d1 --once
`

func runAgent(ctx context.Context, e env) error {
	fs := newFlagSet(e, "agent", agentUsage)
	server := e.getenv("FERRY_SERVER")
	if server == "" {
		server = defaultServer
	}
	var cfg agent.Config
	fs.StringVar(&cfg.Server, "server", server, "server base URL (env FERRY_SERVER)")
	fs.StringVar(&cfg.Product, "product", "", "product `name` (required)")
	fs.StringVar(&cfg.DeviceID, "device", "", "this device's `id` (required)")
	fs.StringVar(&cfg.Version, "version", "", "running `version`, used only when DIR holds no state yet")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "`dir`ectory for state.json, firmware.bin and downloads (required)")
	fs.StringVar(&cfg.Token, "token", "", "the product's enrollment key (env FERRY_DEVICE_TOKEN)")
	fs.DurationVar(&cfg.PollMin, "poll-min", agent.DefaultPollMin, "shortest wait between check-ins")
	once := fs.Bool("once", false, "run one update cycle and exit")
	verbose := fs.Bool("v", false, "log each check-in (debug level)")
	args, err := parseArgs(fs, e.args)
	if err != nil {
		return err
	}
	if err := wantArgs("agent", args); err != nil {
		return err
	}
	if err := required("agent", "product", cfg.Product, "device", cfg.DeviceID, "state-dir", cfg.StateDir); err != nil {
		return err
	}
	if cfg.PollMin <= 0 {
		return fmt.Errorf("agent: --poll-min must be positive, got %s", cfg.PollMin)
	}
	if cfg.Token == "" {
		cfg.Token = e.getenv("FERRY_DEVICE_TOKEN")
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	// Bound the wait for an answer's headers so a hung server cannot hold
	// the agent; downloads have their own stall timeout in the agent.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	cfg.HTTPClient = &http.Client{Transport: tr}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}

	if !*once {
		return a.Run(ctx)
	}
	if err := a.RunOnce(ctx); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("agent: %w", err)}
	}
	return nil
}
