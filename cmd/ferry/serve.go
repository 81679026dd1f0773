package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/nudge"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
	"github.com/ferry-ota/ferry/internal/webhook"
)

// serveConfig is the server's configuration after flags and environment
// have been read and checked.
type serveConfig struct {
	addr string
	data string
	// tlsAddr, when set, serves HTTPS there with tlsCert and tlsKey, next
	// to plain HTTP on addr.
	tlsAddr   string
	tlsCert   string
	tlsKey    string
	logFormat string
	logLevel  slog.Level
	core      core.Config
	http      server.Config
	// ready, when set, receives the listening address (tests use it).
	ready func(addr string)
	// readyTLS, when set, receives the HTTPS listening address.
	readyTLS func(addr string)
	// mqtt, when set, serves devices over that broker too.
	mqtt *mqtt.Config
	// mqttStarted, when set, receives the MQTT adapter (tests use it).
	mqttStarted func(*mqtt.Adapter)
}

const serveUsage = `Usage: ferry serve [flags]

Runs the Ferry server with its SQLite database and image store in --data.
Every flag can also be set with the environment variable shown.

Example:
  ferry serve --addr 127.0.0.1:8080 --data ./ferry-data
  ferry serve --addr :8080 --tls-addr :8443 --tls-cert cert.pem --tls-key key.pem
  ferry serve --mqtt tcp://127.0.0.1:1883 --mqtt-user _ferry --mqtt-password-file mqtt.pw

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
	tlsAddr := fs.String("tls-addr", def("FERRY_TLS_ADDR", ""),
		"also serve HTTPS on HOST:PORT, with --tls-cert and --tls-key (FERRY_TLS_ADDR)")
	tlsCert := fs.String("tls-cert", def("FERRY_TLS_CERT", ""), "PEM certificate chain file (FERRY_TLS_CERT)")
	tlsKey := fs.String("tls-key", def("FERRY_TLS_KEY", ""), "PEM private key file (FERRY_TLS_KEY)")
	data := fs.String("data", def("FERRY_DATA", "./ferry-data"), "data directory (FERRY_DATA)")
	maxImage := fs.String("max-image-size", def("FERRY_MAX_IMAGE_SIZE", "128MiB"),
		"largest accepted firmware image (FERRY_MAX_IMAGE_SIZE)")
	poll := fs.String("poll-interval", def("FERRY_POLL_INTERVAL", "1h"),
		"how often idle devices are told to check in (FERRY_POLL_INTERVAL)")
	pollActive := fs.String("poll-active", def("FERRY_POLL_ACTIVE", "5m"),
		"how often devices with an update or a rollout in motion are told to check in (FERRY_POLL_ACTIVE)")
	maxDevReq := fs.Int("max-device-requests", 2048,
		"device requests served at once; past it devices get 503 with Retry-After")
	maxHeld := fs.Int("max-held", 50000,
		"held (long-poll) device requests at once, not counted in --max-device-requests; past it 503")
	// A device that waits for each answer sends at most one request per
	// round trip. Over a modem a 512-byte piece alone takes 0.4 s at 9600
	// baud, so 2.5 requests/s at most; over Wi-Fi or LTE to a server on
	// the internet the round trip is rarely under 50 ms, so 20/s. 20/s per
	// device (burst 100) thus never refuses a steady downloader: a 250 KB
	// image in 512-byte pieces still takes 25 s at that ceiling. Only a
	// device on a LAN, or one in a tight retry loop, meets it. The address
	// limit sits well above it, so a single device never meets it first
	// and a few devices behind one NAT can download at once; fleets behind
	// a carrier's NAT should raise it.
	ratePerAddress := fs.Float64("rate-per-address", 100,
		"device requests per second from one address (IPv6: one /64); past it 429 with Retry-After; 0 disables")
	ratePerDevice := fs.Float64("rate-per-device", 20,
		"device requests per second per product and device; past it 429 with Retry-After; 0 disables")
	trustProxy := fs.Bool("trust-proxy", false,
		"take the client address from the last X-Forwarded-For hop (only behind a proxy that sets it)")
	failLimit := fs.Int("fail-limit", 3, "failures of a release before a device's cool-down starts")
	coolDown := fs.String("cool-down", def("FERRY_COOL_DOWN", "24h"),
		"how long a device that failed a release fail-limit times is not offered it (FERRY_COOL_DOWN)")
	stall := fs.String("stall-timeout", def("FERRY_STALL_TIMEOUT", "60s"),
		"close transfers that make no progress for this long (FERRY_STALL_TIMEOUT)")
	logFormat := fs.String("log-format", def("FERRY_LOG_FORMAT", "text"), "log format: text or json (FERRY_LOG_FORMAT)")
	logLevel := fs.String("log-level", def("FERRY_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error (FERRY_LOG_LEVEL)")
	mqttF := addMQTTFlags(fs, def)
	if err := fs.Parse(e.args); err != nil {
		return serveConfig{}, err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}

	cfg := serveConfig{addr: *addr, data: *data, logFormat: *logFormat,
		tlsAddr: *tlsAddr, tlsCert: *tlsCert, tlsKey: *tlsKey}
	var errs []error
	errs = append(errs, checkTLSFlags(cfg)...)
	cfg.mqtt = mqttF.config(&errs)
	if cfg.mqtt != nil {
		cfg.mqtt.RatePerDevice = *ratePerDevice
	}
	cfg.http.RatePerAddress = *ratePerAddress
	cfg.http.RatePerDevice = *ratePerDevice
	cfg.http.TrustProxy = *trustProxy
	checkRate("--rate-per-address", *ratePerAddress, &errs)
	checkRate("--rate-per-device", *ratePerDevice, &errs)
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
	cfg.http.MaxHeld = *maxHeld
	if *maxHeld < 1 {
		errs = append(errs, fmt.Errorf("--max-held %d: want at least 1", *maxHeld))
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

// checkTLSFlags reports TLS flags that make no sense together.
func checkTLSFlags(cfg serveConfig) []error {
	if cfg.tlsAddr == "" {
		if cfg.tlsCert != "" || cfg.tlsKey != "" {
			return []error{errors.New("--tls-cert and --tls-key need --tls-addr")}
		}
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.tlsAddr); err != nil {
		errs = append(errs, fmt.Errorf("--tls-addr %q: want HOST:PORT", cfg.tlsAddr))
	}
	if cfg.tlsCert == "" || cfg.tlsKey == "" {
		errs = append(errs, errors.New("--tls-addr needs both --tls-cert and --tls-key"))
	}
	return errs
}

// loadCertificate reads a PEM certificate chain and its key, naming the
// file at fault.
func loadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

func checkRate(flagName string, v float64, errs *[]error) {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		*errs = append(*errs, fmt.Errorf("%s %v: want requests per second, 0 to disable", flagName, v))
	}
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
	// Load the certificate and listen first: a bad file or a taken port
	// should fail before anything is written.
	var cert tls.Certificate
	if cfg.tlsAddr != "" {
		var err error
		if cert, err = loadCertificate(cfg.tlsCert, cfg.tlsKey); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close() // after Serve this is a no-op
	lns := []net.Listener{ln}
	if cfg.tlsAddr != "" {
		tln, err := net.Listen("tcp", cfg.tlsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.tlsAddr, err)
		}
		defer tln.Close() // after Serve this is a no-op
		lns = append(lns, server.TLSListener(tln, cert))
	}

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
	nudges := nudge.New(store, nudge.Config{}, log)
	cfg.core.KickNudges = nudges.Kick
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
	mqttDone, err := startMQTT(ctx, cfg, svc, log)
	if err != nil {
		return err
	}
	defer mqttDone()
	nudgesDone := make(chan struct{})
	go func() {
		defer close(nudgesDone)
		_ = nudges.Run(ctx) // returns nil when ctx ends
	}()
	defer func() { <-nudgesDone }()

	log.Info("listening", "addr", ln.Addr().String(), "data", cfg.data)
	if len(lns) > 1 {
		log.Info("listening for TLS", "addr", lns[1].Addr().String())
		if cfg.readyTLS != nil {
			cfg.readyTLS(lns[1].Addr().String())
		}
	}
	if cfg.ready != nil {
		cfg.ready(ln.Addr().String())
	}
	return server.New(svc, cfg.http, log).Serve(ctx, lns...)
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
