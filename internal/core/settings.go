package core

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds on operator settings.
const (
	MaxDeviceTags = 32
	MinPoll       = 10 * time.Second
	MaxPoll       = 7 * 24 * time.Hour
)

// DeviceSettings changes what an operator controls about a device. Nil
// fields are left as they are.
type DeviceSettings struct {
	AddTags    []string
	RemoveTags []string
	Channel    *string
	// Pin is a version to pin the device to; "" removes the pin.
	Pin      *string
	Excluded *bool
	// Poll overrides the product's poll intervals; 0 removes the override.
	Poll *time.Duration
}

func validatePoll(what string, d time.Duration) error {
	if d != 0 && (d < MinPoll || d > MaxPoll) {
		return errInvalidf("%s %s: want 0 (the default) or %s to %s", what, d, MinPoll, MaxPoll)
	}
	return nil
}

func validateSettings(in DeviceSettings) error {
	for _, t := range append(slices.Clone(in.AddTags), in.RemoveTags...) {
		if err := ValidateTag(t); err != nil {
			return err
		}
	}
	if in.Channel != nil {
		if err := ValidateChannelName(*in.Channel); err != nil {
			return err
		}
	}
	if in.Pin != nil && *in.Pin != "" {
		if err := ValidateVersion(*in.Pin); err != nil {
			return err
		}
	}
	if in.Poll != nil {
		return validatePoll("poll", *in.Poll)
	}
	return nil
}

// ConfigureDevice applies operator settings to a device that has checked
// in at least once.
func (s *Service) ConfigureDevice(ctx context.Context, product, name string, in DeviceSettings) (Device, error) {
	if err := validateSettings(in); err != nil {
		return Device{}, err
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return Device{}, err
	}
	now := s.now()
	var dev Device
	err = s.store.Tx(ctx, func(tx Store) error {
		if dev, err = tx.Device(ctx, p.ID, name); err != nil {
			return lookupErr(err, "product "+product+" has no device "+name)
		}
		if err := applySettings(ctx, tx, p, &dev, in); err != nil {
			return err
		}
		if err := tx.SaveDevice(ctx, dev); err != nil {
			return err
		}
		return audit(ctx, tx, now, "device.configure", product, name, settingsDetail(in))
	})
	if err == nil {
		// A pin, a channel or an exclusion can change what it should run.
		s.hub.Wake(p.ID, dev.ID)
	}
	return dev, err
}

func applySettings(ctx context.Context, tx Store, p Product, dev *Device, in DeviceSettings) error {
	tags := slices.Clone(dev.Tags)
	tags = append(tags, in.AddTags...)
	tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(in.RemoveTags, t) })
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if len(tags) > MaxDeviceTags {
		return errInvalidf("%d tags, at most %d allowed", len(tags), MaxDeviceTags)
	}
	dev.Tags = tags

	if in.Channel != nil {
		if _, err := tx.Channel(ctx, p.ID, *in.Channel); err != nil {
			return lookupErr(err, "product "+p.Name+" has no channel "+*in.Channel+": push a release to it first")
		}
		dev.Channel = *in.Channel
	}
	if in.Excluded != nil {
		dev.Excluded = *in.Excluded
	}
	if in.Poll != nil {
		dev.Poll = *in.Poll
	}
	if in.Pin != nil {
		dev.PinnedReleaseID = 0
		if *in.Pin != "" {
			r, err := tx.ReleaseByVersion(ctx, p.ID, *in.Pin)
			if err != nil {
				return lookupErr(err, "product "+p.Name+" has no release "+*in.Pin)
			}
			dev.PinnedReleaseID = r.ID
		}
	}
	return nil
}

func settingsDetail(in DeviceSettings) map[string]any {
	d := map[string]any{}
	if len(in.AddTags) > 0 {
		d["add_tags"] = in.AddTags
	}
	if len(in.RemoveTags) > 0 {
		d["remove_tags"] = in.RemoveTags
	}
	if in.Channel != nil {
		d["channel"] = *in.Channel
	}
	if in.Pin != nil {
		d["pin"] = *in.Pin
	}
	if in.Excluded != nil {
		d["excluded"] = *in.Excluded
	}
	if in.Poll != nil {
		d["poll"] = in.Poll.String()
	}
	return d
}

// ConfigureProduct sets a product's poll intervals; nil leaves one as it
// is, zero returns it to the server's default.
func (s *Service) ConfigureProduct(ctx context.Context, product string, idle, active *time.Duration) (Product, error) {
	for what, d := range map[string]*time.Duration{"idle poll": idle, "active poll": active} {
		if d != nil {
			if err := validatePoll(what, *d); err != nil {
				return Product{}, err
			}
		}
	}
	if err := ValidateProductName(product); err != nil {
		return Product{}, err
	}
	var p Product
	err := s.store.Tx(ctx, func(tx Store) error {
		// Read and write in one transaction, so two changes at once cannot
		// undo each other.
		var err error
		if p, err = tx.ProductByName(ctx, product); err != nil {
			return lookupErr(err, "unknown product "+product)
		}
		if idle != nil {
			p.PollIdle = *idle
		}
		if active != nil {
			p.PollActive = *active
		}
		if err := tx.SaveProduct(ctx, p); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), "product.configure", product, "",
			map[string]string{"poll_idle": p.PollIdle.String(), "poll_active": p.PollActive.String()})
	})
	return p, err
}

// SetWebhook points a product's outcome events at url, signed with secret.
// An empty secret makes a new one, which is returned.
func (s *Service) SetWebhook(ctx context.Context, product, rawURL, secret string) (Webhook, error) {
	if err := validateWebhookURL(rawURL); err != nil {
		return Webhook{}, err
	}
	if secret == "" {
		secret, _ = newSecret("fwh_")
	} else if !secretRe.MatchString(secret) {
		return Webhook{}, errInvalidf("webhook secret: want 16-256 printable ASCII characters")
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return Webhook{}, err
	}
	w := Webhook{ProductID: p.ID, URL: rawURL, Secret: secret, UpdatedAt: s.now()}
	err = s.store.Tx(ctx, func(tx Store) error {
		if err := tx.SetWebhook(ctx, w); err != nil {
			return err
		}
		// The URL may carry a receiver's own credentials; the log keeps
		// only its host.
		u, _ := url.Parse(rawURL)
		return audit(ctx, tx, w.UpdatedAt, "webhook.set", product, "", map[string]string{"host": u.Host})
	})
	return w, err
}

// RemoveWebhook stops a product's outcome events.
func (s *Service) RemoveWebhook(ctx context.Context, product string) error {
	p, err := s.Product(ctx, product)
	if err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx Store) error {
		if err := tx.DeleteWebhook(ctx, p.ID); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), "webhook.remove", product, "", nil)
	})
}

// Deliveries lists a product's recent webhook deliveries.
func (s *Service) Deliveries(ctx context.Context, product string, limit int) ([]Delivery, error) {
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return nil, err
	}
	return s.store.Deliveries(ctx, p.ID, limit)
}

var secretRe = regexp.MustCompile(`^[\x21-\x7e]{16,256}$`)

func validateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.Port() != "" {
		if n, perr := strconv.Atoi(u.Port()); perr != nil || n < 1 || n > 65535 {
			return errInvalidf("webhook URL %q: port must be 1-65535", truncate(raw, 80))
		}
	}
	switch {
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errInvalidf("webhook URL must not contain spaces or control characters")
	case len(raw) > 2048:
		return errInvalidf("webhook URL longer than 2048 characters")
	case err != nil:
		return errInvalidf("webhook URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return errInvalidf("webhook URL %q: want http or https", truncate(raw, 80))
	case u.Host == "":
		return errInvalidf("webhook URL %q has no host", truncate(raw, 80))
	case u.User != nil:
		return errInvalidf("webhook URL must not carry a user name or password")
	}
	return nil
}
