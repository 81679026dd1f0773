package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-ota/ferry/manifest"
	"github.com/ferry-ota/ferry/reqsign"
)

// CredentialP256 is the kind of a device credential that is the raw X‖Y
// P-256 public key the device signs its requests with.
const CredentialP256 = "p256"

// SignatureWindow is how far a signed request's time may be from the
// server's, either way.
const SignatureWindow = 300 * time.Second

// maxSeen bounds the replay set. Only requests whose signature verified
// enter it, so only holders of registered keys can fill it.
const maxSeen = 1 << 17

// SignedRequest is a device request signed under package reqsign's
// scheme, as the protocol adapter read it.
type SignedRequest struct {
	Device string // the device the signature speaks for
	Time   string // decimal Unix seconds, as sent
	Sig    string // hex of r‖s, as sent
	Method string
	Path   string // escaped, as sent
	Query  url.Values
	// BodySHA256 is the SHA-256 of the body exactly as read; of nothing
	// for a request without one.
	BodySHA256 [32]byte
}

// AddDeviceKey registers the raw X‖Y P-256 public key that device id of a
// p256 product signs its requests with, creating the device if it never
// checked in. A device may have several valid keys, so that one can be
// replaced without a gap; RevokeDeviceCredentials revokes them all.
// ErrState for a product of another access mode, ErrInvalid for a key
// that is not a P-256 point.
func (s *Service) AddDeviceKey(ctx context.Context, product, id string, pub []byte) (DeviceCredential, error) {
	if err := ValidateDeviceID(id); err != nil {
		return DeviceCredential{}, err
	}
	k := manifest.PublicKey{Alg: manifest.P256, Key: pub}
	if err := k.Validate(); err != nil {
		return DeviceCredential{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return DeviceCredential{}, err
	}
	if p.Access != AccessP256 {
		return DeviceCredential{}, fmt.Errorf("%w: product %s has %s access, not p256", ErrState, p.Name, p.Access)
	}

	c := DeviceCredential{ProductID: p.ID, DeviceName: id, Kind: CredentialP256, PublicKey: pub}
	err = s.store.Tx(ctx, func(tx Store) error {
		c.CreatedAt = s.now()
		dev, err := s.enrollDevice(ctx, tx, p, id, "enrolled", c.CreatedAt)
		if err != nil {
			return err
		}
		c.DeviceID = dev.ID
		if err := tx.CreateDeviceCredential(ctx, &c); err != nil {
			return err
		}
		return audit(ctx, tx, c.CreatedAt, "device.key.add", p.Name, id,
			map[string]string{"fingerprint": k.Fingerprint()})
	})
	if err != nil {
		return DeviceCredential{}, fmt.Errorf("add key of %s/%s: %w", p.Name, id, err)
	}
	s.log.Info("device key added", "product", p.Name, "device_id", id, "fingerprint", k.Fingerprint())
	return c, nil
}

// AuthorizeSigned checks a signed request to a p256 product and returns
// the product and the device the signature speaks for. The time must be
// within SignatureWindow of the server's, the signature must verify with
// one of the device's valid keys, and the same device, time and signature
// must not have been accepted before on this node. Unknown products are
// ErrNotFound; every other refusal is ErrUnauthorized with its reason.
func (s *Service) AuthorizeSigned(ctx context.Context, product string, req SignedRequest) (Product, string, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Product{}, "", err
	}
	if p.Access != AccessP256 {
		return Product{}, "", fmt.Errorf("%w: product %s takes no signed requests: it has %s access",
			ErrUnauthorized, p.Name, p.Access)
	}
	if err := ValidateDeviceID(req.Device); err != nil {
		return Product{}, "", fmt.Errorf("%w: signed request: %w", ErrUnauthorized, err)
	}
	ts, err := s.checkTime(req.Time)
	if err != nil {
		return Product{}, "", err
	}

	keys, err := s.store.DeviceKeys(ctx, p.ID, req.Device)
	if err != nil {
		return Product{}, "", err
	}
	if len(keys) == 0 {
		return Product{}, "", fmt.Errorf("%w: device %s of product %s has no valid key",
			ErrUnauthorized, req.Device, p.Name)
	}
	if err := verifyAny(keys, req); err != nil {
		s.log.Warn("request signature rejected", "product", p.Name, "device_id", req.Device)
		return Product{}, "", err
	}

	if err := s.replays.add(p.ID, req.Device, req.Time, req.Sig, ts.Add(SignatureWindow), s.now()); err != nil {
		return Product{}, "", err
	}
	return p, req.Device, nil
}

// checkTime parses a signed request's time and checks it is in the window.
func (s *Service) checkTime(v string) (time.Time, error) {
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("%w: signed request: time %q is not Unix seconds",
			ErrUnauthorized, truncate(v, 20))
	}
	ts, now := time.Unix(sec, 0), s.now()
	if d := now.Sub(ts); d > SignatureWindow || d < -SignatureWindow {
		return time.Time{}, fmt.Errorf("%w: stale request: its time is %s from the server's, more than %s",
			ErrUnauthorized, d.Abs().Truncate(time.Second), SignatureWindow)
	}
	return ts, nil
}

// verifyAny checks the request's signature against each key.
func verifyAny(keys []DeviceCredential, req SignedRequest) error {
	msg := reqsign.CanonicalSum(req.Method, req.Path, req.Query, req.Time, req.BodySHA256)
	var last error
	for _, k := range keys {
		if last = reqsign.Verify(k.PublicKey, msg, req.Sig); last == nil {
			return nil
		}
	}
	if errors.Is(last, manifest.ErrSignature) {
		return fmt.Errorf("%w: bad signature: it does not verify with a valid key of device %s "+
			"over this method, path, query, time and body", ErrUnauthorized, req.Device)
	}
	return fmt.Errorf("%w: bad signature: %w", ErrUnauthorized, last)
}

// replaySet remembers the signed requests accepted within the window, per
// node: nodes behind one load balancer do not share it, so a request
// replayed to another node within the window is served there once more.
type replaySet struct {
	mu   sync.Mutex
	seen map[replayKey]time.Time // when each entry leaves the window
}

// replayKey names a request by its device, time and the r half of its
// signature: (r, s) and (r, n−s) both verify, so keying on the whole
// signature would let anyone replay a request with s flipped.
type replayKey struct {
	product int64
	device  string
	time    string
	r       string
}

// add records a request, or returns ErrUnauthorized when it was seen
// before. When the set is full even after expired entries are dropped, it
// refuses the request rather than forget one that could then be replayed.
func (rs *replaySet) add(product int64, device, ts, sig string, until, now time.Time) error {
	// Hex digits are case-insensitive; the key must not be.
	k := replayKey{product: product, device: device, time: ts, r: strings.ToLower(sig[:min(len(sig), 64)])}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.seen == nil {
		rs.seen = make(map[replayKey]time.Time)
	}
	if _, ok := rs.seen[k]; ok {
		return fmt.Errorf("%w: replayed request: this signature was accepted before", ErrUnauthorized)
	}
	if len(rs.seen) >= maxSeen {
		for k, t := range rs.seen {
			if !t.After(now) {
				delete(rs.seen, k)
			}
		}
		if len(rs.seen) >= maxSeen {
			return fmt.Errorf("%w: too many signed requests in the last %s: retry later",
				ErrUnauthorized, SignatureWindow)
		}
	}
	rs.seen[k] = until
	return nil
}
