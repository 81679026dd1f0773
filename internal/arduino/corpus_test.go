package arduino

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// corpusDir is the shared firmware corpus beside the repository, or the
// folder FERRY_CORPUS names.
func corpusDir(t *testing.T) string {
	if d := os.Getenv("FERRY_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus")
}

// TestCorpus encodes every image of the shared corpus, checks the .ota and
// the bare stream decode back byte-exact with the tests' own decoder, and
// logs the LZSS size as a share of the raw images per folder and in total
// (go test -v -run TestCorpus ./internal/arduino; bench/lzss-corpus.sh
// puts gzip -9 beside it). Encode times are logged, never asserted.
func TestCorpus(t *testing.T) {
	if raceEnabled {
		// Pure computation with no goroutines: the race detector finds
		// nothing here and makes 17 MB of encoding take a minute.
		t.Skip("the corpus round trip runs without -race (make check runs it so)")
	}
	dir := corpusDir(t)
	folders, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no firmware corpus at %s (set FERRY_CORPUS): %v", dir, err)
	}
	magic := Boards["mkrgsm1400"].Magic()
	var rows [][]string
	var total stats
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, f.Name(), "*"))
		slices.Sort(files)
		var s stats
		for _, name := range files {
			img, err := os.ReadFile(name)
			if err != nil || len(img) == 0 {
				continue
			}
			start := time.Now()
			stream := EncodeLZSS(img)
			s.add(len(img), len(stream), time.Since(start))
			ota := MakeOTA(magic, OTAVersion(1, 0, 0), stream)
			if got := checkOTA(t, ota, magic); !bytes.Equal(got, img) {
				t.Errorf("%s: .ota does not decode back to the image", name)
			}
			if !bytes.Equal(ota[OTAHeaderSize:], stream) {
				t.Errorf("%s: .ota payload differs from the bare stream", name)
			}
		}
		if s.files > 0 {
			rows = append(rows, s.row(f.Name()))
			total.merge(s)
		}
	}
	if total.files == 0 {
		t.Skipf("no images in %s", dir)
	}
	rows = append(rows, total.row("total"))

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "folder\tfiles\traw bytes\tlzss bytes\tlzss/raw\tencode MB/s\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	_ = tw.Flush()
	t.Logf("LZSS of the corpus images:\n%s", b.String())
}

type stats struct {
	files     int
	raw, lzss int
	took      time.Duration
}

func (s *stats) add(raw, lzss int, took time.Duration) {
	s.files++
	s.raw += raw
	s.lzss += lzss
	s.took += took
}

func (s *stats) merge(o stats) {
	s.files += o.files
	s.raw += o.raw
	s.lzss += o.lzss
	s.took += o.took
}

func (s stats) row(name string) []string {
	mbps := float64(s.raw) / 1e6 / max(s.took.Seconds(), 1e-9)
	return []string{name, fmt.Sprint(s.files), fmt.Sprint(s.raw), fmt.Sprint(s.lzss),
		fmt.Sprintf("%.1f%%", 100*float64(s.lzss)/float64(s.raw)), fmt.Sprintf("%.1f", mbps)}
}
