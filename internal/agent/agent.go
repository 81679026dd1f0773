package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/manifest"
)

// Defaults for Config's zero values and for the retry back-off.
const (
	// DefaultPollMin is the shortest wait between check-ins, whatever poll
	// hint the server sends.
	DefaultPollMin = 30 * time.Second
	// DefaultHold is how long a held check-in waits at the server: below
	// the idle timeouts of common carrier NATs.
	DefaultHold = 240 * time.Second
	backoffMin  = 5 * time.Second
	backoffMax  = 10 * time.Minute
	// stallTimeout ends a download that delivers no byte for this long. It
	// is generous because a modem's link may pause for a cell handover.
	stallTimeout = 2 * time.Minute
)

// Log attribute keys.
const (
	keyUpdateID = "update_id"
	keyVersion  = "version"
	keyError    = "error"
)

// ErrNoVersion means the state directory holds no state.json and
// Config.Version is empty, so the agent does not know what the device runs.
var ErrNoVersion = errors.New("running version unknown")

// Permanent reports whether err, from RunOnce, is one that running again
// will not change: the server refused the request with a 4xx status,
// ErrNoVersion, or ErrRefused. Three 4xx answers are exceptions: 408 and
// 429 ask the client to come back later, and 416 made the agent discard a
// kept part that no longer fits, so the next run starts the download over.
// Network errors, 5xx answers, cut or stalled downloads and images that
// fail verification (which a fresh download may fix) are transient.
func Permanent(err error) bool {
	if errors.Is(err, ErrNoVersion) || errors.Is(err, ErrRefused) {
		return true
	}
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status < 400 || ce.Status > 499 {
		return false
	}
	switch ce.Status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusRequestedRangeNotSatisfiable:
		return false
	}
	return true
}

// Config says which server and device the agent speaks for and where it
// keeps its state.
type Config struct {
	Server   string // base URL of the Ferry server
	Product  string
	DeviceID string
	// Token is the product's enrollment key, or a device token it issued;
	// empty for a public product. With an enrollment key the agent enrolls
	// once and keeps its device token in the state directory (device.json),
	// which wins over the key from then on.
	Token string
	// Version is the running version. It seeds state.json at the first
	// check-in that succeeds, and replaces a state that was only seeded;
	// once the agent has installed an update, state.json wins and a
	// different Version is logged and ignored.
	Version  string
	StateDir string
	// TrustKeys, when not empty, make the agent install only releases whose
	// manifest is signed by one of them, describes the offered image, and
	// has a security counter not below the installed one (see ErrRefused).
	// Empty means no signature checks: size and SHA-256 only.
	TrustKeys []manifest.PublicKey
	// PollMin is the shortest wait between check-ins in Run; zero means
	// DefaultPollMin.
	PollMin time.Duration
	// RebootHook is the program (and its arguments) the reboot command
	// runs; empty answers reboot commands "reboot not supported".
	RebootHook []string
	// CommandHook is the program commands of other names run, given the
	// command's name and payload as arguments: exit status 0 answers ok,
	// and its output (cut to 256 bytes) is the result. Empty answers them
	// "unknown command".
	CommandHook string
	HTTPClient  *http.Client // nil means a new http.Client
	Logger      *slog.Logger // nil discards logs
}

// Agent runs update cycles for one device. Only one Agent may use a state
// directory at a time.
type Agent struct {
	dev *client.Device
	// newDevice returns a client of this device with another credential;
	// enrollKey is the key to enroll with until a device token is in use.
	newDevice func(token string) *client.Device
	enrollKey string
	product   string
	device    string
	// via, when set, carries check-ins and reports instead of dev (MQTT
	// mode); downloads and enrollment always use dev.
	via  link
	cmds *commands
	// hold, when not zero, makes check-ins held requests (long-polls) of
	// up to this long; see RunLongPoll.
	hold    time.Duration
	trust   []manifest.PublicKey
	st      stateDir
	seed    string
	pollMin time.Duration
	log     *slog.Logger
	warned  bool // the ignored-Version warning was logged

	// Tuning, fixed by New; tests shrink them.
	backoffMin   time.Duration
	syncEvery    int64 // fsync the part after this many new bytes
	reportEvery  time.Duration
	stallTimeout time.Duration
}

// New checks cfg and returns an agent, creating the state directory if
// needed.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Server == "":
		return nil, errors.New("agent: no server URL")
	case cfg.Product == "":
		return nil, errors.New("agent: no product")
	case cfg.DeviceID == "":
		return nil, errors.New("agent: no device id")
	case cfg.StateDir == "":
		return nil, errors.New("agent: no state directory")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}

	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pollMin := cfg.PollMin
	if pollMin <= 0 {
		pollMin = DefaultPollMin
	}
	newDevice := func(token string) *client.Device {
		return client.NewDevice(cfg.Server, cfg.Product, cfg.DeviceID, token, cfg.HTTPClient)
	}
	a := &Agent{
		dev:          newDevice(cfg.Token),
		newDevice:    newDevice,
		enrollKey:    enrollKeyOf(cfg.Token),
		product:      cfg.Product,
		device:       cfg.DeviceID,
		cmds:         newCommands(),
		trust:        cfg.TrustKeys,
		st:           stateDir{dir: cfg.StateDir},
		seed:         cfg.Version,
		pollMin:      pollMin,
		log:          log.With("component", "agent", "device_id", cfg.DeviceID),
		backoffMin:   backoffMin,
		syncEvery:    64 << 10,
		reportEvery:  30 * time.Second,
		stallTimeout: stallTimeout,
	}
	a.cmds.rebootHook, a.cmds.commandHook = cfg.RebootHook, cfg.CommandHook
	if err := a.loadCommands(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// RunOnce runs one update cycle. It returns nil when the device is up to
// date, or when it installed an update, verified it and checked in with
// the new version. Any other outcome is an error saying why, such as a
// download that was cut (the part is kept for the next run to resume);
// Permanent tells whether running again can help.
func (a *Agent) RunOnce(ctx context.Context) error {
	_, err := a.cycle(ctx)
	return err
}

// Run runs update cycles until ctx is canceled, then returns nil. It waits
// between check-ins as the server's poll hint says (at least PollMin) and
// retries a failed cycle with capped exponential back-off.
func (a *Agent) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		poll, err := a.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}

		wait := a.nextWait(poll)
		if err != nil {
			backoff = nextBackoff(backoff, a.backoffMin)
			wait = backoff
			a.log.Warn("update cycle failed; will retry", keyError, err, "retry_in", wait)
		} else {
			backoff = 0
		}

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.cmds.checkNow:
			t.Stop()
		case <-t.C:
		}
	}
}

// RunLongPoll runs update cycles over held check-ins until ctx is
// canceled, then returns nil: each check-in waits at the server up to hold
// (at most 600s; zero means the server's default of 240s) for an offer or
// a command, so both arrive as soon as they exist, whatever the poll
// interval. It asks again as soon as an answer is handled, and backs off
// on errors as Run does. The HTTP client must allow a request to take
// longer than hold.
func (a *Agent) RunLongPoll(ctx context.Context, hold time.Duration) error {
	if hold <= 0 {
		hold = DefaultHold
	}
	a.hold = hold
	var backoff time.Duration
	for {
		_, err := a.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = 0
			// The answer told the cycle all there was; a command that asks
			// to check in now is the next held check-in itself.
			select {
			case <-a.cmds.checkNow:
			default:
			}
			continue
		}

		backoff = nextBackoff(backoff, a.backoffMin)
		a.log.Warn("update cycle failed; will retry", keyError, err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// nextBackoff doubles the previous wait within [lo, backoffMax] and adds up
// to a fifth of jitter, so a fleet that lost its server together does not
// come back in lockstep.
func nextBackoff(prev, lo time.Duration) time.Duration {
	d := min(max(2*prev, lo), backoffMax)
	return d + rand.N(d/5+1)
}

// link is how the agent checks in and reports: the native protocol over
// HTTP (client.Device) or a broker session.
type link interface {
	CheckIn(ctx context.Context, req client.CheckInRequest) (client.CheckInResponse, error)
	Report(ctx context.Context, updateID int64, state string, progress int64, detail string) error
	Ack(ctx context.Context, id int64, ok bool, result string) error
}

// talk returns the link check-ins and reports go over.
func (a *Agent) talk() link {
	if a.via != nil {
		return a.via
	}
	return a.dev
}

// cycle checks in and applies an offered update. It returns the server's
// poll hint from the last check-in that succeeded.
func (a *Agent) cycle(ctx context.Context) (time.Duration, error) { return a.cycleWith(ctx, nil) }

// cycleWith is cycle; when pushed is not nil, it is the answer the server
// sent unasked (over MQTT), which stands for the first check-in.
func (a *Agent) cycleWith(ctx context.Context, pushed *client.CheckInResponse) (time.Duration, error) {
	if err := a.credential(ctx); err != nil {
		return 0, err
	}
	cur, unsaved, err := a.load()
	if err != nil {
		return 0, err
	}
	var resp client.CheckInResponse
	if pushed != nil && !unsaved && !runsOffer(cur, pushed.Offer) {
		resp = *pushed
	} else if resp, err = a.firstCheckIn(ctx, a.checkInRequest(cur)); err != nil {
		return 0, fmt.Errorf("check in: %w", err)
	}
	poll := resp.PollInterval()

	// Seed only now: a run that never reached the server (a wrong URL, a
	// missing key) must leave nothing behind that outvotes a corrected
	// Version next time.
	if unsaved {
		if err := a.st.writeJSON(stateFile, cur); err != nil {
			return poll, err
		}
		a.log.Info("state seeded", keyVersion, cur.Version)
	}
	if err := a.runCommands(ctx, resp.Commands); err != nil {
		return poll, err
	}
	if resp.Offer == nil {
		a.log.Debug("up to date", keyVersion, cur.Version, "poll", poll)
		return poll, nil
	}

	o := resp.Offer
	a.log.Info("update offered", keyUpdateID, o.ID, keyVersion, o.Version, "from_version", cur.Version,
		"size", o.Size)
	next, err := a.apply(ctx, o, cur)
	if errors.Is(err, errWithdrawn) {
		a.log.Info("update withdrawn by the server before installing", keyUpdateID, o.ID, keyVersion, o.Version)
		return poll, nil
	}
	if err != nil {
		return poll, fmt.Errorf("update %d to %s: %w", o.ID, o.Version, err)
	}

	// Coming back with the new version is what tells the server the update
	// worked; until this check-in lands, the server still counts it open.
	resp, err = a.talk().CheckIn(ctx, a.checkInRequest(next))
	if err != nil {
		return poll, fmt.Errorf("installed %s, but the check-in that confirms it failed: %w", next.Version, err)
	}
	a.log.Info("running new version", keyUpdateID, o.ID, keyVersion, next.Version)
	return resp.PollInterval(), nil
}

// firstCheckIn is a cycle's first check-in: held in long-poll mode.
func (a *Agent) firstCheckIn(ctx context.Context, req client.CheckInRequest) (client.CheckInResponse, error) {
	if a.hold > 0 && a.via == nil {
		return a.dev.Wait(ctx, req, a.hold)
	}
	return a.talk().CheckIn(ctx, req)
}

// runsOffer reports whether st already is what o offers: a push that
// crossed the check-in confirming it. The agent then asks afresh.
func runsOffer(st installed, o *client.Offer) bool {
	return o == nil || o.Version == st.Version || (st.SHA256 != "" && o.SHA256 == st.SHA256)
}

// checkInRequest says that st runs.
func (a *Agent) checkInRequest(st installed) client.CheckInRequest {
	return client.CheckInRequest{Version: st.Version, SHA256: st.SHA256, Counter: a.counter(st)}
}

// load returns what the device runs, finishing an install that a crash
// interrupted. unsaved is true when that comes from Config.Version rather
// than state.json as it stands: the caller writes it after a successful
// check-in.
func (a *Agent) load() (cur installed, unsaved bool, err error) {
	if err := a.recoverInstall(); err != nil {
		return installed{}, false, err
	}

	err = a.st.readJSON(stateFile, &cur)
	switch {
	case err == nil && (a.seed == "" || a.seed == cur.Version):
		return cur, false, nil
	case err == nil && !cur.Seeded:
		// The agent installed what state.json names; a Version given on
		// the command line is more likely stale than the install is wrong.
		if !a.warned {
			a.warned = true
			a.log.Warn("given version differs from the installed one; keeping the installed",
				"given_version", a.seed, "installed_version", cur.Version, "state_file", a.st.path(stateFile))
		}
		return cur, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return cur, false, err
	case err != nil && a.seed == "":
		return cur, false, fmt.Errorf("%w: no %s in %s yet: give the running version to seed it",
			ErrNoVersion, stateFile, a.st.dir)
	}

	// Nothing installed by the agent yet: Config.Version says what runs.
	seeded := installed{Version: a.seed, Seeded: true}
	if seeded.SHA256, err = a.st.hash(firmwareFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return cur, false, err
	}
	return seeded, true, nil
}

// recoverInstall finishes an install cut between renaming the part over
// firmware.bin and recording the new version: download.json remains, the
// part is gone, and firmware.bin is the image download.json describes.
func (a *Agent) recoverInstall() error {
	var p pending
	if err := a.st.readJSON(pendingFile, &p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if n, err := a.st.size(partFile); err != nil || n > 0 {
		return err
	}
	sum, err := a.st.hash(firmwareFile)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && sum != p.SHA256) {
		return nil
	}
	if err != nil {
		return err
	}
	a.log.Warn("finishing an interrupted install", keyVersion, p.Version)
	return a.record(p)
}

// record writes the installed version and drops the download's record.
func (a *Agent) record(p pending) error {
	st := installed{Version: p.Version, SHA256: p.SHA256, Counter: p.Counter}
	if err := a.st.writeJSON(stateFile, st); err != nil {
		return err
	}
	if err := a.st.remove(pendingFile); err != nil {
		return err
	}
	return a.st.syncDir()
}

// report sends a status report. A lost report is logged and otherwise
// ignored: reports are advisory, and the next check-in repairs the
// server's record.
func (a *Agent) report(ctx context.Context, id int64, state string, progress int64, detail string) {
	if err := a.talk().Report(ctx, id, state, progress, detail); err != nil {
		a.log.Warn("status report lost", keyUpdateID, id, "state", state, keyError, err)
	}
}
