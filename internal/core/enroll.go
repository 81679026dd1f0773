package core

import (
	"context"
	"fmt"
	"time"
)

// CredentialToken is the kind of a device credential that is a bearer
// token issued at enrollment.
const CredentialToken = "token"

// DeviceCredential is a credential that identifies one device. For a token
// only its hash is stored.
type DeviceCredential struct {
	ID       int64
	DeviceID int64
	// ProductID and DeviceName are the device's, filled by lookups so that
	// authenticating a request needs one query.
	ProductID  int64
	DeviceName string
	Kind       string
	SecretHash string
	// PublicKey is the raw X‖Y key of a CredentialP256.
	PublicKey []byte
	CreatedAt time.Time
	RevokedAt time.Time
}

// AuthorizeDevice checks a device request's credential against the
// product's access mode. It returns the product and, for a key product,
// the device the credential belongs to; that name is empty for a public
// product, whose requests are anonymous. Unknown products are ErrNotFound;
// a missing, unknown or revoked credential is ErrUnauthorized, and so is
// the enrollment key, which only enrolls (see Enroll).
func (s *Service) AuthorizeDevice(ctx context.Context, product, credential string) (Product, string, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Product{}, "", err
	}
	switch p.Access {
	case AccessPublic:
		return p, "", nil
	case AccessKey:
		name, err := s.deviceByToken(ctx, p, credential)
		if err != nil {
			return Product{}, "", err
		}
		return p, name, nil
	case AccessP256:
		return Product{}, "", fmt.Errorf("%w: product %s needs requests signed with the device's P-256 key",
			ErrUnauthorized, p.Name)
	}
	return Product{}, "", fmt.Errorf("product %s has unknown access mode %q", p.Name, p.Access)
}

// deviceByToken returns the name of p's device whose valid token secret is.
func (s *Service) deviceByToken(ctx context.Context, p Product, secret string) (string, error) {
	if secret == "" {
		return "", fmt.Errorf("%w: product %s needs a device token: enroll with its enrollment key first",
			ErrUnauthorized, p.Name)
	}
	if secretMatches(secret, p.KeyHash) {
		return "", fmt.Errorf("%w: the enrollment key of product %s only enrolls: "+
			"enroll first and send the device token it returns", ErrUnauthorized, p.Name)
	}

	// As for operator tokens, the lookup is by hash and the store's match
	// is confirmed in constant time; see AuthenticateOperator.
	c, err := s.store.DeviceCredentialByHash(ctx, HashSecret(secret))
	if notFound(err) || (err == nil && !secretMatches(secret, c.SecretHash)) {
		return "", fmt.Errorf("%w: unknown device token for product %s", ErrUnauthorized, p.Name)
	}
	if err != nil {
		return "", err
	}
	if c.Kind != CredentialToken || c.ProductID != p.ID {
		return "", fmt.Errorf("%w: unknown device token for product %s", ErrUnauthorized, p.Name)
	}
	if !c.RevokedAt.IsZero() {
		return "", fmt.Errorf("%w: revoked device token: enroll again", ErrUnauthorized)
	}
	return c.DeviceName, nil
}

// SameDevice returns an error wrapping ErrForbidden when a request whose
// credential belongs to device bound names another device. An empty bound
// (a public product) allows any name.
func SameDevice(bound, named string) error {
	if bound == "" || bound == named {
		return nil
	}
	return fmt.Errorf("%w: this device credential belongs to device %s, not %s",
		ErrForbidden, bound, truncate(named, 128))
}

// Enroll registers device id of a key product with the product's
// enrollment key and returns a new device token, shown this once and
// stored only as a hash. Enrolling an existing device again rotates its
// token: the ones issued before are revoked. It returns ErrUnauthorized
// for a missing or wrong key and ErrState for a public product.
func (s *Service) Enroll(ctx context.Context, product, key, id string) (string, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return "", err
	}
	if p.Access != AccessKey {
		return "", fmt.Errorf("%w: product %s has %s access: its devices do not enroll", ErrState, p.Name, p.Access)
	}
	if key == "" || !secretMatches(key, p.KeyHash) {
		return "", fmt.Errorf("%w: enrolling needs the enrollment key of product %s", ErrUnauthorized, p.Name)
	}
	if err := ValidateDeviceID(id); err != nil {
		return "", err
	}

	secret, err := s.issueToken(WithActor(ctx, "device"), p, id, "device.enroll", "enrolled")
	if err != nil {
		return "", fmt.Errorf("enroll %s/%s: %w", p.Name, id, err)
	}
	s.log.Info("device enrolled", "product", p.Name, "device_id", id)
	return secret, nil
}

// IssueDeviceToken issues a device token for device id of a key product,
// as enrolling would, for devices that cannot enroll themselves: clients
// of other protocols (a hawkBit client's target token) whose operator
// configures the token on the device. The device is created if it never
// checked in; the tokens issued before are revoked. ErrState for a product
// without key access.
func (s *Service) IssueDeviceToken(ctx context.Context, product, id string) (string, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return "", err
	}
	if p.Access != AccessKey {
		return "", fmt.Errorf("%w: product %s has %s access: its devices have no tokens", ErrState, p.Name, p.Access)
	}
	if err := ValidateDeviceID(id); err != nil {
		return "", err
	}
	secret, err := s.issueToken(ctx, p, id, "device.token", "registered: an operator issued its device token")
	if err != nil {
		return "", fmt.Errorf("issue token for %s/%s: %w", p.Name, id, err)
	}
	s.log.Info("device token issued", "product", p.Name, "device_id", id)
	return secret, nil
}

// issueToken creates device id of p if needed (detail says how, in its
// history), revokes its tokens and issues a new one, audited as action.
func (s *Service) issueToken(ctx context.Context, p Product, id, action, detail string) (string, error) {
	secret, hash := newSecret("fdt_")
	err := s.store.Tx(ctx, func(tx Store) error {
		now := s.now()
		dev, err := s.enrollDevice(ctx, tx, p, id, detail, now)
		if err != nil {
			return err
		}
		n, err := tx.RevokeDeviceCredentials(ctx, dev.ID, CredentialToken, now)
		if err != nil {
			return err
		}
		c := DeviceCredential{DeviceID: dev.ID, Kind: CredentialToken, SecretHash: hash, CreatedAt: now}
		if err := tx.CreateDeviceCredential(ctx, &c); err != nil {
			return err
		}
		return audit(ctx, tx, now, action, p.Name, id, map[string]int{"revoked": n})
	})
	return secret, err
}

// AuthorizeGateway checks a gateway's credential: the product's enrollment
// key, which for a gateway speaks for every device of the product, as a
// hawkBit gateway token does. Only protocols whose clients know gateways
// accept it (internal/ddi, in its GatewayToken header); everywhere else
// the key only enrolls. A public product needs no credential; a p256
// product accepts none but signed requests. Unknown products are
// ErrNotFound, a wrong key ErrUnauthorized.
func (s *Service) AuthorizeGateway(ctx context.Context, product, key string) (Product, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Product{}, err
	}
	switch p.Access {
	case AccessPublic:
		return p, nil
	case AccessKey:
		if key == "" || !secretMatches(key, p.KeyHash) {
			return Product{}, fmt.Errorf("%w: wrong gateway token for product %s: it is the enrollment key",
				ErrUnauthorized, p.Name)
		}
		return p, nil
	}
	return Product{}, fmt.Errorf("%w: product %s needs requests signed with the device's P-256 key",
		ErrUnauthorized, p.Name)
}

// enrollDevice returns p's device id, creating it if it never checked in.
// detail says how, in the device's first history event.
func (s *Service) enrollDevice(ctx context.Context, tx Store, p Product, id, detail string, now time.Time,
) (Device, error) {
	dev, err := tx.Device(ctx, p.ID, id)
	if !notFound(err) {
		return dev, err
	}
	dev = Device{ProductID: p.ID, Name: id, Channel: DefaultChannel, FirstSeen: now, LastSeen: now}
	if err := tx.CreateDevice(ctx, &dev); err != nil {
		return Device{}, err
	}
	return dev, tx.AddEvent(ctx, &Event{DeviceID: dev.ID, At: now, Kind: EventCheckIn, Detail: detail})
}

// RevokeDeviceCredentials revokes every credential of a product's device
// and returns how many were valid. The device must enroll again to be
// served. ErrNotFound if the product has no such device.
func (s *Service) RevokeDeviceCredentials(ctx context.Context, product, id string) (int, error) {
	if err := ValidateDeviceID(id); err != nil {
		return 0, err
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.store.Tx(ctx, func(tx Store) error {
		dev, err := tx.Device(ctx, p.ID, id)
		if err != nil {
			return lookupErr(err, "product "+p.Name+" has no device "+id)
		}
		now := s.now()
		if n, err = tx.RevokeDeviceCredentials(ctx, dev.ID, "", now); err != nil {
			return err
		}
		return audit(ctx, tx, now, "device.revoke", p.Name, id, map[string]int{"revoked": n})
	})
	if err != nil {
		return 0, fmt.Errorf("revoke credentials of %s/%s: %w", product, id, err)
	}
	s.log.Info("device credentials revoked", "product", p.Name, "device_id", id, "count", n)
	return n, nil
}
