package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/manifest"
)

// ErrRefused is wrapped by the error of an offer the agent will not install
// whatever it downloads: with trusted keys configured, the offer is
// unsigned, its signature does not verify with any of them, its manifest
// describes another release or image, or its security counter is below the
// running one. The server offers the same release again, so running again
// does not help; Permanent reports true.
var ErrRefused = errors.New("update refused")

// checkSigned checks offer o against its signed manifest before anything is
// downloaded: a release the agent would refuse anyway should not cost a
// metered link its image. It returns the manifest's security counter.
//
// The signature is checked first, over the exact bytes the offer carries,
// so that nothing unsigned is ever parsed for its values. The image itself
// is compared with the manifest once downloaded (verify): the offer's size
// and SHA-256 are the manifest's by then, so an image that matches the
// offer matches the manifest.
func (a *Agent) checkSigned(o *client.Offer, running int64) (int64, error) {
	if len(o.Manifest) == 0 || len(o.Sig) == 0 {
		return 0, fmt.Errorf("%w: offer carries no signed manifest, and only signed releases are trusted", ErrRefused)
	}
	if !a.trusted(o.Manifest, o.Sig) {
		return 0, fmt.Errorf("%w: signature does not verify with any trusted key", ErrRefused)
	}
	m, err := manifest.Parse(o.Manifest)
	if err != nil {
		return 0, fmt.Errorf("%w: signed manifest: %w", ErrRefused, err)
	}

	switch {
	case m.Product != a.product:
		return 0, fmt.Errorf("%w: manifest is for product %q, not %q", ErrRefused, m.Product, a.product)
	case m.Version != o.Version:
		return 0, fmt.Errorf("%w: manifest is for version %q, the offer for %q", ErrRefused, m.Version, o.Version)
	case m.Size != o.Size:
		return 0, fmt.Errorf("%w: manifest size does not match the image: manifest says %d bytes, the offer %d",
			ErrRefused, m.Size, o.Size)
	case m.SHA256 != o.SHA256:
		return 0, fmt.Errorf("%w: manifest sha256 does not match the image: manifest says %s, the offer %s",
			ErrRefused, m.SHA256, o.SHA256)
	case m.Counter < running:
		return 0, fmt.Errorf("%w: security counter %d is below the running %d", ErrRefused, m.Counter, running)
	}
	return m.Counter, nil
}

// trusted reports whether sig is a signature of msg by one of the trusted
// keys. Several keys may be trusted at once so that a publisher can move
// to a new key while devices still run firmware that knows the old one.
func (a *Agent) trusted(msg, sig []byte) bool {
	for _, k := range a.trust {
		if manifest.Verify(k, msg, sig) == nil {
			return true
		}
	}
	return false
}

// counter returns the security counter to report in a check-in with st
// running: nil, as before counters existed, while the agent neither checks
// signatures nor has installed a signed release.
func (a *Agent) counter(st installed) *int64 {
	if len(a.trust) == 0 && st.Counter == 0 {
		return nil
	}
	return &st.Counter
}

// refusal is the detail a refused offer's failed report carries: the
// reason without the sentinel's prefix, which the server's history does
// not need.
func refusal(err error) string {
	s, _ := strings.CutPrefix(err.Error(), ErrRefused.Error()+": ")
	return s
}
