package core

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	// Product and channel names appear in URL paths, so they are kept to
	// an alphabet that needs no escaping. Product names keep the case the
	// operator chose: makers name firmware lines after boards ("MKR-GSM").
	productRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	channelRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
	// Device IDs are chosen by makers: serial numbers, IMEIs, MAC addresses.
	deviceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// ValidateProductName reports whether name can name a product.
func ValidateProductName(name string) error {
	return checkName("product name", name, productRe,
		"use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
}

// ValidateChannelName reports whether name can name a channel.
func ValidateChannelName(name string) error {
	return checkName("channel name", name, channelRe,
		"use 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
}

// ValidateDeviceID reports whether id can identify a device.
func ValidateDeviceID(id string) error {
	return checkName("device id", id, deviceRe,
		"use 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
}

func checkName(what, s string, re *regexp.Regexp, rule string) error {
	if !re.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%w: %s %q: %s", ErrInvalid, what, truncate(s, 80), rule)
	}
	return nil
}

// truncate keeps hostile input from bloating error messages and logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
