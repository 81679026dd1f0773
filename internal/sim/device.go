package sim

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/mqtt/devlink"
)

// failDetail is the reason a FailInstall device gives.
const failDetail = "simulated install failure"

// phase is where a device stands, for the live summary and for deciding
// that the fleet has settled.
type phase int32

const (
	phaseStarting    phase = iota // has not checked in yet
	phaseIdle                     // its last check-in had nothing to do
	phaseDownloading              // offered an update, fetching it
	phaseInstalling               // downloaded; installing or rebooting
	phaseFailed                   // its last update failed or rolled back
	phaseSilent                   // gone silent for good
)

// outcome is what a device's next check-in will prove to the server.
type outcome int

const (
	outcomeNone     outcome = iota
	outcomeSuccess          // it runs the new version
	outcomeRollback         // it is back on the old version after installing
)

// device is one simulated board. All but phase and version belong to the
// goroutine that runs it.
type device struct {
	id       string
	plain    bool
	esp      bool
	mac      string // station MAC, the server's name for an ESP device
	md5      string // MD5 of the image an ESP device runs
	act      Behaviour
	native   *client.Device // nil for plain devices
	mqtt     bool           // keeps a broker session (see Config.MQTT)
	ddi      bool           // speaks hawkBit DDI (see Config.DDIShare)
	session  *devlink.Link  // its broker session while it runs; nil for the others
	token    string         // the device token, or Config.Token until enrolled
	enrolled bool           // enrolling was tried
	link     *rate.Limiter  // nil for an unlimited link

	open     bool    // working on an offer whose outcome the server has not seen
	offerKey string  // which offer: its update id (native) or version (plain)
	pending  outcome // what the next check-in proves
	dl       *download

	phase   atomic.Int32
	version atomic.Pointer[string]
	// quietMark is the fleet's change count at this device's last idle
	// check-in, and quietCount how many idle check-ins in a row saw that
	// same count: the rounds this device has seen nothing happen.
	quietMark  atomic.Int64
	quietCount atomic.Int32
}

// download is a device's partial or complete copy of one image.
type download struct {
	key  string // the image's SHA-256 (native) or the release's version (plain)
	sink *sink
	etag string // validator of the bytes held, for If-Range (native)
	size int64  // the image's size; -1 until the server says (plain)
	cut  bool   // the link is still to be lost midway (plain)
}

func (d *device) running() string { return *d.version.Load() }

// name is what the server calls the device: its MAC for an ESP device,
// else its id.
func (d *device) name() string {
	if d.esp {
		return d.mac
	}
	return d.id
}

func (d *device) setVersion(v string) { d.version.Store(&v) }

func (d *device) setPhase(p phase) { d.phase.Store(int32(p)) }

func (d *device) getPhase() phase { return phase(d.phase.Load()) }

// idle notes a check-in with nothing to do. A device whose last update
// failed stays counted as failed until it is offered another.
func (s *Sim) idle(d *device) {
	if d.getPhase() != phaseFailed {
		d.setPhase(phaseIdle)
	}
	if c := s.c.changes(); c != d.quietMark.Load() {
		d.quietMark.Store(c)
		d.quietCount.Store(1)
	} else {
		d.quietCount.Add(1)
	}
}

// checkedIn counts a check-in the server answered and settles the outcome
// it proved.
func (s *Sim) checkedIn(d *device) {
	s.c.checkIns.Add(1)
	switch d.pending {
	case outcomeNone:
		return
	case outcomeSuccess:
		s.c.succeeded.Add(1)
		d.setPhase(phaseIdle)
	case outcomeRollback:
		s.c.rolledBack.Add(1)
		d.setPhase(phaseFailed)
	}
	d.pending, d.open = outcomeNone, false
}

// offered notes an offer of release ver, identified by key. Asking again
// about an update the device is still working on is not a new offer.
func (s *Sim) offered(d *device, key, ver string) {
	if !d.open || key != d.offerKey {
		d.open, d.offerKey = true, key
		s.c.offers.Add(1)
	}
	s.noteOffered(ver)
	d.setPhase(phaseDownloading)
}

// reportFunc sends one status report in the device's protocol, taking its
// own slot among the requests in flight.
type reportFunc func(ctx context.Context, state string, progress int64, detail string) error

// report sends a status report and reports whether the server took it. A
// lost report is counted and otherwise ignored, as a device would.
func (s *Sim) report(ctx context.Context, send reportFunc, state string, progress int64, detail string) bool {
	if err := send(ctx, state, progress, detail); err != nil {
		s.fail(ctx, err)
		return false
	}
	return true
}

// install plays the device's part once its download of target checked
// out: the reports, its behaviour, and the version its next check-in will
// state. It reports whether the device has gone silent.
func (s *Sim) install(ctx context.Context, d *device, target string, size int64, send reportFunc) bool {
	s.report(ctx, send, client.StateDownloaded, size, "")
	if d.act == Silent {
		s.c.silent.Add(1)
		d.setPhase(phaseSilent)
		return true
	}

	d.setPhase(phaseInstalling)
	s.report(ctx, send, client.StateInstalling, size, "")
	if d.act == FailInstall {
		// If this report is lost, the next check-in on the old version
		// makes the server call it a roll-back, and the sim counts neither.
		if s.report(ctx, send, client.StateFailed, size, failDetail) {
			s.c.failed.Add(1)
		}
		d.open = false
		d.setPhase(phaseFailed)
		return false
	}

	s.report(ctx, send, client.StateRebooting, size, "")
	if d.act == Rollback {
		d.pending = outcomeRollback
		return false
	}
	d.pending = outcomeSuccess
	d.setVersion(target)
	return false
}

// corrupt gives up on a download that failed its check, reporting why.
func (s *Sim) corrupt(ctx context.Context, d *device, size int64, send reportFunc, why string) {
	s.c.corrupt.Add(1)
	s.report(ctx, send, client.StateFailed, size, why)
	d.open, d.dl = false, nil
	d.setPhase(phaseFailed)
}

// afterInstall is the wait before the next check-in once install returned:
// a rebooted device checks in at once to say what it runs.
func (d *device) afterInstall(wait time.Duration) time.Duration {
	if d.pending != outcomeNone {
		return 0
	}
	return wait
}
