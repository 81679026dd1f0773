package sim

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// errCut is the simulated loss of a device's link in the middle of a
// download.
var errCut = errors.New("link lost (simulated)")

// maxBurst bounds a link's token bucket: a device on a slow link gets at
// most this many bytes ahead of its rate, about what a modem buffers.
const maxBurst = 16 << 10

// newLink returns the token bucket of a device whose link carries bps bytes
// per second, or nil for an unlimited link. The bucket starts full.
func newLink(bps int64) *rate.Limiter {
	if bps <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bps), int(min(bps, maxBurst)))
}

// sink is where a device stores a download: it keeps only a running digest
// and a byte count, paces writes to the device's link, and can lose the
// link once at a given offset. A download resumed after a cut writes into
// the same sink, so the digest covers the whole image.
type sink struct {
	ctx   context.Context
	sum   hash.Hash
	n     int64
	cutAt int64 // offset at which the link is lost; -1 for never
	link  *rate.Limiter
	total *atomic.Int64 // the fleet's downloaded bytes
}

func newSink(ctx context.Context, sum hash.Hash, link *rate.Limiter, total *atomic.Int64) *sink {
	return &sink{ctx: ctx, sum: sum, cutAt: -1, link: link, total: total}
}

// Write takes p at the link's pace. At the cut offset it keeps what came
// before and returns errCut, once.
func (k *sink) Write(p []byte) (int, error) {
	var cut error
	if k.cutAt >= 0 && k.n+int64(len(p)) > k.cutAt {
		p, cut = p[:k.cutAt-k.n], errCut
		k.cutAt = -1
	}

	written := 0
	for len(p) > 0 {
		chunk := p
		if k.link != nil {
			chunk = p[:min(len(p), k.link.Burst())]
			if err := k.link.WaitN(k.ctx, len(chunk)); err != nil {
				return written, err
			}
		}
		k.sum.Write(chunk) // a hash.Hash never returns an error
		k.n += int64(len(chunk))
		k.total.Add(int64(len(chunk)))
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, cut
}

// Truncate drops what the sink holds; client.Download calls it, with Seek,
// when the server answers a resumed request with the whole image.
func (k *sink) Truncate(size int64) error {
	if size != 0 {
		return errors.New("sink can only be emptied")
	}
	k.sum.Reset()
	k.n = 0
	return nil
}

// Seek exists for client.Download's rewind; a sink always appends.
func (k *sink) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("sink can only rewind to the start")
	}
	return 0, nil
}
