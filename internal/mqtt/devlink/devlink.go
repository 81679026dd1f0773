// Package devlink is a device's end of Ferry's MQTT protocol (package
// wire): a broker session that checks in and waits for Ferry's answer,
// reports status, acknowledges commands, and hands over what Ferry pushes.
// The device agent and the simulator use it; images are downloaded over
// HTTP with package client, not here.
package devlink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// Defaults for Config's zero values.
const (
	// DefaultKeepAlive sits below common carrier NAT idle timeouts (about
	// five minutes), so the NAT keeps the session's mapping.
	DefaultKeepAlive = 4 * time.Minute
	// DefaultAnswerWait bounds the wait for Ferry's answer to a check-in.
	// The broker may be up while Ferry is not.
	DefaultAnswerWait = 30 * time.Second
	defaultRetryMin   = 5 * time.Second
	defaultRetryMax   = 10 * time.Minute
)

// ErrNoAnswer means a check-in got no answer from Ferry in time.
var ErrNoAnswer = errors.New("no answer from Ferry over MQTT")

// Config says which broker and device a Link speaks for.
type Config struct {
	// Broker is tcp://HOST:PORT or mqtts://HOST:PORT; user and password in
	// the URL are used when Username is empty.
	Broker string
	// Username defaults to Device: the broker's ACL keys each device's
	// topics on it.
	Username string
	Password string
	// Prefix is the topics' first segment; default wire.DefaultPrefix.
	Prefix          string
	Product, Device string
	// KeepAlive defaults to DefaultKeepAlive; AnswerWait to
	// DefaultAnswerWait.
	KeepAlive  time.Duration
	AnswerWait time.Duration
	// RetryMin and RetryMax bound the wait between connection attempts;
	// defaults 5 seconds and 10 minutes.
	RetryMin, RetryMax time.Duration
	TLS                *tls.Config
	Logger             *slog.Logger // nil discards logs
}

// Link is a device's broker session. Its methods are safe for concurrent
// use.
type Link struct {
	c      paho.Client
	cfg    Config
	online string // the presence topic
	log    *slog.Logger

	// One check-in at a time waits for its answer on answers; an offer
	// that arrives while none waits is Ferry pushing, and goes to pushed.
	call      sync.Mutex
	mu        sync.Mutex
	waiting   bool
	answers   chan client.CheckInResponse
	pushed    chan client.CheckInResponse
	cmds      chan wire.CommandMsg
	connected chan struct{}
}

// Dial starts connecting to the broker and returns at once: the session
// is set up in the background, retried while the broker is down, and
// restored after a lost connection. Each (re)connection subscribes to the
// device's out topics and publishes "1", retained, on its online topic;
// the last will publishes "0". Connected tells when it is up.
func Dial(cfg Config) (*Link, error) {
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Host == "" {
		return nil, errors.New("MQTT broker URL: want tcp://HOST:PORT or mqtts://HOST:PORT")
	}
	if cfg.Username == "" && u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	if cfg.Username == "" {
		cfg.Username = cfg.Device
	}
	if cfg.Prefix == "" {
		cfg.Prefix = wire.DefaultPrefix
	}
	cfg.KeepAlive = cmp(cfg.KeepAlive, DefaultKeepAlive)
	cfg.AnswerWait = cmp(cfg.AnswerWait, DefaultAnswerWait)
	cfg.RetryMin = cmp(cfg.RetryMin, defaultRetryMin)
	cfg.RetryMax = cmp(cfg.RetryMax, defaultRetryMax)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	l := &Link{
		cfg: cfg, log: log, online: wire.Topic(cfg.Prefix, cfg.Product, cfg.Device, wire.In, wire.Online),
		answers: make(chan client.CheckInResponse, 1), pushed: make(chan client.CheckInResponse, 1),
		cmds: make(chan wire.CommandMsg, 16), connected: make(chan struct{}, 1),
	}
	o := paho.NewClientOptions().AddBroker(u.Scheme+"://"+u.Host).
		SetClientID(cfg.Product+"/"+cfg.Device).SetUsername(cfg.Username).SetPassword(cfg.Password).
		// A clean session: what Ferry sent while the device was away is not
		// replayed stale; the device checks in on connecting instead.
		SetCleanSession(true).SetKeepAlive(cfg.KeepAlive).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(cfg.RetryMin).
		SetMaxReconnectInterval(cfg.RetryMax).
		SetBinaryWill(l.online, []byte(wire.OnlineNo), 1, true).
		SetDefaultPublishHandler(l.receive).
		SetOnConnectHandler(l.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("mqtt connection lost; reconnecting", "error", err)
		})
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	l.c = paho.NewClient(o)
	// With ConnectRetry the token completes only once connected; callers
	// wait on Connected instead, so a broker that is down does not stop
	// the device from starting.
	l.c.Connect()
	return l, nil
}

func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func (l *Link) onConnect(c paho.Client) {
	if tok := c.Subscribe(l.topic(wire.Out, "#"), 1, nil); tok.Wait() && tok.Error() != nil {
		l.log.Warn("mqtt subscribe failed", "error", tok.Error())
		return
	}
	c.Publish(l.online, 1, true, wire.OnlineYes)
	l.log.Info("mqtt connected")
	select {
	case l.connected <- struct{}{}:
	default:
	}
}

// Connected receives a value after each (re)connection: the device should
// check in then, since it may have missed pushes while away.
func (l *Link) Connected() <-chan struct{} { return l.connected }

// Pushed receives offers Ferry sent while no check-in waited: a rollout
// reached the device. Only the latest is kept.
func (l *Link) Pushed() <-chan client.CheckInResponse { return l.pushed }

// Commands receives the commands Ferry sends; answer each with Ack.
func (l *Link) Commands() <-chan wire.CommandMsg { return l.cmds }

// Close marks the device offline (the will covers a crash) and leaves.
func (l *Link) Close() {
	if l.c.IsConnectionOpen() {
		l.c.Publish(l.online, 1, true, wire.OnlineNo).WaitTimeout(5 * time.Second)
	}
	l.c.Disconnect(250)
}

func (l *Link) topic(dir, kind string) string {
	return wire.Topic(l.cfg.Prefix, l.cfg.Product, l.cfg.Device, dir, kind)
}

// CheckIn publishes a check-in and waits for Ferry's answer: an offer, or
// a poll hint. It returns ErrNoAnswer when none comes in time.
func (l *Link) CheckIn(ctx context.Context, req client.CheckInRequest) (client.CheckInResponse, error) {
	l.call.Lock()
	defer l.call.Unlock()
	b, err := json.Marshal(wire.CheckInMsg{Version: req.Version, SHA256: req.SHA256, Counter: req.Counter,
		Attrs: req.Attrs})
	if err != nil {
		return client.CheckInResponse{}, err
	}

	l.mu.Lock()
	l.waiting = true
	select {
	case <-l.answers: // a stale answer to an earlier, abandoned check-in
	default:
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting = false
		l.mu.Unlock()
	}()

	if err := l.publish(ctx, wire.CheckIn, b); err != nil {
		return client.CheckInResponse{}, fmt.Errorf("check in: %w", err)
	}
	t := time.NewTimer(l.cfg.AnswerWait)
	defer t.Stop()
	select {
	case resp := <-l.answers:
		return resp, nil
	case <-ctx.Done():
		return client.CheckInResponse{}, ctx.Err()
	case <-t.C:
		return client.CheckInResponse{}, fmt.Errorf("%w within %s", ErrNoAnswer, l.cfg.AnswerWait)
	}
}

// Report publishes a status report and waits until the broker has it.
func (l *Link) Report(ctx context.Context, id int64, state string, progress int64, detail string) error {
	b, err := json.Marshal(wire.StatusMsg{Update: id, State: state, Progress: progress, Detail: detail})
	if err != nil {
		return err
	}
	return l.publish(ctx, wire.Status, b)
}

// Ack publishes an answer to a command and waits until the broker has it.
func (l *Link) Ack(ctx context.Context, id int64, ok bool, result string) error {
	b, err := json.Marshal(wire.AckMsg{ID: id, OK: ok, Result: result})
	if err != nil {
		return err
	}
	return l.publish(ctx, wire.Ack, b)
}

// publish sends a QoS 1 message on one of the device's in topics and
// waits for the broker's acknowledgement.
func (l *Link) publish(ctx context.Context, kind string, payload []byte) error {
	tok := l.c.Publish(l.topic(wire.In, kind), 1, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receive routes Ferry's messages; malformed ones are ignored, as a device
// would ignore them.
func (l *Link) receive(_ paho.Client, m paho.Message) {
	addr, err := wire.Parse(l.cfg.Prefix, m.Topic())
	if err != nil || addr.Dir != wire.Out {
		return
	}
	switch addr.Kind {
	case wire.Offer:
		var o wire.OfferMsg
		if wire.Decode(m.Payload(), &o) != nil {
			return
		}
		l.answer(client.CheckInResponse{Poll: int(o.Poll), Offer: &client.Offer{
			ID: o.Update, Version: o.Version, Size: o.Size, SHA256: o.SHA256, CRC32: o.CRC32, URL: o.URL,
			Format: o.Format, Counter: o.Counter, Manifest: o.Manifest, Sig: o.Sig,
		}})
	case wire.Poll:
		n, err := strconv.Atoi(string(m.Payload()))
		if err != nil || n < 0 {
			return
		}
		l.answer(client.CheckInResponse{Poll: n})
	case wire.Cmd:
		var c wire.CommandMsg
		if wire.Decode(m.Payload(), &c) != nil {
			return
		}
		select {
		case l.cmds <- c:
		default: // more than the core keeps open; the next check-in resends them
		}
	}
}

// answer hands resp to a waiting check-in, or else keeps it as a push
// (an offer); a newer push replaces an older one.
func (l *Link) answer(resp client.CheckInResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting {
		select {
		case l.answers <- resp:
		default:
		}
		return
	}
	if resp.Offer == nil {
		return
	}
	select {
	case <-l.pushed:
	default:
	}
	l.pushed <- resp
}
