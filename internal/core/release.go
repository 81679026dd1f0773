package core

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/ferry-ota/ferry/internal/version"
)

// MaxNotesLen bounds release notes.
const MaxNotesLen = 4096

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateSHA256 reports whether s is a lowercase hex SHA-256.
func ValidateSHA256(s string) error {
	if !sha256Re.MatchString(s) {
		return fmt.Errorf("%w: sha256 %q: want 64 lowercase hex digits", ErrInvalid, truncate(s, 80))
	}
	return nil
}

// ValidateVersion reports whether s is a version Ferry accepts.
func ValidateVersion(s string) error {
	if _, err := version.Parse(s); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Publish describes a release upload.
type Publish struct {
	Product string
	Version string
	Notes   string
	// Channel, when not empty, is moved to the new release.
	Channel string
	// ExpectSHA256, when not empty, must match the uploaded image.
	ExpectSHA256 string
	// Manifest and Signature, when given, are what the publisher signed
	// (see package manifest); both or neither. Counter is the security
	// counter of an unsigned release; a signed one takes the manifest's.
	Manifest  []byte
	Signature []byte
	Counter   int64
	Image     io.Reader
}

// PublishRelease stores the image and creates the release. The image is
// streamed into the blob store and hashed on the way; if it is too large,
// does not match ExpectSHA256 or its signed manifest, lowers the product's
// security counter, does not fit the product's board profile, or the
// version exists, nothing is published. For a product with a board
// profile it also makes and stores the release's .ota and LZSS files.
func (s *Service) PublishRelease(ctx context.Context, in Publish) (Release, error) {
	p, err := s.validatePublish(ctx, in)
	if err != nil {
		return Release{}, err
	}
	sig, err := s.checkSignature(ctx, p, in)
	if err != nil {
		return Release{}, err
	}
	r := Release{ProductID: p.ID, Version: in.Version, Notes: in.Notes, Counter: in.Counter}
	if sig != nil {
		r.Manifest, r.Signature, r.KeyID, r.Counter = in.Manifest, in.Signature, sig.keyID, sig.manifest.Counter
	}
	if err := checkCounter(ctx, s.store, p, r.Counter); err != nil {
		return Release{}, err
	}

	var image io.Reader = &limitReader{r: in.Image, left: s.cfg.MaxImageSize}
	var board *boardUpload
	if b, l, ok := boardOf(p); ok {
		board = &boardUpload{r: image, board: b, loader: l}
		image = board
	}
	d, err := s.blobs.Put(ctx, image, func(d Digests) error {
		if d.Size == 0 {
			return fmt.Errorf("%w: the image is empty", ErrInvalid)
		}
		if in.ExpectSHA256 != "" && d.SHA256 != in.ExpectSHA256 {
			return fmt.Errorf("%w: image sha256 is %s, expected %s", ErrInvalid, d.SHA256, in.ExpectSHA256)
		}
		if sig != nil {
			if err := sig.manifest.Matches(p.Name, in.Version, d.Size, d.SHA256); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		}
		if board != nil {
			return board.check(in.Version)
		}
		return nil
	})
	if err != nil {
		return Release{}, fmt.Errorf("store image of %s %s: %w", in.Product, in.Version, err)
	}
	if board != nil {
		// TODO(blob-gc): like the image, these stay on disk if the release
		// is not created below; see the note there.
		if r.Derived, err = board.store(ctx, s.blobs); err != nil {
			return Release{}, fmt.Errorf("publish %s %s: %w", in.Product, in.Version, err)
		}
	}

	r.Digests, r.CreatedAt = d, s.now()
	err = s.store.Tx(ctx, func(tx Store) error {
		// Checked again here, where no other push can interleave.
		if err := checkCounter(ctx, tx, p, r.Counter); err != nil {
			return err
		}
		if err := tx.CreateRelease(ctx, &r); err != nil {
			return err
		}
		detail := map[string]any{"size": r.Size, "sha256": r.SHA256, "channel": in.Channel,
			"counter": r.Counter, "signed": sig != nil}
		for _, f := range r.Derived {
			detail[string(f.Format)+"_size"] = f.Size
		}
		err := audit(ctx, tx, r.CreatedAt, "release.push", p.Name, r.Version, detail)
		if err != nil || in.Channel == "" {
			return err
		}
		return tx.SetChannel(ctx, Channel{ProductID: p.ID, Name: in.Channel, ReleaseID: r.ID, UpdatedAt: r.CreatedAt})
	})
	if err != nil {
		// TODO(blob-gc): the image stays on disk when two uploads of the same
		// version race and the second loses here. It is unreachable and
		// harmless but takes space; a sweep of unreferenced blobs fixes it.
		return Release{}, fmt.Errorf("publish %s %s: %w", in.Product, in.Version, err)
	}
	s.log.Info("release published", "product", p.Name, "version", r.Version, "size", r.Size,
		"sha256", r.SHA256, "channel", in.Channel, "counter", r.Counter, "signed", sig != nil,
		"derived", len(r.Derived))
	if in.Channel != "" {
		s.hub.Wake(p.ID, 0)
	}
	return r, nil
}

// validatePublish checks everything about an upload that can be checked
// before its body is read, so a bad request costs no bandwidth.
func (s *Service) validatePublish(ctx context.Context, in Publish) (Product, error) {
	p, err := s.Product(ctx, in.Product)
	if err != nil {
		return Product{}, err
	}
	if err := ValidateVersion(in.Version); err != nil {
		return Product{}, err
	}
	if len(in.Notes) > MaxNotesLen {
		return Product{}, fmt.Errorf("%w: notes longer than %d bytes", ErrInvalid, MaxNotesLen)
	}
	if in.Channel != "" {
		if err := ValidateChannelName(in.Channel); err != nil {
			return Product{}, err
		}
	}
	if in.ExpectSHA256 != "" {
		if err := ValidateSHA256(in.ExpectSHA256); err != nil {
			return Product{}, err
		}
	}
	_, err = s.store.ReleaseByVersion(ctx, p.ID, in.Version)
	switch {
	case err == nil:
		return Product{}, fmt.Errorf("release %s %s: %w", p.Name, in.Version, ErrConflict)
	case !notFound(err):
		return Product{}, err
	}
	return p, nil
}

// limitReader fails with ErrTooLarge once more than left bytes are read,
// instead of silently truncating the image as io.LimitReader would.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.tooLarge()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.tooLarge()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		// The uploader broke off, stalled or sent a malformed body: its
		// fault, not the server's.
		err = fmt.Errorf("%w: reading the image: %w", ErrInvalid, err)
	}
	return n, err
}

func (l *limitReader) tooLarge() error {
	return fmt.Errorf("%w: image exceeds the upload limit", ErrTooLarge)
}

// Release returns a product's release by version.
func (s *Service) Release(ctx context.Context, product, ver string) (Release, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return Release{}, err
	}
	if err := ValidateVersion(ver); err != nil {
		return Release{}, err
	}
	r, err := s.store.ReleaseByVersion(ctx, p.ID, ver)
	if err != nil {
		return Release{}, lookupErr(err, "product "+product+" has no release "+ver)
	}
	return r, nil
}

// Releases lists a product's releases, newest first.
func (s *Service) Releases(ctx context.Context, product string) ([]Release, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return nil, err
	}
	return s.store.Releases(ctx, p.ID)
}

// ChannelView is a channel with the release it points to.
type ChannelView struct {
	Channel
	Release Release
}

// SetChannel points a product's channel at one of its releases.
func (s *Service) SetChannel(ctx context.Context, product, channel, ver string) (ChannelView, error) {
	if err := ValidateChannelName(channel); err != nil {
		return ChannelView{}, err
	}
	r, err := s.Release(ctx, product, ver)
	if err != nil {
		return ChannelView{}, err
	}
	c := Channel{ProductID: r.ProductID, Name: channel, ReleaseID: r.ID, UpdatedAt: s.now()}
	err = s.store.Tx(ctx, func(tx Store) error {
		if err := tx.SetChannel(ctx, c); err != nil {
			return err
		}
		return audit(ctx, tx, c.UpdatedAt, "channel.set", product, channel, map[string]string{"version": ver})
	})
	if err != nil {
		return ChannelView{}, fmt.Errorf("set channel %s of %s: %w", channel, product, err)
	}
	s.log.Info("channel moved", "product", product, "channel", channel, "version", ver)
	s.hub.Wake(c.ProductID, 0)
	return ChannelView{Channel: c, Release: r}, nil
}

// Channels lists a product's channels with their releases.
func (s *Service) Channels(ctx context.Context, product string) ([]ChannelView, error) {
	p, err := s.Product(ctx, product)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.Channels(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]ChannelView, 0, len(cs))
	for _, c := range cs {
		r, err := s.store.Release(ctx, c.ReleaseID)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", c.Name, err)
		}
		out = append(out, ChannelView{Channel: c, Release: r})
	}
	return out, nil
}

// ChannelRelease returns the release a channel points to, or ErrNotFound
// naming the channel when nothing was published to it.
func (s *Service) ChannelRelease(ctx context.Context, p Product, channel string) (Release, error) {
	return channelRelease(ctx, s.store, p, channel)
}

func channelRelease(ctx context.Context, st Store, p Product, channel string) (Release, error) {
	c, err := st.Channel(ctx, p.ID, channel)
	if err != nil {
		if notFound(err) {
			return Release{}, fmt.Errorf("no release on channel %s of product %s: %w", channel, p.Name, ErrNotFound)
		}
		return Release{}, err
	}
	return st.Release(ctx, c.ReleaseID)
}

// ImageRelease returns the product's release whose image has that SHA-256,
// so that a product's firmware is only served under that product.
func (s *Service) ImageRelease(ctx context.Context, p Product, sha string) (Release, error) {
	if err := ValidateSHA256(sha); err != nil {
		return Release{}, err
	}
	r, err := s.store.ReleaseBySHA256(ctx, p.ID, sha)
	if err != nil {
		return Release{}, fmt.Errorf("image %s of %s: %w", sha[:12], p.Name, err)
	}
	return r, nil
}

// OpenImage opens a release's image for reading.
func (s *Service) OpenImage(ctx context.Context, r Release) (Blob, error) {
	b, err := s.blobs.Open(ctx, r.SHA256)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// A release whose image is gone is the server's fault, not the
			// client's: do not let it surface as a 404.
			return nil, fmt.Errorf("image of release %d is missing from the blob store: %s", r.ID, err.Error())
		}
		return nil, err
	}
	return b, nil
}

// ReleaseSHA1 returns the SHA-1 of r's image. A release published before
// Ferry recorded SHA-1s has none: it is computed from the image once and
// stored.
func (s *Service) ReleaseSHA1(ctx context.Context, r Release) (string, error) {
	if r.SHA1 != "" {
		return r.SHA1, nil
	}
	img, err := s.OpenImage(ctx, r)
	if err != nil {
		return "", err
	}
	defer img.Close()
	h := sha1.New()
	if _, err := io.Copy(h, img); err != nil {
		return "", fmt.Errorf("read image of release %d: %w", r.ID, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.store.SetReleaseSHA1(ctx, r.ID, sum); err != nil {
		return "", err
	}
	return sum, nil
}
