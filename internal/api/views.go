package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// The JSON shapes of docs/api.md.

type productView struct {
	Name       string    `json:"name"`
	Access     string    `json:"access"`
	CreatedAt  time.Time `json:"created_at"`
	PollIdle   string    `json:"poll_idle,omitempty"`
	PollActive string    `json:"poll_active,omitempty"`
	EnrollKey  string    `json:"enroll_key,omitempty"`
	// RequireSignature refuses unsigned releases.
	RequireSignature bool `json:"require_signature"`
	// Board and Loader are the board profile; empty without one.
	Board  string `json:"board,omitempty"`
	Loader string `json:"loader,omitempty"`
}

func viewProduct(p core.Product) productView {
	return productView{
		Name: p.Name, Access: string(p.Access), CreatedAt: p.CreatedAt,
		PollIdle: durationText(p.PollIdle), PollActive: durationText(p.PollActive),
		RequireSignature: p.RequireSignature, Board: p.Board, Loader: p.Loader,
	}
}

// durationText renders a duration as Go writes it ("1h0m0s"), or "" for
// zero, which every setting reads as "the default".
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

type releaseView struct {
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	Size      int64     `json:"size"`
	CRC32     string    `json:"crc32"`
	MD5       string    `json:"md5"`
	SHA256    string    `json:"sha256"`
	Notes     string    `json:"notes"`
	CreatedAt time.Time `json:"created_at"`
	Counter   int64     `json:"counter"`
	Signed    bool      `json:"signed"`
	// Derived are the files made from the image for the product's board
	// profile; omitted when there are none.
	Derived []derivedView `json:"derived,omitempty"`
}

type derivedView struct {
	Format string `json:"format"`
	Size   int64  `json:"size"`
	CRC32  string `json:"crc32"`
	MD5    string `json:"md5"`
	SHA256 string `json:"sha256"`
	// Saved is how many bytes the file saves against the image, and
	// SavedPercent that as a share of the image (negative when larger).
	Saved        int64   `json:"saved"`
	SavedPercent float64 `json:"saved_percent"`
}

func viewRelease(product string, r core.Release) releaseView {
	v := releaseView{
		Product: product, Version: r.Version, Size: r.Size, CRC32: fmt.Sprintf("%08x", r.CRC32),
		MD5: r.MD5, SHA256: r.SHA256, Notes: r.Notes, CreatedAt: r.CreatedAt,
		Counter: r.Counter, Signed: len(r.Signature) > 0,
	}
	for _, d := range r.Derived {
		saved, pct := r.Saved(d)
		v.Derived = append(v.Derived, derivedView{
			Format: string(d.Format), Size: d.Size, CRC32: fmt.Sprintf("%08x", d.CRC32), MD5: d.MD5,
			SHA256: d.SHA256, Saved: saved, SavedPercent: math.Round(pct*10) / 10,
		})
	}
	return v
}

type channelView struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewChannel(c core.ChannelView) channelView {
	return channelView{Name: c.Name, Version: c.Release.Version, SHA256: c.Release.SHA256, UpdatedAt: c.UpdatedAt}
}

type updateView struct {
	ID          int64      `json:"id"`
	Version     string     `json:"version"`
	FromVersion string     `json:"from_version"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	Progress    int64      `json:"progress"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

func viewUpdate(u *core.Update) *updateView {
	if u == nil {
		return nil
	}
	v := &updateView{
		ID: u.ID, Version: u.Version, FromVersion: u.FromVersion, State: string(u.State), Reason: u.Reason,
		Progress: u.Progress, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if !u.FinishedAt.IsZero() {
		t := u.FinishedAt
		v.FinishedAt = &t
	}
	return v
}

type deviceView struct {
	ID            string            `json:"id"`
	Product       string            `json:"product"`
	Channel       string            `json:"channel"`
	Version       string            `json:"version"`
	SHA256        string            `json:"sha256,omitempty"`
	Attributes    map[string]string `json:"attributes"`
	Tags          []string          `json:"tags"`
	PinnedVersion string            `json:"pinned_version,omitempty"`
	Excluded      bool              `json:"excluded"`
	Poll          string            `json:"poll,omitempty"`
	FirstSeen     time.Time         `json:"first_seen"`
	LastSeen      time.Time         `json:"last_seen"`
	BytesServed   int64             `json:"bytes_served"`
	Update        *updateView       `json:"update"`
}

// viewDevice shows d; pinned is the version of its pinned release, if any.
func viewDevice(product string, d core.Device, latest *core.Update, pinned string) deviceView {
	attrs := d.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	return deviceView{
		ID: d.Name, Product: product, Channel: d.Channel, Version: d.Version, SHA256: d.ImageSHA256,
		Attributes: attrs, Tags: tags, PinnedVersion: pinned, Excluded: d.Excluded, Poll: durationText(d.Poll),
		FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, BytesServed: d.BytesServed, Update: viewUpdate(latest),
	}
}

type eventView struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	UpdateID int64     `json:"update_id,omitempty"`
	State    string    `json:"state,omitempty"`
	Version  string    `json:"version,omitempty"`
	Progress int64     `json:"progress,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
}

type deviceDetailView struct {
	deviceView
	Updates []*updateView `json:"updates"`
	History []eventView   `json:"history"`
}

func viewDeviceDetail(d core.DeviceDetail, pinned string) deviceDetailView {
	var latest *core.Update
	if len(d.Updates) > 0 {
		latest = &d.Updates[0]
	}
	v := deviceDetailView{
		deviceView: viewDevice(d.Product, d.Device, latest, pinned),
		Updates:    make([]*updateView, len(d.Updates)),
		History:    make([]eventView, len(d.Events)),
	}
	for i := range d.Updates {
		v.Updates[i] = viewUpdate(&d.Updates[i])
	}
	for i, e := range d.Events {
		v.History[i] = eventView{
			At: e.At, Kind: string(e.Kind), UpdateID: e.UpdateID, State: string(e.State), Version: e.Version,
			Progress: e.Progress, Detail: e.Detail, Protocol: e.Protocol,
		}
	}
	return v
}

type rolloutView struct {
	ID              int64      `json:"id"`
	Product         string     `json:"product"`
	Version         string     `json:"version"`
	Channel         string     `json:"channel,omitempty"`
	Tags            []string   `json:"tags"`
	Devices         []string   `json:"devices"`
	Phases          string     `json:"phases"`
	Phase           int        `json:"phase"`
	State           string     `json:"state"`
	Reason          string     `json:"reason,omitempty"`
	AutoAdvance     bool       `json:"auto_advance"`
	Soak            string     `json:"soak,omitempty"`
	SuccessRate     float64    `json:"success_rate"`
	MaxConcurrent   int        `json:"max_concurrent"`
	OffersPerMinute int        `json:"offers_per_minute"`
	FailPercent     float64    `json:"fail_percent"`
	FailMinFinished int        `json:"fail_min_finished"`
	FailCount       int        `json:"fail_count"`
	CreatedBy       string     `json:"created_by"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	PhaseStartedAt  time.Time  `json:"phase_started_at"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
}

func viewRollout(product string, ro core.Rollout) rolloutView {
	labels := make([]string, len(ro.Phases))
	for i, ph := range ro.Phases {
		labels[i] = core.PhaseLabel(ph)
	}
	v := rolloutView{
		ID: ro.ID, Product: product, Version: ro.Version, Channel: ro.Selector.Channel,
		Tags: nonNil(ro.Selector.Tags), Devices: nonNil(ro.Selector.Devices), Phases: strings.Join(labels, ","),
		Phase: ro.Phase, State: string(ro.State), Reason: ro.Reason, AutoAdvance: ro.AutoAdvance,
		Soak: durationText(ro.Soak), SuccessRate: ro.SuccessRate, MaxConcurrent: ro.MaxConcurrent,
		OffersPerMinute: ro.OffersPerMinute, FailPercent: ro.FailPercent, FailMinFinished: ro.FailMinFinished,
		FailCount: ro.FailCount, CreatedBy: ro.CreatedBy, CreatedAt: ro.CreatedAt, UpdatedAt: ro.UpdatedAt,
		PhaseStartedAt: ro.PhaseStartedAt,
	}
	if !ro.FinishedAt.IsZero() {
		t := ro.FinishedAt
		v.FinishedAt = &t
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type phaseStatusView struct {
	Label         string         `json:"label"`
	Reached       bool           `json:"reached"`
	Selected      int            `json:"selected"`
	Pending       int            `json:"pending"`
	States        map[string]int `json:"states"`
	Succeeded     int            `json:"succeeded"`
	Failed        int            `json:"failed"`
	Reasons       map[string]int `json:"reasons"`
	SuccessRate   float64        `json:"success_rate"`
	MedianSeconds float64        `json:"median_seconds"`
	BytesServed   int64          `json:"bytes_served"`
}

func viewPhaseStatus(ph core.PhaseStatus) phaseStatusView {
	states := make(map[string]int, len(ph.States))
	for s, n := range ph.States {
		states[string(s)] = n
	}
	reasons := ph.Reasons
	if reasons == nil {
		reasons = map[string]int{}
	}
	return phaseStatusView{
		Label: ph.Label, Reached: ph.Reached, Selected: ph.Selected, Pending: ph.Pending, States: states,
		Succeeded: ph.Succeeded, Failed: ph.Failed, Reasons: reasons, SuccessRate: ph.SuccessRate,
		MedianSeconds: ph.MedianTime.Seconds(), BytesServed: ph.BytesServed,
	}
}

type rolloutStatusView struct {
	rolloutView
	Status []phaseStatusView `json:"status"`
	Total  phaseStatusView   `json:"total"`
	Hold   string            `json:"hold,omitempty"`
}

func viewRolloutStatus(st core.RolloutStatus) rolloutStatusView {
	v := rolloutStatusView{
		rolloutView: viewRollout(st.Product, st.Rollout),
		Status:      make([]phaseStatusView, len(st.Phases)),
		Total:       viewPhaseStatus(st.Total),
		Hold:        st.Hold,
	}
	for i, ph := range st.Phases {
		v.Status[i] = viewPhaseStatus(ph)
	}
	return v
}

type deliveryView struct {
	ID          int64      `json:"id"`
	Event       string     `json:"event"`
	Attempts    int        `json:"attempts"`
	NextAt      time.Time  `json:"next_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

func viewDelivery(d core.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, Event: d.Event, Attempts: d.Attempts, NextAt: d.NextAt, LastError: d.LastError,
		CreatedAt: d.CreatedAt,
	}
	if !d.DeliveredAt.IsZero() {
		t := d.DeliveredAt
		v.DeliveredAt = &t
	}
	return v
}

type auditView struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Product string          `json:"product,omitempty"`
	Object  string          `json:"object,omitempty"`
	Detail  json.RawMessage `json:"detail"`
}

func viewAudit(e core.AuditEntry) auditView {
	detail := json.RawMessage(e.Detail)
	switch {
	case e.Detail == "":
		detail = json.RawMessage("{}")
	case !json.Valid(detail):
		// Entries are written as JSON; should one not be, show its text
		// rather than break the whole listing.
		detail, _ = json.Marshal(e.Detail)
	}
	return auditView{
		ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Product: e.Product, Object: e.Object,
		Detail: detail,
	}
}
