package disk_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/core/coretest"
)

func TestStore(t *testing.T) {
	coretest.BlobSuite(t, func(t *testing.T) core.Blobs {
		return newStore(t, t.TempDir())
	})
}

func newStore(t testing.TB, dir string) *disk.Store {
	t.Helper()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatalf("New(%s) error: %v", dir, err)
	}
	return s
}

func put(t testing.TB, s *disk.Store, p []byte) core.Digests {
	t.Helper()
	d, err := s.Put(t.Context(), bytes.NewReader(p), func(core.Digests) error { return nil })
	if err != nil {
		t.Fatalf("Put(%q) error: %v", p, err)
	}
	return d
}

// files lists every regular file under dir, relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		got = append(got, rel)
		return err
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return got
}

func TestPutLayoutAndMode(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	d := put(t, s, []byte("firmware"))

	want := filepath.Join("sha256", d.SHA256[:2], d.SHA256)
	got := files(t, dir)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("files after Put = %q, want only %q", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, want))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode(); mode != 0o600 {
		t.Errorf("image file mode = %v, want %v", mode, fs.FileMode(0o600))
	}
	for _, sub := range []string{"tmp", "sha256", filepath.Join("sha256", d.SHA256[:2])} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("directory %s mode = %v, want no access for group or others", sub, perm)
		}
	}
}

func TestDuplicatePutKeepsOneFile(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	put(t, s, []byte("same image"))
	put(t, s, []byte("same image"))

	if got := files(t, dir); len(got) != 1 {
		t.Errorf("files after two equal puts = %q, want one", got)
	}
}

// A failed or rejected upload must leave no file at all, neither visible
// under sha256/ nor forgotten in tmp/.
func TestFailedPutLeavesNoFile(t *testing.T) {
	errBroken := errors.New("connection lost")
	tests := []struct {
		name  string
		r     io.Reader
		check func(core.Digests) error
	}{
		{
			name:  "reader fails midway",
			r:     io.MultiReader(bytes.NewReader(make([]byte, 70_000)), iotest.ErrReader(errBroken)),
			check: func(core.Digests) error { return nil },
		},
		{
			name:  "check rejects",
			r:     bytes.NewReader(make([]byte, 70_000)),
			check: func(core.Digests) error { return errBroken },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newStore(t, dir)

			if _, err := s.Put(t.Context(), tt.r, tt.check); !errors.Is(err, errBroken) {
				t.Fatalf("Put error = %v, want one wrapping %v", err, errBroken)
			}
			if got := files(t, dir); len(got) != 0 {
				t.Errorf("files after a failed Put = %q, want none", got)
			}
		})
	}
}

// The check runs after the whole image was written to tmp/ but before it is
// published, so it sees the half-way state a crash could leave behind.
func TestNoPartialFileVisibleDuringPut(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)

	_, err := s.Put(t.Context(), bytes.NewReader([]byte("image")), func(core.Digests) error {
		if got := files(t, filepath.Join(dir, "sha256")); len(got) != 0 {
			t.Errorf("files under sha256/ before the check returned = %q, want none", got)
		}
		if got := files(t, filepath.Join(dir, "tmp")); len(got) != 1 {
			t.Errorf("files under tmp/ while checking = %q, want the one upload", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Put error: %v", err)
	}
}

func TestNewRemovesLeftoverUploads(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	d := put(t, s, []byte("kept image"))

	// What a crash in the middle of two uploads leaves behind.
	for _, name := range []string{"put-123", "put-456"} {
		if err := os.WriteFile(filepath.Join(dir, "tmp", name), []byte("half an ima"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = newStore(t, dir)

	want := filepath.Join("sha256", d.SHA256[:2], d.SHA256)
	if got := files(t, dir); len(got) != 1 || got[0] != want {
		t.Errorf("files after New = %q, want only %q", got, want)
	}
	bl, err := s.Open(t.Context(), d.SHA256)
	if err != nil {
		t.Fatalf("Open(%s) after New error: %v", d.SHA256, err)
	}
	if err := bl.Close(); err != nil {
		t.Error(err)
	}
}

func TestNewOnFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(p); err == nil {
		t.Errorf("New(%s) on a regular file succeeded, want an error", p)
	}
}

// Names are checked before they reach the file system, so a name can reach
// neither a file beside the store nor one inside it under another spelling.
func TestInvalidNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	s := newStore(t, dir)
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}

	names := []string{
		"../../secret",
		"../secret",
		"/" + filepath.Join(root, "secret"),
		"0000000000000000000000000000000000000000000000000000000000000/..",
		"ABCDEF0000000000000000000000000000000000000000000000000000000000",
		"abcdef000000000000000000000000000000000000000000000000000000000",
		strings.Repeat("g", 64),
	}
	for _, name := range names {
		if _, err := s.Open(t.Context(), name); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Open(%q) error = %v, want one wrapping ErrInvalid", name, err)
		}
		if err := s.Delete(t.Context(), name); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Delete(%q) error = %v, want one wrapping ErrInvalid", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "secret")); err != nil {
		t.Errorf("file beside the store after Delete attempts: %v", err)
	}
}

// An open Blob keeps reading the image even if it is deleted meanwhile, so a
// download in progress is not cut by an operator removing the release.
func TestDeleteWhileOpen(t *testing.T) {
	s := newStore(t, t.TempDir())
	d := put(t, s, []byte("image being downloaded"))
	bl, err := s.Open(t.Context(), d.SHA256)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", d.SHA256, err)
	}
	defer func() {
		if err := bl.Close(); err != nil {
			t.Error(err)
		}
	}()

	if err := s.Delete(t.Context(), d.SHA256); err != nil {
		t.Fatalf("Delete(%s) error: %v", d.SHA256, err)
	}
	got, err := io.ReadAll(bl)
	if err != nil || string(got) != "image being downloaded" {
		t.Errorf("reading the deleted image = %q, %v, want the image", got, err)
	}
}
