// Package manifest owns the signed description of a Ferry release: the
// compact canonical manifest (product, version, image size and SHA-256,
// security counter, creation time), the Ed25519 and ECDSA P-256 signatures
// made over its exact bytes, and the text files that hold signing keys.
//
// The manifest is a handful of ASCII lines in a fixed order, so a device
// that knows the values can rebuild the bytes with string concatenation and
// verify the signature without a JSON parser; docs/manifest.md gives the
// layout byte for byte. P-256 signatures and public keys are the raw 64-byte
// forms an ATECC508A takes (r‖s and X‖Y), not ASN.1.
//
// The package is public so that device code and tests outside Ferry can
// build, parse and verify manifests exactly as the server and agent do.
package manifest
