package main

import (
	"strings"
	"testing"
)

// Details and attributes come from devices (any client, for a public
// product). Printed raw, their escape sequences reach the operator's
// terminal: they can clear the screen, recolour or forge lines, or set the
// window title.
func TestAdversarialDeviceShowEscapesControlCharacters(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /api/v1/devices/d1": {200, `{"id":"d1","product":"p",
		"channel":"stable","version":"1.0.0","attributes":{"x\u001b[31m":"\u001b]0;pwned\u0007"},
		"update":{"id":7,"version":"1.1.0","from_version":"1.0.0","state":"failed",
		"reason":"device reported failure: \u001b[2J\u001b[32mOK\r"},
		"updates":[],"history":[{"at":"2025-01-02T03:04:05Z","kind":"report","update_id":7,
		"state":"installing","detail":"\u001b[2J\u001b[31mPWNED\rfake"}]}`}})
	out, _, err := f.run(t, "device", "show", "d1")
	if err != nil {
		t.Fatalf("device show: %v", err)
	}
	if strings.ContainsAny(out, "\x1b\x07\r") {
		t.Errorf("device show printed raw control characters from the device:\n%q", out)
	}
}
