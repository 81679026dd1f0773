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
	case AccessPublic:
	case AccessKey:
		key, p.KeyHash = newSecret("fek_")
	default:
		return Product{}, "", fmt.Errorf("%w: access %q: want public or key", ErrInvalid, truncate(string(access), 20))
	}

	err := s.store.CreateProduct(ctx, &p)
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

// AuthorizeDevice checks a device's credential against the product's access
// mode and returns the product. Unknown products are ErrNotFound; a missing
// or wrong key is ErrUnauthorized.
func (s *Service) AuthorizeDevice(ctx context.Context, product, credential string) (Product, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Product{}, err
	}
	switch p.Access {
	case AccessPublic:
		return p, nil
	case AccessKey:
		if credential == "" {
			return Product{}, fmt.Errorf("%w: product %s needs its enrollment key", ErrUnauthorized, p.Name)
		}
		if !secretMatches(credential, p.KeyHash) {
			return Product{}, fmt.Errorf("%w: wrong key for product %s", ErrUnauthorized, p.Name)
		}
		return p, nil
	}
	return Product{}, fmt.Errorf("product %s has unknown access mode %q", p.Name, p.Access)
}
