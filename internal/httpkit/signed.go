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
// body exactly as read, EmptyBody for none. It returns the product and
// the device the credential speaks for, empty for a public product.
func AuthorizeDevice(svc *core.Service, r *http.Request, body [32]byte) (core.Product, string, error) {
	product := r.PathValue("product")
	req, ok := Signed(r, body)
	if !ok {
		return svc.AuthorizeDevice(r.Context(), product, Credential(r))
	}
	return svc.AuthorizeSigned(r.Context(), product, req)
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
