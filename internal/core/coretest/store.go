package coretest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// StoreSuite checks that a core.Store implementation keeps the contract
// documented on the interface. newStore must return an empty store that no
// other test uses; each subtest calls it once.
//
// Where the contract says "newest", the suite creates objects in the same
// order as their timestamps, so an implementation may order by either.
// Times it compares exactly are whole milliseconds, the precision the
// contract promises; one subtest checks how finer times come back.
func StoreSuite(t *testing.T, newStore func(t *testing.T) core.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s core.Store)
	}{
		{"NotFound", testStoreNotFound},
		{"Conflict", testStoreConflict},
		{"ProductCreate", testProductCreate},
		{"Products", testProducts},
		{"SaveProduct", testSaveProduct},
		{"Releases", testReleases},
		{"ReleaseBySHA256NewestWins", testReleaseBySHA256},
		{"SetReleaseSHA1", testSetReleaseSHA1},
		{"ReleaseByMD5NewestWins", testReleaseByMD5},
		{"Channels", testChannels},
		{"ProductKeys", testProductKeys},
		{"SignedReleaseAndCounters", testSignedReleaseAndCounters},
		{"Token", testToken},
		{"ListTokens", testListTokens},
		{"RevokeToken", testRevokeToken},
		{"TouchTokens", testTouchTokens},
		{"DeviceCredentials", testDeviceCredentials},
		{"DeviceCreate", testDeviceCreate},
		{"DevicesNamed", testDevicesNamed},
		{"SaveDevice", testSaveDevice},
		{"SaveDeviceSettings", testSaveDeviceSettings},
		{"TouchDevices", testTouchDevices},
		{"TouchDevicesServed", testTouchDevicesServed},
		{"ProductDevices", testProductDevices},
		{"DevicesFilter", testDevicesFilter},
		{"DevicesLatest", testDevicesLatest},
		{"DevicesDefaultLimit", testDevicesDefaultLimit},
		{"UpdateCreate", testUpdateCreate},
		{"OpenUpdate", testOpenUpdate},
		{"OneOpenUpdate", testOneOpenUpdate},
		{"Updates", testUpdates},
		{"SaveUpdate", testSaveUpdate},
		{"Failures", testFailures},
		{"Events", testEvents},
		{"LastEvent", testLastEvent},
		{"RolloutCreate", testRolloutCreate},
		{"RolloutEmptyLists", testRolloutEmptyLists},
		{"RolloutConflict", testRolloutConflict},
		{"Rollouts", testRollouts},
		{"ActiveRollout", testActiveRollout},
		{"ActiveRollouts", testActiveRollouts},
		{"SaveRollout", testSaveRollout},
		{"RolloutUpdates", testRolloutUpdates},
		{"RolloutLoad", testRolloutLoad},
		{"AuditAdd", testAuditAdd},
		{"AuditFilter", testAuditFilter},
		{"AuditDefaultLimit", testAuditDefaultLimit},
		{"Webhook", testWebhook},
		{"Deliveries", testDeliveries},
		{"DueDeliveries", testDueDeliveries},
		{"SaveDelivery", testSaveDelivery},
		{"CommandCreate", testCommandCreate},
		{"CommandLists", testCommandLists},
		{"SaveCommand", testSaveCommand},
		{"DueCommands", testDueCommands},
		{"CommandEvents", testCommandEvents},
		{"NudgeConfig", testNudgeConfig},
		{"Nudges", testNudges},
		{"DueNudges", testDueNudges},
		{"SaveNudge", testSaveNudge},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"TxNested", testTxNested},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"AttributesRoundTrip", testAttributesRoundTrip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

// at returns a fixed, millisecond-aligned instant plus the given minutes, so
// that times survive a round trip exactly and tests read as a timeline.
func at(minute int) time.Time {
	base := time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	return base.Add(time.Duration(minute) * time.Minute)
}

// fakeSHA256 returns a well-formed lowercase hex SHA-256 made of c.
func fakeSHA256(c string) string {
	return strings.Repeat(c, 64)
}

func mkProduct(t testing.TB, s core.Store, name string) core.Product {
	t.Helper()
	p := core.Product{Name: name, Access: core.AccessPublic, CreatedAt: at(0)}
	if err := s.CreateProduct(t.Context(), &p); err != nil {
		t.Fatalf("CreateProduct(%q) = %v, want nil", name, err)
	}
	return p
}

// mkRelease creates a release created at at(minute).
func mkRelease(t testing.TB, s core.Store, productID int64, version string, minute int) core.Release {
	t.Helper()
	r := core.Release{
		ProductID: productID,
		Version:   version,
		Digests: core.Digests{
			Size:   int64(1000 + minute),
			CRC32:  0xcbf43926,
			MD5:    strings.Repeat("0", 32),
			SHA256: fakeSHA256("e"),
			SHA1:   strings.Repeat("1", 40),
		},
		Notes:     "notes for " + version,
		CreatedAt: at(minute),
	}
	return mkReleaseFrom(t, s, r)
}

func mkReleaseFrom(t testing.TB, s core.Store, r core.Release) core.Release {
	t.Helper()
	if err := s.CreateRelease(t.Context(), &r); err != nil {
		t.Fatalf("CreateRelease(%q) = %v, want nil", r.Version, err)
	}
	return r
}

func mkDevice(t testing.TB, s core.Store, productID int64, name string) core.Device {
	t.Helper()
	d := core.Device{
		ProductID:   productID,
		Name:        name,
		Channel:     core.DefaultChannel,
		Version:     "1.0",
		ImageSHA256: fakeSHA256("a"),
		Attributes:  map[string]string{"board": "rev-b"},
		FirstSeen:   at(0),
		LastSeen:    at(0),
	}
	if err := s.CreateDevice(t.Context(), &d); err != nil {
		t.Fatalf("CreateDevice(%q) = %v, want nil", name, err)
	}
	return d
}

// update returns an update of d to r in state, created at at(minute); a
// terminal one also finished then.
func update(d core.Device, r core.Release, state core.State, minute int) core.Update {
	u := core.Update{
		DeviceID:    d.ID,
		ReleaseID:   r.ID,
		Version:     r.Version,
		FromVersion: d.Version,
		State:       state,
		Progress:    int64(minute),
		CreatedAt:   at(minute),
		UpdatedAt:   at(minute),
	}
	if state.Terminal() {
		u.FinishedAt = at(minute)
	}
	if state == core.StateFailed {
		u.Reason = "checksum mismatch"
	}
	return u
}

func mkUpdate(t testing.TB, s core.Store, u core.Update) core.Update {
	t.Helper()
	if err := s.CreateUpdate(t.Context(), &u); err != nil {
		t.Fatalf("CreateUpdate(device %d, release %d) = %v, want nil", u.DeviceID, u.ReleaseID, err)
	}
	return u
}

func mkEvent(t testing.TB, s core.Store, e core.Event) core.Event {
	t.Helper()
	if err := s.AddEvent(t.Context(), &e); err != nil {
		t.Fatalf("AddEvent(%+v) = %v, want nil", e, err)
	}
	return e
}

// The norm functions make values from different stores comparable with
// reflect.DeepEqual: times in UTC at millisecond precision, and nil for an
// empty map or slice.

func normTime(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(tm.UnixMilli()).UTC()
}

func normProduct(p core.Product) core.Product {
	p.CreatedAt = normTime(p.CreatedAt)
	return p
}

func normRelease(r core.Release) core.Release {
	r.CreatedAt = normTime(r.CreatedAt)
	return r
}

func normChannel(c core.Channel) core.Channel {
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

func normDevice(d core.Device) core.Device {
	d.FirstSeen = normTime(d.FirstSeen)
	d.LastSeen = normTime(d.LastSeen)
	d.AssignedAt = normTime(d.AssignedAt)
	if len(d.Attributes) == 0 {
		d.Attributes = nil
	}
	d.Tags = nilIfEmpty(d.Tags)
	return d
}

func normUpdate(u core.Update) core.Update {
	u.CreatedAt = normTime(u.CreatedAt)
	u.UpdatedAt = normTime(u.UpdatedAt)
	u.FinishedAt = normTime(u.FinishedAt)
	return u
}

func normStatus(ds core.DeviceStatus) core.DeviceStatus {
	ds.Device = normDevice(ds.Device)
	if ds.Latest != nil {
		u := normUpdate(*ds.Latest)
		ds.Latest = &u
	}
	return ds
}

func normEvent(e core.Event) core.Event {
	e.At = normTime(e.At)
	return e
}

func normToken(tk core.Token) core.Token {
	tk.CreatedAt = normTime(tk.CreatedAt)
	tk.RevokedAt = normTime(tk.RevokedAt)
	tk.LastUsedAt = normTime(tk.LastUsedAt)
	return tk
}

// normAll applies norm to each element; nil and empty slices both become
// empty, since the contract does not tell them apart.
func normAll[T any](xs []T, norm func(T) T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = norm(x)
	}
	return out
}

// nilIfEmpty returns nil for an empty slice, which the contract does not
// tell from a nil one.
func nilIfEmpty[T any](xs []T) []T {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// same reports whether got and want are equal once both are normalised.
func same[T any](got, want T, norm func(T) T) bool {
	return reflect.DeepEqual(norm(got), norm(want))
}
