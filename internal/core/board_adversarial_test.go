package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// failingBlobs fails the nth Put, as a disk that fills up or a server
// that dies between storing the image and its derived files would.
type failingBlobs struct {
	core.Blobs
	n, puts int
}

func (b *failingBlobs) Put(ctx context.Context, r io.Reader, check func(core.Digests) error) (core.Digests, error) {
	b.puts++
	if b.puts == b.n {
		_, _ = io.Copy(io.Discard, r)
		return core.Digests{}, errors.New("disk full")
	}
	return b.Blobs.Put(ctx, r, check)
}

// A push for a board product whose derived files cannot be stored
// publishes nothing: no release without its .ota and LZSS files is ever
// visible, and the version can be pushed again.
func TestPublishForBoardIsWholeOrNothing(t *testing.T) {
	for _, n := range []int{1, 2, 3} { // the image, the .ota file, the LZSS stream
		log := slog.New(slog.DiscardHandler)
		st, err := sqlite.Open(t.Context(), t.TempDir()+"/ferry.db", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		dir, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		bl := &failingBlobs{Blobs: dir, n: n}
		svc := core.NewService(st, bl, core.Config{MaxImageSize: 1 << 20}, log)
		t.Cleanup(func() { svc.Close() })
		if _, _, err := svc.CreateProduct(t.Context(), "mkr", core.AccessPublic); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetBoard(t.Context(), "mkr", "mkrgsm1400", "ssu"); err != nil {
			t.Fatal(err)
		}
		push := func() (core.Release, error) {
			return svc.PublishRelease(t.Context(), core.Publish{Product: "mkr", Version: "1.0.0",
				Channel: core.DefaultChannel, Image: bytes.NewReader(sketch(0x8000, 0x9000))})
		}

		if _, err := push(); err == nil {
			t.Fatalf("push with Put %d failing = nil error, want the failure", n)
		}
		if rs, err := svc.Releases(t.Context(), "mkr"); err != nil || len(rs) != 0 {
			t.Fatalf("releases after Put %d failed = %d, %v; want none", n, len(rs), err)
		}
		r, err := push()
		if err != nil || len(r.Derived) != 2 {
			t.Fatalf("push again after Put %d failed = %d derived files, %v; want 2, nil", n, len(r.Derived), err)
		}
	}
}

// A board that downloads the .ota file of an image that does not
// compress may report more bytes than the image has; up to the largest
// file of the release that is progress, past it a bad report.
func TestProgressOfDerivedDownload(t *testing.T) {
	f := newBoardFixture(t)
	img := sketch(0x8000, 0x9000)
	noise := rand.NewChaCha8([32]byte{1}) // the LZSS stream of noise is larger than the noise
	_, _ = noise.Read(img[8:0x8000])
	_, _ = noise.Read(img[0x8008:])
	r, err := f.push(t.Context(), "1.0.0", img)
	if err != nil {
		t.Fatal(err)
	}
	ota, _ := r.DerivedFile(core.FormatOTA)
	if ota.Size <= r.Size {
		t.Fatalf(".ota file of noise is %d bytes, want more than the image's %d", ota.Size, r.Size)
	}
	p, err := f.svc.Product(t.Context(), "mkr")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CheckIn(t.Context(), p, core.CheckIn{Device: "b1", Version: "0.9.0",
		Protocol: "test"}); err != nil {
		t.Fatal(err)
	}

	report := func(progress int64) error {
		_, err := f.svc.Report(t.Context(), p, core.Report{Device: "b1", State: "downloading",
			Progress: progress, Protocol: "test"})
		return err
	}
	if err := report(ota.Size); err != nil {
		t.Errorf("Report(progress %d, the .ota file's size) = %v, want nil", ota.Size, err)
	}
	if err := report(ota.Size + 1); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Report(progress %d, past every file) = %v, want ErrInvalid", ota.Size+1, err)
	}
}
