package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongPollAgentCommandAcceptance: an agent in long-poll mode, told to
// check in once an hour, gets a queued command at once and answers it,
// and "ferry device cmd --wait" prints the answer. A command the agent
// answers with an error makes the CLI exit 3 with the reason.
func TestLongPollAgentCommandAcceptance(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, filepath.Join(dir, "data"))
	s.must(t, "product", "create", "p", "--public")
	s.must(t, "release", "push", "--product", "p", "--version", "1.0.0", writeFile(t, "fw.bin", firmware(1000, 1)))

	var agentLog syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"blinked $2\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.startAgent(t, &agentLog, "--product", "p", "--device", "d1", "--version", "1.0.0",
		"--state-dir", filepath.Join(dir, "state"), "--long-poll", "--poll-min", "1h", "--command-hook", hook)
	eventually(t, "the agent checks in", func() bool {
		_, err := s.ferry(t, "device", "show", "d1")
		return err == nil
	})

	// Well within the hour the agent would otherwise wait.
	out := s.must(t, "device", "cmd", "d1", "blink", "--payload", "3 times", "--wait", "1m")
	if !strings.Contains(out, "acknowledged by d1: ok blinked 3 times") {
		t.Errorf("device cmd blink --wait = %q, want the acknowledgement", out)
	}
	out = s.must(t, "device", "cmd", "--product", "p", "d1", "set-poll-interval", "--payload", "15m", "--wait", "1m")
	if !strings.Contains(out, "ok poll interval 15m0s") {
		t.Errorf("device cmd set-poll-interval --wait = %q, want the acknowledgement", out)
	}

	out, err := s.ferry(t, "device", "cmd", "d1", "reboot", "--wait", "1m")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "reboot not supported") {
		t.Errorf("device cmd reboot --wait = %q, %v, want exit 3 saying reboot is not supported", out, err)
	}

	var cmds []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Via    string `json:"via"`
		Result string `json:"result"`
	}
	if err := json.Unmarshal([]byte(s.must(t, "device", "cmds", "d1", "--json")), &cmds); err != nil {
		t.Fatal(err)
	}
	want := []string{"reboot failed longpoll error", "set-poll-interval acknowledged longpoll ok",
		"blink acknowledged longpoll ok"}
	var got []string
	for _, c := range cmds {
		got = append(got, c.Name+" "+c.State+" "+c.Via+" "+c.Result)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("device cmds = %q, want %q", got, want)
	}
	if table := s.must(t, "device", "cmds", "d1"); !strings.Contains(table, "blinked 3 times") {
		t.Errorf("device cmds table = %q, want the answers", table)
	}
}

// TestDeviceCmdWaitTimesOut: a device that never answers makes --wait end
// with exit 2, and the command stays open.
func TestDeviceCmdWaitTimesOut(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.must(t, "product", "create", "p", "--public")
	s.must(t, "release", "push", "--product", "p", "--version", "1.0.0", writeFile(t, "fw.bin", firmware(1000, 1)))
	s.must(t, "agent", "--product", "p", "--device", "d1", "--version", "1.0.0", "--state-dir", t.TempDir(), "--once")

	_, err := s.ferry(t, "device", "cmd", "d1", "reboot", "--wait", "1s")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "no answer from d1 within 1s") {
		t.Errorf("device cmd --wait 1s to a silent device = %v, want exit 2 saying no answer came", err)
	}
	if out := s.must(t, "device", "cmds", "d1"); !strings.Contains(out, "queued") {
		t.Errorf("device cmds = %q, want the command still queued", out)
	}

	tests := [][]string{
		{"device", "cmd", "d1", "Reboot!"},
		{"device", "cmd", "d1", "reboot", "--payload", "now"},
		{"device", "cmd", "d9", "reboot"},
		{"device", "cmd", "d1", "x", "--expires", "1s"},
		{"device", "cmd", "d1", "x", "--wait", "-1s"},
		{"device", "cmd", "d1"},
	}
	for _, args := range tests {
		if _, err := s.ferry(t, args...); err == nil {
			t.Errorf("ferry %s succeeded, want an error", strings.Join(args, " "))
		}
	}
}
