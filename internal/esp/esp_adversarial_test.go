package esp_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// A sketch whose compiled-in version string was not bumped sends the old
// version beside the new image's MD5. The MD5 proves the update: the
// update succeeds and the device is recorded on the new release, not on
// the version string it repeats. The same board unchanged is a failure.
func TestStaleVersionStringNewMD5(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	good := board{chip: "ESP8266", mac: "5C:CF:7F:00:00:01", md5: old.MD5, version: "1.0.0", free: "1000000"}
	bad := board{chip: "ESP8266", mac: "5C:CF:7F:00:00:02", md5: old.MD5, version: "1.0.0", free: "1000000"}
	f.ask(t, good)
	f.ask(t, bad)
	next := f.publish(t, "1.1.0", 5000)
	wantImage(t, f, f.ask(t, good), "1.1.0")
	wantImage(t, f, f.ask(t, bad), "1.1.0")

	good.md5 = next.MD5 // the version header still says 1.0.0
	if a := f.ask(t, good); a.StatusCode != http.StatusNotModified {
		t.Errorf("board on the new image with the old version string: %d, want 304", a.StatusCode)
	}
	if d := f.device(t, good.mac); d.Updates[0].State != core.StateSucceeded || d.Version != "1.1.0" {
		t.Errorf("board on the new image with the old version string: update %s, version %q; "+
			"want succeeded on 1.1.0", d.Updates[0].State, d.Version)
	}
	if a := f.ask(t, good); a.StatusCode != http.StatusNotModified {
		t.Errorf("next request of the updated board: %d, want 304", a.StatusCode)
	}

	f.ask(t, bad)
	if d := f.device(t, bad.mac); d.Updates[0].State != core.StateFailed || d.Version != "1.0.0" {
		t.Errorf("board back unchanged: update %s, version %q; want failed on 1.0.0", d.Updates[0].State,
			d.Version)
	}
}

// A board whose link drops before the whole image arrived has not
// installed anything: the update stays open, and the next request gets
// the whole image again.
func TestCutDownloadLeavesUpdateOpen(t *testing.T) {
	f := newFleet(t)
	old := f.publish(t, "1.0.0", 3000)
	b := board{chip: "ESP8266", mac: mac, md5: old.MD5, free: "10000000"}
	f.ask(t, b)
	f.publish(t, "1.1.0", 4<<20)

	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(b.request(f.addr, "/esp/sensor"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.0 200") {
		t.Fatalf("start of the answer = %q, %v; want HTTP/1.0 200", buf[:min(len(buf), 20)], err)
	}
	if err := c.(*net.TCPConn).SetLinger(0); err != nil { // a reset, as a modem losing its link
		t.Fatal(err)
	}
	c.Close()

	// A reset fails the cut answer's next write, so its handler has
	// finished by the time the next request is read, in practice: had it
	// recorded the image as installing, this request would be the board
	// coming back unchanged, answered 304 with the update failed.
	wantImage(t, f, f.ask(t, b), "1.1.0")
	if u := f.device(t, mac).Updates[0]; u.State != core.StateInstalling {
		t.Errorf("after the cut and a whole answer: update %s, want installing", u.State)
	}
	events := 0
	for _, e := range f.device(t, mac).Events {
		if e.Kind == core.EventReport && e.State == core.StateInstalling {
			events++
		}
	}
	if events != 1 {
		t.Errorf("history holds %d installing reports, want 1 (the cut answer records none)", events)
	}
}
