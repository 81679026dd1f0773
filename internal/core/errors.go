package core

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters map them to protocol status codes in one place;
// the wrapped message carries the human-readable reason.
var (
	// ErrNotFound: the named product, release, channel, device or update does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object already exists (a product name, a release version).
	ErrConflict = errors.New("already exists")
	// ErrInvalid: the input is malformed or out of range.
	ErrInvalid = errors.New("invalid input")
	// ErrTooLarge: an upload exceeds the configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnauthorized: a credential is missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credential is valid but its role does not allow
	// the operation.
	ErrForbidden = errors.New("forbidden")
	// ErrAmbiguous: a device ID names devices in more than one product.
	ErrAmbiguous = errors.New("ambiguous")
	// ErrState: the object is not in a state that allows the operation
	// (pausing a paused rollout, a second active rollout).
	ErrState = errors.New("not allowed now")
)

// errInvalidf returns an ErrInvalid error with a formatted reason.
func errInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
