package core

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
)

// Bounds on what a nudge's templates may produce.
const (
	maxNudgeURL    = 4096
	maxNudgeHeader = 4096
	maxNudgeBody   = 64 << 10
)

// NudgeData is what a nudge's templates read, taken when the nudge is
// queued and kept with it, so a retry sends what the first attempt sent.
type NudgeData struct {
	Product    string            `json:"product"`
	Device     string            `json:"device"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Trigger    NudgeTrigger      `json:"trigger"`
	Command    NudgeCommand      `json:"command,omitzero"`
}

// NudgeCommand is the command that fired a nudge, as templates see it.
type NudgeCommand struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Payload string `json:"payload,omitempty"`
}

// NudgeView is the dot of a nudge's templates. Fields and methods:
//
//	.Product, .Device, .Trigger   names, as text
//	.Nudge                        the nudge's ID, for the receiver to dedupe on
//	.Command.ID, .Command.Name, .Command.Payload
//	.Attr "msisdn"                a device attribute; a missing one fails the nudge
//	.Secret                       the configured secret; header values only
//
// Functions besides text/template's own (urlquery among them): json
// quotes a value as a JSON string or value, and basicauth USER PASS gives
// the base64 of USER:PASS for an Authorization: Basic header.
type NudgeView struct {
	Product string
	Device  string
	Trigger string
	Nudge   int64
	Command NudgeCommand

	attrs    map[string]string
	secret   string
	inHeader bool
	// sample answers every Attr, for checking templates when they are set.
	sample bool
}

// Attr returns the device attribute called name. A missing attribute is
// an error: a nudge addressed to an empty phone number could not wake
// anything.
func (v NudgeView) Attr(name string) (string, error) {
	if val, ok := v.attrs[name]; ok {
		return val, nil
	}
	if v.sample {
		return "sample-" + name, nil
	}
	return "", fmt.Errorf("device %s has no attribute %q", v.Device, name)
}

// Secret returns the configured secret, in header values only: a secret in
// a URL or body would end up in the receiver's logs and in error texts.
func (v NudgeView) Secret() (string, error) {
	if !v.inHeader {
		return "", errors.New(".Secret may be used in header values only")
	}
	return v.secret, nil
}

var nudgeFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"basicauth": func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	},
}

// NudgeRequest is a nudge rendered from its product's configuration: the
// request to make.
type NudgeRequest struct {
	Method  string
	URL     string
	Headers []NudgeHeader
	Body    []byte
}

// RenderNudge builds the request for n from c. It fails, with a reason
// fit to record, when a template fails (a missing device attribute) or
// produces a request that may not be sent (another host, a line break in
// a header). The error never carries the secret.
func RenderNudge(c NudgeConfig, n Nudge) (NudgeRequest, error) {
	var d NudgeData
	if err := json.Unmarshal(n.Data, &d); err != nil {
		return NudgeRequest{}, fmt.Errorf("nudge %d data: %w", n.ID, err)
	}
	v := NudgeView{Product: d.Product, Device: d.Device, Trigger: string(d.Trigger), Nudge: n.ID,
		Command: d.Command, attrs: d.Attributes, secret: c.Secret}
	return render(c, v)
}

func render(c NudgeConfig, v NudgeView) (NudgeRequest, error) {
	req := NudgeRequest{Method: c.Method}
	u, err := execute("url", c.URL, v, maxNudgeURL)
	if err != nil {
		return NudgeRequest{}, err
	}
	if err := checkNudgeURL(c.URL, u); err != nil {
		return NudgeRequest{}, err
	}
	req.URL = u

	hv := v
	hv.inHeader = true
	for _, h := range c.Headers {
		val, err := execute("header "+h.Name, h.Value, hv, maxNudgeHeader)
		if err != nil {
			return NudgeRequest{}, err
		}
		if strings.ContainsFunc(val, isControl) {
			return NudgeRequest{}, fmt.Errorf("header %s: rendered value has a control character", h.Name)
		}
		req.Headers = append(req.Headers, NudgeHeader{Name: h.Name, Value: val})
	}

	body, err := execute("body", c.Body, v, maxNudgeBody)
	if err != nil {
		return NudgeRequest{}, err
	}
	req.Body = []byte(body)
	return req, nil
}

// execute renders one template. Errors name the template and keep the
// text/template reason, which quotes the template, never the data.
func execute(name, text string, v NudgeView, limit int) (string, error) {
	t, err := template.New(name).Funcs(nudgeFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&limitWriter{w: &b, n: limit}, v); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("%s: rendered longer than %d bytes", name, limit)
		}
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	return b.String(), nil
}

var errTooLong = errors.New("too long")

// limitWriter fails once more than n bytes were written, so a template
// looping over a long value cannot build an unbounded request.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n-l.w.Len() {
		return 0, errTooLong
	}
	return l.w.Write(p)
}

// nudgeOrigin returns the literal scheme://host[:port] a nudge URL
// template starts with.
func nudgeOrigin(tmpl string) (string, error) {
	i := strings.Index(tmpl, "://")
	if i < 0 {
		return "", errors.New("want an absolute http or https URL")
	}
	rest := tmpl[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	origin := tmpl[:i+3+end]
	if strings.Contains(origin, "{{") {
		return "", errors.New("the scheme and host must be literal; only the path and query may use {{…}}")
	}
	if err := validateWebhookURL(origin); err != nil {
		return "", err
	}
	return origin, nil
}

// checkNudgeURL checks a rendered URL against its template: same scheme
// and host, nothing a request line cannot carry.
func checkNudgeURL(tmpl, rendered string) error {
	origin, err := nudgeOrigin(tmpl)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if strings.ContainsFunc(rendered, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("url: rendered URL has a space or control character; pass values through urlquery")
	}
	want, _ := url.Parse(origin)
	got, err := url.Parse(rendered)
	if err != nil || got.Scheme != want.Scheme || got.Host != want.Host || got.User != nil {
		return errors.New("url: rendered URL does not keep the configured scheme and host")
	}
	return nil
}

func isControl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }
