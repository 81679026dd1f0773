package core

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on commands.
const (
	// MaxCommandPayload bounds what an operator sends, in bytes.
	MaxCommandPayload = 1024
	// MaxCommandResult bounds what a device answers, in bytes.
	MaxCommandResult = 256
	// MaxOpenCommands bounds a device's queued and delivered commands, so
	// a device that never answers cannot pile up work or answers that
	// outgrow a small client's buffer.
	MaxOpenCommands = 16
	// MaxCommandEvents bounds one command's history: answers beyond it
	// that change nothing are no longer recorded.
	MaxCommandEvents = 32
	// DefaultCommandExpiry is how long a command waits for an answer
	// when the operator does not say.
	DefaultCommandExpiry = 24 * time.Hour
	MinCommandExpiry     = 10 * time.Second
	MaxCommandExpiry     = 30 * 24 * time.Hour
)

// Built-in command names. Devices may support others; Ferry passes them
// through untouched.
const (
	// CmdCheckUpdate asks the device to check in now. No payload.
	CmdCheckUpdate = "check-update"
	// CmdReboot asks the device to restart. No payload.
	CmdReboot = "reboot"
	// CmdSetPollInterval sets the device's own poll interval; the payload
	// is whole seconds followed by "s" ("90s"), however the operator spelt
	// the duration, so a sketch parses it with one atoi.
	CmdSetPollInterval = "set-poll-interval"
)

// commandNameRe keeps names to what reads the same in a URL, a topic and
// one line of the plain protocol.
var commandNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// ValidateCommandName reports whether name can name a command.
func ValidateCommandName(name string) error {
	return checkName("command name", name, commandNameRe,
		"use 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
}

// printable reports whether s is valid UTF-8 of printable characters and
// plain spaces only: no control characters (so no line breaks: the plain
// protocol answers a command in one line), no invisible formatting
// characters that could make a payload read differently than it is.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// normalizeCommand validates req and returns it with the built-ins'
// payloads in canonical form and the expiry defaulted.
func normalizeCommand(req CommandRequest) (CommandRequest, error) {
	if err := ValidateCommandName(req.Name); err != nil {
		return req, err
	}
	if len(req.Payload) > MaxCommandPayload {
		return req, errInvalidf("payload of %d bytes: at most %d allowed", len(req.Payload), MaxCommandPayload)
	}
	if !printable(req.Payload) {
		return req, errInvalidf("payload: want printable UTF-8 on one line, without control characters")
	}
	switch {
	case req.Expires == 0:
		req.Expires = DefaultCommandExpiry
	case req.Expires < MinCommandExpiry || req.Expires > MaxCommandExpiry:
		return req, errInvalidf("expiry %s: want %s to %s", req.Expires, MinCommandExpiry, MaxCommandExpiry)
	}

	switch req.Name {
	case CmdCheckUpdate, CmdReboot:
		if req.Payload != "" {
			return req, errInvalidf("command %s takes no payload", req.Name)
		}
	case CmdSetPollInterval:
		d, err := time.ParseDuration(req.Payload)
		if err != nil || d < MinPoll || d > MaxPoll || d%time.Second != 0 {
			return req, errInvalidf("%s payload %q: want a duration in whole seconds from %s to %s, such as 90s",
				req.Name, truncate(req.Payload, 40), MinPoll, MaxPoll)
		}
		req.Payload = strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return req, nil
}

// ParseCommandResult validates a device's answer: ok says whether the
// command worked, result is what the device adds (at most
// MaxCommandResult bytes of printable UTF-8).
func ParseCommandResult(ok bool, result string) (string, error) {
	if len(result) > MaxCommandResult {
		return "", errInvalidf("result of %d bytes: at most %d allowed", len(result), MaxCommandResult)
	}
	if !printable(result) {
		return "", errInvalidf("result: want printable UTF-8 on one line, without control characters")
	}
	if ok {
		return ResultOK, nil
	}
	return ResultError, nil
}

// answerDetail is how an answer reads in a command's history.
func answerDetail(result, payload string) string {
	if payload == "" {
		return result
	}
	return fmt.Sprintf("%s: %s", result, payload)
}
