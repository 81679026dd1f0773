package core

import (
	"context"
	"fmt"
)

// DeviceQuery narrows a device listing by product name and the state of
// each device's latest update.
type DeviceQuery struct {
	Product string
	Version string
	State   string
	Limit   int
}

// DeviceInfo is a listed device with its product's name.
type DeviceInfo struct {
	DeviceStatus
	Product string
}

// Devices lists devices.
func (s *Service) Devices(ctx context.Context, q DeviceQuery) ([]DeviceInfo, error) {
	f := DeviceFilter{Version: q.Version, Limit: q.Limit}
	if q.State != "" {
		f.State = State(q.State)
		if !f.State.Valid() {
			return nil, fmt.Errorf("%w: unknown state %q", ErrInvalid, truncate(q.State, 40))
		}
	}
	if q.Limit < 0 || q.Limit > 10000 {
		return nil, fmt.Errorf("%w: limit %d: want 1-10000", ErrInvalid, q.Limit)
	}
	ps, err := s.store.Products(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(ps))
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	if q.Product != "" {
		p, err := s.Product(ctx, q.Product)
		if err != nil {
			return nil, err
		}
		f.ProductID = p.ID
	}

	ds, err := s.store.Devices(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, len(ds))
	for i, d := range ds {
		out[i] = DeviceInfo{DeviceStatus: d, Product: names[d.ProductID]}
	}
	return out, nil
}

// DeviceDetail is a device with all its updates and its history.
type DeviceDetail struct {
	Device
	Product string
	Updates []Update // newest first
	Events  []Event  // oldest first
}

// Device returns one device in full. With product empty, the device is
// looked up in every product; ErrAmbiguous if several have that name. The
// device, its updates and its history are read in one transaction, so an
// update that finished is never shown beside the device as it was before.
func (s *Service) Device(ctx context.Context, product, name string) (DeviceDetail, error) {
	if err := ValidateDeviceID(name); err != nil {
		return DeviceDetail{}, err
	}
	var p Product
	if product != "" {
		var err error
		if p, err = s.Product(ctx, product); err != nil {
			return DeviceDetail{}, err
		}
	}

	var d DeviceDetail
	err := s.store.Tx(ctx, func(tx Store) error {
		d = DeviceDetail{}
		if product != "" {
			dev, err := tx.Device(ctx, p.ID, name)
			if err != nil {
				return lookupErr(err, "product "+product+" has no device "+name)
			}
			d.Device, d.Product = dev, p.Name
		} else if err := findDevice(ctx, tx, name, &d); err != nil {
			return err
		}
		var err error
		if d.Updates, err = tx.Updates(ctx, d.ID); err != nil {
			return err
		}
		d.Events, err = tx.Events(ctx, d.ID)
		return err
	})
	if err != nil {
		return DeviceDetail{}, err
	}
	return d, nil
}

func findDevice(ctx context.Context, st Store, name string, d *DeviceDetail) error {
	ds, err := st.DevicesNamed(ctx, name)
	if err != nil {
		return err
	}
	switch len(ds) {
	case 0:
		return fmt.Errorf("device %s: %w", name, ErrNotFound)
	case 1:
		d.Device = ds[0]
	default:
		return fmt.Errorf("%w: %d products have a device %s: name the product", ErrAmbiguous, len(ds), name)
	}
	ps, err := st.Products(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ID == d.ProductID {
			d.Product = p.Name
		}
	}
	return nil
}

// Target returns the release a device is meant to fetch now: the target of
// its open update, else the release it runs, else its channel's. Plain
// clients fetch the image and digests in separate requests; answering them
// all from the device's update keeps them about one release even if the
// channel moves in between.
func (s *Service) Target(ctx context.Context, p Product, name string) (Release, Device, error) {
	if err := ValidateDeviceID(name); err != nil {
		return Release{}, Device{}, err
	}
	dev, err := s.store.Device(ctx, p.ID, name)
	if notFound(err) {
		r, err := s.ChannelRelease(ctx, p, DefaultChannel)
		return r, Device{}, err
	}
	if err != nil {
		return Release{}, Device{}, err
	}

	u, err := s.store.OpenUpdate(ctx, dev.ID)
	if err == nil {
		r, err := s.store.Release(ctx, u.ReleaseID)
		return r, dev, err
	}
	if !notFound(err) {
		return Release{}, Device{}, err
	}
	if dev.Version != "" {
		r, err := s.store.ReleaseByVersion(ctx, p.ID, dev.Version)
		if err == nil || !notFound(err) {
			return r, dev, err
		}
	}
	r, err := s.ChannelRelease(ctx, p, dev.Channel)
	return r, dev, err
}

// DeviceRowID returns the store key of a product's device, for counting the
// bytes served to it.
func (s *Service) DeviceRowID(ctx context.Context, p Product, name string) (int64, error) {
	if err := ValidateDeviceID(name); err != nil {
		return 0, err
	}
	d, err := s.store.Device(ctx, p.ID, name)
	if err != nil {
		return 0, lookupErr(err, "product "+p.Name+" has no device "+name)
	}
	return d.ID, nil
}
