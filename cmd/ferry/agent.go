package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/agent"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/manifest"
)

const agentUsage = `
Usage: ferry agent --product P --device ID --state-dir DIR [--version V]
                   [--trust-key FILE.pub ...] [flags]

Runs a device agent that speaks the native protocol: it checks in, downloads
offered updates (resuming a cut download, even after a restart), verifies
their size and SHA-256, installs them into DIR/firmware.bin and reports
every step. --version is what the device runs until the agent installs an
update: the first check-in that succeeds writes it to DIR/state.json. Once
the agent has installed an update, state.json is the truth and a different
--version is only warned about.

With --trust-key (a public key file as "ferry key gen" writes it; repeat the
flag to trust several) the agent installs only signed releases: the offer's
manifest must verify with one of the keys, name this product and the offered
version, size and SHA-256 (the downloaded image is checked against it), and
carry a security counter not below the installed one, which state.json
keeps and check-ins report. Anything else is refused, reported as failed
with the reason, and nothing is installed or kept. Without --trust-key only
size and SHA-256 are checked.

For a product created with an enrollment key, --token takes that key: the
agent enrolls once, keeps the device token it gets in DIR/device.json (mode
0600) and sends only that token from then on. Delete the file to enroll
again, for example after an operator ran "ferry device revoke".

With --once it runs one cycle and exits with status
  0  the device is up to date, or was updated, verified and confirmed
  2  transient failure: the server was unreachable or answered 5xx, 408
     or 429, a download was cut (run it again to resume), or the image did
     not match its size and SHA-256 (or its signed manifest)
  3  permanent refusal: the server answered another 4xx, such as 401 (the
     product needs its enrollment key) or 404 (unknown product), the state
     directory is new and --version is missing, or a signed update was
     refused (bad signature, manifest of another release, lower counter)
Bad flags exit 1.

With --long-poll the agent holds a check-in open at the server (up to --hold,
default 240s, below common carrier NAT idle timeouts) and asks again as soon
as it is answered, so offers and commands arrive at once whatever the poll
interval; it backs off on errors. --once does not apply.

Commands come with check-in answers (or over MQTT) and are answered on the
same protocol; each runs once, even when it is delivered again after a
restart. check-update checks in now; set-poll-interval changes the interval
between check-ins (kept in DIR/commands.json); reboot runs --reboot-command
(its answer is saved first, so the reboot it causes does not repeat), or is
answered "reboot not supported" without one; other names run --command-hook
NAME PAYLOAD, whose exit status (0 is ok) and first 256 bytes of output are
the answer, or are answered "unknown command" without one. Hooks that run
longer than a minute are killed.

With --mqtt the agent keeps a session with Ferry's MQTT broker instead of
polling: it checks in over MQTT when it connects and when Ferry's poll hint
says, applies the offers Ferry answers or pushes, reports status and
acknowledges commands over MQTT, and still downloads images over HTTP from
--server. It logs in as the device id unless --mqtt-user says otherwise;
the broker password comes from the URL or --mqtt-password-file. It marks
the device online with a retained message and offline with its last will
(docs/mqtt.md). --once does not apply.

Example:
  ferry agent --server http://127.0.0.1:8080 --product mkr-gsm-sensor \
    --device d1 --version 1.0.0 --state-dir ./agent-d1 --once \
    --trust-key release.pub
  ferry agent --server http://127.0.0.1:8080 --product sensor --device d1 \
    --version 1.0.0 --state-dir ./agent-d1 --mqtt tcp://127.0.0.1:1883 \
    --mqtt-password-file d1.pw
  ferry agent --server http://127.0.0.1:8080 --product sensor --device d1 \
    --version 1.0.0 --state-dir ./agent-d1 --long-poll \
    --reboot-command /sbin/reboot --command-hook ./on-command.sh
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
	fs.StringVar(&cfg.Version, "version", "", "running `version`; state.json wins once an update is installed")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "`dir`ectory for state.json, firmware.bin and downloads (required)")
	fs.StringVar(&cfg.Token, "token", "", "the product's enrollment key, or a device token (env FERRY_DEVICE_TOKEN)")
	fs.DurationVar(&cfg.PollMin, "poll-min", agent.DefaultPollMin, "shortest wait between check-ins")
	var trustFiles []string
	fs.Func("trust-key", "install only releases signed by the public key in `file` (repeatable)",
		func(s string) error {
			trustFiles = append(trustFiles, s)
			return nil
		})
	var mq agent.MQTTConfig
	fs.StringVar(&mq.Broker, "mqtt", "", "keep a session with this MQTT `broker` (tcp://HOST:PORT, mqtts://HOST:PORT)")
	fs.StringVar(&mq.Username, "mqtt-user", "", "broker user name (default: the device id)")
	mqttPasswordFile := fs.String("mqtt-password-file", "", "`file` holding the broker password")
	mqttCA := fs.String("mqtt-ca", "", "PEM `file` of an mqtts:// broker's CA certificates (default: the system's)")
	fs.StringVar(&mq.Prefix, "mqtt-prefix", "ferry", "first segment of the MQTT topics")
	longPoll := fs.Bool("long-poll", false, "hold check-ins open at the server, so offers and commands arrive at once")
	hold := fs.Duration("hold", agent.DefaultHold, "how long a held check-in waits at the server (1s to 600s)")
	reboot := fs.String("reboot-command", "", "`program` the reboot command runs")
	fs.StringVar(&cfg.CommandHook, "command-hook", "", "`program` other commands run, given NAME and PAYLOAD")
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
	if cfg.TrustKeys, err = readTrustKeys(trustFiles); err != nil {
		return err
	}
	if err := mqttAgentFlags(&mq, *mqttPasswordFile, *mqttCA, *once); err != nil {
		return err
	}
	if err := longPollFlags(*longPoll, *hold, *once, mq.Broker != ""); err != nil {
		return err
	}
	if *reboot != "" {
		cfg.RebootHook = []string{*reboot}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	// Bound the wait for an answer's headers so a hung server cannot hold
	// the agent; downloads have their own stall timeout in the agent.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	if *longPoll {
		// A held check-in answers only after up to --hold.
		tr.ResponseHeaderTimeout += *hold
	}
	cfg.HTTPClient = &http.Client{Transport: hintTransport{next: tr, server: cfg.Server}}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}

	if mq.Broker != "" {
		return a.RunMQTT(ctx, mq)
	}
	if *longPoll {
		return a.RunLongPoll(ctx, *hold)
	}
	if !*once {
		return a.Run(ctx)
	}
	if err := a.RunOnce(ctx); err != nil {
		code := 2
		if agent.Permanent(err) {
			code = 3
		}
		return &exitError{code: code, err: fmt.Errorf("agent: %w%s", err, refusalHint(err, cfg.Token != ""))}
	}
	return nil
}

// readTrustKeys reads the public key files given with --trust-key.
func readTrustKeys(paths []string) ([]manifest.PublicKey, error) {
	keys := make([]manifest.PublicKey, 0, len(paths))
	for _, path := range paths {
		b, err := readSmall(path, 4096)
		if err != nil {
			return nil, fmt.Errorf("agent: --trust-key: %w", err)
		}
		k, err := manifest.DecodePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("agent: --trust-key %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// refusalHint says which flag to check when the server refused the agent,
// or returns "".
func refusalHint(err error, haveToken bool) string {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return ""
	}
	switch {
	case ce.Status == http.StatusUnauthorized && haveToken:
		return " (check the enrollment key in --token or FERRY_DEVICE_TOKEN; if the device token in " +
			"the state directory's device.json was revoked, delete that file to enroll again)"
	case ce.Status == http.StatusUnauthorized:
		return " (give the product's enrollment key with --token or FERRY_DEVICE_TOKEN)"
	case ce.Status == http.StatusNotFound:
		return " (check --product, and that --server names a Ferry server)"
	}
	return ""
}

// mqttAgentFlags checks the agent's MQTT flags and reads the password file.
func mqttAgentFlags(mq *agent.MQTTConfig, passwordFile, ca string, once bool) error {
	if mq.Broker == "" {
		if passwordFile != "" || mq.Username != "" || ca != "" {
			return errors.New("agent: --mqtt-user, --mqtt-password-file and --mqtt-ca need --mqtt")
		}
		return nil
	}
	if ca != "" {
		var err error
		if mq.TLS, err = mqttTLS(ca); err != nil {
			return fmt.Errorf("agent: --mqtt-ca: %w", err)
		}
	}
	if once {
		return errors.New("agent: --once does not apply with --mqtt, which keeps a session")
	}
	if err := (mqtt.Config{Broker: mq.Broker, Prefix: mq.Prefix}).Validate(); err != nil {
		return fmt.Errorf("agent: --mqtt: %w", err)
	}
	if passwordFile != "" {
		b, err := readSmall(passwordFile, 4096)
		if err != nil {
			return fmt.Errorf("agent: --mqtt-password-file: %w", err)
		}
		mq.Password = strings.TrimRight(string(b), "\r\n")
	}
	return nil
}

// longPollFlags checks --long-poll and --hold.
func longPollFlags(longPoll bool, hold time.Duration, once, mqtt bool) error {
	switch {
	case !longPoll:
		return nil
	case once:
		return errors.New("agent: --once does not apply with --long-poll, which keeps asking")
	case mqtt:
		return errors.New("agent: --long-poll and --mqtt are two ways to wait; choose one")
	case hold < time.Second || hold > 600*time.Second || hold%time.Second != 0:
		return fmt.Errorf("agent: --hold %s: want whole seconds from 1s to 600s", hold)
	}
	return nil
}
