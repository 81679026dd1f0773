package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ferry-ota/ferry/internal/arduino"
	"github.com/ferry-ota/ferry/internal/version"
)

// SetBoard gives a product a board profile and the loader its sketches
// are built with, or takes the profile away when board is empty (then
// loader must be empty too). Releases published before keep what they
// were published with: only later uploads are checked against the new
// profile and get its files.
func (s *Service) SetBoard(ctx context.Context, product, board, loader string) (Product, error) {
	if err := ValidateProductName(product); err != nil {
		return Product{}, err
	}
	if err := ValidateBoard(board, loader); err != nil {
		return Product{}, err
	}
	var p Product
	err := s.store.Tx(ctx, func(tx Store) error {
		var err error
		if p, err = tx.ProductByName(ctx, product); err != nil {
			return lookupErr(err, "unknown product "+product)
		}
		p.Board, p.Loader = board, loader
		if err := tx.SaveProduct(ctx, p); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), "product.configure", product, "",
			map[string]string{"board": board, "loader": loader})
	})
	if err != nil {
		return Product{}, err
	}
	s.log.Info("board profile set", "product", product, "board", board, "loader", loader)
	return p, nil
}

// ValidateBoard reports whether board names a known profile that can use
// loader, or both are empty.
func ValidateBoard(board, loader string) error {
	if board == "" {
		if loader != "" {
			return errInvalidf("loader %q without a board: give the board too", truncate(loader, 20))
		}
		return nil
	}
	b, ok := arduino.Boards[board]
	if !ok {
		return errInvalidf("unknown board %q: want one of %s", truncate(board, 40),
			strings.Join(arduino.BoardNames(), ", "))
	}
	if !b.Supports(arduino.Loader(loader)) {
		names := make([]string, len(b.Loaders))
		for i, l := range b.Loaders {
			names[i] = string(l)
		}
		if loader == "" {
			return errInvalidf("board %s needs a loader: one of %s", board, strings.Join(names, ", "))
		}
		return errInvalidf("the %s has no loader %q: want one of %s", b.Title, truncate(loader, 20),
			strings.Join(names, ", "))
	}
	return nil
}

// boardOf returns the product's board profile and loader, if it has one.
func boardOf(p Product) (arduino.Board, arduino.Loader, bool) {
	b, ok := arduino.Boards[p.Board]
	return b, arduino.Loader(p.Loader), ok
}

// boardUpload holds an upload for a product with a board profile in
// memory while it streams into the blob store, so that the vector tables
// can be checked and the derived files made before the image is stored.
// Images for these boards are at most a few hundred kilobytes.
type boardUpload struct {
	r      io.Reader
	board  arduino.Board
	loader arduino.Loader
	buf    bytes.Buffer
	files  []derivedFile // made by check
}

type derivedFile struct {
	format Format
	data   []byte
}

func (u *boardUpload) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.buf.Write(p[:n])
	if u.buf.Len() > u.board.MaxImage() {
		return n, fmt.Errorf("%w: image is more than %d bytes (0x%X), the most that fits in the %s's flash "+
			"after its bootloader", ErrInvalid, u.board.MaxImage(), u.board.MaxImage(), u.board.Title)
	}
	return n, err
}

// check refuses an image that does not fit the board and loader, then
// makes the derived files. It runs before the image is made visible, so a
// refused image is never stored.
func (u *boardUpload) check(ver string) error {
	img := u.buf.Bytes()
	if err := arduino.CheckImage(u.board, u.loader, img); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	stream := arduino.EncodeLZSS(img)
	// The loaders flash whatever they decode, unchecked: decode the stream
	// once here so that an encoder fault can never reach a board.
	back, err := arduino.DecodeLZSS(stream, len(img))
	if err != nil {
		return fmt.Errorf("decode the LZSS stream made of the image: %w", err)
	}
	if !bytes.Equal(back, img) {
		return errors.New("the LZSS stream made of the image decodes to other bytes: refusing to publish it")
	}
	var nums [3]uint64
	if v, err := version.Parse(ver); err == nil {
		nums = v.Nums
	}
	ota := arduino.MakeOTA(u.board.Magic(), arduino.OTAVersion(nums[0], nums[1], nums[2]), stream)
	u.files = []derivedFile{{FormatOTA, ota}, {FormatLZSS, stream}}
	return nil
}

// store puts the derived files into the blob store and returns their
// descriptions, in the order of Formats.
func (u *boardUpload) store(ctx context.Context, blobs Blobs) ([]Derived, error) {
	out := make([]Derived, 0, len(u.files))
	for _, f := range u.files {
		d, err := blobs.Put(ctx, bytes.NewReader(f.data), func(Digests) error { return nil })
		if err != nil {
			return nil, fmt.Errorf("store %s file: %w", f.format, err)
		}
		out = append(out, Derived{Format: f.format, Digests: d})
	}
	return out, nil
}

// DerivedOf returns the file of format f of release r of product p. It
// returns ErrNotFound, with the reason, when the release has none: its
// product had no board profile when it was published.
func DerivedOf(p Product, r Release, f Format) (Derived, error) {
	if d, ok := r.DerivedFile(f); ok {
		return d, nil
	}
	if p.Board == "" {
		return Derived{}, fmt.Errorf("product %s has no board profile, so its releases have no %s file: %w",
			p.Name, f, ErrNotFound)
	}
	return Derived{}, fmt.Errorf("release %s of %s has no %s file: it was published before the product "+
		"had its board profile: %w", r.Version, p.Name, f, ErrNotFound)
}

// OpenDerived opens release r's file of format f for reading; see
// DerivedOf for when it has none.
//
// TODO(arduino): only the plain protocol serves derived files, by name;
// native offers list the raw image alone, so a native client on an MKR
// board cannot be offered the smaller LZSS stream. Offering it needs a
// content-addressed route for derived files (a store lookup by their
// SHA-256); it matters once a native client runs on such a board.
func (s *Service) OpenDerived(ctx context.Context, p Product, r Release, f Format) (Derived, Blob, error) {
	d, err := DerivedOf(p, r, f)
	if err != nil {
		return Derived{}, nil, err
	}
	b, err := s.blobs.Open(ctx, d.SHA256)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// As for images: a missing blob is the server's fault.
			return Derived{}, nil, fmt.Errorf("%s file of release %d is missing from the blob store: %s",
				f, r.ID, err.Error())
		}
		return Derived{}, nil, err
	}
	return d, b, nil
}

// Saved returns how many bytes a derived file saves against the release's
// image, and that as a percentage of the image; negative when it is larger.
func (r Release) Saved(d Derived) (int64, float64) {
	saved := r.Size - d.Size
	if r.Size == 0 {
		return saved, 0
	}
	return saved, 100 * float64(saved) / float64(r.Size)
}

// largestFile is the size of the largest file a device may download for
// release r: its image or one of its derived files.
func (r Release) largestFile() int64 {
	most := r.Size
	for _, d := range r.Derived {
		most = max(most, d.Size)
	}
	return most
}
