package core_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/arduino"
	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// sketch is a crafted exported sketch for an MKR GSM 1400: a vector table
// (stack top, odd reset vector) at the start and, for a loader with a
// stub, another where the loader runs the sketch; code-like bytes between.
func sketch(stub uint32, size int) []byte {
	img := make([]byte, size)
	for i := range img {
		img[i] = byte(i * 7 / 5)
	}
	binary.LittleEndian.PutUint32(img[0:], 0x20008000)
	binary.LittleEndian.PutUint32(img[4:], 0x2151)
	if stub > 0 {
		binary.LittleEndian.PutUint32(img[stub:], 0x20008000)
		binary.LittleEndian.PutUint32(img[stub+4:], 0x2000+stub+0x1E5)
	}
	return img
}

type boardFixture struct {
	svc   *core.Service
	blobs string
}

func newBoardFixture(t *testing.T) *boardFixture {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/ferry.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	bl, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, bl, core.Config{MaxImageSize: 1 << 20}, log)
	t.Cleanup(func() { svc.Close() })
	if _, _, err := svc.CreateProduct(t.Context(), "mkr", core.AccessPublic); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetBoard(t.Context(), "mkr", "mkrgsm1400", "ssu"); err != nil {
		t.Fatal(err)
	}
	return &boardFixture{svc: svc, blobs: dir}
}

// stored counts the files in the blob store's content-addressed folder.
func (f *boardFixture) stored(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(f.blobs, "sha256"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *boardFixture) push(ctx context.Context, v string, img []byte) (core.Release, error) {
	return f.svc.PublishRelease(ctx, core.Publish{Product: "mkr", Version: v, Channel: core.DefaultChannel,
		Image: bytes.NewReader(img)})
}

func TestPublishForBoardMakesOTAAndLZSS(t *testing.T) {
	f := newBoardFixture(t)
	img := sketch(0x8000, 0x8000+20000)
	r, err := f.push(t.Context(), "1.2.3", img)
	if err != nil {
		t.Fatalf("PublishRelease: %v", err)
	}
	if len(r.Derived) != 2 || r.Derived[0].Format != core.FormatOTA || r.Derived[1].Format != core.FormatLZSS {
		t.Fatalf("Derived = %+v, want ota then lzss", r.Derived)
	}
	if n := f.stored(t); n != 3 {
		t.Errorf("blob store holds %d files, want the image, the .ota and the LZSS stream", n)
	}

	p, err := f.svc.Product(t.Context(), "mkr")
	if err != nil {
		t.Fatal(err)
	}
	files := map[core.Format][]byte{}
	for _, format := range []core.Format{core.FormatOTA, core.FormatLZSS} {
		d, b, err := f.svc.OpenDerived(t.Context(), p, r, format)
		if err != nil {
			t.Fatalf("OpenDerived(%s): %v", format, err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		md := md5.Sum(data)
		sum := sha256.Sum256(data)
		if d.Size != int64(len(data)) || d.CRC32 != crc32.ChecksumIEEE(data) ||
			d.MD5 != hex.EncodeToString(md[:]) || d.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: recorded %+v, but the stored file has %d bytes, sha256 %x", format, d, len(data), sum)
		}
		files[format] = data
	}
	ota, stream := files[core.FormatOTA], files[core.FormatLZSS]
	if !bytes.Equal(ota[20:], stream) || binary.LittleEndian.Uint32(ota[8:]) != 0x23418052 ||
		!bytes.Equal(ota[12:20], []byte{0x40, 0, 1, 2, 3, 0, 0, 0}) {
		t.Errorf(".ota header % x does not hold the stream for magic 0x23418052, version 1.2.3", ota[:20])
	}
	if back, err := arduino.DecodeLZSS(stream, len(img)); err != nil || !bytes.Equal(back, img) {
		t.Errorf("the LZSS stream does not decode to the image: %v", err)
	}
	if saved, pct := r.Saved(r.Derived[1]); saved != r.Size-int64(len(stream)) || pct <= 0 {
		t.Errorf("Saved = %d, %.1f%%", saved, pct)
	}

	// The same release read back from the store.
	got, err := f.svc.Release(t.Context(), "mkr", "1.2.3")
	if err != nil || len(got.Derived) != 2 || got.Derived[1] != r.Derived[1] {
		t.Errorf("Release = %+v, %v, want the derived files recorded", got.Derived, err)
	}
}

func TestPublishForBoardRefusesWithoutStub(t *testing.T) {
	f := newBoardFixture(t)
	cases := map[string]struct {
		img  []byte
		want string
	}{
		"sketch without SSU.h": {sketch(0, 40000), "built without SSU.h?"},
		"short sketch":         {sketch(0, 9000), "built without SSU.h?"},
		"SDU build":            {sketch(0x4000, 0x4000+30000), "build with SSU.h instead"},
		"too large":            {sketch(0x8000, 0x3E000+1), "more than 253952 bytes"},
		"far too large":        {sketch(0x8000, 600000), "more than 253952 bytes"},
	}
	for name, c := range cases {
		_, err := f.push(t.Context(), "1.0.0", c.img)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: PublishRelease = %v, want ErrInvalid saying %q", name, err, c.want)
		}
	}
	if n := f.stored(t); n != 0 {
		t.Errorf("refused uploads left %d files in the blob store", n)
	}
	if rs, err := f.svc.Releases(t.Context(), "mkr"); err != nil || len(rs) != 0 {
		t.Errorf("Releases = %d, %v, want none", len(rs), err)
	}

	// The product without its profile takes any image, and makes nothing.
	if _, err := f.svc.SetBoard(t.Context(), "mkr", "", ""); err != nil {
		t.Fatal(err)
	}
	r, err := f.push(t.Context(), "1.0.0", sketch(0, 40000))
	if err != nil || len(r.Derived) != 0 {
		t.Fatalf("PublishRelease without a profile = %+v, %v, want a release with no derived files", r.Derived, err)
	}
	p, _ := f.svc.Product(t.Context(), "mkr")
	if _, _, err := f.svc.OpenDerived(t.Context(), p, r, core.FormatOTA); !errors.Is(err, core.ErrNotFound) ||
		!strings.Contains(err.Error(), "no board profile") {
		t.Errorf("OpenDerived without a profile = %v, want ErrNotFound naming the missing profile", err)
	}
}

func TestSetBoard(t *testing.T) {
	f := newBoardFixture(t)
	cases := []struct {
		board, loader, want string
	}{
		{"mkrgsm1400", "snu", "has no loader \"snu\": want one of none, sdu, ssu"},
		{"mkrgsm1400", "", "needs a loader"},
		{"uno", "none", "unknown board \"uno\": want one of mkrgsm1400, mkrwifi1010, nano33iot"},
		{"", "ssu", "without a board"},
	}
	for _, c := range cases {
		_, err := f.svc.SetBoard(t.Context(), "mkr", c.board, c.loader)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetBoard(%q, %q) = %v, want ErrInvalid saying %q", c.board, c.loader, err, c.want)
		}
	}
	p, err := f.svc.Product(t.Context(), "mkr")
	if err != nil || p.Board != "mkrgsm1400" || p.Loader != "ssu" {
		t.Errorf("after refused changes the product has %q/%q, %v, want mkrgsm1400/ssu", p.Board, p.Loader, err)
	}
	if p, err := f.svc.SetBoard(t.Context(), "mkr", "nano33iot", "snu"); err != nil || p.Board != "nano33iot" {
		t.Errorf("SetBoard(nano33iot, snu) = %+v, %v", p, err)
	}
	if _, err := f.svc.SetBoard(t.Context(), "nothing", "", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetBoard on an unknown product = %v, want ErrNotFound", err)
	}
}
