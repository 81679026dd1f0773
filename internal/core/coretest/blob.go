package coretest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/ferry-ota/ferry/internal/core"
)

// BlobSuite checks that a core.Blobs implementation keeps the contract
// documented on the interface. newBlobs must return an empty store that no
// other test uses; each subtest calls it once.
func BlobSuite(t *testing.T, newBlobs func(t *testing.T) core.Blobs) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, b core.Blobs)
	}{
		{"PutOpenRoundTrip", testBlobRoundTrip},
		{"PutEmpty", testBlobPutEmpty},
		{"NotVisibleDuringCheck", testBlobNotVisibleDuringCheck},
		{"CheckRejects", testBlobCheckRejects},
		{"ReaderFails", testBlobReaderFails},
		{"ContextCanceledBefore", testBlobContextCanceledBefore},
		{"ContextCanceledDuring", testBlobContextCanceledDuring},
		{"DuplicatePut", testBlobDuplicatePut},
		{"ConcurrentPuts", testBlobConcurrentPuts},
		{"OpenUnknown", testBlobOpenUnknown},
		{"MalformedName", testBlobMalformedName},
		{"SeekAndRange", testBlobSeekAndRange},
		{"DeleteIdempotent", testBlobDeleteIdempotent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newBlobs(t))
		})
	}
}

// blobSize spans several 32 KiB copy buffers, so streaming code takes more
// than one trip through its loop.
const blobSize = 100_000

// errBlobRead is what the failing readers in this suite return.
var errBlobRead = errors.New("reader broke on purpose")

// blobData returns n bytes of reproducible noise; seed tells images apart.
func blobData(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// wantDigests computes p's digests with the standard library alone, so the
// suite does not trust core.Digester to check the stores that use it.
func wantDigests(p []byte) core.Digests {
	m := md5.Sum(p)
	s := sha256.Sum256(p)
	s1 := sha1.Sum(p)
	return core.Digests{
		Size:   int64(len(p)),
		CRC32:  crc32.ChecksumIEEE(p),
		MD5:    hex.EncodeToString(m[:]),
		SHA256: hex.EncodeToString(s[:]),
		SHA1:   hex.EncodeToString(s1[:]),
	}
}

func acceptAll(core.Digests) error { return nil }

// mustPut stores p and fails the test unless Put succeeds with p's digests.
func mustPut(t testing.TB, b core.Blobs, p []byte) core.Digests {
	t.Helper()
	got, err := b.Put(t.Context(), bytes.NewReader(p), acceptAll)
	if err != nil {
		t.Fatalf("Put(%d bytes) error: %v", len(p), err)
	}
	if want := wantDigests(p); got != want {
		t.Fatalf("Put(%d bytes) = %+v, want %+v", len(p), got, want)
	}
	return got
}

// readBlob opens sha256 and returns its whole content, checking Size.
func readBlob(t testing.TB, b core.Blobs, sha256 string) []byte {
	t.Helper()
	bl, err := b.Open(t.Context(), sha256)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", sha256, err)
	}
	defer closeBlob(t, bl)

	got, err := io.ReadAll(bl)
	if err != nil {
		t.Fatalf("reading blob %s: %v", sha256, err)
	}
	if bl.Size() != int64(len(got)) {
		t.Errorf("Open(%s).Size() = %d, but it read %d bytes", sha256, bl.Size(), len(got))
	}
	return got
}

func closeBlob(t testing.TB, bl core.Blob) {
	t.Helper()
	if err := bl.Close(); err != nil {
		t.Errorf("Blob.Close() error: %v", err)
	}
}

// wantNotFound marks the test failed unless sha256 is absent from b. It does
// not stop the test, so it is safe inside a check that Put may call from
// another goroutine.
func wantNotFound(t testing.TB, b core.Blobs, sha256 string) {
	t.Helper()
	bl, err := b.Open(t.Context(), sha256)
	if err == nil {
		closeBlob(t, bl)
		t.Errorf("Open(%s) succeeded, want an error wrapping ErrNotFound", sha256)
		return
	}
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Open(%s) error = %v, want one wrapping ErrNotFound", sha256, err)
	}
}

func testBlobRoundTrip(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 1)
	want := wantDigests(data)

	var checked core.Digests
	got, err := b.Put(t.Context(), bytes.NewReader(data), func(d core.Digests) error {
		checked = d
		return nil
	})
	if err != nil {
		t.Fatalf("Put error: %v", err)
	}
	if got != want {
		t.Errorf("Put = %+v, want %+v", got, want)
	}
	if checked != want {
		t.Errorf("Put called check with %+v, want %+v", checked, want)
	}

	if content := readBlob(t, b, want.SHA256); !bytes.Equal(content, data) {
		t.Errorf("Open(%s) returned %d bytes that differ from the %d put", want.SHA256, len(content), len(data))
	}
}

func testBlobPutEmpty(t *testing.T, b core.Blobs) {
	d := mustPut(t, b, nil)
	if content := readBlob(t, b, d.SHA256); len(content) != 0 {
		t.Errorf("Open(%s) returned %d bytes, want 0", d.SHA256, len(content))
	}
}

// Nothing may be served before check has accepted the image: check is where
// callers compare the digests with what the uploader declared.
func testBlobNotVisibleDuringCheck(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 2)
	_, err := b.Put(t.Context(), bytes.NewReader(data), func(d core.Digests) error {
		wantNotFound(t, b, d.SHA256)
		return nil
	})
	if err != nil {
		t.Fatalf("Put error: %v", err)
	}
}

func testBlobCheckRejects(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 3)
	errReject := errors.New("digest does not match the declared one")

	_, err := b.Put(t.Context(), bytes.NewReader(data), func(core.Digests) error { return errReject })
	if !errors.Is(err, errReject) {
		t.Fatalf("Put with a rejecting check error = %v, want %v", err, errReject)
	}
	wantNotFound(t, b, wantDigests(data).SHA256)
}

func testBlobReaderFails(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 4)
	r := io.MultiReader(bytes.NewReader(data[:blobSize/2]), iotest.ErrReader(errBlobRead))

	_, err := b.Put(t.Context(), r, func(core.Digests) error {
		t.Error("Put called check although the reader failed")
		return nil
	})
	if !errors.Is(err, errBlobRead) {
		t.Fatalf("Put with a failing reader error = %v, want one wrapping %v", err, errBlobRead)
	}
	wantNotFound(t, b, wantDigests(data[:blobSize/2]).SHA256)
	wantNotFound(t, b, wantDigests(data).SHA256)
}

func testBlobContextCanceledBefore(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 5)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := b.Put(ctx, bytes.NewReader(data), acceptAll)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context error = %v, want one wrapping %v", err, context.Canceled)
	}
	wantNotFound(t, b, wantDigests(data).SHA256)
}

// cancelingReader cancels its context once the first bytes were read, the
// way a client that hangs up mid-upload does.
type cancelingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.cancel()
	return n, err
}

func testBlobContextCanceledDuring(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 6)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelingReader{r: iotest.HalfReader(bytes.NewReader(data)), cancel: cancel}

	_, err := b.Put(ctx, r, acceptAll)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put canceled mid-read error = %v, want one wrapping %v", err, context.Canceled)
	}
	wantNotFound(t, b, wantDigests(data).SHA256)
}

func testBlobDuplicatePut(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 7)
	first := mustPut(t, b, data)
	second := mustPut(t, b, data)
	if first != second {
		t.Errorf("second Put = %+v, want %+v as the first", second, first)
	}
	if content := readBlob(t, b, first.SHA256); !bytes.Equal(content, data) {
		t.Errorf("Open(%s) after two puts returned content that differs", first.SHA256)
	}
}

// Several devices' uploads of the same release may race; all must succeed
// and leave one intact image.
func testBlobConcurrentPuts(t *testing.T, b core.Blobs) {
	const n = 8
	data := blobData(blobSize, 8)
	want := wantDigests(data)

	var wg sync.WaitGroup
	errs := make([]error, n)
	got := make([]core.Digests, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = b.Put(t.Context(), iotest.HalfReader(bytes.NewReader(data)), acceptAll)
		})
	}
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent Put #%d error: %v", i, errs[i])
		} else if got[i] != want {
			t.Errorf("concurrent Put #%d = %+v, want %+v", i, got[i], want)
		}
	}
	if content := readBlob(t, b, want.SHA256); !bytes.Equal(content, data) {
		t.Errorf("Open(%s) after concurrent puts returned content that differs", want.SHA256)
	}
}

func testBlobOpenUnknown(t *testing.T, b core.Blobs) {
	mustPut(t, b, blobData(100, 9))
	wantNotFound(t, b, wantDigests(blobData(100, 10)).SHA256)
}

// A name that is not a lowercase SHA-256 must be refused, whatever it
// spells. Stores may report ErrInvalid or ErrNotFound, but must never hand
// out a file, least of all one outside the store.
func testBlobMalformedName(t *testing.T, b core.Blobs) {
	stored := mustPut(t, b, blobData(100, 11))

	names := []string{
		"",
		"abc",
		strings.ToUpper(stored.SHA256),
		stored.SHA256 + "0",
		stored.SHA256[:63],
		stored.SHA256[:2] + "/" + stored.SHA256,
		"../" + stored.SHA256[3:],
		"../../../../../../../../etc/passwd",
		"/etc/passwd",
		strings.Repeat("g", 64),
		stored.SHA256[:63] + "\x00",
	}
	for _, name := range names {
		bl, err := b.Open(t.Context(), name)
		if err == nil {
			closeBlob(t, bl)
			t.Errorf("Open(%q) succeeded, want an error", name)
		} else if !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Open(%q) error = %v, want one wrapping ErrInvalid or ErrNotFound", name, err)
		}
		// Delete must not remove anything through a malformed name either.
		_ = b.Delete(t.Context(), name) // refusing and ignoring are both fine here
	}
	readBlob(t, b, stored.SHA256)
}

// Range requests resume broken downloads, so a Blob must seek anywhere.
func testBlobSeekAndRange(t *testing.T, b core.Blobs) {
	data := blobData(blobSize, 12)
	d := mustPut(t, b, data)
	bl, err := b.Open(t.Context(), d.SHA256)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", d.SHA256, err)
	}
	defer closeBlob(t, bl)

	if bl.Size() != blobSize {
		t.Errorf("Size() = %d, want %d", bl.Size(), blobSize)
	}
	tests := []struct {
		name   string
		offset int64
		whence int
		n      int
		start  int // where in data the read should begin
	}{
		{"from start", 40_000, io.SeekStart, 1000, 40_000},
		{"forward from current", 500, io.SeekCurrent, 10, 41_500},
		{"back from current", -41_510, io.SeekCurrent, 7, 0},
		{"from end", -100, io.SeekEnd, 100, blobSize - 100},
		{"first byte", 0, io.SeekStart, 1, 0},
	}
	for _, tt := range tests {
		pos, err := bl.Seek(tt.offset, tt.whence)
		if err != nil {
			t.Fatalf("%s: Seek(%d, %d) error: %v", tt.name, tt.offset, tt.whence, err)
		}
		if pos != int64(tt.start) {
			t.Errorf("%s: Seek(%d, %d) = %d, want %d", tt.name, tt.offset, tt.whence, pos, tt.start)
		}
		got := make([]byte, tt.n)
		if _, err := io.ReadFull(bl, got); err != nil {
			t.Fatalf("%s: reading %d bytes at %d: %v", tt.name, tt.n, tt.start, err)
		}
		if !bytes.Equal(got, data[tt.start:tt.start+tt.n]) {
			t.Errorf("%s: read %d bytes at %d that differ from the image", tt.name, tt.n, tt.start)
		}
	}

	// At the end, a read reports io.EOF rather than data or another error.
	if _, err := bl.Seek(0, io.SeekEnd); err != nil {
		t.Fatalf("Seek(0, io.SeekEnd) error: %v", err)
	}
	if n, err := bl.Read(make([]byte, 10)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("Read at the end = %d, %v, want 0, io.EOF", n, err)
	}
}

func testBlobDeleteIdempotent(t *testing.T, b core.Blobs) {
	keep := mustPut(t, b, blobData(1000, 13))
	gone := mustPut(t, b, blobData(1000, 14))

	for i := range 2 {
		if err := b.Delete(t.Context(), gone.SHA256); err != nil {
			t.Fatalf("Delete(%s) #%d error: %v", gone.SHA256, i+1, err)
		}
	}
	wantNotFound(t, b, gone.SHA256)
	readBlob(t, b, keep.SHA256)

	never := wantDigests(blobData(1000, 15)).SHA256
	if err := b.Delete(t.Context(), never); err != nil {
		t.Errorf("Delete(%s) of an image never stored error: %v", never, err)
	}

	// Deleting frees the name: the same image can be stored again.
	again := mustPut(t, b, blobData(1000, 14))
	readBlob(t, b, again.SHA256)
}
