package core

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ferry-ota/ferry/manifest"
)

// ProductKey is a public key that a product's release manifests may be
// signed with. The private half never reaches the server.
type ProductKey struct {
	ID        int64
	ProductID int64
	Name      string
	Alg       manifest.Alg
	PublicKey []byte // raw: 32 bytes for ed25519, X‖Y for p256
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is active
}

// Public returns the key in the form package manifest verifies with.
func (k ProductKey) Public() manifest.PublicKey {
	return manifest.PublicKey{Alg: k.Alg, Key: k.PublicKey}
}

// Key names appear in URL paths, so they use the product name alphabet.
var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateKeyName reports whether name can name a product key.
func ValidateKeyName(name string) error {
	return checkName("key name", name, keyNameRe,
		"use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
}

// AddKey registers a public key for a product's releases. ErrConflict if
// the product already has a key of that name, even a revoked one, so that
// a name always means one key in the audit log.
func (s *Service) AddKey(ctx context.Context, product, name string, pub manifest.PublicKey) (ProductKey, error) {
	if err := ValidateKeyName(name); err != nil {
		return ProductKey{}, err
	}
	if err := pub.Validate(); err != nil {
		return ProductKey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return ProductKey{}, err
	}
	k := ProductKey{ProductID: p.ID, Name: name, Alg: pub.Alg, PublicKey: pub.Key, CreatedAt: s.now()}
	err = s.store.Tx(ctx, func(tx Store) error {
		if err := tx.CreateProductKey(ctx, &k); err != nil {
			return err
		}
		return audit(ctx, tx, k.CreatedAt, "key.add", product, name,
			map[string]string{"alg": string(pub.Alg), "fingerprint": pub.Fingerprint()})
	})
	if errors.Is(err, ErrConflict) {
		return ProductKey{}, fmt.Errorf("key %s of product %s: %w", name, product, ErrConflict)
	}
	if err != nil {
		return ProductKey{}, fmt.Errorf("add key %s to %s: %w", name, product, err)
	}
	s.log.Info("signing key added", "product", product, "key", name, "alg", string(pub.Alg))
	return k, nil
}

// Keys lists a product's keys, revoked ones included, oldest first.
func (s *Service) Keys(ctx context.Context, product string) ([]ProductKey, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return nil, err
	}
	return s.store.ProductKeys(ctx, p.ID)
}

// RevokeKey stops a key from verifying new uploads. Releases it verified
// stay published: their signatures were good when they were made, and
// devices check them against the keys they hold themselves.
func (s *Service) RevokeKey(ctx context.Context, product, name string) (ProductKey, error) {
	if err := ValidateKeyName(name); err != nil {
		return ProductKey{}, err
	}
	p, err := s.Product(ctx, product)
	if err != nil {
		return ProductKey{}, err
	}
	now := s.now()
	err = s.store.Tx(ctx, func(tx Store) error {
		if err := tx.RevokeProductKey(ctx, p.ID, name, now); err != nil {
			return lookupErr(err, "product "+product+" has no key "+name)
		}
		return audit(ctx, tx, now, "key.revoke", product, name, nil)
	})
	if err != nil {
		return ProductKey{}, err
	}
	s.log.Info("signing key revoked", "product", product, "key", name)
	ks, err := s.store.ProductKeys(ctx, p.ID)
	if err != nil {
		return ProductKey{}, err
	}
	for _, k := range ks {
		if k.Name == name {
			return k, nil
		}
	}
	return ProductKey{}, fmt.Errorf("key %s of %s vanished after its revocation", name, product)
}

// SetRequireSignature makes a product refuse (on) or accept (off) releases
// that are not signed with one of its active keys.
func (s *Service) SetRequireSignature(ctx context.Context, product string, on bool) (Product, error) {
	if err := ValidateProductName(product); err != nil {
		return Product{}, err
	}
	var p Product
	err := s.store.Tx(ctx, func(tx Store) error {
		var err error
		if p, err = tx.ProductByName(ctx, product); err != nil {
			return lookupErr(err, "unknown product "+product)
		}
		p.RequireSignature = on
		if err := tx.SaveProduct(ctx, p); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), "product.configure", product, "",
			map[string]bool{"require_signature": on})
	})
	return p, err
}

// signed is what checkSignature learned about an upload.
type signed struct {
	manifest manifest.Manifest
	keyID    int64
}

// checkSignature checks an upload's manifest and signature before its body
// is read: the manifest must name the product and version being pushed and
// verify with one of the product's active keys. Products that require
// signatures refuse uploads without them. It returns nil for an unsigned
// upload that is allowed.
func (s *Service) checkSignature(ctx context.Context, p Product, in Publish) (*signed, error) {
	switch {
	case len(in.Manifest) == 0 && len(in.Signature) == 0:
		if p.RequireSignature {
			return nil, errInvalidf("product %s requires signed releases: push with a manifest and "+
				"its signature (ferry release sign)", p.Name)
		}
		return nil, nil
	case len(in.Manifest) == 0 || len(in.Signature) == 0:
		return nil, errInvalidf("a manifest needs its signature and a signature its manifest")
	}
	m, err := manifest.Parse(in.Manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case m.Product != p.Name || m.Version != in.Version:
		return nil, errInvalidf("the manifest is for %s %s, not %s %s", m.Product, m.Version, p.Name, in.Version)
	case in.Counter != 0 && in.Counter != m.Counter:
		return nil, errInvalidf("counter %d differs from the manifest's %d", in.Counter, m.Counter)
	case in.ExpectSHA256 != "" && in.ExpectSHA256 != m.SHA256:
		return nil, errInvalidf("sha256 %s differs from the manifest's %s", in.ExpectSHA256, m.SHA256)
	}

	keys, err := s.store.ProductKeys(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.RevokedAt.IsZero() && manifest.Verify(k.Public(), in.Manifest, in.Signature) == nil {
			return &signed{manifest: m, keyID: k.ID}, nil
		}
	}
	s.log.Warn("signature rejected", "product", p.Name, "version", in.Version)
	return nil, errInvalidf("the signature does not verify with any active key of product %s", p.Name)
}

// checkCounter refuses a release whose security counter is below the
// highest the product has published: counters only rise, so that a device
// can trust "higher or equal" to mean "not an old, withdrawn release".
func checkCounter(ctx context.Context, st Store, p Product, counter int64) error {
	if counter < 0 {
		return errInvalidf("security counter %d: want 0 or more", counter)
	}
	top, err := st.MaxCounter(ctx, p.ID)
	if err != nil {
		return err
	}
	if counter < top {
		return errInvalidf("security counter %d is below %d, the highest product %s has published; "+
			"to roll back, publish the old image as a new version with the current counter", counter, top, p.Name)
	}
	return nil
}
