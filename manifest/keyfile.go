package manifest

import (
	"bytes"
	"encoding/hex"
	"fmt"
)

// Key files are one line of text: a label, the algorithm and the raw key
// in lowercase hex, separated by single spaces and ended by a newline:
//
//	ferry-public-key p256 <128 hex digits: X‖Y>
//	ferry-private-key ed25519 <64 hex digits: the seed>
//
// The hex is what a sketch author pastes into firmware as a byte array.
// Reading tolerates surrounding white space, as files get edited by hand.
const (
	publicLabel  = "ferry-public-key"
	privateLabel = "ferry-private-key"
)

// maxKeyFile bounds what the decoders read.
const maxKeyFile = 512

// EncodePublicKey returns the key file text for pub.
func EncodePublicKey(pub PublicKey) []byte {
	return []byte(publicLabel + " " + string(pub.Alg) + " " + hex.EncodeToString(pub.Key) + "\n")
}

// EncodePrivateKey returns the key file text for k.
func EncodePrivateKey(k PrivateKey) []byte {
	return []byte(privateLabel + " " + string(k.Alg) + " " + hex.EncodeToString(k.Key) + "\n")
}

// DecodePublicKey reads a public key file and validates the key.
func DecodePublicKey(b []byte) (PublicKey, error) {
	alg, raw, err := decodeKeyFile(b, publicLabel)
	if err != nil {
		return PublicKey{}, err
	}
	pub := PublicKey{Alg: alg, Key: raw}
	return pub, pub.Validate()
}

// DecodePrivateKey reads a private key file and checks that the key works.
func DecodePrivateKey(b []byte) (PrivateKey, error) {
	alg, raw, err := decodeKeyFile(b, privateLabel)
	if err != nil {
		return PrivateKey{}, err
	}
	k := PrivateKey{Alg: alg, Key: raw}
	if len(raw) != PrivateKeySize {
		return PrivateKey{}, fmt.Errorf("%s private key: %d bytes, want %d", alg, len(raw), PrivateKeySize)
	}
	if _, err := k.Public(); err != nil {
		return PrivateKey{}, err
	}
	return k, nil
}

func decodeKeyFile(b []byte, label string) (Alg, []byte, error) {
	if len(b) > maxKeyFile {
		return "", nil, fmt.Errorf("key file: %d bytes, at most %d", len(b), maxKeyFile)
	}
	f := bytes.Fields(b)
	if len(f) != 3 || string(f[0]) != label {
		return "", nil, fmt.Errorf("key file: want one line %q, the algorithm and the key in hex", label)
	}
	alg, err := ParseAlg(string(f[1]))
	if err != nil {
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	raw := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(raw, f[2]); err != nil {
		return "", nil, fmt.Errorf("key file: key is not hex: %w", err)
	}
	return alg, raw, nil
}
