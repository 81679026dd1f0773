// Package wire is the MQTT protocol between Ferry and devices: topic
// names and the compact JSON payloads on them, shared by the server
// adapter (package mqtt), the device agent and the simulator. It holds no
// update rules. docs/mqtt.md describes the protocol for device authors.
//
// Topics, per device, under a prefix (default "ferry"):
//
//	{prefix}/{product}/{device}/in/checkin   device → Ferry  CheckIn
//	{prefix}/{product}/{device}/in/status    device → Ferry  Status
//	{prefix}/{product}/{device}/in/ack       device → Ferry  Ack
//	{prefix}/{product}/{device}/in/online    device → Ferry  "1" or "0", retained (last will "0")
//	{prefix}/{product}/{device}/out/offer    Ferry → device  Offer
//	{prefix}/{product}/{device}/out/cmd      Ferry → device  Command
//	{prefix}/{product}/{device}/out/poll     Ferry → device  seconds until the next check-in, as text
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Topic kinds: the last segment of a topic.
const (
	CheckIn = "checkin"
	Status  = "status"
	Ack     = "ack"
	Online  = "online"
	Offer   = "offer"
	Cmd     = "cmd"
	Poll    = "poll"
)

// Directions: the segment before the kind.
const (
	In  = "in"  // device to Ferry
	Out = "out" // Ferry to device
)

// DefaultPrefix is the first topic segment unless configured otherwise.
const DefaultPrefix = "ferry"

// MaxPayload bounds a device's payload, as the native protocol bounds a
// request body. Real ones are tens to a few hundred bytes.
const MaxPayload = 16 << 10

// Presence payloads on the online topic.
const (
	OnlineYes = "1"
	OnlineNo  = "0"
)

// Topic names one device's topic of kind in direction dir.
func Topic(prefix, product, device, dir, kind string) string {
	return prefix + "/" + product + "/" + device + "/" + dir + "/" + kind
}

// Filter returns the subscription that matches every device's topics in
// direction dir under prefix.
func Filter(prefix, dir string) string { return prefix + "/+/+/" + dir + "/#" }

// Address is where a topic points.
type Address struct {
	Product, Device, Dir, Kind string
}

// Parse splits a topic under prefix into its parts. It checks only the
// shape; the caller validates product and device names.
func Parse(prefix, topic string) (Address, error) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return Address{}, fmt.Errorf("topic %q is not under %q", clip(topic), prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" {
		return Address{}, fmt.Errorf("topic %q: want %s/PRODUCT/DEVICE/DIR/KIND", clip(topic), prefix)
	}
	return Address{Product: parts[0], Device: parts[1], Dir: parts[2], Kind: parts[3]}, nil
}

// CheckInMsg is a device's check-in: what it runs. Every field is
// optional; {} says "I am here, running what I reported last".
type CheckInMsg struct {
	Version string `json:"v,omitempty"`
	SHA256  string `json:"sha,omitempty"`
	// Counter is the security counter the device runs; absent keeps the
	// one reported before.
	Counter *int64            `json:"ctr,omitempty"`
	Attrs   map[string]string `json:"a,omitempty"`
}

// StatusMsg is a status report about update Update, with the native
// protocol's states and rules.
type StatusMsg struct {
	Update   int64  `json:"u"`
	State    string `json:"s"`
	Progress int64  `json:"p,omitempty"`
	Detail   string `json:"d,omitempty"`
}

// AckMsg acknowledges command ID: done (OK) or failed, with a short result.
type AckMsg struct {
	ID     int64  `json:"c"`
	OK     bool   `json:"ok"`
	Result string `json:"r,omitempty"`
}

// OfferMsg is an update the device should apply. The image is downloaded
// over HTTP from URL (relative to the server the device knows, unless
// absolute), with Range to resume; never over MQTT.
type OfferMsg struct {
	Update  int64  `json:"u"`
	Version string `json:"v"`
	Size    int64  `json:"n"`
	SHA256  string `json:"sha"`
	// CRC32 is 8 lowercase hex digits, for boards that check nothing else.
	CRC32 string `json:"crc"`
	URL   string `json:"url"`
	// Counter is the release's security counter, omitted when 0.
	Counter int64 `json:"ctr,omitempty"`
	// Format is omitted for a full image; a device must ignore an offer
	// whose format it does not know.
	Format string `json:"f,omitempty"`
	// Manifest and Sig are the signed manifest and its signature, base64,
	// for signed releases only.
	Manifest []byte `json:"m,omitempty"`
	Sig      []byte `json:"sig,omitempty"`
	// Poll is the seconds until the device should check in again.
	Poll int64 `json:"p"`
}

// CommandMsg is a command for the device; it answers with an AckMsg.
type CommandMsg struct {
	ID      int64  `json:"c"`
	Name    string `json:"n"`
	Payload string `json:"p,omitempty"`
}

// Decode parses payload as exactly one JSON object into v. Unknown fields
// are ignored, so newer devices can talk to older servers; anything else
// wrong is an error that says what in a few words.
func Decode(payload []byte, v any) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("payload of %d bytes, at most %d allowed", len(payload), MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("payload is not the expected JSON: %s", problem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("payload has data after the JSON object")
	}
	return nil
}

// problem describes a decoding error briefly, without quoting the input.
func problem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("malformed at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "it ends too early"
	}
	return clip(err.Error())
}

// clip keeps hostile input from bloating errors and logs.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
