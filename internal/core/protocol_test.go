package core_test

import (
	"errors"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// ddiCheckIn is a DDI poll: it never says what the device runs.
func (f *fixture) ddiCheckIn(t *testing.T, dev string) core.Decision {
	t.Helper()
	d, err := f.svc.CheckIn(t.Context(), f.p, core.CheckIn{Device: dev, Protocol: core.ProtocolDDI})
	if err != nil {
		t.Fatalf("CheckIn(%s, ddi): %v", dev, err)
	}
	return d
}

func (f *fixture) ddiRecord(t *testing.T, dev string, id int64, state, detail string) core.Receipt {
	t.Helper()
	rc, err := f.svc.Record(t.Context(), f.p, core.Report{Device: dev, UpdateID: id, State: state, Detail: detail,
		Protocol: core.ProtocolDDI})
	if err != nil {
		t.Fatalf("Record(%s, %d, %s): %v", dev, id, state, err)
	}
	return rc
}

func TestDDISuccessReportIsProof(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	dec := f.ddiCheckIn(t, "d1")
	if dec.Update == nil || dec.Release.Version != "1.1.0" {
		t.Fatalf("first DDI check-in = %+v, want an offer of 1.1.0", dec.Update)
	}
	id := dec.Update.ID
	f.ddiRecord(t, "d1", id, "installing", "All Chunks Installed.")

	rc := f.ddiRecord(t, "d1", id, "succeeded", "Update Installed.")
	if rc.Update.State != core.StateSucceeded || rc.Late || rc.Repeat {
		t.Fatalf("closed/success over ddi = %s late %v repeat %v, want succeeded, neither", rc.Update.State,
			rc.Late, rc.Repeat)
	}
	u, d := f.latest(t, "d1")
	if u.State != core.StateSucceeded || d.Version != "1.1.0" {
		t.Errorf("after closed/success: update %s, device on %q, want succeeded on 1.1.0", u.State, d.Version)
	}
	if dec := f.ddiCheckIn(t, "d1"); dec.Update != nil || dec.Installed == nil || dec.Installed.ID != id {
		t.Errorf("DDI check-in after success = offer %+v installed %+v, want no offer and installed %d",
			dec.Update, dec.Installed, id)
	}

	// The same report again, after a lost answer, is a repeat; a failure
	// afterwards is kept in the history but changes no outcome.
	if rc := f.ddiRecord(t, "d1", id, "succeeded", "Update Installed."); !rc.Repeat {
		t.Errorf("repeated closed/success = %+v, want Repeat", rc)
	}
	rc = f.ddiRecord(t, "d1", id, "failed", "Update Failed.")
	if !rc.Late || rc.Update.State != core.StateSucceeded {
		t.Errorf("failure after success = %s late %v, want succeeded and late", rc.Update.State, rc.Late)
	}
	_, d = f.latest(t, "d1")
	if last := d.Events[len(d.Events)-1]; last.State != core.StateFailed || last.Detail != "Update Failed." {
		t.Errorf("last event after the late failure = %+v, want the failure report", last)
	}
}

func TestOtherProtocolSuccessIsOnlyAClaim(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.publish(t, "1.1.0")
	f.checkIn(t, "d1", "1.0.0")
	if u := f.report(t, "d1", "succeeded"); u.State != core.StateRebooting {
		t.Errorf("succeeded over a protocol with version check-ins = %s, want rebooting", u.State)
	}
	if _, d := f.latest(t, "d1"); d.Version != "1.0.0" {
		t.Errorf("device version after a mere claim = %q, want 1.0.0", d.Version)
	}
}

func TestDDINoteKeepsState(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.1.0")
	id := f.ddiCheckIn(t, "d1").Update.ID
	rc, err := f.svc.Record(t.Context(), f.p, core.Report{Device: "d1", UpdateID: id, Note: true,
		Detail: "the device rejected the update", Protocol: core.ProtocolDDI})
	if err != nil || rc.Update.State != core.StateOffered {
		t.Fatalf("Record(note) = %s, %v, want offered, nil", rc.Update.State, err)
	}
	_, d := f.latest(t, "d1")
	if last := d.Events[len(d.Events)-1]; last.Detail != "the device rejected the update" {
		t.Errorf("last event = %+v, want the note", last)
	}
}

func TestDDICancelPendsUntilAnswered(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	first := f.ddiCheckIn(t, "d1").Update
	f.ddiRecord(t, "d1", first.ID, "downloading", "")
	f.publish(t, "1.1.0") // supersedes what d1 was given

	for range 2 {
		dec := f.ddiCheckIn(t, "d1")
		if dec.Cancel == nil || dec.Cancel.ID != first.ID || dec.Update != nil {
			t.Fatalf("DDI check-in after the channel moved = cancel %+v offer %+v, want cancel of %d alone",
				dec.Cancel, dec.Update, first.ID)
		}
	}
	if _, err := f.svc.AnswerCancel(t.Context(), f.p, core.CancelAnswer{Device: "d1", UpdateID: first.ID,
		Detail: "working on it", Protocol: core.ProtocolDDI}); err != nil {
		t.Fatal(err)
	}
	if dec := f.ddiCheckIn(t, "d1"); dec.Cancel == nil {
		t.Fatalf("DDI check-in after a non-final answer = %+v, want the cancel still", dec)
	}

	ans := core.CancelAnswer{Device: "d1", UpdateID: first.ID, Final: true, Accepted: true,
		Detail: "cancellation acknowledged.", Protocol: core.ProtocolDDI}
	for range 2 { // the second is a device retrying: recorded once
		if _, err := f.svc.AnswerCancel(t.Context(), f.p, ans); err != nil {
			t.Fatal(err)
		}
	}
	dec := f.ddiCheckIn(t, "d1")
	if dec.Cancel != nil || dec.Update == nil || dec.Release.Version != "1.1.0" {
		t.Errorf("DDI check-in after the acknowledgement = cancel %+v offer %+v, want an offer of 1.1.0",
			dec.Cancel, dec.Update)
	}
	_, d := f.latest(t, "d1")
	acks := 0
	for _, e := range d.Events {
		if e.UpdateID == first.ID && e.Detail == "cancel acknowledged: cancellation acknowledged." {
			acks++
		}
	}
	if acks != 1 {
		t.Errorf("history holds %d acknowledgements of the cancel, want 1", acks)
	}

	if _, err := f.svc.AnswerCancel(t.Context(), f.p, core.CancelAnswer{Device: "d1", UpdateID: dec.Update.ID,
		Final: true, Accepted: true, Protocol: core.ProtocolDDI}); !errors.Is(err, core.ErrState) {
		t.Errorf("AnswerCancel(open update) = %v, want ErrState", err)
	}
}

func TestCancelOverOtherProtocolsIsNotPending(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.publish(t, "1.0.0")
	f.checkIn(t, "d1", "0.9.0")
	f.publish(t, "1.1.0")
	if dec := f.checkIn(t, "d1", "0.9.0"); dec.Update == nil || dec.Release.Version != "1.1.0" {
		t.Errorf("check-in after the channel moved = %+v, want an offer of 1.1.0", dec.Update)
	}
	_, d := f.latest(t, "d1")
	if old := d.Updates[1]; old.State != core.StateCanceled || old.CancelPending {
		t.Errorf("superseded update = %s pending %v, want canceled, not pending", old.State, old.CancelPending)
	}
}

func TestDeviceUpdateAndReleaseAreTheDevices(t *testing.T) {
	f := newFixture(t, core.Config{})
	r := f.publish(t, "1.0.0")
	mine := f.ddiCheckIn(t, "d1").Update
	theirs := f.ddiCheckIn(t, "d2").Update
	if _, _, err := f.svc.DeviceUpdate(t.Context(), f.p, "d1", theirs.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DeviceUpdate(d1, update of d2) = %v, want ErrNotFound", err)
	}
	if u, rel, err := f.svc.DeviceUpdate(t.Context(), f.p, "d1", mine.ID); err != nil || u.ID != mine.ID ||
		rel.ID != r.ID {
		t.Errorf("DeviceUpdate(d1, own) = %d %d, %v, want %d %d", u.ID, rel.ID, err, mine.ID, r.ID)
	}
	if _, _, err := f.svc.DeviceRelease(t.Context(), f.p, "d1", r.ID); err != nil {
		t.Errorf("DeviceRelease(d1, offered release) = %v, want nil", err)
	}
	old := f.publish(t, "1.1.0")
	if _, _, err := f.svc.DeviceRelease(t.Context(), f.p, "d1", old.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DeviceRelease(d1, release it was not given) = %v, want ErrNotFound", err)
	}
}

func TestSetAttributes(t *testing.T) {
	f := newFixture(t, core.Config{})
	f.ddiCheckIn(t, "d1")
	ctx := t.Context()
	steps := []struct {
		mode string
		data map[string]string
		want map[string]string
	}{
		{"", map[string]string{"board": "a", "rev": "1"}, map[string]string{"board": "a", "rev": "1"}},
		{"merge", map[string]string{"rev": "2"}, map[string]string{"board": "a", "rev": "2"}},
		{"remove", map[string]string{"board": "ignored"}, map[string]string{"rev": "2"}},
		{"replace", map[string]string{"x": "y"}, map[string]string{"x": "y"}},
	}
	for _, st := range steps {
		d, err := f.svc.SetAttributes(ctx, f.p, "d1", st.mode, st.data)
		if err != nil || len(d.Attributes) != len(st.want) {
			t.Fatalf("SetAttributes(%q, %v) = %v, %v, want %v", st.mode, st.data, d.Attributes, err, st.want)
		}
		for k, v := range st.want {
			if d.Attributes[k] != v {
				t.Errorf("SetAttributes(%q, %v) = %v, want %v", st.mode, st.data, d.Attributes, st.want)
			}
		}
	}

	many := make(map[string]string)
	for i := range core.MaxAttributes {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	bad := []struct {
		mode string
		data map[string]string
	}{
		{"sideways", nil},
		{"merge", many}, // with x, one more than allowed
		{"merge", map[string]string{"": "v"}},
		{"merge", map[string]string{"k": string(make([]byte, core.MaxAttrValueLen+1))}},
	}
	for _, b := range bad {
		if _, err := f.svc.SetAttributes(ctx, f.p, "d1", b.mode, b.data); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("SetAttributes(%q, %d attributes) = %v, want ErrInvalid", b.mode, len(b.data), err)
		}
	}
	d, err := f.svc.Device(ctx, "sensor", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Attributes) != 1 || d.Attributes["x"] != "y" {
		t.Errorf("attributes after refused changes = %v, want x=y alone", d.Attributes)
	}
	if _, err := f.svc.SetAttributes(ctx, f.p, "nobody", "", nil); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetAttributes(unknown device) = %v, want ErrNotFound", err)
	}
}

func TestReleaseSHA1(t *testing.T) {
	f := newFixture(t, core.Config{})
	r := f.publish(t, "1.0.0")
	if len(r.SHA1) != 40 {
		t.Fatalf("PublishRelease SHA1 = %q, want 40 hex digits", r.SHA1)
	}
	old := r
	old.SHA1 = "" // as a release published before SHA-1s were recorded
	got, err := f.svc.ReleaseSHA1(t.Context(), old)
	if err != nil || got != r.SHA1 {
		t.Errorf("ReleaseSHA1(without one) = %q, %v, want %q", got, err, r.SHA1)
	}
}

func TestGatewayAndIssuedTokens(t *testing.T) {
	f := newFixture(t, core.Config{})
	ctx := t.Context()
	_, key, err := f.svc.CreateProduct(ctx, "locked", core.AccessKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthorizeGateway(ctx, "locked", key); err != nil {
		t.Errorf("AuthorizeGateway(enrollment key) = %v, want nil", err)
	}
	if _, err := f.svc.AuthorizeGateway(ctx, "locked", "wrong"); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeGateway(wrong key) = %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.AuthorizeGateway(ctx, "sensor", ""); err != nil {
		t.Errorf("AuthorizeGateway(public product, none) = %v, want nil", err)
	}

	tok, err := f.svc.IssueDeviceToken(ctx, "locked", "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, dev, err := f.svc.AuthorizeDevice(ctx, "locked", tok); err != nil || dev != "gw-1" {
		t.Errorf("AuthorizeDevice(issued token) = %q, %v, want gw-1, nil", dev, err)
	}
	again, err := f.svc.IssueDeviceToken(ctx, "locked", "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AuthorizeDevice(ctx, "locked", tok); !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("AuthorizeDevice(token issued before %s…) = %v, want ErrUnauthorized", again[:6], err)
	}
	if _, err := f.svc.IssueDeviceToken(ctx, "sensor", "d1"); !errors.Is(err, core.ErrState) {
		t.Errorf("IssueDeviceToken(public product) = %v, want ErrState", err)
	}
}
