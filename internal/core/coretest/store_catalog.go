package coretest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

// Tests of products, releases, channels and tokens, and of the not-found
// and conflict contracts of every method.

func testStoreNotFound(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	r := mkRelease(t, s, p.ID, "1.0", 0)
	otherR := mkReleaseFrom(t, s, core.Release{ProductID: other.ID, Version: "2.0",
		Digests: core.Digests{SHA256: fakeSHA256("d")}})
	d := mkDevice(t, s, p.ID, "dev-1")
	mkDevice(t, s, other.ID, "dev-2")
	done := mkUpdate(t, s, update(d, r, core.StateSucceeded, 1))
	mkRollout(t, s, rollout(p, r, core.RolloutFinished, 2))
	ro := mkRollout(t, s, rollout(other, otherR, core.RolloutRunning, 3))
	del := mkDelivery(t, s, delivery(p, "update.succeeded", 4, 4))

	// Each call names something that is missing, or exists only in the
	// other product.
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"ProductByName", func(ctx context.Context) error {
			_, err := s.ProductByName(ctx, "nothing")
			return err
		}},
		{"Release", func(ctx context.Context) error {
			_, err := s.Release(ctx, r.ID+1000)
			return err
		}},
		{"ReleaseByVersion", func(ctx context.Context) error {
			_, err := s.ReleaseByVersion(ctx, p.ID, "9.9")
			return err
		}},
		{"ReleaseByVersionOtherProduct", func(ctx context.Context) error {
			_, err := s.ReleaseByVersion(ctx, p.ID, "2.0")
			return err
		}},
		{"ReleaseBySHA256", func(ctx context.Context) error {
			_, err := s.ReleaseBySHA256(ctx, p.ID, fakeSHA256("f"))
			return err
		}},
		{"ReleaseBySHA256OtherProduct", func(ctx context.Context) error {
			_, err := s.ReleaseBySHA256(ctx, p.ID, fakeSHA256("d"))
			return err
		}},
		{"ReleaseByMD5", func(ctx context.Context) error {
			_, err := s.ReleaseByMD5(ctx, p.ID, fakeSHA256("f")[:32])
			return err
		}},
		{"Channel", func(ctx context.Context) error {
			_, err := s.Channel(ctx, p.ID, core.DefaultChannel)
			return err
		}},
		{"Device", func(ctx context.Context) error {
			_, err := s.Device(ctx, p.ID, "nobody")
			return err
		}},
		{"DeviceOtherProduct", func(ctx context.Context) error {
			_, err := s.Device(ctx, p.ID, "dev-2")
			return err
		}},
		{"SaveDevice", func(ctx context.Context) error {
			ghost := d
			ghost.ID += 1000
			return s.SaveDevice(ctx, ghost)
		}},
		{"Update", func(ctx context.Context) error {
			_, err := s.Update(ctx, done.ID+1000)
			return err
		}},
		{"OpenUpdateAllFinished", func(ctx context.Context) error {
			_, err := s.OpenUpdate(ctx, d.ID)
			return err
		}},
		{"SaveUpdate", func(ctx context.Context) error {
			ghost := done
			ghost.ID += 1000
			return s.SaveUpdate(ctx, ghost)
		}},
		{"LastEvent", func(ctx context.Context) error {
			_, err := s.LastEvent(ctx, done.ID)
			return err
		}},
		{"TokenByHash", func(ctx context.Context) error {
			_, err := s.TokenByHash(ctx, fakeSHA256("0"))
			return err
		}},
		{"SaveProduct", func(ctx context.Context) error {
			ghost := p
			ghost.ID += 1000
			return s.SaveProduct(ctx, ghost)
		}},
		{"Rollout", func(ctx context.Context) error {
			_, err := s.Rollout(ctx, ro.ID+1000)
			return err
		}},
		{"ActiveRolloutOnlyFinished", func(ctx context.Context) error {
			_, err := s.ActiveRollout(ctx, p.ID)
			return err
		}},
		{"SaveRollout", func(ctx context.Context) error {
			ghost := ro
			ghost.ID += 1000
			return s.SaveRollout(ctx, ghost)
		}},
		{"CreateRolloutNoSuchRelease", func(ctx context.Context) error {
			ghost := rollout(p, r, core.RolloutRunning, 5)
			ghost.ReleaseID += 1000
			return s.CreateRollout(ctx, &ghost)
		}},
		{"CreateUpdateNoSuchRollout", func(ctx context.Context) error {
			ghost := update(d, r, core.StateOffered, 5)
			ghost.RolloutID = ro.ID + 1000
			return s.CreateUpdate(ctx, &ghost)
		}},
		{"Webhook", func(ctx context.Context) error {
			_, err := s.Webhook(ctx, p.ID)
			return err
		}},
		{"SaveDelivery", func(ctx context.Context) error {
			ghost := del
			ghost.ID += 1000
			return s.SaveDelivery(ctx, ghost)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(t.Context()); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("%s() error = %v, want %v", tt.name, err, core.ErrNotFound)
			}
		})
	}
}

func testStoreConflict(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	mkRelease(t, s, p.ID, "1.0", 0)
	mkDevice(t, s, p.ID, "dev-1")
	tok := core.Token{Name: "ci", Role: core.RoleAdmin, Hash: fakeSHA256("1"), CreatedAt: at(0)}
	if err := s.CreateToken(t.Context(), &tok); err != nil {
		t.Fatalf("CreateToken(%q) = %v, want nil", tok.Name, err)
	}

	// The same key in another product, or a token that only shares a
	// name, is not a conflict.
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want error
	}{
		{"ProductName", func(ctx context.Context) error {
			return s.CreateProduct(ctx, &core.Product{Name: "widget", Access: core.AccessPublic})
		}, core.ErrConflict},
		{"ProductNameOtherCase", func(ctx context.Context) error {
			return s.CreateProduct(ctx, &core.Product{Name: "Widget", Access: core.AccessPublic})
		}, core.ErrConflict},
		{"ProductLookupOtherCase", func(ctx context.Context) error {
			_, err := s.ProductByName(ctx, "WIDGET")
			return err
		}, core.ErrNotFound},
		{"ReleaseVersion", func(ctx context.Context) error {
			r := core.Release{ProductID: p.ID, Version: "1.0"}
			return s.CreateRelease(ctx, &r)
		}, core.ErrConflict},
		{"ReleaseVersionOtherProduct", func(ctx context.Context) error {
			r := core.Release{ProductID: other.ID, Version: "1.0"}
			return s.CreateRelease(ctx, &r)
		}, nil},
		{"DeviceName", func(ctx context.Context) error {
			return s.CreateDevice(ctx, &core.Device{ProductID: p.ID, Name: "dev-1"})
		}, core.ErrConflict},
		{"DeviceNameOtherProduct", func(ctx context.Context) error {
			return s.CreateDevice(ctx, &core.Device{ProductID: other.ID, Name: "dev-1"})
		}, nil},
		{"TokenHash", func(ctx context.Context) error {
			return s.CreateToken(ctx, &core.Token{Name: "other", Role: core.RoleAdmin, Hash: tok.Hash})
		}, core.ErrConflict},
		{"TokenName", func(ctx context.Context) error {
			tk := core.Token{Name: "ci", Role: core.RoleAdmin, Hash: fakeSHA256("2")}
			return s.CreateToken(ctx, &tk)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			if !errors.Is(err, tt.want) {
				t.Errorf("Create%s() error = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func testProductCreate(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := core.Product{
		Name:      "widget",
		Access:    core.AccessKey,
		KeyHash:   fakeSHA256("k"),
		CreatedAt: at(0),
	}
	if err := s.CreateProduct(ctx, &p); err != nil {
		t.Fatalf("CreateProduct(%q) = %v, want nil", p.Name, err)
	}
	if p.ID == 0 {
		t.Errorf("CreateProduct(%q) left ID 0, want it set", p.Name)
	}

	got, err := s.ProductByName(ctx, p.Name)
	if err != nil || !same(got, p, normProduct) {
		t.Errorf("ProductByName(%q) = %+v, %v, want %+v, nil", p.Name, got, err, p)
	}
}

func testProducts(t *testing.T, s core.Store) {
	ctx := t.Context()
	got, err := s.Products(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("Products() on an empty store = %+v, %v, want none, nil", got, err)
	}

	c := mkProduct(t, s, "charlie")
	a := mkProduct(t, s, "alpha")
	b := mkProduct(t, s, "bravo")
	want := []core.Product{a, b, c}
	got, err = s.Products(ctx)
	if err != nil || !same(got, want, normProducts) {
		t.Errorf("Products() = %+v, %v, want %+v, nil", got, err, want)
	}
}

func testSaveProduct(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	mkProduct(t, s, "gadget")

	// Only the poll intervals, the signature rule and the board profile
	// are written.
	saved := p
	saved.PollIdle = 6 * time.Hour
	saved.PollActive = 30 * time.Second
	saved.RequireSignature = true
	saved.Board, saved.Loader = "mkrgsm1400", "ssu"
	saved.Name, saved.Access, saved.KeyHash = "renamed", core.AccessKey, fakeSHA256("9")
	if err := s.SaveProduct(ctx, saved); err != nil {
		t.Fatalf("SaveProduct(%+v) = %v, want nil", saved, err)
	}

	want := p
	want.PollIdle, want.PollActive = saved.PollIdle, saved.PollActive
	want.RequireSignature, want.Board, want.Loader = true, saved.Board, saved.Loader
	got, err := s.ProductByName(ctx, p.Name)
	if err != nil || !same(got, want, normProduct) {
		t.Errorf("ProductByName(%q) after SaveProduct = %+v, %v, want %+v, nil", p.Name, got, err, want)
	}
	if got, err := s.ProductByName(ctx, "gadget"); err != nil || got.PollIdle != 0 || got.PollActive != 0 ||
		got.Board != "" {
		t.Errorf("ProductByName(%q) = %+v, %v, want default polls, nil", "gadget", got, err)
	}
}

func testReleases(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	r1 := mkRelease(t, s, p.ID, "1.0", 1)
	mkRelease(t, s, other.ID, "1.5", 2)
	r2 := mkReleaseFrom(t, s, core.Release{ProductID: p.ID, Version: "1.1-rc.1+build.7",
		Digests:   core.Digests{Size: 3000, CRC32: 0xcbf43926, MD5: strings.Repeat("1", 32), SHA256: fakeSHA256("f")},
		CreatedAt: at(3),
		Derived: []core.Derived{
			{Format: core.FormatOTA, Digests: core.Digests{Size: 2100, CRC32: 0xffffffff,
				MD5: strings.Repeat("2", 32), SHA256: fakeSHA256("2")}},
			{Format: core.FormatLZSS, Digests: core.Digests{Size: 2080, CRC32: 1,
				MD5: strings.Repeat("3", 32), SHA256: fakeSHA256("3")}},
		}})
	if r1.ID == 0 || r2.ID == 0 || r1.ID == r2.ID {
		t.Errorf("CreateRelease() set IDs %d and %d, want two distinct non-zero IDs", r1.ID, r2.ID)
	}

	got, err := s.Release(ctx, r2.ID)
	if err != nil || !same(got, r2, normRelease) {
		t.Errorf("Release(%d) = %+v, %v, want %+v, nil", r2.ID, got, err, r2)
	}
	got, err = s.ReleaseByVersion(ctx, p.ID, r1.Version)
	if err != nil || !same(got, r1, normRelease) {
		t.Errorf("ReleaseByVersion(%d, %q) = %+v, %v, want %+v, nil", p.ID, r1.Version, got, err, r1)
	}

	list, err := s.Releases(ctx, p.ID)
	want := []core.Release{r2, r1}
	if err != nil || !same(list, want, normReleases) {
		t.Errorf("Releases(%d) = %+v, %v, want %+v, nil", p.ID, list, err, want)
	}
	empty := mkProduct(t, s, "empty")
	if list, err := s.Releases(ctx, empty.ID); err != nil || len(list) != 0 {
		t.Errorf("Releases(%d) = %+v, %v, want none, nil", empty.ID, list, err)
	}
}

// testSetReleaseSHA1 fills in the SHA-1 of a release stored without one,
// and changes nothing else of it.
func testSetReleaseSHA1(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	r := mkReleaseFrom(t, s, core.Release{ProductID: p.ID, Version: "1.0",
		Digests: core.Digests{Size: 10, SHA256: fakeSHA256("a")}, CreatedAt: at(1)})
	other := mkRelease(t, s, p.ID, "1.1", 2)

	sum := strings.Repeat("ab", 20)
	if err := s.SetReleaseSHA1(ctx, r.ID, sum); err != nil {
		t.Fatalf("SetReleaseSHA1(%d) = %v, want nil", r.ID, err)
	}
	want := r
	want.SHA1 = sum
	if got, err := s.Release(ctx, r.ID); err != nil || !same(got, want, normRelease) {
		t.Errorf("Release(%d) after SetReleaseSHA1 = %+v, %v, want %+v, nil", r.ID, got, err, want)
	}
	if got, err := s.Release(ctx, other.ID); err != nil || !same(got, other, normRelease) {
		t.Errorf("Release(%d) of another release = %+v, %v, want %+v, nil", other.ID, got, err, other)
	}
	if err := s.SetReleaseSHA1(ctx, other.ID+1000, sum); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetReleaseSHA1(%d) = %v, want %v", other.ID+1000, err, core.ErrNotFound)
	}
}

func testReleaseBySHA256(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")

	// The same image published as several versions, then as a version of
	// another product; creation order matches CreatedAt.
	var rs []core.Release
	for i, spec := range []struct {
		productID int64
		version   string
		sha256    string
	}{
		{p.ID, "1.0", fakeSHA256("a")},
		{p.ID, "1.1", fakeSHA256("a")},
		{p.ID, "1.2", fakeSHA256("b")},
		{other.ID, "2.0", fakeSHA256("a")},
	} {
		rs = append(rs, mkReleaseFrom(t, s, core.Release{
			ProductID: spec.productID,
			Version:   spec.version,
			Digests:   core.Digests{Size: 10, MD5: fakeSHA256("0")[:32], SHA256: spec.sha256},
			CreatedAt: at(i),
		}))
	}

	tests := []struct {
		name      string
		productID int64
		sha256    string
		want      core.Release
	}{
		{"NewestOfTwo", p.ID, fakeSHA256("a"), rs[1]},
		{"Single", p.ID, fakeSHA256("b"), rs[2]},
		{"OtherProduct", other.ID, fakeSHA256("a"), rs[3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ReleaseBySHA256(t.Context(), tt.productID, tt.sha256)
			if err != nil || !same(got, tt.want, normRelease) {
				t.Errorf("ReleaseBySHA256(%d, %q) = %+v, %v, want %+v, nil",
					tt.productID, tt.sha256, got, err, tt.want)
			}
		})
	}
}

func testReleaseByMD5(t *testing.T, s core.Store) {
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")

	// As for SHA-256: one image under several versions and products.
	md5 := func(c string) string { return fakeSHA256(c)[:32] }
	var rs []core.Release
	for i, spec := range []struct {
		productID int64
		version   string
		md5       string
	}{
		{p.ID, "1.0", md5("a")},
		{p.ID, "1.1", md5("a")},
		{p.ID, "1.2", md5("b")},
		{other.ID, "2.0", md5("a")},
	} {
		rs = append(rs, mkReleaseFrom(t, s, core.Release{
			ProductID: spec.productID,
			Version:   spec.version,
			Digests:   core.Digests{Size: 10, MD5: spec.md5, SHA256: fakeSHA256(string(rune('c' + i)))},
			CreatedAt: at(i),
		}))
	}

	tests := []struct {
		name      string
		productID int64
		md5       string
		want      core.Release
	}{
		{"NewestOfTwo", p.ID, md5("a"), rs[1]},
		{"Single", p.ID, md5("b"), rs[2]},
		{"OtherProduct", other.ID, md5("a"), rs[3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ReleaseByMD5(t.Context(), tt.productID, tt.md5)
			if err != nil || !same(got, tt.want, normRelease) {
				t.Errorf("ReleaseByMD5(%d, %q) = %+v, %v, want %+v, nil", tt.productID, tt.md5, got, err, tt.want)
			}
		})
	}
	if _, err := s.ReleaseByMD5(t.Context(), other.ID, md5("b")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ReleaseByMD5(other product, %q) = %v, want ErrNotFound", md5("b"), err)
	}
}

func testChannels(t *testing.T, s core.Store) {
	ctx := t.Context()
	p := mkProduct(t, s, "widget")
	other := mkProduct(t, s, "gadget")
	r1 := mkRelease(t, s, p.ID, "1.0", 1)
	r2 := mkRelease(t, s, p.ID, "1.1", 2)
	ro := mkRelease(t, s, other.ID, "9.0", 3)

	stable := core.Channel{ProductID: p.ID, Name: "stable", ReleaseID: r1.ID, UpdatedAt: at(1)}
	beta := core.Channel{ProductID: p.ID, Name: "beta", ReleaseID: r2.ID, UpdatedAt: at(2)}
	alpha := core.Channel{ProductID: other.ID, Name: "alpha", ReleaseID: ro.ID, UpdatedAt: at(3)}
	for _, c := range []core.Channel{stable, beta, alpha} {
		if err := s.SetChannel(ctx, c); err != nil {
			t.Fatalf("SetChannel(%+v) = %v, want nil", c, err)
		}
	}
	got, err := s.Channel(ctx, p.ID, "stable")
	if err != nil || !same(got, stable, normChannel) {
		t.Errorf("Channel(%d, %q) = %+v, %v, want %+v, nil", p.ID, "stable", got, err, stable)
	}

	// Setting an existing channel moves it.
	stable.ReleaseID, stable.UpdatedAt = r2.ID, at(4)
	if err := s.SetChannel(ctx, stable); err != nil {
		t.Fatalf("SetChannel(%+v) = %v, want nil", stable, err)
	}
	got, err = s.Channel(ctx, p.ID, "stable")
	if err != nil || !same(got, stable, normChannel) {
		t.Errorf("Channel(%d, %q) after a move = %+v, %v, want %+v, nil",
			p.ID, "stable", got, err, stable)
	}

	list, err := s.Channels(ctx, p.ID)
	want := []core.Channel{beta, stable}
	if err != nil || !same(list, want, normChannels) {
		t.Errorf("Channels(%d) = %+v, %v, want %+v, nil", p.ID, list, err, want)
	}
}

func testToken(t *testing.T, s core.Store) {
	ctx := t.Context()
	tok := core.Token{Name: "ci", Role: core.RoleAdmin, Hash: fakeSHA256("c"), CreatedAt: at(0)}
	if err := s.CreateToken(ctx, &tok); err != nil {
		t.Fatalf("CreateToken(%q) = %v, want nil", tok.Name, err)
	}
	if tok.ID == 0 {
		t.Errorf("CreateToken(%q) left ID 0, want it set", tok.Name)
	}

	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil || !same(got, tok, normToken) {
		t.Errorf("TokenByHash(%q) = %+v, %v, want %+v, nil", tok.Hash, got, err, tok)
	}
}

func normProducts(ps []core.Product) []core.Product { return normAll(ps, normProduct) }
func normReleases(rs []core.Release) []core.Release { return normAll(rs, normRelease) }
func normChannels(cs []core.Channel) []core.Channel { return normAll(cs, normChannel) }
