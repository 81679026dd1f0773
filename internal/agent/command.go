package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/client"
)

// Built-in command names; other names go to Config.CommandHook, or are
// answered "unknown command".
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
// answered again without running twice. The server keeps at most 16 open
// commands per device.
const rememberAnswers = 64

// hookTimeout bounds a reboot or command hook; one still running then is
// killed and the command answered as failed.
const hookTimeout = time.Minute

// maxResult bounds an answer's result, as the server does.
const maxResult = 256

// commandsFile keeps the remembered answers and the poll interval a
// command set, so both survive a restart: a reboot command delivered again
// after the reboot it caused must not reboot the device twice.
const commandsFile = "commands.json"

// Command is an instruction from the server, whichever protocol brought it.
type Command struct {
	ID      int64
	Name    string
	Payload string
}

// Answer is the agent's acknowledgement of a command: done (OK) or not,
// with a short result.
type Answer struct {
	OK     bool   `json:"ok"`
	Result string `json:"result,omitempty"`
}

// savedCommands is commands.json.
type savedCommands struct {
	// PollSeconds is the interval set-poll-interval chose; 0 follows the
	// server's hints.
	PollSeconds int64 `json:"poll_seconds,omitempty"`
	// Answers are the remembered answers, oldest first.
	Answers []savedAnswer `json:"answers,omitempty"`
}

type savedAnswer struct {
	ID int64 `json:"id"`
	Answer
}

// commands runs commands and remembers recent answers.
type commands struct {
	// run serialises executions, so a command is never run twice at once;
	// mu guards the fields below and is never held while a hook runs.
	run     sync.Mutex
	mu      sync.Mutex
	answers map[int64]Answer
	order   []int64 // answered ids, oldest first
	// poll, when not zero, replaces the server's poll hint
	// (set-poll-interval), kept in commands.json; checkNow asks the run
	// loop to check in.
	poll     time.Duration
	checkNow chan struct{}
	// rebootHook and commandHook are the programs Config names.
	rebootHook  []string
	commandHook string
}

func newCommands() *commands {
	return &commands{answers: make(map[int64]Answer), checkNow: make(chan struct{}, 1)}
}

// loadCommands reads commands.json, if the agent wrote one.
func (a *Agent) loadCommands() error {
	var saved savedCommands
	err := a.st.readJSON(commandsFile, &saved)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cs := a.cmds
	cs.poll = time.Duration(saved.PollSeconds) * time.Second
	for _, s := range saved.Answers {
		cs.remember(s.ID, s.Answer)
	}
	return nil
}

// saveCommands writes commands.json; cs.mu is held.
func (a *Agent) saveCommands() error {
	cs := a.cmds
	saved := savedCommands{PollSeconds: int64(cs.poll / time.Second)}
	for _, id := range cs.order {
		saved.Answers = append(saved.Answers, savedAnswer{ID: id, Answer: cs.answers[id]})
	}
	return a.st.writeJSON(commandsFile, saved)
}

// remember records an answer, forgetting the oldest past
// rememberAnswers; cs.mu is held.
func (cs *commands) remember(id int64, ans Answer) {
	if _, ok := cs.answers[id]; !ok {
		cs.order = append(cs.order, id)
	}
	cs.answers[id] = ans
	if len(cs.order) > rememberAnswers {
		delete(cs.answers, cs.order[0])
		cs.order = cs.order[1:]
	}
}

func (cs *commands) answered(id int64) (Answer, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ans, ok := cs.answers[id]
	return ans, ok
}

// Execute runs command c and returns its answer. A command already
// answered gets the same answer again and is not run twice, even across
// a restart of the agent.
func (a *Agent) Execute(ctx context.Context, c Command) Answer {
	cs := a.cmds
	cs.run.Lock()
	defer cs.run.Unlock()
	if ans, ok := cs.answered(c.ID); ok {
		return ans
	}
	ans := a.runCommand(ctx, c)
	ans.Result = cleanResult(ans.Result)
	a.log.Info("command run", "command_id", c.ID, "name", c.Name, "ok", ans.OK, "result", ans.Result)
	if err := a.settle(c.ID, ans); err != nil {
		a.log.Warn("command answer not saved", "command_id", c.ID, keyError, err)
	}
	return ans
}

// settle remembers an answer and saves it.
func (a *Agent) settle(id int64, ans Answer) error {
	cs := a.cmds
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.remember(id, ans)
	return a.saveCommands()
}

// runCommand carries out one command; cs.run is held.
func (a *Agent) runCommand(ctx context.Context, c Command) Answer {
	cs := a.cmds
	switch c.Name {
	case CmdCheckUpdate:
		select {
		case cs.checkNow <- struct{}{}:
		default: // a check-in is already due
		}
		return Answer{OK: true, Result: "checking in"}
	case CmdSetPollInterval:
		return a.setPoll(c.Payload)
	case CmdReboot:
		if len(cs.rebootHook) == 0 {
			return Answer{Result: "reboot not supported"}
		}
		// The answer is saved before the hook runs: a hook that reboots
		// ends the agent, and the command delivered again after the
		// reboot must find it answered, not reboot the device again.
		if err := a.settle(c.ID, Answer{OK: true, Result: "rebooted"}); err != nil {
			return Answer{Result: "reboot not done: cannot save state: " + err.Error()}
		}
		ans := a.hook(ctx, cs.rebootHook[0], cs.rebootHook[1:]...)
		if ans.OK && ans.Result == "" {
			ans.Result = "rebooting"
		}
		return ans
	}
	if cs.commandHook == "" {
		return Answer{Result: "unknown command " + c.Name}
	}
	// Saved first for the same reason: a hook cut by a crash is not run
	// again when the command comes back.
	if err := a.settle(c.ID, Answer{Result: "interrupted before it finished"}); err != nil {
		return Answer{Result: "not run: cannot save state: " + err.Error()}
	}
	return a.hook(ctx, cs.commandHook, c.Name, c.Payload)
}

func (a *Agent) setPoll(payload string) Answer {
	d, err := time.ParseDuration(payload)
	if err != nil || d < pollIntervalMin || d > pollIntervalMax {
		return Answer{Result: fmt.Sprintf("poll interval %q: want a duration from %s to %s",
			payload, pollIntervalMin, pollIntervalMax)}
	}
	cs := a.cmds
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.poll
	cs.poll = d
	if err := a.saveCommands(); err != nil {
		cs.poll = old
		return Answer{Result: "poll interval not saved: " + err.Error()}
	}
	return Answer{OK: true, Result: "poll interval " + d.String()}
}

// hook runs a program with args and turns its exit status and output into
// an answer: exit 0 is ok, anything else an error; the output, cut short,
// is the result.
func (a *Agent) hook(ctx context.Context, prog string, args ...string) Answer {
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	out := &capped{max: maxResult}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	text := strings.TrimSpace(out.buf.String())
	if err != nil {
		if text == "" {
			text = err.Error()
		}
		return Answer{Result: text}
	}
	return Answer{OK: true, Result: text}
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// cleanResult makes a result the server accepts: printable UTF-8 on one
// line, at most maxResult bytes, cut at a character boundary.
func cleanResult(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	s = strings.TrimSpace(s)
	for len(s) > maxResult {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// runCommands executes the commands a check-in answer carried and
// answers each over the link the check-in used. A lost answer fails the
// cycle, so it is retried with back-off: the server hands the command
// over again and it is answered again without running twice.
func (a *Agent) runCommands(ctx context.Context, cs []client.Command) error {
	for _, c := range cs {
		ans := a.Execute(ctx, Command{ID: c.ID, Name: c.Name, Payload: c.Payload})
		if err := a.talk().Ack(ctx, c.ID, ans.OK, ans.Result); err != nil {
			return fmt.Errorf("answer command %d: %w", c.ID, err)
		}
	}
	return nil
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
