// Package reqsign defines how a device signs its requests with its own
// P-256 key, as a secure element such as the ATECC508A holds it, for
// products with p256 access: the canonical string that is signed, the
// headers and query parameters that carry the signature, and helpers to
// sign and verify. Keys and signatures are raw (X‖Y, r‖s), as in package
// manifest. See docs/protocol.md, "Signed requests".
package reqsign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/ferry-ota/ferry/manifest"
)

// Headers that carry a signed request's device, time and signature.
const (
	HeaderDevice = "X-Ferry-Device"
	HeaderTime   = "X-Ferry-Time"
	HeaderSig    = "X-Ferry-Sig"
)

// Query parameters that carry them for clients that cannot set headers.
const (
	ParamDevice = "device"
	ParamTime   = "ts"
	ParamSig    = "sig"
)

// prefix names the scheme's version, so that a signature made for this
// scheme can never verify under a later one.
const prefix = "ferry-req-v1\n"

// Canonical returns the string a device signs for a request:
//
//	"ferry-req-v1\n" + METHOD + "\n" + PATH + "\n" + QUERY + "\n" + TS + "\n" + hex(SHA-256(body))
//
// PATH is the request path as sent (escaped form), QUERY the query
// without sig, its pairs sorted by key then value, each key and value
// escaped as url.QueryEscape does and joined as key=value with '&'. TS is
// the decimal Unix time in seconds as sent; an empty body is hashed too.
func Canonical(method, path string, query url.Values, ts string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return CanonicalSum(method, path, query, ts, sum)
}

// CanonicalSum is Canonical for a body whose SHA-256 is already known.
func CanonicalSum(method, path string, query url.Values, ts string, bodySHA256 [32]byte) []byte {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(method + "\n" + path + "\n" + canonicalQuery(query) + "\n" + ts + "\n")
	b.WriteString(hex.EncodeToString(bodySHA256[:]))
	return []byte(b.String())
}

// canonicalQuery sorts the pairs of q, leaving sig out.
func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		if k == ParamSig {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	// Escaped keys contain no '=', so sorting the joined pairs sorts by
	// key, then by value.
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// Sign signs msg (a Canonical string) with a P-256 private key and
// returns the signature as hex of r‖s.
func Sign(k manifest.PrivateKey, msg []byte) (string, error) {
	if k.Alg != manifest.P256 {
		return "", fmt.Errorf("sign request: %s key, want %s", k.Alg, manifest.P256)
	}
	sig, err := manifest.Sign(k, msg)
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return hex.EncodeToString(sig), nil
}

// Verify checks a hex r‖s signature of msg against a raw X‖Y P-256 public
// key. It returns an error wrapping manifest.ErrSignature when the
// signature does not verify.
func Verify(pub []byte, msg []byte, sigHex string) error {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != manifest.SignatureSize {
		return fmt.Errorf("%w: want %d hex digits of r‖s", manifest.ErrSignature, 2*manifest.SignatureSize)
	}
	return manifest.Verify(manifest.PublicKey{Alg: manifest.P256, Key: pub}, msg, sig)
}
