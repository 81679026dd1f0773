package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/version"
)

// Defaults for Config's zero values.
const (
	DefaultPoll          = 30 * time.Second
	DefaultPollMax       = 5 * time.Minute
	DefaultConcurrency   = 256
	DefaultProgressEvery = 2 * time.Second
)

// Config describes the fleet and how it behaves. Shares are fractions in
// [0, 1].
type Config struct {
	// Server is the base URL of the Ferry server.
	Server  string
	Product string
	// Token is the product's enrollment key, which each device enrolls
	// with before its first check-in; empty for a public product.
	Token string
	// Devices is the fleet size; device ids are Prefix followed by a
	// 1-based number of at least five digits (sim-00001).
	Devices int
	Prefix  string
	// Version is what every device runs when the simulation starts.
	Version string

	// PlainShare of the devices speak the plain protocol, ESPShare the
	// ESP cores' httpUpdate (see espCycle), the rest the native one.
	PlainShare float64
	ESPShare   float64
	// MQTT is a broker URL (tcp://HOST:PORT, mqtts://HOST:PORT, user and
	// password optional). MQTTShare of the native devices then keep a
	// session with it: they check in, report and acknowledge over MQTT,
	// are pushed offers and commands, and still download over HTTP. Each
	// logs in as its device id, with the URL's password if any.
	MQTT      string
	MQTTShare float64
	// DDIShare of the native devices that keep no broker session speak
	// hawkBit DDI instead, as SWUpdate's suricatta does (see ddiCycle).
	DDIShare float64
	// LongPoll makes the native devices that keep no broker session and
	// do not speak DDI hold their check-ins open at the server (up to
	// Hold; zero means DefaultHold) and ask again as soon as one is
	// answered. Held requests do not count against Concurrency, and each
	// holds a connection: the fleet needs a file descriptor per device.
	LongPoll bool
	Hold     time.Duration
	// PlainCommands makes plain devices ask for their commands after each
	// check-in, one request more per cycle.
	PlainCommands bool
	// Poll is the devices' own wait between check-ins. Plain devices always
	// use it; native devices use it when the server sends no poll hint.
	// Zero means DefaultPoll.
	Poll time.Duration
	// PollMax caps the server's poll hint for native devices. Zero means
	// DefaultPollMax.
	PollMax time.Duration
	// Ramp spreads the devices' first check-ins evenly over this long so
	// the fleet does not start with a stampede. Zero means Poll.
	Ramp time.Duration
	// Link is each device's download speed in bytes per second; zero means
	// as fast as the server sends.
	Link int64

	// CutShare of the downloads are cut once midway and resumed with a
	// Range request from the bytes kept, as after a modem lost its link.
	// It is decided per device and release.
	CutShare float64
	// FailInstall, Rollback and Silent are the shares of devices that,
	// for every offer they get, report installing and then failed; report
	// installing and rebooting and then check in on their old version; or
	// stop talking for good once they have downloaded. Their sum is at
	// most 1.
	FailInstall float64
	Rollback    float64
	Silent      float64
	// Seed picks which devices do what; see the package comment.
	Seed uint64

	// Duration stops the simulation after this long; zero runs it until
	// the fleet has settled (see Sim.Run) or the context ends.
	Duration time.Duration
	// KeepGoing ignores a settled fleet and runs until Duration or the
	// context ends: a staged rollout looks settled while it soaks between
	// phases.
	KeepGoing bool
	// Concurrency bounds the HTTP requests in flight across the fleet, to
	// stay within file descriptor limits. Zero means DefaultConcurrency.
	Concurrency int

	// Progress, when not nil, receives a one-line live summary every
	// ProgressEvery (zero means DefaultProgressEvery).
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (c Config) withDefaults() Config {
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.PollMax <= 0 {
		c.PollMax = DefaultPollMax
	}
	if c.Ramp <= 0 {
		c.Ramp = c.Poll
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = DefaultProgressEvery
	}
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	return c
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("server URL %q: want http://HOST[:PORT]", c.Server)
	}
	if err := core.ValidateProductName(c.Product); err != nil {
		return err
	}
	if c.Devices <= 0 {
		return fmt.Errorf("devices %d: want at least 1", c.Devices)
	}
	if err := core.ValidateDeviceID(deviceID(c.Prefix, c.Devices)); err != nil {
		return fmt.Errorf("prefix %q: %w", c.Prefix, err)
	}
	if _, err := version.Parse(c.Version); err != nil {
		return fmt.Errorf("starting version: %w", err)
	}
	if c.MQTTShare > 0 && c.MQTT == "" {
		return errors.New("an MQTT share needs a broker URL")
	}
	if c.MQTT != "" {
		if err := (mqtt.Config{Broker: c.MQTT}).Validate(); err != nil {
			return fmt.Errorf("MQTT broker: %w", err)
		}
	}
	if c.Link < 0 {
		return fmt.Errorf("link %d bytes per second: want 0 (unlimited) or more", c.Link)
	}
	if c.Duration < 0 {
		return errors.New("duration is negative")
	}
	if c.Hold < time.Second || c.Hold > maxHold || c.Hold%time.Second != 0 {
		return fmt.Errorf("hold %s: want whole seconds from 1s to %s", c.Hold, maxHold)
	}
	if c.KeepGoing && c.Duration == 0 {
		return errors.New("keep-going needs a duration, or the run never ends")
	}

	shares := []struct {
		name string
		v    float64
	}{
		{"plain share", c.PlainShare}, {"esp share", c.ESPShare}, {"MQTT share", c.MQTTShare},
		{"DDI share", c.DDIShare},
		{"cut share", c.CutShare},
		{"fail-install share", c.FailInstall},
		{"rollback share", c.Rollback}, {"silent share", c.Silent},
	}
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) { // also rejects NaN
			return fmt.Errorf("%s %v: want a fraction from 0 to 1", s.name, s.v)
		}
	}
	if sum := c.PlainShare + c.ESPShare; sum > 1 {
		return fmt.Errorf("plain and esp shares add up to %v: want at most 1", sum)
	}
	if sum := c.FailInstall + c.Rollback + c.Silent; sum > 1 {
		return fmt.Errorf("fail-install, rollback and silent shares add up to %v: want at most 1", sum)
	}
	return nil
}

// deviceID names device n (1-based).
func deviceID(prefix string, n int) string {
	return fmt.Sprintf("%s%05d", prefix, n)
}

// Behaviour is what a device does with every update it is offered.
type Behaviour int

// Behaviours.
const (
	// Succeed downloads, installs and comes back on the new version.
	Succeed Behaviour = iota
	// FailInstall reports installing, then failed, and keeps its version.
	FailInstall
	// Rollback reports installing and rebooting, then checks in on its old
	// version.
	Rollback
	// Silent downloads the update and is never heard from again.
	Silent
)

var behaviourNames = [...]string{"succeed", "fail-install", "rollback", "silent"}

// String returns the flag-like name of b.
func (b Behaviour) String() string {
	if b < 0 || int(b) >= len(behaviourNames) {
		return fmt.Sprintf("Behaviour(%d)", int(b))
	}
	return behaviourNames[b]
}

// Salts keep the draws for protocol, behaviour and cuts independent of one
// another: a plain device is no more likely to fail than a native one.
const (
	saltBehaviour = "behaviour"
	saltPlain     = "plain"
	saltMQTT      = "mqtt"
	saltDDI       = "ddi"
	saltCut       = "cut"
)

// BehaviourOf returns what device id does under cfg's shares and seed. It
// depends on nothing else, so the same device misbehaves on every run.
func BehaviourOf(cfg Config, id string) Behaviour {
	x := draw(cfg.Seed, saltBehaviour, id)
	switch {
	case x < cfg.FailInstall:
		return FailInstall
	case x < cfg.FailInstall+cfg.Rollback:
		return Rollback
	case x < cfg.FailInstall+cfg.Rollback+cfg.Silent:
		return Silent
	}
	return Succeed
}

// Plain reports whether device id speaks the plain protocol under cfg.
func Plain(cfg Config, id string) bool {
	return draw(cfg.Seed, saltPlain, id) < cfg.PlainShare
}

// MQTT reports whether device id keeps a broker session under cfg: a
// share of the devices that speak neither the plain protocol nor
// httpUpdate.
func MQTT(cfg Config, id string) bool {
	return !Plain(cfg, id) && !ESP(cfg, id) && draw(cfg.Seed, saltMQTT, id) < cfg.MQTTShare
}

// ESP reports whether device id speaks httpUpdate under cfg. It takes the
// next slice of the same draw as Plain, so no device is both.
func ESP(cfg Config, id string) bool {
	x := draw(cfg.Seed, saltPlain, id)
	return x >= cfg.PlainShare && x < cfg.PlainShare+cfg.ESPShare
}

// DDI reports whether device id speaks hawkBit DDI under cfg: a share of
// the devices that speak neither the plain protocol, httpUpdate nor MQTT.
func DDI(cfg Config, id string) bool {
	return !Plain(cfg, id) && !ESP(cfg, id) && !MQTT(cfg, id) && draw(cfg.Seed, saltDDI, id) < cfg.DDIShare
}

// Cut reports whether device id's downloads of release ver are cut midway
// under cfg. ESP devices are never cut: httpUpdate cannot resume, and the
// server cannot tell a connection lost after its last write from one
// that delivered everything (see docs/esp.md).
func Cut(cfg Config, id, ver string) bool {
	return !ESP(cfg, id) && draw(cfg.Seed, saltCut, id, ver) < cfg.CutShare
}

// draw maps the seed and parts to a number in [0, 1) that looks uniform.
// SHA-256 rather than a faster hash because ids differ in one digit and a
// weak hash would make neighbours behave alike; it runs once per device and
// release, not per request.
func draw(seed uint64, parts ...string) float64 {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0}) // so ("ab","c") and ("a","bc") differ
	}
	sum := h.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
