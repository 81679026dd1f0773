package core

import "fmt"

// State is where an update stands. The order of the non-terminal states is
// the order of progress: reports may skip, repeat or arrive out of order,
// and the furthest state reached is kept.
type State string

// Update states.
const (
	StateOffered     State = "offered"
	StateDownloading State = "downloading"
	StateDownloaded  State = "downloaded"
	StateVerified    State = "verified"
	StateInstalling  State = "installing"
	StateRebooting   State = "rebooting"
	StateSucceeded   State = "succeeded"
	StateFailed      State = "failed"
	StateCanceled    State = "canceled"
)

// rank orders states by progress; terminal states rank above all others so
// that nothing moves a finished update back.
var rank = map[State]int{
	StateOffered:     1,
	StateDownloading: 2,
	StateDownloaded:  3,
	StateVerified:    4,
	StateInstalling:  5,
	StateRebooting:   6,
	StateSucceeded:   10,
	StateFailed:      10,
	StateCanceled:    10,
}

// Terminal reports whether s ends an update.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := rank[s]
	return ok
}

// ParseReportState validates a state a device reports. Devices may report
// progress, a failure, or claim success; "offered" and "canceled" are the
// server's own decisions.
func ParseReportState(s string) (State, error) {
	st := State(s)
	switch st {
	case StateDownloading, StateDownloaded, StateVerified, StateInstalling,
		StateRebooting, StateSucceeded, StateFailed:
		return st, nil
	}
	return "", fmt.Errorf("%w: unknown status state %q: want one of downloading, downloaded, "+
		"verified, installing, rebooting, succeeded, failed", ErrInvalid, truncate(s, 40))
}

// advance returns the state an update in cur moves to on a report of next.
// A device's own "succeeded" is only a claim: success is decided by a
// check-in that reports the target version, so the claim moves the update no
// further than rebooting.
func advance(cur, next State) State {
	if cur.Terminal() {
		return cur
	}
	if next == StateSucceeded {
		next = StateRebooting
	}
	if next == StateFailed {
		return StateFailed
	}
	if rank[next] > rank[cur] {
		return next
	}
	return cur
}

// installStarted reports whether a device in s may already have replaced its
// image, so that a check-in with the old version means it rolled back.
func installStarted(s State) bool {
	return s == StateInstalling || s == StateRebooting
}
