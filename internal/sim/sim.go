package sim

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/version"
)

// quietRounds is how many idle check-ins in a row, with no offer or
// outcome anywhere in the fleet, each device needs for a settled fleet.
const quietRounds = 3

// Why a run ended, as context causes and in the report.
var (
	errSettled  = errors.New("settled")
	errDuration = errors.New("duration reached")
)

// Sim is one simulated fleet: New builds it, Run runs it once.
type Sim struct {
	cfg     Config
	tr      *http.Transport
	hc      *http.Client
	sem     chan struct{} // one token per HTTP request in flight
	devices []*device
	c       counters

	latest atomic.Pointer[version.V] // the newest version offered to any device
}

// New checks cfg and returns a fleet ready to run.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	// One transport for the whole fleet, keeping as many idle connections
	// as requests may be in flight, so devices reuse connections instead of
	// exhausting ports. No proxy: the simulator talks only to Server.
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          cfg.Concurrency,
		MaxIdleConnsPerHost:   cfg.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	if cfg.LongPoll {
		// Every device holds a connection, answered only after up to Hold.
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = cfg.Devices+cfg.Concurrency, cfg.Devices+cfg.Concurrency
		tr.ResponseHeaderTimeout += cfg.Hold
	}
	s := &Sim{
		cfg: cfg,
		tr:  tr,
		hc:  &http.Client{Transport: tr},
		sem: make(chan struct{}, cfg.Concurrency),
	}

	s.devices = make([]*device, cfg.Devices)
	for i := range s.devices {
		id := deviceID(cfg.Prefix, i+1)
		d := &device{id: id, plain: Plain(cfg, id), esp: ESP(cfg, id), mqtt: MQTT(cfg, id), ddi: DDI(cfg, id),
			act: BehaviourOf(cfg, id), link: newLink(cfg.Link), token: cfg.Token}
		if d.esp {
			d.mac, d.md5 = espMAC(cfg.Prefix, i+1), espFactoryMD5(id)
		}
		if !d.plain && !d.esp {
			d.native = client.NewDevice(cfg.Server, cfg.Product, id, cfg.Token, s.hc)
		}
		d.setVersion(cfg.Version)
		s.devices[i] = d
	}
	return s, nil
}

// Run runs the fleet until ctx ends, Config.Duration passes, or the fleet
// has settled: some device was offered an update, and every device that
// still talks has since checked in idle three times in a row with no
// offer or outcome anywhere in the fleet meanwhile. Counting each
// device's own idle rounds, rather than a clock, keeps a slow server from
// settling the run early. Until some device is offered something, only
// ctx or Duration end the run. Run returns what the fleet did; call it
// once.
func (s *Sim) Run(ctx context.Context) Report {
	ctx, settle := context.WithCancelCause(ctx)
	defer settle(nil)
	if s.cfg.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, s.cfg.Duration, errDuration)
		defer stop()
	}

	// Spread the first check-ins evenly over the ramp, in id order.
	start := time.Now()
	var wg sync.WaitGroup
	n := int64(len(s.devices))
	for i, d := range s.devices {
		delay := time.Duration(int64(s.cfg.Ramp) * int64(i) / n)
		wg.Go(func() { s.runDevice(ctx, d, delay) })
	}

	s.watch(ctx, start, settle)
	wg.Wait()
	s.tr.CloseIdleConnections()
	return s.finalReport(time.Since(start), context.Cause(ctx))
}

// runDevice is one device's life: wait, wake up, do a cycle, until ctx
// ends or the device goes silent.
func (s *Sim) runDevice(ctx context.Context, d *device, wait time.Duration) {
	if d.mqtt {
		if !sleep(ctx, wait) {
			return
		}
		if !s.dial(ctx, d) {
			return
		}
		defer d.session.Close()
		wait = 0
	}
	for {
		if !s.sleep(ctx, d, wait) {
			return
		}
		s.enroll(ctx, d)
		var silent bool
		switch {
		case d.plain:
			wait, silent = s.plainCycle(ctx, d)
		case d.ddi:
			wait, silent = s.ddiCycle(ctx, d)
		case d.esp:
			wait, silent = s.espCycle(ctx, d)
		default:
			wait, silent = s.nativeCycle(ctx, d)
		}
		if silent {
			return
		}
	}
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// call runs one HTTP exchange, waiting for a slot among the Concurrency
// allowed in flight. f must not call call: a slot held while waiting for
// another could deadlock the fleet.
func (s *Sim) call(ctx context.Context, f func() error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	return f()
}

// fail counts an error; one caused by the end of the run is not an error.
func (s *Sim) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	s.c.countError(err)
}

// pollWait returns how long a native device waits after a check-in whose
// poll hint was hint: the hint capped to PollMax, or Poll without one.
func (s *Sim) pollWait(hint time.Duration) time.Duration {
	if hint > 0 {
		return min(hint, s.cfg.PollMax)
	}
	return s.cfg.Poll
}

// noteOffered remembers ver if it is the newest version offered so far.
func (s *Sim) noteOffered(ver string) {
	v, err := version.Parse(ver)
	if err != nil {
		return // the server only offers valid versions; ignore anything else
	}
	for {
		cur := s.latest.Load()
		if cur != nil && version.Compare(*cur, v) >= 0 {
			return
		}
		if s.latest.CompareAndSwap(cur, &v) {
			return
		}
	}
}

// latestText returns the newest version offered so far, or "".
func (s *Sim) latestText() string {
	if v := s.latest.Load(); v != nil {
		return v.Text
	}
	return ""
}

// enroll swaps the enrollment key a device was given for its own device
// token before its first cycle, trying once; plain and ESP devices enroll
// through the native protocol too, an ESP device under its MAC. A product that refuses (a public one, or a wrong
// key) leaves the key in place, and the cycles count how the server
// answers it.
func (s *Sim) enroll(ctx context.Context, d *device) {
	if s.cfg.Token == "" || d.enrolled {
		return
	}
	d.enrolled = true
	var tok string
	err := s.call(ctx, func() error {
		var err error
		tok, err = client.NewDevice(s.cfg.Server, s.cfg.Product, d.name(), s.cfg.Token, s.hc).Enroll(ctx)
		return err
	})
	if err != nil {
		return
	}
	d.token = tok
	if !d.plain && !d.esp {
		d.native = client.NewDevice(s.cfg.Server, s.cfg.Product, d.id, tok, s.hc)
	}
}
