package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Operator is a client of the operator API (/api/v1).
type Operator struct {
	c conn
}

// NewOperator returns a client of the operator API at baseURL (for example
// "http://127.0.0.1:8080") that authenticates with token. A nil hc means a
// new http.Client with no timeout: image uploads can take long, so bound
// calls with their context instead.
func NewOperator(baseURL, token string, hc *http.Client) *Operator {
	return &Operator{c: newConn(baseURL, token, hc)}
}

// CreateProduct creates a product with the given access mode (AccessPublic
// or AccessKey). For AccessKey the returned Product carries the enrollment
// key, which the server never shows again.
func (o *Operator) CreateProduct(ctx context.Context, name, access string) (Product, error) {
	var p Product
	in := map[string]string{"name": name, "access": access}
	err := o.c.doJSON(ctx, http.MethodPost, "/api/v1/products", nil, in, &p)
	return p, err
}

// Products lists all products.
func (o *Operator) Products(ctx context.Context) ([]Product, error) {
	var v struct {
		Products []Product `json:"products"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/products", nil, nil, &v)
	return v.Products, err
}

// Product returns one product. A missing product is an *Error with status 404.
func (o *Operator) Product(ctx context.Context, name string) (Product, error) {
	var p Product
	err := o.c.doJSON(ctx, http.MethodGet, productPath(name), nil, nil, &p)
	return p, err
}

// PushOptions describe a release upload.
type PushOptions struct {
	Product string
	Version string
	// Channel is the channel to point at the new release. Nil leaves the
	// choice to the server, which moves "stable"; a pointer to "" publishes
	// without moving any channel.
	Channel *string
	// SHA256, when set, is the image's expected digest in hex; the server
	// stores nothing if the image does not match it.
	SHA256 string
	Notes  string
	// Body is the image, read once and streamed as it is read. PushRelease
	// does not close it.
	Body io.Reader
	// Size is the exact length of Body in bytes, sent as Content-Length.
	Size int64
	// Manifest and Signature make a signed upload: the manifest's bytes
	// and its signature, as 'ferry release sign' writes them. Give both or
	// neither. The server checks them before it reads Body.
	Manifest  []byte
	Signature []byte
	// Counter is the security counter of an unsigned upload; nil leaves
	// the server's default, 0. A signed upload takes the manifest's.
	Counter *int64
}

// PushRelease uploads a release image, streaming Body without buffering
// it. The server answers 409 (as an *Error) when the version exists and
// 413 when the image is over its size limit.
func (o *Operator) PushRelease(ctx context.Context, opts PushOptions) (Release, error) {
	var r Release
	if opts.Product == "" || opts.Version == "" {
		return r, errors.New("push release: product and version are required")
	}
	if opts.Size < 0 {
		return r, fmt.Errorf("push release %s %s: negative size %d", opts.Product, opts.Version, opts.Size)
	}
	if (len(opts.Manifest) == 0) != (len(opts.Signature) == 0) {
		return r, fmt.Errorf("push release %s %s: give both manifest and signature, or neither",
			opts.Product, opts.Version)
	}

	q := url.Values{"version": {opts.Version}}
	if opts.Channel != nil {
		q.Set("channel", *opts.Channel)
	}
	if opts.SHA256 != "" {
		q.Set("sha256", opts.SHA256)
	}
	if opts.Notes != "" {
		q.Set("notes", opts.Notes)
	}
	if opts.Counter != nil {
		q.Set("counter", strconv.FormatInt(*opts.Counter, 10))
	}

	// Wrapping keeps the transport from closing the caller's reader, and a
	// zero size needs NoBody for Content-Length: 0 to be sent at all.
	var body io.Reader = http.NoBody
	if opts.Size > 0 {
		if opts.Body == nil {
			return r, fmt.Errorf("push release %s %s: no body for %d bytes", opts.Product, opts.Version, opts.Size)
		}
		body = io.NopCloser(opts.Body)
	}
	req, err := o.c.newRequest(ctx, http.MethodPost, productPath(opts.Product)+"/releases", q, body)
	if err != nil {
		return r, err
	}
	req.ContentLength = opts.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/json")
	if len(opts.Manifest) > 0 {
		req.Header.Set("X-Ferry-Manifest", base64.StdEncoding.EncodeToString(opts.Manifest))
		req.Header.Set("X-Ferry-Signature", base64.StdEncoding.EncodeToString(opts.Signature))
	}
	err = o.c.send(req, &r)
	return r, err
}

// Releases lists a product's releases, newest first.
func (o *Operator) Releases(ctx context.Context, product string) ([]Release, error) {
	var v struct {
		Releases []Release `json:"releases"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/releases", nil, nil, &v)
	return v.Releases, err
}

// Release returns one release of a product.
func (o *Operator) Release(ctx context.Context, product, version string) (Release, error) {
	var r Release
	path := productPath(product) + "/releases/" + url.PathEscape(version)
	err := o.c.doJSON(ctx, http.MethodGet, path, nil, nil, &r)
	return r, err
}

// Channels lists a product's channels.
func (o *Operator) Channels(ctx context.Context, product string) ([]Channel, error) {
	var v struct {
		Channels []Channel `json:"channels"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/channels", nil, nil, &v)
	return v.Channels, err
}

// SetChannel points a product's channel at a published version, creating
// the channel if needed.
func (o *Operator) SetChannel(ctx context.Context, product, channel, version string) (Channel, error) {
	var ch Channel
	path := productPath(product) + "/channels/" + url.PathEscape(channel)
	in := map[string]string{"version": version}
	err := o.c.doJSON(ctx, http.MethodPut, path, nil, in, &ch)
	return ch, err
}

// AddKey registers a public key with a product under name; publicKey is
// the text of a public key file as 'ferry key add' reads it ("ferry-public-key
// ALG HEX"), which names the algorithm. The server answers 409 (as an
// *Error) when the name is taken. It needs an admin token.
func (o *Operator) AddKey(ctx context.Context, product, name string, publicKey []byte) (Key, error) {
	var k Key
	in := map[string]string{"name": name, "public_key": string(publicKey)}
	err := o.c.doJSON(ctx, http.MethodPost, productPath(product)+"/keys", nil, in, &k)
	return k, err
}

// Keys lists a product's keys, oldest first, revoked ones included.
func (o *Operator) Keys(ctx context.Context, product string) ([]Key, error) {
	var v struct {
		Keys []Key `json:"keys"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, productPath(product)+"/keys", nil, nil, &v)
	return v.Keys, err
}

// RevokeKey revokes a product's key: no upload verifies with it from then
// on. It returns the key as revoked; a missing key is an *Error with status
// 404. It needs an admin token.
func (o *Operator) RevokeKey(ctx context.Context, product, name string) (Key, error) {
	var k Key
	path := productPath(product) + "/keys/" + url.PathEscape(name)
	err := o.c.doJSON(ctx, http.MethodDelete, path, nil, nil, &k)
	return k, err
}

// DeviceQuery narrows a device listing. Zero fields match everything; a
// zero Limit leaves the server's default.
type DeviceQuery struct {
	Product string
	Version string
	State   string // state of the device's latest update
	Limit   int
}

// Devices lists devices matching q.
func (o *Operator) Devices(ctx context.Context, q DeviceQuery) ([]DeviceInfo, error) {
	v := url.Values{}
	if q.Product != "" {
		v.Set("product", q.Product)
	}
	if q.Version != "" {
		v.Set("version", q.Version)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}

	var out struct {
		Devices []DeviceInfo `json:"devices"`
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/devices", v, nil, &out)
	return out.Devices, err
}

// Device returns one device with its updates and history. product may be
// empty; the server answers 409 when several products have a device with
// that id and none is named.
func (o *Operator) Device(ctx context.Context, id, product string) (DeviceDetail, error) {
	var d DeviceDetail
	var q url.Values
	if product != "" {
		q = url.Values{"product": {product}}
	}
	err := o.c.doJSON(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(id), q, nil, &d)
	return d, err
}

func productPath(name string) string {
	return "/api/v1/products/" + url.PathEscape(name)
}
