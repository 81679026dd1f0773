package webhook

import (
	"errors"
	"fmt"
	"net/url"
)

// MaxURLLength bounds a webhook URL, in bytes.
const MaxURLLength = 2048

// ValidateURL reports whether raw may be used as a webhook URL: an absolute
// http or https URL with a host, no user information, at most MaxURLLength
// bytes. The core calls it when an operator sets a webhook; the Dispatcher
// calls it again before every POST, so a row written by other means cannot
// make it post elsewhere.
//
// Messages never quote the URL: it may carry a receiver's token.
func ValidateURL(raw string) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("webhook url longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("webhook url does not parse")
	}

	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("webhook url scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("webhook url has no host")
	}
	if u.User != nil {
		return errors.New("webhook url must not contain user information")
	}
	return nil
}
