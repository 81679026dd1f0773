package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// answerWait bounds the wait for Ferry's answer to a check-in over MQTT.
// The broker may be up while Ferry is not; the cycle then fails and is
// retried with back-off, as a failed HTTP check-in is.
const answerWait = 30 * time.Second

// ErrNoAnswer means a check-in over MQTT got no answer from Ferry.
var ErrNoAnswer = errors.New("no answer from Ferry over MQTT")

// MQTTConfig says how the agent keeps a session with Ferry's broker.
// Images are still downloaded over HTTP from Config.Server.
type MQTTConfig struct {
	// Broker is tcp://HOST:PORT or mqtts://HOST:PORT; user and password
	// in the URL are used when Username is empty.
	Broker string
	// Username defaults to the device id: the broker's ACL keys each
	// device's topics on it.
	Username string
	Password string
	// Prefix is the topics' first segment; default wire.DefaultPrefix.
	Prefix string
	// KeepAlive is the MQTT keep-alive; default 4 minutes, below common
	// carrier NAT idle timeouts.
	KeepAlive time.Duration
	TLS       *tls.Config
}

// mqttLink checks in and reports over a broker session.
type mqttLink struct {
	c                       paho.Client
	prefix, product, device string

	// One check-in at a time waits for its answer on answers; an offer
	// that arrives while none waits is Ferry pushing, and goes to pushed.
	call    sync.Mutex
	mu      sync.Mutex
	waiting bool
	answers chan client.CheckInResponse
	pushed  chan client.CheckInResponse
	cmds    chan wire.CommandMsg
	// connected receives a value on every (re)connection: the agent
	// checks in then, since it may have missed offers while away.
	connected chan struct{}
}

func (l *mqttLink) topic(dir, kind string) string {
	return wire.Topic(l.prefix, l.product, l.device, dir, kind)
}

// CheckIn publishes a check-in and waits for Ferry's answer: an offer, or
// a poll hint.
func (l *mqttLink) CheckIn(ctx context.Context, req client.CheckInRequest) (client.CheckInResponse, error) {
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

	if err := l.publish(ctx, wire.CheckIn, b, false); err != nil {
		return client.CheckInResponse{}, fmt.Errorf("check in: %w", err)
	}
	t := time.NewTimer(answerWait)
	defer t.Stop()
	select {
	case resp := <-l.answers:
		return resp, nil
	case <-ctx.Done():
		return client.CheckInResponse{}, ctx.Err()
	case <-t.C:
		return client.CheckInResponse{}, fmt.Errorf("%w within %s", ErrNoAnswer, answerWait)
	}
}

// Report publishes a status report and waits until the broker has it.
func (l *mqttLink) Report(ctx context.Context, id int64, state string, progress int64, detail string) error {
	b, err := json.Marshal(wire.StatusMsg{Update: id, State: state, Progress: progress, Detail: detail})
	if err != nil {
		return err
	}
	return l.publish(ctx, wire.Status, b, false)
}

// Ack publishes an answer to a command and waits until the broker has it.
func (l *mqttLink) Ack(ctx context.Context, id int64, ok bool, result string) error {
	b, err := json.Marshal(wire.AckMsg{ID: id, OK: ok, Result: result})
	if err != nil {
		return err
	}
	return l.publish(ctx, wire.Ack, b, false)
}

// publish sends a QoS 1 message on one of the device's in topics and
// waits for the broker's acknowledgement.
func (l *mqttLink) publish(ctx context.Context, kind string, payload []byte, retained bool) error {
	tok := l.c.Publish(l.topic(wire.In, kind), 1, retained, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receive routes Ferry's messages to the device.
func (l *mqttLink) receive(_ paho.Client, m paho.Message) {
	addr, err := wire.Parse(l.prefix, m.Topic())
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
// (an offer) for the run loop; a newer push replaces an older one.
func (l *mqttLink) answer(resp client.CheckInResponse) {
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

// dialMQTT connects to the broker with a last will that marks the device
// offline, subscribes to the device's out topics and announces it online
// on every (re)connection.
func (a *Agent) dialMQTT(ctx context.Context, m MQTTConfig) (*mqttLink, error) {
	u, err := url.Parse(m.Broker)
	if err != nil || u.Host == "" {
		return nil, errors.New("agent: MQTT broker URL: want tcp://HOST:PORT or mqtts://HOST:PORT")
	}
	user, password := m.Username, m.Password
	if user == "" && u.User != nil {
		user = u.User.Username()
		password, _ = u.User.Password()
	}
	if user == "" {
		user = a.device
	}
	prefix := m.Prefix
	if prefix == "" {
		prefix = wire.DefaultPrefix
	}
	keep := m.KeepAlive
	if keep <= 0 {
		keep = 4 * time.Minute
	}

	l := &mqttLink{
		prefix: prefix, product: a.product, device: a.device,
		answers: make(chan client.CheckInResponse, 1), pushed: make(chan client.CheckInResponse, 1),
		cmds: make(chan wire.CommandMsg, 16), connected: make(chan struct{}, 1),
	}
	online := l.topic(wire.In, wire.Online)
	o := paho.NewClientOptions().AddBroker(u.Scheme+"://"+u.Host).
		SetClientID(a.product+"/"+a.device).SetUsername(user).SetPassword(password).
		// A clean session: what Ferry sent while the device was away is not
		// replayed stale; the device checks in on connecting instead.
		SetCleanSession(true).SetKeepAlive(keep).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(backoffMin).
		SetMaxReconnectInterval(backoffMax).
		SetBinaryWill(online, []byte(wire.OnlineNo), 1, true).
		SetDefaultPublishHandler(l.receive).
		SetOnConnectHandler(func(c paho.Client) {
			if tok := c.Subscribe(l.topic(wire.Out, "#"), 1, nil); tok.Wait() && tok.Error() != nil {
				a.log.Warn("mqtt subscribe failed", keyError, tok.Error())
				return
			}
			c.Publish(online, 1, true, wire.OnlineYes)
			a.log.Info("mqtt connected", "broker", u.Host)
			select {
			case l.connected <- struct{}{}:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			a.log.Warn("mqtt connection lost; reconnecting", keyError, err)
		})
	if m.TLS != nil {
		o.SetTLSConfig(m.TLS)
	}
	l.c = paho.NewClient(o)
	// With ConnectRetry the token completes only once connected; the run
	// loop waits for l.connected instead, so a broker that is down does
	// not stop the agent from starting.
	l.c.Connect()
	return l, nil
}

// close marks the device offline (the will covers a crash) and leaves.
func (l *mqttLink) close() {
	if l.c.IsConnectionOpen() {
		tok := l.c.Publish(l.topic(wire.In, wire.Online), 1, true, wire.OnlineNo)
		tok.WaitTimeout(5 * time.Second)
	}
	l.c.Disconnect(250)
}

// RunMQTT runs the agent over a broker session until ctx ends, then
// returns nil. It checks in when connected and when the poll hint says,
// applies the offers Ferry answers or pushes (downloading over HTTP),
// reports status and acknowledges commands over MQTT.
func (a *Agent) RunMQTT(ctx context.Context, m MQTTConfig) error {
	l, err := a.dialMQTT(ctx, m)
	if err != nil {
		return err
	}
	defer l.close()
	a.via = l

	// Commands are answered as they come, even while an update downloads.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { a.mqttCommands(ctx, l) })

	var pushed *client.CheckInResponse
	var backoff time.Duration
	var wait <-chan time.Time // nil until the first connection
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.connected:
		case r := <-l.pushed:
			pushed = &r
		case <-a.cmds.checkNow:
		case <-wait:
		}

		poll, err := a.cycleWith(ctx, pushed)
		pushed = nil
		if ctx.Err() != nil {
			return nil
		}
		next := a.nextWait(poll)
		if err != nil {
			backoff = nextBackoff(backoff, a.backoffMin)
			next = backoff
			a.log.Warn("update cycle failed; will retry", keyError, err, "retry_in", next)
		} else {
			backoff = 0
		}
		wait = time.After(next)
	}
}

// mqttCommands runs the commands Ferry sends and acknowledges each over
// MQTT, until ctx ends. A lost acknowledgement is only logged: Ferry sends
// the command again at the next check-in, and it is answered again.
func (a *Agent) mqttCommands(ctx context.Context, l *mqttLink) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-l.cmds:
			ans := a.Execute(ctx, Command{ID: c.ID, Name: c.Name, Payload: c.Payload})
			if err := l.Ack(ctx, c.ID, ans.OK, ans.Result); err != nil && ctx.Err() == nil {
				a.log.Warn("command acknowledgement lost", "command_id", c.ID, keyError, err)
			}
		}
	}
}
