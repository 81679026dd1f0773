package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/manifest"
)

func runRelease(ctx context.Context, e env) error {
	return runVerb(ctx, e, "release", []verb{
		{"push", "upload and publish a release", runReleasePush},
		{"list", "list a product's releases", runReleaseList},
		{"show", "show one release", runReleaseShow},
		{"sign", "sign a release's manifest (offline)", runReleaseSign},
	})
}

const releasePushUsage = `
Usage: ferry release push --product P --version V [flags] FILE
       ferry release push --product P --manifest FILE.manifest --sig FILE.sig [flags] FILE

Uploads FILE as release V of product P and points a channel at it
(stable unless --channel or --no-channel says otherwise). Prints
"VERSION  SIZE bytes  sha256 HEX", then "channel NAME -> VERSION" for the
channel it moved. For a product with a board profile FILE is the
sketch's exported .bin; the server checks it against the board and also
makes the .ota file and LZSS stream, each printed with its size and what
it saves against FILE.

With --manifest and --sig (from 'ferry release sign') the upload is
signed: the version and security counter come from the manifest, and a
--version that disagrees is refused before anything is sent. The server
stores the release only if the signature verifies with an active key of
the product and the manifest describes FILE. Without them, --counter sets
the security counter (default 0); a product set with --require-signature
refuses such pushes.

Example:
  ferry release push --product mkr-gsm-sensor --version 1.1.0 build/fw.bin
  ferry release push --product mkr-gsm-sensor --version 1.2.0-rc1 --channel beta fw.bin
  ferry release push --product mkr-gsm-sensor \
      --manifest fw.bin.manifest --sig fw.bin.sig fw.bin
`

func runReleasePush(ctx context.Context, e env) error {
	c := newOpCmd(e, "release push", releasePushUsage, "FILE")
	product := c.productFlag()
	version := c.fs.String("version", "", "release `version` (required without --manifest)")
	channel := c.fs.String("channel", "stable", "`channel` to point at the new release")
	noChannel := c.fs.Bool("no-channel", false, "publish without moving any channel")
	sum := c.fs.String("sha256", "", "expected SHA-256 of FILE in `hex`; the server refuses a mismatch")
	notes := c.fs.String("notes", "", "release `notes`")
	trust := addTrustFlags(c.fs)
	args, err := c.parse("product")
	if err != nil {
		return err
	}
	if *noChannel && flagSet(c.fs, "channel") {
		return fmt.Errorf("%s: --channel and --no-channel exclude each other", c.name)
	}
	if *noChannel {
		*channel = ""
	}
	opts := client.PushOptions{Product: *product, Version: *version, Channel: channel, SHA256: *sum, Notes: *notes}
	if err := trust.apply(c.fs, &opts); err != nil {
		return c.wrap(err)
	}
	op, err := c.operator()
	if err != nil {
		return err
	}

	f, size, err := openImage(args[0])
	if err != nil {
		return c.wrap(err)
	}
	defer func() { _ = f.Close() }() // read-only; nothing to learn from closing it
	if trust.signed && trust.m.Size != size {
		return fmt.Errorf("%s: %s has %d bytes, but the manifest is for %d", c.name, args[0], size, trust.m.Size)
	}

	rel, err := pushImage(ctx, e, op, opts, f, size)
	if err != nil {
		return c.wrap(err)
	}
	return printPushed(e, c.r.json, rel, *channel)
}

// pushImage uploads f and checks that the server stored what was read.
func pushImage(
	ctx context.Context,
	e env,
	op *client.Operator,
	opts client.PushOptions,
	f *os.File,
	size int64,
) (client.Release, error) {
	// Hash what is sent, to catch an image that changed on disk or in
	// transit: the server's digest must match the bytes read here.
	h := sha256.New()
	var sink io.Writer = h
	bar := uploadBar(e.stderr, size, opts.Version)
	if bar != nil {
		sink = io.MultiWriter(h, bar)
	}
	opts.Body, opts.Size = io.TeeReader(f, sink), size
	rel, err := op.PushRelease(ctx, opts)
	if bar != nil {
		_ = bar.Clear() // the bar is decoration; a failure to erase it is harmless
	}
	if err != nil {
		return rel, err
	}
	if local := hex.EncodeToString(h.Sum(nil)); rel.SHA256 != local || rel.Size != size {
		return rel, fmt.Errorf("server stored %d bytes with sha256 %s, but %s has %d bytes with sha256 %s",
			rel.Size, rel.SHA256, f.Name(), size, local)
	}
	return rel, nil
}

// printPushed reports a pushed release and the channel it moved.
func printPushed(e env, asJSON bool, rel client.Release, channel string) error {
	if asJSON {
		return printJSON(e.stdout, rel)
	}
	fmt.Fprintf(e.stdout, "%s  %d bytes  sha256 %s\n", rel.Version, rel.Size, rel.SHA256)
	if rel.Signed {
		fmt.Fprintf(e.stdout, "signed, counter %d\n", rel.Counter)
	} else if rel.Counter != 0 {
		fmt.Fprintf(e.stdout, "unsigned, counter %d\n", rel.Counter)
	}
	for _, d := range rel.Derived {
		fmt.Fprintf(e.stdout, "%s  %d bytes  %s\n", d.Format, d.Size, savedText(d))
	}
	if channel != "" {
		fmt.Fprintf(e.stdout, "channel %s -> %s\n", channel, rel.Version)
	}
	return nil
}

// savedText says what a derived file saves against the raw image.
func savedText(d client.Derived) string {
	if d.Saved < 0 {
		return fmt.Sprintf("%d bytes (%.1f%%) more than the image", -d.Saved, -d.SavedPercent)
	}
	return fmt.Sprintf("saves %d bytes (%.1f%%) against the image", d.Saved, d.SavedPercent)
}

// trustFlags are release push's flags for a signed upload, or for the
// security counter of an unsigned one.
type trustFlags struct {
	manifestFile, sigFile string
	counter               int64

	signed bool
	m      manifest.Manifest // parsed from manifestFile once signed
}

func addTrustFlags(fs *flag.FlagSet) *trustFlags {
	t := &trustFlags{}
	fs.StringVar(&t.manifestFile, "manifest", "", "signed manifest `file` from 'ferry release sign' (needs --sig)")
	fs.StringVar(&t.sigFile, "sig", "", "signature `file` of the manifest (needs --manifest)")
	fs.Int64Var(&t.counter, "counter", 0, "security `counter` of an unsigned release (signed: the manifest's)")
	return t
}

// apply checks the flags against each other and fills in opts. With a
// manifest, the version is the manifest's; the product and any --version
// given must agree with it, so that a mix-up is caught before the upload.
func (t *trustFlags) apply(fs *flag.FlagSet, opts *client.PushOptions) error {
	if (t.manifestFile == "") != (t.sigFile == "") {
		return errors.New("--manifest and --sig go together")
	}
	if t.manifestFile == "" {
		if opts.Version == "" {
			return errors.New("--version is required (or --manifest and --sig)")
		}
		if flagSet(fs, "counter") {
			if t.counter < 0 {
				return fmt.Errorf("--counter %d: want 0 or more", t.counter)
			}
			opts.Counter = &t.counter
		}
		return nil
	}
	if flagSet(fs, "counter") {
		return errors.New("--counter and --manifest exclude each other: a signed release's counter is in its manifest")
	}

	mb, err := readSmall(t.manifestFile, 1024)
	if err != nil {
		return err
	}
	if t.m, err = manifest.Parse(mb); err != nil {
		return fmt.Errorf("%s: %w", t.manifestFile, err)
	}
	sig, err := readSmall(t.sigFile, 1024)
	if err != nil {
		return err
	}
	if t.m.Product != opts.Product {
		return fmt.Errorf("%s is for product %q, not %q", t.manifestFile, t.m.Product, opts.Product)
	}
	if opts.Version != "" && opts.Version != t.m.Version {
		return fmt.Errorf("--version %s disagrees with %s, which is for version %s",
			opts.Version, t.manifestFile, t.m.Version)
	}
	opts.Version, opts.Manifest, opts.Signature, t.signed = t.m.Version, mb, sig, true
	return nil
}

// openImage opens a regular file for upload and returns its size.
func openImage(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read %s: %w", path, pathCause(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("cannot read %s: %w", path, pathCause(err))
	}
	return f, fi.Size(), nil
}

// pathCause drops the "open NAME:" prefix of a path error when the caller
// names the file itself.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// uploadBar returns a progress bar on stderr when it is a terminal, else
// nil: a bar written to a log file or a pipe is only noise.
func uploadBar(stderr io.Writer, size int64, version string) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("uploading "+version),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

const releaseListUsage = `
Usage: ferry release list --product P [flags]

Lists a product's releases, newest first, with the channels that point at
each.

Example:
  ferry release list --product mkr-gsm-sensor
`

func runReleaseList(ctx context.Context, e env) error {
	c := newOpCmd(e, "release list", releaseListUsage)
	product := c.productFlag()
	_, op, err := c.connect("product")
	if err != nil {
		return err
	}

	rels, err := op.Releases(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, map[string]any{"releases": rels})
	}
	chs, err := op.Channels(ctx, *product)
	if err != nil {
		return c.wrap(err)
	}
	on := channelsByVersion(chs)

	tw := newTable(e.stdout)
	row(tw, "VERSION", "SIZE", "SHA256", "CHANNELS", "CREATED", "NOTES")
	for _, rel := range rels {
		row(tw, rel.Version, rel.Size, short(rel.SHA256), dash(strings.Join(on[rel.Version], ",")),
			when(rel.CreatedAt), oneLine(rel.Notes, 40))
	}
	return tw.Flush()
}

// channelsByVersion maps each release version to the sorted names of the
// channels that point at it.
func channelsByVersion(chs []client.Channel) map[string][]string {
	on := make(map[string][]string)
	for _, ch := range chs {
		on[ch.Version] = append(on[ch.Version], ch.Name)
	}
	for _, names := range on {
		slices.Sort(names)
	}
	return on
}

const releaseShowUsage = `
Usage: ferry release show --product P [flags] VERSION

Shows one release with all its digests.

Example:
  ferry release show --product mkr-gsm-sensor 1.1.0
`

func runReleaseShow(ctx context.Context, e env) error {
	c := newOpCmd(e, "release show", releaseShowUsage, "VERSION")
	product := c.productFlag()
	args, op, err := c.connect("product")
	if err != nil {
		return err
	}

	rel, err := op.Release(ctx, *product, args[0])
	if err != nil {
		return c.wrap(err)
	}
	if c.r.json {
		return printJSON(e.stdout, rel)
	}
	tw := newTable(e.stdout)
	row(tw, "product", rel.Product)
	row(tw, "version", rel.Version)
	row(tw, "size", fmt.Sprintf("%d bytes", rel.Size))
	row(tw, "crc32", rel.CRC32)
	row(tw, "md5", rel.MD5)
	row(tw, "sha256", rel.SHA256)
	for _, d := range rel.Derived {
		row(tw, d.Format, fmt.Sprintf("%d bytes, %s", d.Size, savedText(d)))
		row(tw, d.Format+" crc32", d.CRC32)
		row(tw, d.Format+" md5", d.MD5)
		row(tw, d.Format+" sha256", d.SHA256)
	}
	row(tw, "created", when(rel.CreatedAt))
	// Continuation lines start with an empty cell so they line up under
	// the first.
	row(tw, "notes", strings.ReplaceAll(dash(strings.TrimSpace(rel.Notes)), "\n", "\n\t"))
	return tw.Flush()
}
