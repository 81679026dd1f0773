package httpkit

import (
	"crypto/sha256"
	"net/http"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/reqsign"
)

// EmptyBody is the SHA-256 of no bytes, the body hash of a request
// without one.
var EmptyBody = sha256.Sum256(nil)

// AuthorizeDevice authorizes a device request to the product in r's path:
// a request signed under package reqsign's scheme (headers first, else
// query parameters) goes to core.Service.AuthorizeSigned, any other to
// core.Service.AuthorizeDevice with its token. body is the SHA-256 of the
// body exactly as read, EmptyBody for none. named is the device the request
// names, empty if none; for a key or p256 product it may only repeat the
// device the credential belongs to. It returns the product and the device
// the request is about: named, else the credential's, empty for an
// anonymous request to a public product.
func AuthorizeDevice(svc *core.Service, r *http.Request, named string, body [32]byte) (core.Product, string, error) {
	return AuthorizeDeviceWith(svc, r, named, body, Credential(r))
}

// AuthorizeDeviceWith is AuthorizeDevice for a protocol whose clients send
// their token somewhere other than a Bearer header or token parameter:
// credential is the token r carries, empty for none.
func AuthorizeDeviceWith(
	svc *core.Service, r *http.Request, named string, body [32]byte, credential string,
) (core.Product, string, error) {
	product := r.PathValue("product")
	var p core.Product
	var bound string
	var err error
	if req, ok := Signed(r, body); ok {
		p, bound, err = svc.AuthorizeSigned(r.Context(), product, req)
	} else {
		p, bound, err = svc.AuthorizeDevice(r.Context(), product, credential)
	}
	if err != nil {
		return core.Product{}, "", err
	}
	if named == "" {
		return p, bound, nil
	}
	if err := core.SameDevice(bound, named); err != nil {
		return core.Product{}, "", err
	}
	return p, named, nil
}

// Signed returns the signed request r carries and whether it carries one.
func Signed(r *http.Request, body [32]byte) (core.SignedRequest, bool) {
	q := r.URL.Query()
	req := core.SignedRequest{Method: r.Method, Path: r.URL.EscapedPath(), Query: q, BodySHA256: body}
	if sig := r.Header.Get(reqsign.HeaderSig); sig != "" {
		req.Device, req.Time, req.Sig = r.Header.Get(reqsign.HeaderDevice), r.Header.Get(reqsign.HeaderTime), sig
		return req, true
	}
	if sig := q.Get(reqsign.ParamSig); sig != "" {
		req.Device, req.Time, req.Sig = q.Get(reqsign.ParamDevice), q.Get(reqsign.ParamTime), sig
		return req, true
	}
	return core.SignedRequest{}, false
}
