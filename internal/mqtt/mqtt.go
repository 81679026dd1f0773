package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// Protocol names this adapter in device histories and command deliveries.
const Protocol = "mqtt"

// Defaults for Config's zero values.
const (
	DefaultClientID = "ferry"
	defaultWorkers  = 4
	defaultRetryMin = time.Second
	defaultRetryMax = time.Minute
	// keepAlive is Ferry's own MQTT keep-alive; it sits on a server link,
	// not a metered one.
	keepAlive = 30 * time.Second
	// queueDepth is each worker's backlog of messages before the broker
	// connection is made to wait.
	queueDepth = 256
)

// Config says which broker Ferry connects to and how it names topics.
type Config struct {
	// Broker is the broker's URL: tcp:// or mqtt:// for plain MQTT,
	// mqtts://, ssl:// or tls:// for MQTT over TLS. User and password in
	// the URL are used when Username is empty.
	Broker   string
	Username string
	Password string
	// ClientID is Ferry's client id; the broker keeps Ferry's session
	// under it. Default DefaultClientID.
	//
	// TODO(mqtt): one node per client id. Two nodes with the same id take
	// the session from each other; with different ids both handle every
	// message. Several nodes need shared subscriptions ($share/...), so
	// each device message reaches one node.
	ClientID string
	// Prefix is the first segment of every topic; default wire.DefaultPrefix.
	Prefix string
	// ImageBase, when set, is the base URL devices download images from
	// (http://host:port); offers then carry absolute URLs. Empty sends
	// paths, relative to the server the device knows.
	ImageBase string
	// Trust names the key and p256 products whose devices the broker
	// authenticates (see docs/mqtt.md); "*" trusts all. Public products
	// are always served.
	Trust []string
	// TLS configures mqtts://; nil uses the system's roots.
	TLS *tls.Config
	// Workers handle device messages in parallel; one device's messages
	// always go to the same worker, in order. Default 4.
	Workers int
	// RetryMin and RetryMax bound the back-off between connection
	// attempts. Defaults one second and one minute.
	RetryMin, RetryMax time.Duration
	// RatePerDevice bounds the messages per second Ferry handles from one
	// device (bursts of five seconds' worth); past it they are dropped.
	// Zero disables the limit.
	RatePerDevice float64
}

// broker is the parsed Broker URL, credentials taken out.
type broker struct {
	url                string // without user info
	username, password string
}

// Validate checks the broker URL and the topic prefix. Its errors never
// quote the URL, which may carry a password.
func (c Config) Validate() error {
	if _, err := parseBroker(c.Broker); err != nil {
		return err
	}
	if c.Prefix != "" {
		return checkPrefix(c.Prefix)
	}
	return nil
}

func parseBroker(raw string) (broker, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return broker{}, errors.New("broker URL does not parse")
	}
	switch u.Scheme {
	case "tcp", "mqtt", "mqtts", "ssl", "tls":
	default:
		return broker{}, fmt.Errorf("broker URL scheme %q: want tcp, mqtt, mqtts, ssl or tls", u.Scheme)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return broker{}, fmt.Errorf("broker URL host %q: want HOST:PORT", u.Host)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return broker{}, errors.New("broker URL: want SCHEME://[USER:PASSWORD@]HOST:PORT and nothing after")
	}
	b := broker{url: u.Scheme + "://" + u.Host}
	if u.User != nil {
		b.username = u.User.Username()
		b.password, _ = u.User.Password()
	}
	return b, nil
}

// Adapter serves devices that keep a broker session. It is a client of
// the broker, like the devices.
type Adapter struct {
	svc    *core.Service
	cfg    Config
	broker broker
	log    *slog.Logger
	client paho.Client

	queues []chan job
	done   <-chan struct{} // Run's context's: closed when the workers stop
	wg     sync.WaitGroup
	limit  *limiter

	// sessions are the devices whose presence topic says "1".
	mu       sync.Mutex
	sessions map[string]*session // by product/device name
	byRow    map[int64]*session  // by device ID, once known

	// pending holds the device IDs a wake asked to push to, coalesced;
	// kick wakes the pusher.
	pending map[int64]struct{}
	kick    chan struct{}

	connected chan struct{} // closed at the first connection (tests wait on it)
	connOnce  sync.Once
}

// New checks cfg and returns an Adapter for svc. Run connects it.
func New(svc *core.Service, cfg Config, logger *slog.Logger) (*Adapter, error) {
	b, err := parseBroker(cfg.Broker)
	if err != nil {
		return nil, err
	}
	if cfg.Username != "" {
		b.username, b.password = cfg.Username, cfg.Password
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Prefix == "" {
		cfg.Prefix = wire.DefaultPrefix
	}
	if err := checkPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = defaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(defaultRetryMax, cfg.RetryMin)
	}
	a := &Adapter{
		svc: svc, cfg: cfg, broker: b, log: logger.With("component", "mqtt"),
		sessions: make(map[string]*session), byRow: make(map[int64]*session),
		pending: make(map[int64]struct{}), kick: make(chan struct{}, 1), connected: make(chan struct{}),
		limit: newLimiter(cfg.RatePerDevice),
	}
	return a, nil
}

// checkPrefix refuses prefixes that would break topic matching.
func checkPrefix(p string) error {
	for _, r := range p {
		if r == '+' || r == '#' || r == 0 {
			return fmt.Errorf("topic prefix %q: no '+', '#' or NUL allowed", p)
		}
	}
	if p == "" || p[0] == '/' || p[len(p)-1] == '/' || p[0] == '$' {
		return fmt.Errorf("topic prefix %q: want segments such as ferry or site/ferry", p)
	}
	return nil
}

// trusted reports whether devices of p may be served over MQTT.
func (a *Adapter) trusted(p core.Product) bool {
	return p.Access == core.AccessPublic || slices.Contains(a.cfg.Trust, "*") || slices.Contains(a.cfg.Trust, p.Name)
}

// Connected is closed once the adapter has connected to the broker.
func (a *Adapter) Connected() <-chan struct{} { return a.connected }

// Run connects to the broker, retrying with back-off while it is down, and
// serves devices until ctx ends. The connection is kept up by the client
// library, which reconnects with its own back-off; every (re)connection
// resubscribes. Run returns nil when ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	a.client = paho.NewClient(a.options())
	a.done = ctx.Done()
	for range a.cfg.Workers {
		q := make(chan job, queueDepth)
		a.queues = append(a.queues, q)
		a.wg.Go(func() { a.work(ctx, q) })
	}
	a.wg.Go(func() { a.pushLoop(ctx) })
	a.svc.Hub().OnWake(a.onWake)

	a.connect(ctx)
	<-ctx.Done()
	// Stop taking messages first, so none is acknowledged unhandled: what
	// the broker has not seen acknowledged it delivers again next time.
	a.client.Disconnect(250)
	a.wg.Wait()
	a.dropSessions()
	a.log.Info("mqtt stopped")
	return nil
}

func (a *Adapter) options() *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker(a.broker.url).SetClientID(a.cfg.ClientID).
		SetUsername(a.broker.username).SetPassword(a.broker.password).
		// A persistent session: while Ferry restarts, the broker keeps its
		// subscription and queues devices' reports and acknowledgements.
		SetCleanSession(false).
		SetKeepAlive(keepAlive).SetAutoReconnect(true).SetMaxReconnectInterval(a.cfg.RetryMax).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second).
		// Messages are acknowledged after they are handled, so a message
		// Ferry took but did not store is delivered again.
		SetOrderMatters(true).SetAutoAckDisabled(true).
		SetDefaultPublishHandler(a.receive).
		SetOnConnectHandler(a.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			a.log.Warn("mqtt connection lost; reconnecting", "error", err)
		})
	if a.cfg.TLS != nil {
		o.SetTLSConfig(a.cfg.TLS)
	}
	return o
}

// connect makes the first connection, retrying with capped exponential
// back-off and jitter until it succeeds or ctx ends. The HTTP side serves
// meanwhile; each failed attempt is logged at Warn.
func (a *Adapter) connect(ctx context.Context) {
	wait := a.cfg.RetryMin
	for ctx.Err() == nil {
		tok := a.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		if tok.Error() == nil {
			return
		}
		a.log.Warn("mqtt broker unreachable; retrying", "broker", a.broker.url, "error", tok.Error(), "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, a.cfg.RetryMax)
		wait += rand.N(wait/5 + 1)
	}
}

// onConnect subscribes to the devices' topics on every (re)connection.
// The broker kept the persistent session's subscription, but it may have
// lost it (a broker without persistence restarted).
func (a *Adapter) onConnect(c paho.Client) {
	filter := wire.Filter(a.cfg.Prefix, wire.In)
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		a.log.Error("mqtt subscribe failed", "filter", filter, "error", tok.Error())
		return
	}
	a.log.Info("mqtt connected", "broker", a.broker.url, "filter", filter)
	a.connOnce.Do(func() { close(a.connected) })
}

// publish sends payload to one of a device's topics. It does not wait for
// the broker's acknowledgement: a worker that waited could hold up the
// connection's reader, which hands it messages and acknowledgements
// alike. The client library resends unacknowledged QoS 1 messages after
// a reconnection.
func (a *Adapter) publish(product, device, kind string, qos byte, payload []byte) {
	topic := wire.Topic(a.cfg.Prefix, product, device, wire.Out, kind)
	tok := a.client.Publish(topic, qos, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			a.log.Warn("mqtt publish failed", "topic", topic, "error", err)
			return
		}
	default:
	}
	a.log.Debug("mqtt sent", "topic", topic, "bytes", len(payload))
}
