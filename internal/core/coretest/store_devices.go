package coretest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func testDeviceCreate(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "SN-0001:a")
	if d.ID == 0 {
		t.Errorf("CreateDevice(%q) left ID 0, want it set", d.Name)
	}

	got, err := s.Device(t.Context(), p.ID, d.Name)
	if err != nil || !same(got, d, normDevice) {
		t.Errorf("Device(%d, %q) = %+v, %v, want %+v, nil", p.ID, d.Name, got, err, d)
	}
}

func testDevicesNamed(t *testing.T, s core.Store) {
	ctx := t.Context()
	p1 := mkProduct(t, s, "widget")
	p2 := mkProduct(t, s, "gadget")
	// Created against product ID order, which the listing must follow.
	d2 := mkDevice(t, s, p2.ID, "dev-1")
	d1 := mkDevice(t, s, p1.ID, "dev-1")
	mkDevice(t, s, p1.ID, "dev-2")

	got, err := s.DevicesNamed(ctx, "dev-1")
	want := []core.Device{d1, d2}
	if err != nil || !same(got, want, normDevices) {
		t.Errorf("DevicesNamed(%q) = %+v, %v, want %+v, nil", "dev-1", got, err, want)
	}
	got, err = s.DevicesNamed(ctx, "nobody")
	if err != nil || len(got) != 0 {
		t.Errorf("DevicesNamed(%q) = %+v, %v, want none, nil", "nobody", got, err)
	}
}

func testSaveDevice(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	d := mkDevice(t, s, p.ID, "dev-1")
	if err := s.TouchDevices(ctx, map[int64]core.Touch{d.ID: {Bytes: 500}}); err != nil {
		t.Fatalf("TouchDevices() = %v, want nil", err)
	}

	// Only the mutable fields are written: first seen and bytes served keep
	// what is stored, so a save cannot undo a concurrent touch.
	saved := d
	saved.Channel = "beta"
	saved.Version = "1.1"
	saved.ImageSHA256 = fakeSHA256("b")
	saved.Attributes = map[string]string{"board": "rev-c", "rssi": "-71"}
	saved.LastSeen = at(30)
	saved.FirstSeen = at(-30)
	saved.BytesServed = 7
	if err := s.SaveDevice(ctx, saved); err != nil {
		t.Fatalf("SaveDevice(%+v) = %v, want nil", saved, err)
	}

	want := saved
	want.FirstSeen = d.FirstSeen
	want.BytesServed = 500
	got, err := s.Device(ctx, p.ID, d.Name)
	if err != nil || !same(got, want, normDevice) {
		t.Errorf("Device(%d, %q) after SaveDevice = %+v, %v, want %+v, nil",
			p.ID, d.Name, got, err, want)
	}
}

func testTouchDevices(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	ahead := mkDevice(t, s, p.ID, "ahead")
	behind := mkDevice(t, s, p.ID, "behind")
	never := mkDevice(t, s, p.ID, "never")
	// ahead and behind were last seen at the same time; never was not seen.
	ahead.LastSeen, behind.LastSeen, never.LastSeen = at(10), at(10), time.Time{}
	for _, d := range []core.Device{ahead, behind, never} {
		if err := s.SaveDevice(ctx, d); err != nil {
			t.Fatalf("SaveDevice(%q) = %v, want nil", d.Name, err)
		}
	}

	// Two batches, as the hot path would send them; an unknown ID is
	// ignored and an empty batch is fine.
	batches := []map[int64]core.Touch{
		{
			ahead.ID:        {Seen: at(20), Bytes: 100},
			behind.ID:       {Seen: at(5), Bytes: 7},
			never.ID + 1000: {Seen: at(1)},
		},
		{ahead.ID: {Bytes: 50}, never.ID: {Seen: at(1), Bytes: 1}},
		{},
	}
	for i, b := range batches {
		if err := s.TouchDevices(ctx, b); err != nil {
			t.Fatalf("TouchDevices(batch %d) = %v, want nil", i, err)
		}
	}

	tests := []struct {
		name      string
		wantSeen  int // minutes, as for at
		wantBytes int64
	}{
		{"ahead", 20, 150},
		{"behind", 10, 7},
		{"never", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Device(ctx, p.ID, tt.name)
			if err != nil {
				t.Fatalf("Device(%d, %q) = %v, want nil", p.ID, tt.name, err)
			}
			if !got.LastSeen.Equal(at(tt.wantSeen)) || got.BytesServed != tt.wantBytes {
				t.Errorf("Device(%d, %q) LastSeen, BytesServed = %v, %d, want %v, %d",
					p.ID, tt.name, got.LastSeen, got.BytesServed, at(tt.wantSeen), tt.wantBytes)
			}
		})
	}
}

func testSaveDeviceSettings(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r1 := mkRelease(t, s, p.ID, "1.1", 1)
	r2 := mkRelease(t, s, p.ID, "1.2", 2)
	ro := mkRollout(t, s, rollout(p, r2, core.RolloutRunning, 3))
	d := mkDevice(t, s, p.ID, "dev-1")

	set := d
	set.Tags = []string{"board=rev-b", "lab", "Grüße \"quoted\""}
	set.PinnedReleaseID = r1.ID
	set.Excluded = true
	set.Poll = 90 * time.Second
	set.AssignedReleaseID = r2.ID
	set.AssignedRolloutID = ro.ID
	set.AssignedAt = at(4)
	// Saving the settings and then clearing them must both round-trip;
	// cleared tags may come back nil or empty.
	cleared := d
	cleared.Tags = []string{}
	for _, want := range []core.Device{set, cleared} {
		if err := s.SaveDevice(ctx, want); err != nil {
			t.Fatalf("SaveDevice(%+v) = %v, want nil", want, err)
		}
		got, err := s.Device(ctx, p.ID, d.Name)
		if err != nil || !same(got, want, normDevice) {
			t.Errorf("Device(%d, %q) after SaveDevice = %+v, %v, want %+v, nil",
				p.ID, d.Name, got, err, want)
		}
	}
}

func testTouchDevicesServed(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r := mkRelease(t, s, p.ID, "1.1", 1)
	other := mkRelease(t, s, p.ID, "1.2", 2)
	busy := mkDevice(t, s, p.ID, "busy")
	idle := mkDevice(t, s, p.ID, "idle")
	done := mkUpdate(t, s, update(busy, r, core.StateFailed, 2))
	open := mkUpdate(t, s, update(busy, r, core.StateDownloading, 3))
	idleDone := mkUpdate(t, s, update(idle, r, core.StateSucceeded, 3))
	idleOther := mkUpdate(t, s, update(idle, other, core.StateCanceled, 4))

	batches := []map[int64]core.Touch{
		{busy.ID: {Seen: at(4), Bytes: 4096, ReleaseID: r.ID}, idle.ID: {Seen: at(4), Bytes: 100, ReleaseID: r.ID}},
		{busy.ID: {Bytes: 1024, ReleaseID: r.ID}},
		{busy.ID: {Seen: at(5)}},
		{busy.ID: {Bytes: 7}},
	}
	for i, b := range batches {
		if err := s.TouchDevices(ctx, b); err != nil {
			t.Fatalf("TouchDevices(batch %d) = %v, want nil", i, err)
		}
	}

	// Bytes go to the device's latest update to their release, finished
	// or not (a fast update may finish before its bytes are flushed); bytes
	// of no release go to no update.
	tests := []struct {
		name       string
		id         int64
		wantServed int64
	}{
		{"Latest", open.ID, 5120},
		{"Earlier", done.ID, 0},
		{"LatestFinished", idleDone.ID, 100},
		{"OtherRelease", idleOther.ID, 0},
	}
	for _, tt := range tests {
		got, err := s.Update(ctx, tt.id)
		if err != nil || got.Served != tt.wantServed {
			t.Errorf("%s: Update(%d).Served = %d, %v, want %d, nil", tt.name, tt.id, got.Served, err, tt.wantServed)
		}
	}
	if got, err := s.Device(ctx, p.ID, busy.Name); err != nil || got.BytesServed != 5127 {
		t.Errorf("Device(%d, %q).BytesServed = %d, %v, want 5127 (7 of no release), nil",
			p.ID, busy.Name, got.BytesServed, err)
	}

	// SaveUpdate leaves Served to TouchDevices.
	open.State, open.Served = core.StateSucceeded, 1
	open.UpdatedAt, open.FinishedAt = at(6), at(6)
	if err := s.SaveUpdate(ctx, open); err != nil {
		t.Fatalf("SaveUpdate(%+v) = %v, want nil", open, err)
	}
	if got, err := s.Update(ctx, open.ID); err != nil || got.Served != 5120 {
		t.Errorf("Update(%d).Served after SaveUpdate = %d, %v, want 5120, nil", open.ID, got.Served, err)
	}
}

func testProductDevices(t *testing.T, s core.Store) {
	ctx := t.Context()
	p1 := mkProduct(t, s, "widget")
	p2 := mkProduct(t, s, "gadget")
	// Created against name order, which the listing must follow.
	c := mkDevice(t, s, p1.ID, "c")
	mkDevice(t, s, p2.ID, "b")
	a := mkDevice(t, s, p1.ID, "a")
	b := mkDevice(t, s, p1.ID, "b")
	idle := mkProduct(t, s, "idle")

	tests := []struct {
		name      string
		productID int64
		want      []core.Device
	}{
		{"Product", p1.ID, []core.Device{a, b, c}},
		{"NoDevices", idle.ID, []core.Device{}},
		{"NoSuchProduct", idle.ID + 1000, []core.Device{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ProductDevices(ctx, tt.productID)
			if err != nil || !same(got, tt.want, normDevices) {
				t.Errorf("ProductDevices(%d) = %+v, %v, want %+v, nil", tt.productID, got, err, tt.want)
			}
		})
	}
}

// fleet is two products with devices whose latest updates differ from
// earlier ones, for the listing tests.
type fleet struct {
	widget, gadget core.Product
	// a1 last succeeded after failing; a2 is offered an update; a3 never
	// had one; b1's latest failed.
	a1, a2, a3, b1 core.Device
	a1Latest       core.Update
}

func mkFleet(t testing.TB, s core.Store) fleet {
	t.Helper()
	var f fleet
	f.widget = mkProduct(t, s, "widget")
	f.gadget = mkProduct(t, s, "gadget")
	rw := mkRelease(t, s, f.widget.ID, "1.1", 1)
	rg := mkRelease(t, s, f.gadget.ID, "2.0", 1)

	f.a1 = mkDevice(t, s, f.widget.ID, "a1")
	f.a2 = mkDevice(t, s, f.widget.ID, "a2")
	f.a3 = mkDevice(t, s, f.widget.ID, "a3")
	f.b1 = mkDevice(t, s, f.gadget.ID, "b1")
	f.a2.Version = "1.1"
	if err := s.SaveDevice(t.Context(), f.a2); err != nil {
		t.Fatalf("SaveDevice(%q) = %v, want nil", f.a2.Name, err)
	}

	mkUpdate(t, s, update(f.a1, rw, core.StateFailed, 2))
	mkUpdate(t, s, update(f.b1, rg, core.StateFailed, 3))
	mkUpdate(t, s, update(f.a2, rw, core.StateOffered, 4))
	f.a1Latest = mkUpdate(t, s, update(f.a1, rw, core.StateSucceeded, 5))
	return f
}

func testDevicesFilter(t *testing.T, s core.Store) {
	f := mkFleet(t, s)
	widget, gadget := f.widget.ID, f.gadget.ID
	tests := []struct {
		name   string
		filter core.DeviceFilter
		want   []string
	}{
		{"All", core.DeviceFilter{}, []string{"a1", "a2", "a3", "b1"}},
		{"Product", core.DeviceFilter{ProductID: gadget}, []string{"b1"}},
		{"Version", core.DeviceFilter{Version: "1.0"}, []string{"a1", "a3", "b1"}},
		{"LatestSucceeded", core.DeviceFilter{State: core.StateSucceeded}, []string{"a1"}},
		{"LatestFailed", core.DeviceFilter{State: core.StateFailed}, []string{"b1"}},
		{"ProductAndVersion", core.DeviceFilter{ProductID: widget, Version: "1.0"}, []string{"a1", "a3"}},
		{"ProductAndState", core.DeviceFilter{ProductID: gadget, State: core.StateOffered}, []string{}},
		{"Limit", core.DeviceFilter{Limit: 2}, []string{"a1", "a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Devices(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("Devices(%+v) = %v, want nil", tt.filter, err)
			}
			names := []string{}
			for _, ds := range got {
				names = append(names, ds.Name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("Devices(%+v) = %q, want %q", tt.filter, names, tt.want)
			}
		})
	}
}

func testDevicesLatest(t *testing.T, s core.Store) {
	f := mkFleet(t, s)
	got, err := s.Devices(t.Context(), core.DeviceFilter{ProductID: f.widget.ID})
	if err != nil {
		t.Fatalf("Devices(product %d) = %v, want nil", f.widget.ID, err)
	}
	if len(got) != 3 {
		t.Fatalf("Devices(product %d) returned %d devices, want 3", f.widget.ID, len(got))
	}

	// a1 failed, then succeeded: the later update is its latest.
	want := core.DeviceStatus{Device: f.a1, Latest: &f.a1Latest}
	if !same(got[0], want, normStatus) {
		t.Errorf("Devices(product %d)[0] = %s, want %s",
			f.widget.ID, showStatus(got[0]), showStatus(want))
	}
	want = core.DeviceStatus{Device: f.a3}
	if !same(got[2], want, normStatus) {
		t.Errorf("Devices(product %d)[2] = %s, want %s",
			f.widget.ID, showStatus(got[2]), showStatus(want))
	}
}

func testDevicesDefaultLimit(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	const n = 1001
	err := s.Tx(ctx, func(tx core.Store) error {
		for i := range n {
			d := core.Device{ProductID: p.ID, Name: fmt.Sprintf("dev-%04d", i), FirstSeen: at(0)}
			if err := tx.CreateDevice(ctx, &d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx(create %d devices) = %v, want nil", n, err)
	}

	tests := []struct {
		limit int
		want  int
	}{
		{0, 1000},
		{n, n},
		{10, 10},
	}
	for _, tt := range tests {
		got, err := s.Devices(ctx, core.DeviceFilter{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Errorf("Devices(Limit: %d) returned %d devices, %v, want %d, nil",
				tt.limit, len(got), err, tt.want)
		}
	}
}

// showStatus prints a DeviceStatus with its latest update, which %+v
// would show as a pointer.
func showStatus(ds core.DeviceStatus) string {
	if ds.Latest == nil {
		return fmt.Sprintf("%+v latest <nil>", ds.Device)
	}
	return fmt.Sprintf("%+v latest %+v", ds.Device, *ds.Latest)
}

func normDevices(ds []core.Device) []core.Device { return normAll(ds, normDevice) }
