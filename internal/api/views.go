package api

import (
	"fmt"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// The JSON shapes of docs/api.md.

type productView struct {
	Name      string    `json:"name"`
	Access    string    `json:"access"`
	CreatedAt time.Time `json:"created_at"`
	EnrollKey string    `json:"enroll_key,omitempty"`
}

func viewProduct(p core.Product) productView {
	return productView{Name: p.Name, Access: string(p.Access), CreatedAt: p.CreatedAt}
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
}

func viewRelease(product string, r core.Release) releaseView {
	return releaseView{
		Product: product, Version: r.Version, Size: r.Size, CRC32: fmt.Sprintf("%08x", r.CRC32),
		MD5: r.MD5, SHA256: r.SHA256, Notes: r.Notes, CreatedAt: r.CreatedAt,
	}
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
	ID          string            `json:"id"`
	Product     string            `json:"product"`
	Channel     string            `json:"channel"`
	Version     string            `json:"version"`
	SHA256      string            `json:"sha256,omitempty"`
	Attributes  map[string]string `json:"attributes"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
	BytesServed int64             `json:"bytes_served"`
	Update      *updateView       `json:"update"`
}

func viewDevice(product string, d core.Device, latest *core.Update) deviceView {
	attrs := d.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return deviceView{
		ID: d.Name, Product: product, Channel: d.Channel, Version: d.Version, SHA256: d.ImageSHA256,
		Attributes: attrs, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, BytesServed: d.BytesServed,
		Update: viewUpdate(latest),
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

func viewDeviceDetail(d core.DeviceDetail) deviceDetailView {
	var latest *core.Update
	if len(d.Updates) > 0 {
		latest = &d.Updates[0]
	}
	v := deviceDetailView{
		deviceView: viewDevice(d.Product, d.Device, latest),
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
