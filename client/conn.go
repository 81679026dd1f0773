package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxJSONBody bounds a decoded JSON answer. Device listings are the largest
// answers; 64 MiB holds far more than the server's listing limit.
const maxJSONBody = 64 << 20

// conn is what both clients share: where the server is, the credential and
// the HTTP client.
type conn struct {
	base  string // scheme://host[:port][/prefix], without a trailing slash
	token string
	hc    *http.Client
	// signer, when set, signs every request with the device's key.
	signer *signer
}

func newConn(baseURL, token string, hc *http.Client) conn {
	if hc == nil {
		hc = &http.Client{}
	}
	return conn{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// newRequest builds a request for path (already escaped) below the base URL.
func (c conn) newRequest(
	ctx context.Context,
	method, path string,
	query url.Values,
	body io.Reader,
) (*http.Request, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.signer != nil {
		if err := c.signer.sign(req); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// doJSON sends in (if not nil) as a JSON body and decodes a 2xx answer into
// out (if not nil). Any other status becomes an *Error.
func (c conn) doJSON(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if out != nil {
		req.Header.Set("Accept", "application/json")
	}
	return c.send(req, out)
}

// send runs req and decodes a 2xx answer into out (if not nil).
func (c conn) send(req *http.Request, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // nothing to learn from closing a read body

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}
