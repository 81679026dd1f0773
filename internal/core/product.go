package core

import (
	"context"
	"errors"
	"fmt"
)

// CreateProduct creates a product. For AccessKey it also creates the
// enrollment key and returns it; the key is shown this once and only its
// hash is kept.
func (s *Service) CreateProduct(ctx context.Context, name string, access Access) (Product, string, error) {
	if err := ValidateProductName(name); err != nil {
		return Product{}, "", err
	}
	p := Product{Name: name, Access: access, CreatedAt: s.now()}
	var key string
	switch access {
	case AccessPublic, AccessP256:
	case AccessKey:
		key, p.KeyHash = newSecret("fek_")
	default:
		return Product{}, "", fmt.Errorf("%w: access %q: want public, key or p256",
			ErrInvalid, truncate(string(access), 20))
	}

	err := s.store.Tx(ctx, func(tx Store) error {
		if err := tx.CreateProduct(ctx, &p); err != nil {
			return err
		}
		return audit(ctx, tx, p.CreatedAt, "product.create", name, "", map[string]string{"access": string(access)})
	})
	if errors.Is(err, ErrConflict) {
		return Product{}, "", fmt.Errorf("product %s: %w", name, ErrConflict)
	}
	if err != nil {
		return Product{}, "", fmt.Errorf("create product %s: %w", name, err)
	}
	s.log.Info("product created", "product", name, "access", string(access))
	return p, key, nil
}

// Product returns the product called name.
func (s *Service) Product(ctx context.Context, name string) (Product, error) {
	if err := ValidateProductName(name); err != nil {
		return Product{}, err
	}
	p, err := s.store.ProductByName(ctx, name)
	if err != nil {
		return Product{}, lookupErr(err, "unknown product "+name)
	}
	return p, nil
}

// Products lists all products.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	return s.store.Products(ctx)
}
