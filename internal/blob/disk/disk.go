// Package disk is the embedded blob store: firmware images kept as files in
// one directory, each named by its SHA-256.
//
// The directory holds two folders. tmp/ receives images while they are being
// written and hashed; sha256/ holds finished images under a two-character
// fan-out, sha256/ab/abcdef…, so no single folder grows past what file
// systems list quickly. A file reaches sha256/ only by an atomic rename after
// its content was verified and synced, so a reader never sees a partial
// image, even after a crash. One process owns a directory: New clears tmp/.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferry-ota/ferry/internal/core"
)

// The store's folders, like the image files (which os.CreateTemp makes with
// mode 0600), are for the server's user only: some products ship firmware that
// their devices may download only with a credential.
const dirMode = 0o700

// tempPattern names upload files in tmp/; the star becomes a random suffix.
const tempPattern = "put-*"

// Store keeps images in a directory on the local file system. It is safe for
// concurrent use.
type Store struct {
	tmp  string // images being written
	root string // finished images: root/ab/abcdef…
}

var _ core.Blobs = (*Store)(nil)

// New returns a Store that keeps its images under dir, creating the folders
// it needs and removing images a crash left half written.
func New(dir string) (*Store, error) {
	s := &Store{
		tmp:  filepath.Join(dir, "tmp"),
		root: filepath.Join(dir, "sha256"),
	}
	for _, d := range []string{s.tmp, s.root} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("create blob directory %s: %w", d, err)
		}
	}

	// Anything left in tmp/ is an upload that a crash or a kill interrupted.
	// Its client saw no success, so the image was never stored and removing it
	// loses nothing; keeping it would only leak disk space.
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("list blob temp directory %s: %w", s.tmp, err)
	}
	for _, e := range entries {
		p := filepath.Join(s.tmp, e.Name())
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("remove leftover upload %s: %w", p, err)
		}
	}
	return s, nil
}

// Put streams r into a temp file while hashing it, and makes the image
// visible under its SHA-256 only after check accepted the digests and the
// file is durable. See core.Blobs for the contract.
func (s *Store) Put(
	ctx context.Context,
	r io.Reader,
	check func(core.Digests) error,
) (core.Digests, error) {
	if err := ctx.Err(); err != nil {
		return core.Digests{}, fmt.Errorf("put image: %w", err)
	}

	// The temp file lives in the same file system as the final one, so the
	// rename below is atomic. Until the image is published, every way out of
	// this function removes it again.
	f, err := os.CreateTemp(s.tmp, tempPattern)
	if err != nil {
		return core.Digests{}, fmt.Errorf("create upload file: %w", err)
	}
	published := false
	defer func() {
		if !published {
			_ = f.Close() // may already be closed; the file is discarded anyway
			_ = os.Remove(f.Name())
		}
	}()

	// Hash while writing: the image passes through a fixed-size buffer and
	// is never held whole in memory. Reading through ctx lets a canceled
	// upload stop between two reads instead of after the whole body.
	d := core.NewDigester()
	if _, err := io.Copy(io.MultiWriter(f, d), ctxReader{ctx: ctx, r: r}); err != nil {
		return core.Digests{}, fmt.Errorf("copy image: %w", err)
	}
	dg := d.Digests()

	// The caller decides whether these bytes are what it expected (declared
	// digest, size limit, signature). Its error is returned as is, so the
	// caller can recognise it.
	if err := check(dg); err != nil {
		return core.Digests{}, err
	}

	// Sync before rename: otherwise a crash could leave the new name pointing
	// at a file whose data never reached the disk, i.e. a partial image.
	if err := f.Sync(); err != nil {
		return core.Digests{}, fmt.Errorf("sync image %s: %w", dg.SHA256, err)
	}
	if err := f.Close(); err != nil {
		return core.Digests{}, fmt.Errorf("close image %s: %w", dg.SHA256, err)
	}

	if err := s.publish(f.Name(), dg.SHA256); err != nil {
		return core.Digests{}, err
	}
	published = true
	return dg, nil
}

// publish moves the finished temp file to its content address and makes
// that rename durable.
func (s *Store) publish(tmp, sum string) error {
	// The fan-out folder is made on first use. A new folder is itself an
	// entry of root, so root is synced too, or a crash could lose the folder
	// together with the image inside it.
	dir := filepath.Join(s.root, sum[:2])
	if err := os.Mkdir(dir, dirMode); err == nil {
		if err := syncDir(s.root); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create blob directory %s: %w", dir, err)
	}

	// Equal names mean equal content, so an image already stored is kept and
	// the new copy is dropped by the caller's cleanup. Two puts racing past
	// this check both rename; the second atomically replaces identical bytes,
	// and readers holding the first file keep reading it.
	dst := filepath.Join(dir, sum)
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("discard duplicate of image %s: %w", sum, err)
		}
		return nil
	}

	// The rename is the moment the image becomes visible. Syncing the folder
	// afterwards makes that moment survive a power cut; without it the image
	// could vanish after Put reported success.
	// If that sync fails, Put reports an error although the image may be
	// visible; that is safe, since its bytes were verified and synced.
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("store image %s: %w", sum, err)
	}
	return syncDir(dir)
}

// Open returns the image with that SHA-256. It returns an error wrapping
// core.ErrInvalid when sha256 is not 64 lowercase hex characters, and one
// wrapping core.ErrNotFound when no such image is stored.
func (s *Store) Open(ctx context.Context, sha256 string) (core.Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open image %s: %w", sha256, err)
	}
	p, err := s.path(sha256)
	if err != nil {
		return nil, err
	}

	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open image %s: %w", sha256, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", sha256, err)
	}

	// The size is read from the open file, not the name, so it matches the
	// bytes this Blob will return even if the image is deleted meanwhile.
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close() // the stat error is the one worth reporting
		return nil, fmt.Errorf("stat image %s: %w", sha256, err)
	}
	return &blob{File: f, size: fi.Size()}, nil
}

// Delete removes the image with that SHA-256. Deleting a missing image is
// not an error; a malformed name returns an error wrapping core.ErrInvalid.
func (s *Store) Delete(ctx context.Context, sha256 string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete image %s: %w", sha256, err)
	}
	p, err := s.path(sha256)
	if err != nil {
		return err
	}

	// The folder is not synced: if a crash undoes the removal, the image
	// merely stays stored, which is what a failed Delete means anyway.
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete image %s: %w", sha256, err)
	}
	return nil
}

// path maps a SHA-256 to its file. Only lowercase hex is accepted: no
// separator, dot or other character can reach the file system, so a name can
// never point outside the store, and a case-insensitive file system cannot
// answer for a differently spelled digest.
func (s *Store) path(sum string) (string, error) {
	if !validSHA256(sum) {
		return "", fmt.Errorf("image name %q: want 64 lowercase hex characters: %w",
			sum, core.ErrInvalid)
	}
	return filepath.Join(s.root, sum[:2], sum), nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// syncDir makes the entries of dir (creations, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // the sync error is the one worth reporting
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close directory %s: %w", dir, err)
	}
	return nil
}

// blob is an open image file together with its size.
type blob struct {
	*os.File
	size int64
}

// Size returns the image's length in bytes.
func (b *blob) Size() int64 { return b.size }

// ctxReader fails the read after ctx is canceled, so a long copy stops soon
// after its caller gave up. It also hides any WriterTo of the wrapped reader,
// which keeps io.Copy on its bounded buffer.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
