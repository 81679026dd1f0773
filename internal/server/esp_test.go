package server_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// espRequest returns the bytes an ESP8266 updater sends (HTTP/1.0, closing
// the connection) for a board with station MAC mac running the image
// whose MD5 is sketchMD5, with free bytes for a new sketch.
func espRequest(product, mac, sketchMD5 string, free int) string {
	return fmt.Sprintf("GET /esp/%s HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: ESP8266-http-Update\r\n"+
		"Connection: close\r\nx-ESP8266-STA-MAC: %s\r\nx-ESP8266-AP-MAC: 5E:CF:7F:00:00:00\r\n"+
		"x-ESP8266-free-space: %d\r\nx-ESP8266-sketch-size: 1000\r\nx-ESP8266-sketch-md5: %s\r\n"+
		"x-ESP8266-chip-size: 4194304\r\nx-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"+
		"x-ESP8266-mode: sketch\r\n\r\n", product, mac, free, sketchMD5)
}

// espAsk sends an ESP8266 request and reads the answer to the end of the
// connection, which the server closes once the handler is done recording.
func espAsk(t *testing.T, e *env, raw string) response {
	t.Helper()
	out := rawExchange(t, e, raw)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("answer %.200q: %v", out, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	return response{resp, body}
}

func md5Of(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// TestESPEndToEnd runs two ESP8266 boards through the whole server: both
// get 304 while current and the new image with its x-MD5 once it is
// published; the one that comes back on the new image is recorded as
// succeeded, the one that comes back unchanged as failed; a board without
// the space for the image is refused with 413 and the reason is in its
// history.
func TestESPEndToEnd(t *testing.T) {
	e := newEnv(t, 0, nil)
	v1, v2 := testImage(4000, 1), testImage(6000, 2)
	e.push(t, "p", "1.0.0", v1)
	boards := map[string]string{"good": "5C:CF:7F:00:00:01", "bad": "5C:CF:7F:00:00:02", "full": "5C:CF:7F:00:00:03"}
	for _, mac := range boards {
		if r := espAsk(t, e, espRequest("p", mac, md5Of(v1), 1<<20)); r.StatusCode != 304 {
			t.Fatalf("current board %s: %d %q, want 304", mac, r.StatusCode, r.body)
		}
	}
	e.push(t, "p", "1.1.0", v2)

	for _, name := range []string{"good", "bad"} {
		r := espAsk(t, e, espRequest("p", boards[name], md5Of(v1), 1<<20))
		resp, body := r.Response, r.body
		if resp.StatusCode != 200 || resp.Proto != "HTTP/1.0" || resp.ContentLength != int64(len(v2)) ||
			string(body) != string(v2) || resp.Header.Get("x-MD5") != md5Of(v2) {
			t.Fatalf("board %s: %s %d, Content-Length %d, x-MD5 %q, %d body bytes; want HTTP/1.0 200 with 1.1.0",
				name, resp.Proto, resp.StatusCode, resp.ContentLength, resp.Header.Get("x-MD5"), len(body))
		}
	}
	r := espAsk(t, e, espRequest("p", boards["full"], md5Of(v1), len(v2)-1))
	if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "does not fit") {
		t.Errorf("full board: %d %q, want 413 saying the image does not fit", r.StatusCode, r.body)
	}

	espAsk(t, e, espRequest("p", boards["good"], md5Of(v2), 1<<20))
	espAsk(t, e, espRequest("p", boards["bad"], md5Of(v1), 1<<20))
	for name, want := range map[string]struct {
		state  core.State
		reason string
	}{
		"good": {core.StateSucceeded, "running 1.1.0"},
		"bad":  {core.StateFailed, "rolled back"},
		"full": {core.StateFailed, "does not fit"},
	} {
		d, err := e.svc.Device(t.Context(), "p", boards[name])
		if err != nil {
			t.Fatal(err)
		}
		u := d.Updates[0]
		if u.State != want.state || !strings.Contains(u.Reason, want.reason) {
			t.Errorf("board %s: update %s %q, want %s with %q", name, u.State, u.Reason, want.state, want.reason)
		}
		if last := d.Events[len(d.Events)-1]; last.Protocol != "esp" || !strings.Contains(last.Detail, want.reason) {
			t.Errorf("board %s: last history event %s %q by %s, want the esp %q", name, last.Kind, last.Detail,
				last.Protocol, want.reason)
		}
	}
}
