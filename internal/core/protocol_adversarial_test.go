package core_test

import (
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
