package sim

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-ota/ferry/client"
)

// maxDDIBody bounds a DDI answer the simulator reads; a Zephyr device's
// buffer is smaller still.
const maxDDIBody = 16 << 10

// ddiCycle is one wake-up of a hawkBit DDI device, as SWUpdate's suricatta
// behaves: poll, send its attributes when asked, acknowledge a cancel, or
// fetch the deployment, report proceeding, download (resuming with Range
// after a cut), verify SHA-1 and SHA-256, install and report
// closed/success or closed/failure. DDI has no version check-in: the
// closed/success feedback is what tells the server. It returns the wait
// before the next cycle and whether the device has gone silent.
func (s *Sim) ddiCycle(ctx context.Context, d *device) (time.Duration, bool) {
	var poll struct {
		Config struct {
			Polling struct {
				Sleep string `json:"sleep"`
			} `json:"polling"`
		} `json:"config"`
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"_links"`
	}
	if err := s.ddiDo(ctx, d, http.MethodGet, s.ddiBase(d), nil, &poll); err != nil {
		s.fail(ctx, err)
		return s.cfg.Poll, false
	}
	s.checkedIn(d)
	wait := s.pollWait(parseSleep(poll.Config.Polling.Sleep))

	if l, ok := poll.Links["configData"]; ok {
		attrs := map[string]any{"mode": "merge", "data": map[string]string{"board": "sim", "client": "ddi"}}
		if err := s.ddiDo(ctx, d, http.MethodPut, l.Href, attrs, nil); err != nil {
			s.fail(ctx, err)
		}
	}
	if l, ok := poll.Links["cancelAction"]; ok {
		s.ddiCancel(ctx, d, l.Href)
		return wait, false
	}
	l, ok := poll.Links["deploymentBase"]
	if !ok {
		s.idle(d)
		return wait, false
	}
	return s.ddiDeploy(ctx, d, l.Href, wait)
}

// ddiDeployment is the part of a deploymentBase answer a device reads.
type ddiDeployment struct {
	ID         string `json:"id"`
	Deployment struct {
		Chunks []struct {
			Version   string `json:"version"`
			Artifacts []struct {
				Filename string            `json:"filename"`
				Hashes   map[string]string `json:"hashes"`
				Size     int64             `json:"size"`
				Links    map[string]struct {
					Href string `json:"href"`
				} `json:"_links"`
			} `json:"artifacts"`
		} `json:"chunks"`
	} `json:"deployment"`
}

func (s *Sim) ddiDeploy(ctx context.Context, d *device, href string, wait time.Duration) (time.Duration, bool) {
	var dep ddiDeployment
	if err := s.ddiDo(ctx, d, http.MethodGet, href, nil, &dep); err != nil {
		s.fail(ctx, err)
		return wait, false
	}
	if len(dep.Deployment.Chunks) != 1 || len(dep.Deployment.Chunks[0].Artifacts) != 1 {
		s.fail(ctx, fmt.Errorf("deployment %s: want one chunk with one artifact", dep.ID))
		return wait, false
	}
	ch := dep.Deployment.Chunks[0]
	art := ch.Artifacts[0]

	s.offered(d, dep.ID, ch.Version)
	feedback := strings.TrimSuffix(s.ddiBase(d), "/") + "/deploymentBase/" + url.PathEscape(dep.ID) + "/feedback"
	send := func(ctx context.Context, state string, _ int64, detail string) error {
		return s.ddiDo(ctx, d, http.MethodPost, feedback, ddiFeedback(state, detail), nil)
	}
	if !s.ddiDownload(ctx, d, art.Links["download-http"].Href, art.Hashes, art.Size, ch.Version, send) {
		return wait, false
	}
	old := d.running()
	if s.install(ctx, d, ch.Version, art.Size, send) {
		return 0, true
	}
	switch d.pending {
	case outcomeSuccess:
		s.report(ctx, send, client.StateSucceeded, art.Size, "Update Installed.")
	case outcomeRollback:
		// No check-in will say so: the device reports it, as SWUpdate
		// does after a boot that fell back.
		s.report(ctx, send, client.StateFailed, art.Size, "Update Failed: back on "+old)
	}
	return d.afterInstall(wait), false
}

// ddiDownload fetches the artifact, resuming what the device kept, and
// checks its size, SHA-1 and SHA-256.
func (s *Sim) ddiDownload(ctx context.Context, d *device, href string, hashes map[string]string, size int64,
	ver string, send reportFunc,
) bool {
	key := hashes["sha256"]
	if d.dl == nil || d.dl.key != key {
		d.dl = &download{key: key, sink: newSink(ctx, newPairHash(), d.link, &s.c.bytes), size: size}
		if Cut(s.cfg, d.id, ver) && size > 1 {
			d.dl.sink.cutAt = size / 2
		}
		s.report(ctx, send, client.StateDownloading, 0, "")
	}
	dl := d.dl
	for {
		err := s.call(ctx, func() error { return s.ddiPiece(ctx, d, href, dl) })
		if errors.Is(err, errCut) {
			s.c.cuts.Add(1)
			continue
		}
		if err != nil {
			s.fail(ctx, err)
			return false
		}
		break
	}

	sum := dl.sink.sum.Sum(nil)
	got1, got256 := hex.EncodeToString(sum[:sha1.Size]), hex.EncodeToString(sum[sha1.Size:])
	if dl.sink.n != size || got1 != hashes["sha1"] || got256 != hashes["sha256"] {
		s.corrupt(ctx, d, dl.sink.n, send, fmt.Sprintf("Checksum does not match: got %d bytes, sha1 %.16s",
			dl.sink.n, got1))
		return false
	}
	d.dl = nil
	return true
}

// ddiPiece fetches the rest of the artifact into dl, from where it stands.
func (s *Sim) ddiPiece(ctx context.Context, d *device, href string, dl *download) error {
	req, err := s.ddiRequest(ctx, d, http.MethodGet, href, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/octet-stream")
	if dl.sink.n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", dl.sink.n))
		if dl.etag != "" {
			req.Header.Set("If-Range", dl.etag)
		}
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // closing early is how a cut link looks

	switch resp.StatusCode {
	case http.StatusPartialContent:
		if _, err := contentRange(resp.Header.Get("Content-Range"), dl.sink.n); err != nil {
			return err
		}
	case http.StatusOK:
		if err := dl.sink.Truncate(0); err != nil {
			return err
		}
	default:
		return ddiError(resp)
	}
	dl.etag = resp.Header.Get("ETag")
	_, err = io.Copy(dl.sink, resp.Body)
	return err
}

// ddiCancel reads a cancel and acknowledges it, dropping what the device
// had of the update, as suricatta does.
func (s *Sim) ddiCancel(ctx context.Context, d *device, href string) {
	var c struct {
		CancelAction struct {
			StopID string `json:"stopId"`
		} `json:"cancelAction"`
	}
	if err := s.ddiDo(ctx, d, http.MethodGet, href, nil, &c); err != nil {
		s.fail(ctx, err)
		return
	}
	ack := map[string]any{"status": map[string]any{"execution": "closed",
		"result": map[string]string{"finished": "success"}, "details": []string{"cancellation acknowledged."}}}
	if err := s.ddiDo(ctx, d, http.MethodPost, href+"/feedback", ack, nil); err != nil {
		s.fail(ctx, err)
		return
	}
	d.open, d.dl = false, nil
	s.idle(d)
}

// ddiFeedback is the feedback body for a report in Ferry's states.
func ddiFeedback(state, detail string) any {
	exec, finished, cnt := "proceeding", "none", 0
	switch state {
	case client.StateDownloading:
		detail = "Downloading"
	case client.StateDownloaded:
		exec, detail = "downloaded", "Downloaded"
	case client.StateInstalling:
		cnt, detail = 1, "All Chunks Installed."
	case client.StateRebooting:
		cnt, detail = 1, "Update Installed, Testing Pending."
	case client.StateSucceeded:
		exec, finished, cnt = "closed", "success", 1
	case client.StateFailed:
		exec, finished = "closed", "failure"
	}
	return map[string]any{"status": map[string]any{
		"execution": exec,
		"result":    map[string]any{"finished": finished, "progress": map[string]int{"cnt": cnt, "of": 1}},
		"details":   []string{detail},
	}}
}

// ddiBase is the device's DDI root.
func (s *Sim) ddiBase(d *device) string {
	return strings.TrimRight(s.cfg.Server, "/") + "/" + url.PathEscape(s.cfg.Product) + "/controller/v1/" +
		url.PathEscape(d.id)
}

// ddiDo sends one DDI request with a JSON body (when in is not nil) and
// decodes a JSON answer into out (when not nil).
func (s *Sim) ddiDo(ctx context.Context, d *device, method, href string, in, out any) error {
	return s.call(ctx, func() error {
		req, err := s.ddiRequest(ctx, d, method, href, in)
		if err != nil {
			return err
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }() // nothing to learn from closing a read body
		if resp.StatusCode/100 != 2 {
			return ddiError(resp)
		}
		if out == nil {
			return nil
		}
		return json.NewDecoder(io.LimitReader(resp.Body, maxDDIBody)).Decode(out)
	})
}

func (s *Sim) ddiRequest(ctx context.Context, d *device, method, href string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, href, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.token != "" {
		req.Header.Set("Authorization", "TargetToken "+d.token)
	}
	return req, nil
}

// ddiError turns a DDI error answer into a *client.Error, so errors of
// every protocol are counted alike.
func ddiError(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxText)) // the status is what matters
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return &client.Error{Status: resp.StatusCode, Message: e.Error}
}

// parseSleep reads DDI's HH:MM:SS poll interval; zero when malformed.
func parseSleep(s string) time.Duration {
	var h, m, sec int
	if n, err := fmt.Sscanf(s, "%d:%d:%d", &h, &m, &sec); err != nil || n != 3 {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
}

// pairHash digests with SHA-1 and SHA-256 at once; its sum is the two
// sums one after the other.
type pairHash struct{ a, b hash.Hash }

func newPairHash() hash.Hash { return &pairHash{sha1.New(), sha256.New()} }

func (p *pairHash) Write(b []byte) (int, error) {
	p.a.Write(b) // a hash.Hash never returns an error
	return p.b.Write(b)
}

func (p *pairHash) Sum(in []byte) []byte { return p.b.Sum(p.a.Sum(in)) }
func (p *pairHash) Reset()               { p.a.Reset(); p.b.Reset() }
func (p *pairHash) Size() int            { return p.a.Size() + p.b.Size() }
func (p *pairHash) BlockSize() int       { return p.b.BlockSize() }
