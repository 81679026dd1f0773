package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
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
