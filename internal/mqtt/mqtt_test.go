package mqtt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/mqtt/mqtttest"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
	"github.com/ferry-ota/ferry/manifest"
)

// wait bounds each exchange; it only ends a hung test, nothing is timed.
const wait = 15 * time.Second

const product = mqtttest.Product

// logs records what the adapter logs and lets a test wait for a message.
type logs struct {
	mu      sync.Mutex
	records []string // "LEVEL msg key=value ..."
	changed chan struct{}
}

func newLogs() *logs { return &logs{changed: make(chan struct{}, 1)} }

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs(as []slog.Attr) slog.Handler    { return &attrLogs{l: l, attrs: as} }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	return (&attrLogs{l: l}).Handle(context.Background(), r)
}

type attrLogs struct {
	l     *logs
	attrs []slog.Attr
}

func (a *attrLogs) Enabled(context.Context, slog.Level) bool { return true }
func (a *attrLogs) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrLogs{l: a.l, attrs: append(append([]slog.Attr(nil), a.attrs...), as...)}
}
func (a *attrLogs) WithGroup(string) slog.Handler { return a }
func (a *attrLogs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, at := range a.attrs {
		fmt.Fprintf(&b, " %s=%v", at.Key, at.Value)
	}
	r.Attrs(func(at slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", at.Key, at.Value)
		return true
	})
	a.l.mu.Lock()
	a.l.records = append(a.l.records, b.String())
	a.l.mu.Unlock()
	select {
	case a.l.changed <- struct{}{}:
	default:
	}
	return nil
}

// count returns how many records contain every one of parts.
func (l *logs) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(r, p)
		}
		if all {
			n++
		}
	}
	return n
}

// waitFor waits until n records contain every one of parts.
func (l *logs) waitFor(t testing.TB, n int, parts ...string) {
	t.Helper()
	deadline := time.After(wait)
	for l.count(parts...) < n {
		select {
		case <-l.changed:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no %d log records with %q; have:\n%s", n, parts, strings.Join(l.records, "\n"))
		}
	}
}

// fixture is a service with product "sensor", releases 1.0.0 (stable)
// and 1.1.0, and an adapter connected to a broker with the documented ACL.
type fixture struct {
	svc    *core.Service
	broker *mqtttest.Broker
	logs   *logs
	a      *mqtt.Adapter
}

type fixtureOpts struct {
	access  core.Access
	trust   []string
	prepare bool    // the broker is prepared but not started
	open    bool    // the broker lets anyone publish anywhere
	rate    float64 // messages per second per device; 0 unlimited
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	ctx := t.Context()
	l := newLogs()
	log := slog.New(l)
	st, err := sqlite.Open(ctx, t.TempDir()+"/ferry.db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, core.Config{RolloutTick: time.Hour}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { svc.Close() })
	if o.access == "" {
		o.access = core.AccessPublic
	}
	if _, _, err := svc.CreateProduct(ctx, product, o.access); err != nil {
		t.Fatal(err)
	}
	publish(t, svc, "1.0.0", "stable")
	publish(t, svc, "1.1.0", "")

	users := map[string]string{"d1": mqtttest.Password("d1"), "d2": mqtttest.Password("d2")}
	var b *mqtttest.Broker
	if o.prepare {
		b = mqtttest.Prepare(t, mqtttest.Options{Users: users, Open: o.open})
	} else {
		b = mqtttest.Run(t, mqtttest.Options{Users: users, Open: o.open})
	}
	a, err := mqtt.New(svc, mqtt.Config{
		Broker: b.UserURL(mqtttest.FerryUser), Trust: o.trust, RatePerDevice: o.rate,
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, Workers: 2,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(actx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	f := &fixture{svc: svc, broker: b, logs: l, a: a}
	if !o.prepare {
		f.connected(t)
	}
	return f
}

// connected waits until the adapter has subscribed.
func (f *fixture) connected(t *testing.T) {
	t.Helper()
	select {
	case <-f.a.Connected():
	case <-time.After(wait):
		t.Fatalf("adapter did not connect; broker log:\n%s", f.broker.Log())
	}
}

func publish(t testing.TB, svc *core.Service, version, channel string) core.Release {
	t.Helper()
	img := bytes.Repeat([]byte(version), 1000)
	r, err := svc.PublishRelease(t.Context(), core.Publish{
		Product: product, Version: version, Channel: channel, Image: bytes.NewReader(img),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// device is a board on the broker, logged in as its id.
type device struct {
	t    *testing.T
	id   string
	c    paho.Client
	recv chan paho.Message
}

func (f *fixture) device(t *testing.T, id string) *device {
	t.Helper()
	d := &device{t: t, id: id, c: f.broker.Connect(t, id), recv: make(chan paho.Message, 64)}
	tok := d.c.Subscribe(wire.Topic("ferry", product, id, wire.Out, "#"), 1, func(_ paho.Client, m paho.Message) {
		d.recv <- m
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return d
}

// send publishes payload on the device's in topic of kind.
func (d *device) send(kind, payload string) {
	d.t.Helper()
	d.sendRetained(kind, payload, false)
}

func (d *device) sendRetained(kind, payload string, retained bool) {
	d.t.Helper()
	tok := d.c.Publish(wire.Topic("ferry", product, d.id, wire.In, kind), 1, retained, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		d.t.Fatalf("publish %s: %v", kind, tok.Error())
	}
}

// next returns the next message Ferry sent the device, as kind and payload.
func (d *device) next() (string, string) {
	d.t.Helper()
	select {
	case m := <-d.recv:
		addr, err := wire.Parse("ferry", m.Topic())
		if err != nil {
			d.t.Fatalf("message on %q: %v", m.Topic(), err)
		}
		return addr.Kind, string(m.Payload())
	case <-time.After(wait):
		d.t.Fatal("Ferry sent the device nothing")
		return "", ""
	}
}

// checkIn checks in running version and returns Ferry's answer. Since
// one device's messages are handled in order, the answer also means that
// everything the device sent before has been handled.
func (d *device) checkIn(version string) (string, string) {
	d.t.Helper()
	d.send(wire.CheckIn, `{"v":"`+version+`"}`)
	return d.next()
}

func (d *device) offer() wire.OfferMsg {
	d.t.Helper()
	kind, payload := d.next()
	if kind != wire.Offer {
		d.t.Fatalf("Ferry sent %s %q, want an offer", kind, payload)
	}
	var o wire.OfferMsg
	if err := json.Unmarshal([]byte(payload), &o); err != nil {
		d.t.Fatalf("offer %q: %v", payload, err)
	}
	return o
}

func (f *fixture) detail(t *testing.T, id string) core.DeviceDetail {
	t.Helper()
	d, err := f.svc.Device(t.Context(), product, id)
	if err != nil {
		t.Fatalf("Device(%s): %v", id, err)
	}
	return d
}

func TestCheckInOfferStatusSucceeded(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	d1 := f.device(t, "d1")

	if kind, payload := d1.checkIn("1.0.0"); kind != wire.Poll || payload != "3600" && len(payload) == 0 {
		t.Fatalf("check-in on the stable release: Ferry sent %s %q, want a poll hint", kind, payload)
	}
	if _, err := f.svc.SetChannel(t.Context(), product, "stable", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	d1.send(wire.CheckIn, `{"v":"1.0.0","a":{"rssi":"-71"}}`)
	o := d1.offer()
	rel, err := f.svc.Release(t.Context(), product, "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	want := wire.OfferMsg{
		Update: o.Update, Version: "1.1.0", Size: rel.Size, SHA256: rel.SHA256,
		CRC32: fmt.Sprintf("%08x", rel.CRC32), URL: "/device/v1/sensor/img/" + rel.SHA256 + "?id=d1", Poll: o.Poll,
	}
	if o.Update == 0 || o.Poll <= 0 || fmt.Sprint(o) != fmt.Sprint(want) {
		t.Errorf("offer = %+v, want %+v with an update id and a poll hint", o, want)
	}

	// A status report the broker delivers twice (QoS 1 redelivery) is
	// recorded once.
	report := fmt.Sprintf(`{"u":%d,"s":"downloading","p":512}`, o.Update)
	d1.send(wire.Status, report)
	d1.send(wire.Status, report)
	d1.send(wire.Status, fmt.Sprintf(`{"u":%d,"s":"installing","p":%d}`, o.Update, rel.Size))
	if kind, _ := d1.checkIn("1.1.0"); kind != wire.Poll {
		t.Fatalf("check-in on the new version: Ferry sent %s, want a poll hint", kind)
	}

	got := f.detail(t, "d1")
	if got.Version != "1.1.0" || got.Attributes["rssi"] != "-71" {
		t.Errorf("device runs %q with attributes %v, want 1.1.0 with rssi -71", got.Version, got.Attributes)
	}
	if len(got.Updates) != 1 || got.Updates[0].State != core.StateSucceeded {
		t.Fatalf("updates = %+v, want one, succeeded", got.Updates)
	}
	var reports []string
	for _, e := range got.Events {
		if e.Kind == core.EventReport {
			reports = append(reports, fmt.Sprintf("%s/%d/%s", e.State, e.Progress, e.Protocol))
		}
	}
	wantReports := []string{"downloading/512/mqtt", fmt.Sprintf("installing/%d/mqtt", rel.Size)}
	if fmt.Sprint(reports) != fmt.Sprint(wantReports) {
		t.Errorf("reports recorded = %v, want %v (the repeated one once)", reports, wantReports)
	}
}

// TestMalformedDropped sends hostile and broken payloads on every device
// topic: each is dropped with a Warn log and changes nothing stored.
func TestMalformedDropped(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	d1 := f.device(t, "d1")
	if kind, _ := d1.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("first check-in: Ferry sent %s, want a poll hint", kind)
	}
	before := f.detail(t, "d1")

	cases := []struct{ name, kind, payload string }{
		{"check-in not JSON", wire.CheckIn, "v=1.0.0"},
		{"check-in truncated", wire.CheckIn, `{"v":"1.1.0"`},
		{"check-in two objects", wire.CheckIn, `{"v":"1.1.0"}{"v":"1.1.0"}`},
		{"check-in version a path", wire.CheckIn, `{"v":"../../etc/passwd"}`},
		{"check-in version a number", wire.CheckIn, `{"v":110}`},
		{"check-in bad sha", wire.CheckIn, `{"v":"1.1.0","sha":"xyz"}`},
		{"check-in negative counter", wire.CheckIn, `{"v":"1.1.0","ctr":-1}`},
		{"check-in attribute too long", wire.CheckIn, `{"v":"1.1.0","a":{"k":"` + strings.Repeat("x", 300) + `"}}`},
		{"check-in array", wire.CheckIn, `["1.1.0"]`},
		{"status unknown state", wire.Status, `{"u":0,"s":"exploded"}`},
		{"status negative update", wire.Status, `{"u":-5,"s":"failed"}`},
		{"status negative progress", wire.Status, `{"u":0,"s":"downloading","p":-1}`},
		{"status detail too long", wire.Status, `{"u":0,"s":"failed","d":"` + strings.Repeat("x", 2000) + `"}`},
		{"status nothing offered", wire.Status, `{"u":0,"s":"failed"}`},
		{"status empty", wire.Status, ``},
		{"ack no id", wire.Ack, `{"ok":true}`},
		{"ack unknown command", wire.Ack, `{"c":99999,"ok":true}`},
		{"ack ok a string", wire.Ack, `{"c":1,"ok":"yes"}`},
		{"online garbage", wire.Online, "maybe"},
		{"unknown kind", "evil", `{}`},
		{"binary", wire.CheckIn, "\x00\xff\xfe"},
	}
	for _, tc := range cases {
		d1.send(tc.kind, tc.payload)
	}
	if kind, _ := d1.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("check-in after the hostile ones: Ferry sent %s, want a poll hint", kind)
	}
	f.logs.waitFor(t, len(cases), "WARN mqtt message dropped", "device_id=d1")

	after := f.detail(t, "d1")
	if after.Version != before.Version || len(after.Events) != len(before.Events) || len(after.Updates) != 0 ||
		len(after.Attributes) != len(before.Attributes) || after.Counter != before.Counter {
		t.Errorf("device after hostile payloads = %+v, want unchanged %+v", after, before)
	}
}

// TestUntrustedProduct: a product that needs device credentials is not
// served unless the operator trusts the broker with it.
func TestUntrustedProduct(t *testing.T) {
	f := newFixture(t, fixtureOpts{access: core.AccessKey})
	d1 := f.device(t, "d1")
	d1.send(wire.CheckIn, `{"v":"1.0.0"}`)
	f.logs.waitFor(t, 1, "WARN mqtt message dropped", "not trusted over MQTT")
	if _, err := f.svc.Device(t.Context(), product, "d1"); err == nil {
		t.Error("an untrusted product's device was recorded from MQTT")
	}

	trusted := newFixture(t, fixtureOpts{access: core.AccessKey, trust: []string{product}})
	d2 := trusted.device(t, "d2")
	if kind, _ := d2.checkIn("1.0.0"); kind != wire.Poll {
		t.Errorf("trusted key product: Ferry sent %s, want a poll hint", kind)
	}
}

// TestBrokerDownAtStart: Ferry keeps trying while the broker is down,
// connects once it is up, and resubscribes after the broker restarts.
func TestBrokerDownAtStart(t *testing.T) {
	f := newFixture(t, fixtureOpts{prepare: true})
	f.logs.waitFor(t, 2, "WARN mqtt broker unreachable; retrying")
	f.broker.Start()
	f.connected(t)
	d1 := f.device(t, "d1")
	if kind, _ := d1.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("check-in: Ferry sent %s, want a poll hint", kind)
	}

	// The test broker keeps nothing across a restart, so only Ferry's
	// resubscription brings the device's messages back to it.
	f.broker.Stop()
	f.logs.waitFor(t, 1, "WARN mqtt connection lost")
	f.broker.Start()
	f.logs.waitFor(t, 2, "INFO mqtt connected")
	d1 = f.device(t, "d1")
	if kind, _ := d1.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("check-in after the broker restarted: Ferry sent %s, want a poll hint", kind)
	}
}

// held reports whether the core's hub counts the device as reachable.
func (f *fixture) held(t *testing.T, id string) bool {
	t.Helper()
	p, err := f.svc.Product(t.Context(), product)
	if err != nil {
		t.Fatal(err)
	}
	row, err := f.svc.DeviceRowID(t.Context(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.Hub().Held(row)
}

// TestPushOnWake: a device that announced presence is pushed an offer
// when its channel moves and a command when one is queued, without
// checking in; its acknowledgement, sent twice, is recorded once.
func TestPushOnWake(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := t.Context()
	d1 := f.device(t, "d1")
	d2 := f.device(t, "d2")
	d1.sendRetained(wire.Online, wire.OnlineYes, true)
	if kind, _ := d1.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("check-in: Ferry sent %s, want a poll hint", kind)
	}
	// d2 checks in but announces no presence: Ferry cannot know it is
	// reachable, so it is not pushed to.
	if kind, _ := d2.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("d2 check-in: Ferry sent %s, want a poll hint", kind)
	}
	if !f.held(t, "d1") || f.held(t, "d2") {
		t.Fatalf("held: d1 %v, d2 %v; want d1 only", f.held(t, "d1"), f.held(t, "d2"))
	}

	if _, err := f.svc.SetChannel(ctx, product, "stable", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if o := d1.offer(); o.Version != "1.1.0" {
		t.Errorf("pushed offer of %s, want 1.1.0", o.Version)
	}

	p, err := f.svc.Product(ctx, product)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.QueueCommand(ctx, p, "d1", core.CommandRequest{Name: "set-poll-interval", Payload: "90s"})
	if err != nil {
		t.Fatal(err)
	}
	kind, payload := d1.next()
	want := fmt.Sprintf(`{"c":%d,"n":"set-poll-interval","p":"90s"}`, c.ID)
	if kind != wire.Cmd || payload != want {
		t.Fatalf("pushed %s %q, want cmd %q", kind, payload, want)
	}

	ack := fmt.Sprintf(`{"c":%d,"ok":true,"r":"poll 90s"}`, c.ID)
	d1.send(wire.Ack, ack)
	d1.send(wire.Ack, ack) // a QoS 1 redelivery
	d1.send(wire.CheckIn, `{"v":"1.0.0"}`)
	if o := d1.offer(); o.Version != "1.1.0" {
		t.Errorf("check-in answered an offer of %s, want 1.1.0", o.Version)
	}
	got, err := f.svc.Command(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != core.CommandAcknowledged || got.Via != mqtt.Protocol || got.ResultPayload != "poll 90s" {
		t.Errorf("command = %s via %s with %q, want acknowledged via mqtt with %q",
			got.State, got.Via, got.ResultPayload, "poll 90s")
	}
	acks := 0
	for _, e := range got.History {
		if e.Kind == core.CommandEventAcked {
			acks++
		}
	}
	if acks != 1 {
		t.Errorf("history has %d acknowledgements, want 1: %+v", acks, got.History)
	}

	// The last will (here published by hand) ends the presence.
	d1.sendRetained(wire.Online, wire.OnlineNo, true)
	d1.checkIn("1.0.0")
	if f.held(t, "d1") {
		t.Error("d1 is still held after its online topic said 0")
	}
	if n := f.a.Present(); n != 0 {
		t.Errorf("Present() = %d after d1 went offline, want 0", n)
	}
}

// TestHostileTopics: on a broker without ACLs (a misconfiguration Ferry
// cannot see), messages on topics that name no valid device are dropped
// and record nothing.
func TestHostileTopics(t *testing.T) {
	f := newFixture(t, fixtureOpts{open: true})
	intruder := f.broker.Connect(t, "intruder")
	for _, topic := range []string{
		"ferry/nope/d1/in/checkin",         // unknown product
		"ferry/sensor/-d1/in/checkin",      // not a device id
		"ferry/sensor/a..b/in/checkin",     // not a device id
		"ferry/sensor/d1/in/checkin/extra", // too deep
		"ferry/sensor/d1/in/",              // no kind
		"ferry/" + strings.Repeat("p", 300) + "/d1/in/checkin",
	} {
		tok := intruder.Publish(topic, 1, false, `{"v":"1.0.0"}`)
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	d9 := f.device(t, "d9")
	if kind, _ := d9.checkIn("1.0.0"); kind != wire.Poll {
		t.Fatalf("check-in: Ferry sent %s, want a poll hint", kind)
	}
	f.logs.waitFor(t, 4, "WARN mqtt message dropped")
	devs, err := f.svc.Devices(t.Context(), core.DeviceQuery{Product: product})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Name != "d9" {
		t.Errorf("devices after hostile topics = %+v, want only d9", devs)
	}
}

// TestRateLimit: past its rate, a device's messages are dropped before
// they reach the core. At one message per thousand seconds the bucket
// holds one, so exactly the first of three check-ins is answered.
func TestRateLimit(t *testing.T) {
	f := newFixture(t, fixtureOpts{rate: 0.001})
	d1 := f.device(t, "d1")
	for range 3 {
		d1.send(wire.CheckIn, `{"v":"1.0.0"}`)
	}
	f.logs.waitFor(t, 2, "mqtt message dropped", "over the device's rate limit")
	if kind, _ := d1.next(); kind != wire.Poll {
		t.Errorf("first check-in answered with %s, want a poll hint", kind)
	}
	f.logs.waitFor(t, 1, "mqtt message handled", "kind=checkin")
	if n := f.logs.count("mqtt message handled", "kind=checkin"); n != 1 {
		t.Errorf("%d check-ins handled, want 1", n)
	}
}

// TestSignedOffer: a signed release's offer carries its manifest and
// signature, which a device verifies without trusting Ferry or the broker.
func TestSignedOffer(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := t.Context()
	key, err := manifest.GenerateKey(manifest.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddKey(ctx, product, "release", pub); err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("signed"), 500)
	sum := sha256.Sum256(img)
	m := manifest.Encode(manifest.Manifest{Product: product, Version: "1.2.0", Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:]), Counter: 3, Created: 1})
	sig, err := manifest.Sign(key, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PublishRelease(ctx, core.Publish{Product: product, Version: "1.2.0", Channel: "stable",
		Manifest: m, Signature: sig, Image: bytes.NewReader(img)}); err != nil {
		t.Fatal(err)
	}

	d1 := f.device(t, "d1")
	d1.send(wire.CheckIn, `{"v":"1.0.0"}`)
	o := d1.offer()
	if !bytes.Equal(o.Manifest, m) || o.Counter != 3 || o.Version != "1.2.0" {
		t.Errorf("offer = %+v, want 1.2.0 with counter 3 and the signed manifest", o)
	}
	if err := manifest.Verify(pub, o.Manifest, o.Sig); err != nil {
		t.Errorf("the offer's signature does not verify: %v", err)
	}
}
