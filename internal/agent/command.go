package agent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Built-in command names; other names are not understood by this agent.
const (
	CmdCheckUpdate     = "check-update"
	CmdReboot          = "reboot"
	CmdSetPollInterval = "set-poll-interval"
)

// Bounds on set-poll-interval: at least a second, at most a week.
const (
	pollIntervalMin = time.Second
	pollIntervalMax = 7 * 24 * time.Hour
)

// rememberAnswers is how many answered commands the agent remembers, so
// that a command delivered again (its acknowledgement was lost) is
// answered again without running twice. The server keeps at most a few
// open commands per device.
const rememberAnswers = 64

// Command is an instruction from the server, whichever protocol brought it.
type Command struct {
	ID      int64
	Name    string
	Payload string
}

// Answer is the agent's acknowledgement of a command: done (OK) or not,
// with a short result.
type Answer struct {
	OK     bool
	Result string
}

// commands runs commands and remembers recent answers.
type commands struct {
	mu      sync.Mutex
	answers map[int64]Answer
	order   []int64 // answered ids, oldest first
	// poll, when not zero, replaces the server's poll hint
	// (set-poll-interval); checkNow asks the run loop to check in.
	//
	// TODO(agent): poll lives in memory only, so a restarted agent goes
	// back to the server's hint until the command is sent again. Keeping
	// it in state.json fixes that once an interval must outlive restarts.
	poll     time.Duration
	checkNow chan struct{}
}

func newCommands() *commands {
	return &commands{answers: make(map[int64]Answer), checkNow: make(chan struct{}, 1)}
}

// Execute runs command c and returns its answer. A command already
// answered gets the same answer again and is not run twice.
func (a *Agent) Execute(ctx context.Context, c Command) Answer {
	cs := a.cmds
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if ans, ok := cs.answers[c.ID]; ok {
		return ans
	}
	ans := a.run(ctx, c)
	a.log.Info("command run", "command_id", c.ID, "name", c.Name, "ok", ans.OK, "result", ans.Result)
	cs.answers[c.ID] = ans
	cs.order = append(cs.order, c.ID)
	if len(cs.order) > rememberAnswers {
		delete(cs.answers, cs.order[0])
		cs.order = cs.order[1:]
	}
	return ans
}

// run carries out one command; cs.mu is held.
func (a *Agent) run(_ context.Context, c Command) Answer {
	cs := a.cmds
	switch c.Name {
	case CmdCheckUpdate:
		select {
		case cs.checkNow <- struct{}{}:
		default: // a check-in is already due
		}
		return Answer{OK: true, Result: "checking in"}
	case CmdSetPollInterval:
		d, err := time.ParseDuration(c.Payload)
		if err != nil || d < pollIntervalMin || d > pollIntervalMax {
			return Answer{Result: fmt.Sprintf("poll interval %q: want a duration from %s to %s",
				clipText(c.Payload), pollIntervalMin, pollIntervalMax)}
		}
		cs.poll = d
		return Answer{OK: true, Result: "poll interval " + d.String()}
	case CmdReboot:
		return Answer{Result: "reboot not supported by this agent"}
	}
	return Answer{Result: "unknown command " + clipText(c.Name)}
}

// nextWait is how long the run loop waits before the next check-in, given
// the server's hint.
func (a *Agent) nextWait(hint time.Duration) time.Duration {
	a.cmds.mu.Lock()
	defer a.cmds.mu.Unlock()
	if a.cmds.poll > 0 {
		return a.cmds.poll
	}
	return max(hint, a.pollMin)
}

// clipText keeps an answer short: results travel back over metered links.
func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
