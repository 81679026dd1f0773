package core_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// A closed/success for an older action that arrives after a newer update
// succeeded (a retry whose answer was lost, with other details, or a
// report delayed on the link) is kept in the history but must not move
// the device back to the older release.
func TestDDILateSuccessOfOlderActionKeepsVersion(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	first := f.ddiCheckIn(t, "d1").Update.ID
	f.ddiRecord(t, "d1", first, "succeeded", "Update Installed.")

	f.publish(t, "1.1.0")
	dec := f.ddiCheckIn(t, "d1")
	if dec.Update == nil || dec.Release.Version != "1.1.0" {
		t.Fatalf("DDI check-in after 1.1.0 = %+v, want an offer of 1.1.0", dec.Update)
	}
	second := dec.Update.ID
	f.ddiRecord(t, "d1", second, "succeeded", "Update Installed.")

	rc := f.ddiRecord(t, "d1", first, "succeeded", "Update Installed (retry).")
	if !rc.Late || rc.Update.State != core.StateSucceeded {
		t.Errorf("late closed/success of the first action = %s late %v, want succeeded and late",
			rc.Update.State, rc.Late)
	}
	u, d := f.latest(t, "d1")
	if d.Version != "1.1.0" || u.ID != second || u.State != core.StateSucceeded {
		t.Errorf("after a late success of the older action: device on %q, latest update %d %s; "+
			"want 1.1.0, %d succeeded", d.Version, u.ID, u.State, second)
	}
	if dec := f.ddiCheckIn(t, "d1"); dec.Update != nil {
		t.Errorf("DDI check-in after the late report = offer of %s, want none", dec.Release.Version)
	}
}

// An operator reading a device while its DDI success is recorded sees
// either the update open and the device on its old version, or the update
// succeeded and the device on the release: never the update succeeded
// beside the old version.
func TestDeviceDetailIsOneSnapshot(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	const n = 40
	ids := make([]int64, n)
	for i := range n {
		ids[i] = f.ddiCheckIn(t, fmt.Sprintf("d%d", i)).Update.ID
	}

	var wg sync.WaitGroup
	torn := make(chan string, n)
	for i := range n {
		dev := fmt.Sprintf("d%d", i)
		wg.Go(func() {
			for range 50 {
				d, err := f.svc.Device(t.Context(), "sensor", dev)
				if err != nil {
					torn <- fmt.Sprintf("Device(%s): %v", dev, err)
					return
				}
				if d.Updates[0].State == core.StateSucceeded {
					if d.Version != "1.0.0" {
						torn <- fmt.Sprintf("Device(%s) = update succeeded, device on %q, want 1.0.0",
							dev, d.Version)
					}
					return
				}
			}
		})
	}
	for i := range n {
		f.ddiRecord(t, fmt.Sprintf("d%d", i), ids[i], "succeeded", "")
	}
	wg.Wait()
	close(torn)
	for msg := range torn {
		t.Error(msg)
	}
}
