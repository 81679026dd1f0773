package core

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
)

// Blobs stores firmware images addressed by their SHA-256. Implementations:
// internal/blob/disk (the embedded default) and, later, S3; all pass
// coretest.BlobSuite.
type Blobs interface {
	// Put reads r to its end, computing Digests on the way, and then calls
	// check with them. Only if check returns nil is the image made visible
	// under its SHA-256; otherwise nothing is stored and check's error is
	// returned. A read error from r is returned wrapped, and nothing is
	// stored. Putting an image that already exists succeeds and keeps one copy.
	// A partially written image is never visible to Open, even after a crash.
	Put(ctx context.Context, r io.Reader, check func(Digests) error) (Digests, error)
	// Open returns the image with that lowercase hex SHA-256, or an error
	// wrapping ErrNotFound.
	Open(ctx context.Context, sha256 string) (Blob, error)
	// Delete removes the image; deleting a missing image is not an error.
	Delete(ctx context.Context, sha256 string) error
}

// Blob is an open image. Callers must Close it.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
}

// Digester computes Digests of everything written to it.
type Digester struct {
	size   int64
	crc    hash.Hash32
	md5    hash.Hash
	sha256 hash.Hash
	sha1   hash.Hash
	w      io.Writer
}

// NewDigester returns a Digester with nothing written.
func NewDigester() *Digester {
	d := &Digester{crc: crc32.NewIEEE(), md5: md5.New(), sha256: sha256.New(), sha1: sha1.New()}
	d.w = io.MultiWriter(d.crc, d.md5, d.sha256, d.sha1)
	return d
}

// Write hashes p; it never fails.
func (d *Digester) Write(p []byte) (int, error) {
	d.size += int64(len(p))
	return d.w.Write(p)
}

// Digests returns the digests of what was written so far.
func (d *Digester) Digests() Digests {
	return Digests{
		Size:   d.size,
		CRC32:  d.crc.Sum32(),
		MD5:    hex.EncodeToString(d.md5.Sum(nil)),
		SHA256: hex.EncodeToString(d.sha256.Sum(nil)),
		SHA1:   hex.EncodeToString(d.sha1.Sum(nil)),
	}
}
