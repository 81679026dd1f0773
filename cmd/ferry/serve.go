package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
	"github.com/ferry-ota/ferry/internal/webhook"
)

// serveConfig is the server's configuration after flags and environment
// have been read and checked.
type serveConfig struct {
	addr      string
	data      string
	logFormat string
	logLevel  slog.Level
	core      core.Config
	http      server.Config
	// ready, when set, receives the listening address (tests use it).
	ready func(addr string)
}

const serveUsage = `Usage: ferry serve [flags]

Runs the Ferry server with its SQLite database and image store in --data.
Every flag can also be set with the environment variable shown.

Example:
  ferry serve --addr 127.0.0.1:8080 --data ./ferry-data

Flags:
`

func parseServe(e env) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, serveUsage); fs.PrintDefaults() }
	def := func(name, fallback string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return fallback
	}
	addr := fs.String("addr", def("FERRY_ADDR", "127.0.0.1:8080"), "listen address HOST:PORT (FERRY_ADDR)")
	data := fs.String("data", def("FERRY_DATA", "./ferry-data"), "data directory (FERRY_DATA)")
	maxImage := fs.String("max-image-size", def("FERRY_MAX_IMAGE_SIZE", "128MiB"),
		"largest accepted firmware image (FERRY_MAX_IMAGE_SIZE)")
	poll := fs.String("poll-interval", def("FERRY_POLL_INTERVAL", "1h"),
		"how often idle devices are told to check in (FERRY_POLL_INTERVAL)")
	pollActive := fs.String("poll-active", def("FERRY_POLL_ACTIVE", "5m"),
		"how often devices with an update or a rollout in motion are told to check in (FERRY_POLL_ACTIVE)")
	maxDevReq := fs.Int("max-device-requests", 2048,
		"device requests served at once; past it devices get 503 with Retry-After")
	failLimit := fs.Int("fail-limit", 3, "failures of a release before a device's cool-down starts")
	coolDown := fs.String("cool-down", def("FERRY_COOL_DOWN", "24h"),
		"how long a device that failed a release fail-limit times is not offered it (FERRY_COOL_DOWN)")
	stall := fs.String("stall-timeout", def("FERRY_STALL_TIMEOUT", "60s"),
		"close transfers that make no progress for this long (FERRY_STALL_TIMEOUT)")
	logFormat := fs.String("log-format", def("FERRY_LOG_FORMAT", "text"), "log format: text or json (FERRY_LOG_FORMAT)")
	logLevel := fs.String("log-level", def("FERRY_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error (FERRY_LOG_LEVEL)")
	if err := fs.Parse(e.args); err != nil {
		return serveConfig{}, err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}

	cfg := serveConfig{addr: *addr, data: *data, logFormat: *logFormat}
	var errs []error
	cfg.core.FailLimit = *failLimit
	if *failLimit < 1 {
		errs = append(errs, fmt.Errorf("--fail-limit %d: want at least 1", *failLimit))
	}
	size, err := humanize.ParseBytes(*maxImage)
	if err != nil || size == 0 || size > 1<<40 {
		errs = append(errs, fmt.Errorf("--max-image-size %q: want a size such as 64MiB", *maxImage))
	}
	cfg.core.MaxImageSize = int64(size)
	cfg.core.PollInterval = parseDuration("--poll-interval", *poll, &errs)
	cfg.core.PollActive = parseDuration("--poll-active", *pollActive, &errs)
	cfg.http.MaxDeviceRequests = *maxDevReq
	if *maxDevReq < 1 {
		errs = append(errs, fmt.Errorf("--max-device-requests %d: want at least 1", *maxDevReq))
	}
	cfg.core.CoolDown = parseDuration("--cool-down", *coolDown, &errs)
	cfg.http.Stall = parseDuration("--stall-timeout", *stall, &errs)
	if err := cfg.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel))
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", cfg.logFormat))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want HOST:PORT", cfg.addr))
	}
	if err := errors.Join(errs...); err != nil {
		return serveConfig{}, fmt.Errorf("serve: %w", err)
	}
	return cfg, nil
}

func parseDuration(flagName, s string, errs *[]error) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q: want a positive duration such as 30s or 1h", flagName, s))
	}
	return d
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServe(ctx context.Context, e env) error {
	cfg, err := parseServe(e)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, newLogger(e.stderr, cfg.logFormat, cfg.logLevel))
}

// serve opens the data directory, listens, and serves until ctx ends.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	// Listen first: a taken port should fail before anything is written.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close() // after Serve this is a no-op

	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.data, "ferry.db"), log)
	if err != nil {
		return err
	}
	defer store.Close()
	blobs, err := disk.New(filepath.Join(cfg.data, "images"))
	if err != nil {
		return err
	}

	hooks := webhook.New(store, webhook.Config{}, log)
	cfg.core.Kick = hooks.Kick
	svc := core.NewService(store, blobs, cfg.core, log)
	defer func() {
		if err := svc.Close(); err != nil {
			log.Error("flush on shutdown", "error", err)
		}
	}()
	if err := ensureOperatorToken(ctx, svc, cfg.data, log); err != nil {
		return err
	}
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		_ = hooks.Run(ctx) // returns nil when ctx ends
	}()
	defer func() { <-hooksDone }()

	log.Info("listening", "addr", ln.Addr().String(), "data", cfg.data)
	if cfg.ready != nil {
		cfg.ready(ln.Addr().String())
	}
	return server.New(svc, cfg.http, log).Serve(ctx, ln)
}

// ensureOperatorToken creates the first operator token on first start and
// writes it, readable by its owner only, into the data directory. On later
// starts it makes sure the token in that file is still registered.
func ensureOperatorToken(ctx context.Context, svc *core.Service, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, "operator.token")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return fmt.Errorf("%s is empty: delete it to have a new token made", path)
		}
		return svc.EnsureToken(ctx, secret, "operator.token", core.RoleAdmin)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read operator token: %w", err)
	}

	secret, _, err := svc.CreateToken(ctx, "operator.token", core.RoleAdmin)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write operator token: %w", err)
	}
	log.Info("operator token created", "path", path)
	return nil
}

// writeFileAtomic writes a file so that it is either absent or complete,
// even if the process dies midway.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename this is a no-op
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
