package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ferry-ota/ferry/manifest"
	"github.com/ferry-ota/ferry/reqsign"
)

// DeviceOption configures a Device.
type DeviceOption func(*Device)

// WithDeviceKey makes the Device sign every request with k, the device's
// P-256 private key, as a product with p256 access requires (package
// reqsign). The server must know the key's public half (Operator.AddDeviceKey).
func WithDeviceKey(k manifest.PrivateKey) DeviceOption {
	return func(d *Device) { d.c.signer = &signer{device: d.id, key: k, now: time.Now} }
}

// signer signs a device's requests.
type signer struct {
	device string
	key    manifest.PrivateKey
	now    func() time.Time
}

// sign sets the signature headers on req, reading and restoring its body
// to hash it. Device bodies are small JSON documents.
func (s *signer) sign(req *http.Request) error {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	msg := reqsign.Canonical(req.Method, req.URL.EscapedPath(), req.URL.Query(), ts, body)
	sig, err := reqsign.Sign(s.key, msg)
	if err != nil {
		return err
	}
	req.Header.Set(reqsign.HeaderDevice, s.device)
	req.Header.Set(reqsign.HeaderTime, ts)
	req.Header.Set(reqsign.HeaderSig, sig)
	return nil
}

// AddDeviceKey registers the P-256 public key device id of a p256 product
// signs its requests with, creating the device if needed. publicKey is
// the 128 hex digits of X‖Y or a p256 public key file's text. It needs an
// admin token; RevokeDeviceCredentials revokes the device's keys.
func (o *Operator) AddDeviceKey(ctx context.Context, product, id string, publicKey []byte) (DeviceKey, error) {
	var k DeviceKey
	in := map[string]string{"public_key": string(publicKey)}
	path := productPath(product) + "/devices/" + url.PathEscape(id) + "/keys"
	err := o.c.doJSON(ctx, http.MethodPost, path, nil, in, &k)
	return k, err
}

// DeviceKey is a device's registered P-256 key.
type DeviceKey struct {
	Device      string    `json:"device"`
	PublicKey   string    `json:"public_key"` // hex of X‖Y
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}
