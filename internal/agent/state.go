package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the files in the state directory.
const (
	stateFile    = "state.json"
	firmwareFile = "firmware.bin"
	partFile     = "download.part"
	pendingFile  = "download.json"
)

// installed is state.json: what the device runs.
type installed struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
	// Counter is the security counter of the installed release, as its
	// signed manifest stated; never lowered by an install. Zero until a
	// signed release is installed.
	Counter int64 `json:"counter,omitempty"`
	// Seeded is true while Version came from Config.Version and the agent
	// has installed nothing; such a state yields to another Config.Version.
	// State files without the field count as installed, the safe reading.
	Seeded bool `json:"seeded,omitempty"`
}

// pending is download.json: the image download.part is a prefix of.
type pending struct {
	UpdateID int64  `json:"update_id"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	URL      string `json:"url"`
	// Counter is the security counter state.json takes when the image is
	// installed.
	Counter int64 `json:"counter,omitempty"`
	// Signed is true when the image must match a signed manifest, which
	// the offer's size and SHA-256 were checked against.
	Signed bool `json:"signed,omitempty"`
	// ETag is the validator the server sent with the part's bytes; sent as
	// If-Range so a changed image restarts instead of being spliced.
	ETag string `json:"etag,omitempty"`
}

// stateDir reads and writes the agent's files.
type stateDir struct {
	dir string
}

func (s stateDir) path(name string) string { return filepath.Join(s.dir, name) }

// readJSON decodes file name into v. A missing file returns an error for
// which errors.Is(err, fs.ErrNotExist) holds.
func (s stateDir) readJSON(name string, v any) error {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", s.path(name), err)
	}
	return nil
}

// writeJSON replaces file name with v atomically: a crash leaves either the
// old file or the new one, never a torn mix.
func (s stateDir) writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}

	// Write and fsync a temporary file next to the target, so the rename
	// below stays within one file system and publishes complete contents.
	f, err := os.CreateTemp(s.dir, name+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name()) // the write error is the one worth reporting
		return fmt.Errorf("write %s: %w", name, err)
	}

	// Rename over the old file, then fsync the directory so the rename
	// itself survives a power cut.
	if err := os.Rename(f.Name(), s.path(name)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return s.syncDir()
}

// remove deletes file name; a file already gone is not an error.
func (s stateDir) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// size returns the length of file name, 0 if it does not exist.
func (s stateDir) size(name string) (int64, error) {
	fi, err := os.Stat(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// hash returns the lowercase hex SHA-256 of file name.
func (s stateDir) hash(name string) (string, error) {
	f, err := os.Open(s.path(name))
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // read-only; nothing to learn from closing it
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s stateDir) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", s.dir, err)
	}
	return nil
}
