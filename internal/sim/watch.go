package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
)

// watch prints the live summary and ends the run, through settle, once
// the fleet has settled. It returns when ctx ends.
func (s *Sim) watch(ctx context.Context, start time.Time, settle context.CancelCauseFunc) {
	check := time.NewTicker(min(max(s.cfg.Poll/2, 10*time.Millisecond), time.Second))
	defer check.Stop()
	var show <-chan time.Time
	if s.cfg.Progress != nil {
		t := time.NewTicker(s.cfg.ProgressEvery)
		defer t.Stop()
		show = t.C
	}

	last := live{at: start}
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			if !s.cfg.KeepGoing && s.settled() {
				settle(errSettled)
				return
			}
		case now := <-show:
			last = s.printLive(now, start, last)
		}
	}
}

// settled reports whether the fleet has settled: see Sim.Run.
func (s *Sim) settled() bool {
	if s.c.offers.Load() == 0 {
		return false
	}
	changes := s.c.changes()
	for _, d := range s.devices {
		switch d.getPhase() {
		case phaseSilent:
			continue
		case phaseIdle, phaseFailed:
			if d.quietMark.Load() == changes && d.quietCount.Load() >= quietRounds {
				continue
			}
		}
		return false
	}
	return true
}

// live is what the previous summary line saw, for rates.
type live struct {
	at       time.Time
	checkIns int64
}

// printLive writes one summary line to Config.Progress.
func (s *Sim) printLive(now, start time.Time, prev live) live {
	cur := live{at: now, checkIns: s.c.checkIns.Load()}
	rate := 0.0
	if dt := now.Sub(prev.at).Seconds(); dt > 0 {
		rate = float64(cur.checkIns-prev.checkIns) / dt
	}

	// Idle devices count as updated once they run the newest version
	// offered so far.
	var idleOld, downloading, installing, updated, failed, silent int
	latest := s.latestText()
	for _, d := range s.devices {
		switch d.getPhase() {
		case phaseStarting:
			idleOld++
		case phaseIdle:
			if latest != "" && d.running() == latest {
				updated++
			} else {
				idleOld++
			}
		case phaseDownloading:
			downloading++
		case phaseInstalling:
			installing++
		case phaseFailed:
			failed++
		case phaseSilent:
			silent++
		}
	}

	fmt.Fprintf(s.cfg.Progress, "%7s  check-ins/s %7.1f  idle-old %d  downloading %d  installing %d  "+
		"updated %d  failed %d  silent %d  downloaded %s  errors %d\n",
		now.Sub(start).Round(time.Second), rate, idleOld, downloading, installing, updated, failed, silent,
		humanize.IBytes(uint64(s.c.bytes.Load())), s.c.errors())
	return cur
}
