package ddi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/server"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// TestSWUpdateSuricatta runs Debian's swupdate, its suricatta hawkBit
// client, in dry-run against a Ferry server, through a loopback proxy the
// test controls:
//
//  1. dev-ok downloads the .swu with its connection cut midway, resumes
//     with Range (a 206), installs, and, restarted with -c 2, reports
//     closed/success: Ferry records every feedback and the device on the
//     release.
//  2. dev-ok is offered 1.0.2 by a rollout, which is canceled before the
//     device could fetch the deployment; the device acknowledges the cancel.
//  3. dev-sha1, speaking with the gateway token, is sent a wrong sha1 and
//     reports failure, which Ferry records.
func TestSWUpdateSuricatta(t *testing.T) {
	bin := needSWUpdate(t)
	f := startFixture(t)
	kit := newSWUKit(t, f.dir)
	ctx := t.Context()

	v101 := kit.build(t, "1.0.1", 96<<10)
	if _, err := f.svc.PublishRelease(ctx, core.Publish{Product: "swu", Version: "1.0.1", Channel: "stable",
		Image: bytes.NewReader(v101)}); err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.IssueDeviceToken(ctx, "swu", "dev-ok")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cut download resumes and success is recorded", func(t *testing.T) {
		f.proxy.cutOnce("dev-ok")
		first := f.swupdate(t, bin, kit, "dev-ok", "-k "+tok)
		u := f.waitUpdate(t, "dev-ok", "installing", func(d core.DeviceDetail) bool {
			return len(d.Updates) > 0 && d.Updates[0].State == core.StateInstalling
		})
		first.stop()
		if codes := f.proxy.artifactCodes("dev-ok"); !contains(codes, http.StatusPartialContent) {
			t.Fatalf("artifact answers to dev-ok = %v, want a 206 after the cut", codes)
		}

		second := f.swupdate(t, bin, kit, "dev-ok", "-k "+tok+" -c 2")
		d := f.waitUpdate(t, "dev-ok", "succeeded", func(d core.DeviceDetail) bool {
			return d.Updates[0].ID == u.Updates[0].ID && d.Updates[0].State == core.StateSucceeded
		})
		second.stop()
		if d.Version != "1.0.1" {
			t.Errorf("dev-ok runs %q after closed/success, want 1.0.1", d.Version)
		}
		checkFeedbackRecorded(t, d, f.proxy.feedback("dev-ok"))
	})

	t.Run("rollout cancel is acknowledged", func(t *testing.T) {
		if _, err := f.svc.PublishRelease(ctx, core.Publish{Product: "swu", Version: "1.0.2",
			Image: bytes.NewReader(kit.build(t, "1.0.2", 64<<10))}); err != nil {
			t.Fatal(err)
		}
		ro, err := f.svc.CreateRollout(ctx, core.RolloutSpec{Product: "swu", Version: "1.0.2",
			Selector: core.Selector{Devices: []string{"dev-ok"}}})
		if err != nil {
			t.Fatal(err)
		}
		// The device is given the update at a poll, but its link fails
		// before it fetches the deployment, so the cancel reaches it at
		// its next poll, before it could start installing.
		unblock := f.proxy.blockDeployments("dev-ok")
		defer unblock()
		run := f.swupdate(t, bin, kit, "dev-ok", "-k "+tok)
		defer run.stop()
		f.waitUpdate(t, "dev-ok", "offered 1.0.2", func(d core.DeviceDetail) bool {
			return d.Updates[0].Version == "1.0.2" && f.proxy.blockedCount("dev-ok") > 0
		})
		if _, err := f.svc.ChangeRollout(ctx, ro.ID, core.ActionCancel, "test"); err != nil {
			t.Fatal(err)
		}
		unblock()
		d := f.waitUpdate(t, "dev-ok", "cancel acknowledged", func(d core.DeviceDetail) bool {
			u := d.Updates[0]
			return u.State == core.StateCanceled && !u.CancelPending
		})
		if !hasEvent(d, d.Updates[0].ID, core.StateCanceled, "cancel acknowledged") {
			t.Errorf("history of dev-ok has no acknowledged cancel of update %d:\n%s", d.Updates[0].ID, history(d))
		}
	})

	t.Run("wrong sha1 is reported as failure", func(t *testing.T) {
		f.proxy.skewSHA1("dev-sha1")
		run := f.swupdate(t, bin, kit, "dev-sha1", "-g "+f.key)
		defer run.stop()
		d := f.waitUpdate(t, "dev-sha1", "failed", func(d core.DeviceDetail) bool {
			return len(d.Updates) > 0 && d.Updates[0].State == core.StateFailed
		})
		if !hasEvent(d, d.Updates[0].ID, core.StateFailed, "") {
			t.Errorf("history of dev-sha1 has no failure report:\n%s", history(d))
		}
		if !hasEvent(d, d.Updates[0].ID, "", "Checksum does not match") {
			t.Errorf("history of dev-sha1 lacks SWUpdate's checksum message:\n%s", history(d))
		}
	})
}

// needSWUpdate returns the path of swupdate, or skips the test without it;
// in CI it must be there.
func needSWUpdate(t *testing.T) string {
	t.Helper()
	var missing []string
	for _, name := range []string{"swupdate", "openssl"} {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v not installed: .ci/run must apt-get install them", missing)
		}
		t.Skipf("%v not installed (apt-get install swupdate openssl); skipping the SWUpdate test", missing)
	}
	p, _ := exec.LookPath("swupdate")
	return p
}

type fixture struct {
	svc   *core.Service
	key   string // the product's enrollment key: the gateway token
	proxy *proxy
	dir   string // shared with the user swupdate runs as
}

func startFixture(t *testing.T) *fixture {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ferry.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bl, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Poll hints of a second keep the run short: the server's
	// config.polling.sleep, not swupdate's -p, paces the client.
	svc := core.NewService(st, bl, core.Config{PollInterval: time.Second, PollActive: time.Second}, log)
	t.Cleanup(func() { _ = svc.Close() })
	_, key, err := svc.CreateProduct(t.Context(), "swu", core.AccessKey)
	if err != nil {
		t.Fatal(err)
	}

	ferry := httptest.NewServer(server.New(svc, server.Config{}, log).Handler())
	t.Cleanup(ferry.Close)
	target, _ := url.Parse(ferry.URL)
	p := &proxy{cut: map[string]bool{}, skew: map[string]bool{}, codes: map[string][]int{},
		fb: map[string][][]string{}, block: map[string]bool{}, nblk: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(target)
	p.rp.ModifyResponse = p.modify
	p.rp.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)

	dir, err := os.MkdirTemp("", "ferry-swupdate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // swupdate runs as nobody
		t.Fatal(err)
	}
	return &fixture{svc: svc, key: key, proxy: p, dir: dir}
}

// swupdateRun is a running swupdate, killed with its process group.
type swupdateRun struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	once sync.Once
}

func (r *swupdateRun) stop() {
	r.once.Do(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		_ = r.cmd.Wait()
	})
}

// swupdate starts suricatta for device id with the extra suricatta flags,
// as nobody when the test runs as root (as CI does).
func (f *fixture) swupdate(t *testing.T, bin string, kit *swuKit, id, flags string) *swupdateRun {
	t.Helper()
	tmp, err := os.MkdirTemp(f.dir, "tmp-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "-n", "-H", "fakeboard:1.0", "-k", kit.cert, "-u",
		"-t swu -u " + f.proxy.srv.URL + " -i " + id + " -p 1 -r 2 -w 1 " + flags}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "nobody", "--", "env", "TMPDIR=" + tmp, bin},
			args...)...)
	} else {
		cmd = exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swupdate: %v", err)
	}
	r := &swupdateRun{cmd: cmd, out: out}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("swupdate output for %s:\n%s", id, out.tail(200000))
		}
	})
	return r
}

// waitUpdate polls the device's record until done holds, failing the test
// after a bound that only a stuck client reaches.
func (f *fixture) waitUpdate(t *testing.T, id, what string, done func(core.DeviceDetail) bool,
) core.DeviceDetail {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()
	var d core.DeviceDetail
	for {
		got, err := f.svc.Device(ctx, "swu", id)
		if err == nil {
			d = got
		}
		if err == nil && len(d.Updates) > 0 && done(d) {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never reached %q; history:\n%s", id, what, history(d))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkFeedbackRecorded checks that every feedback the device sent has one
// of its messages in the history: all of them when they fit in an event's
// detail, which the adapter bounds.
func checkFeedbackRecorded(t *testing.T, d core.DeviceDetail, sent [][]string) {
	t.Helper()
	if len(sent) == 0 {
		t.Fatalf("the proxy saw no feedback from %s", d.Name)
	}
	for _, msgs := range sent {
		found := len(msgs) == 0
		for _, m := range msgs {
			// Only the start is compared: the adapter cuts a message
			// longer than an event's detail.
			m = m[:min(len(m), 30)]
			for _, e := range d.Events {
				found = found || (e.Kind == core.EventReport && strings.Contains(e.Detail, m))
			}
		}
		if !found {
			t.Errorf("feedback %q of %s is not in its history:\n%s", msgs, d.Name, history(d))
		}
	}
}

func hasEvent(d core.DeviceDetail, update int64, st core.State, detail string) bool {
	for _, e := range d.Events {
		if e.UpdateID == update && e.Kind == core.EventReport &&
			(st == "" || e.State == st) && strings.Contains(e.Detail, detail) && e.Protocol == core.ProtocolDDI {
			return true
		}
	}
	return false
}

func history(d core.DeviceDetail) string {
	var b strings.Builder
	for _, e := range d.Events {
		b.WriteString("  " + string(e.Kind) + " " + string(e.State) + " " + e.Detail + "\n")
	}
	return b.String()
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// proxy stands between swupdate and Ferry on loopback. Per device it can
// cut the next full artifact download midway, fail deployment requests as
// a broken link would, or skew the sha1 of deployments; it records the
// status of every artifact answer and the details of every feedback.
type proxy struct {
	rp  *httputil.ReverseProxy
	srv *httptest.Server

	mu    sync.Mutex
	cut   map[string]bool
	skew  map[string]bool
	block map[string]bool
	nblk  map[string]int
	codes map[string][]int
	fb    map[string][][]string
}

var pathRe = regexp.MustCompile(`^/[^/]+/controller/v1/([^/]+)(/.*)?$`)

func deviceOf(r *http.Request) (id, rest string) {
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, rest := deviceOf(r)
	if r.Method == http.MethodPost && strings.HasSuffix(rest, "/feedback") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var fb struct {
			Status struct {
				Details []string `json:"details"`
			} `json:"status"`
		}
		if json.Unmarshal(body, &fb) == nil {
			// Counted in modify, once Ferry has accepted it: a feedback
			// cut off by stopping swupdate may never have reached Ferry.
			r = r.WithContext(context.WithValue(r.Context(), feedbackKey{}, fb.Status.Details))
		}
	}
	if r.Method == http.MethodGet && strings.HasPrefix(rest, "/deploymentBase/") {
		p.mu.Lock()
		blocked := p.block[id]
		if blocked {
			p.nblk[id]++
		}
		p.mu.Unlock()
		if blocked {
			http.Error(w, "link down", http.StatusBadGateway)
			return
		}
	}
	p.rp.ServeHTTP(w, r)
}

func (p *proxy) modify(resp *http.Response) error {
	id, rest := deviceOf(resp.Request)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case strings.HasSuffix(rest, "/feedback") && resp.Request.Method == http.MethodPost:
		if details, ok := resp.Request.Context().Value(feedbackKey{}).([]string); ok &&
			resp.StatusCode == http.StatusOK {
			p.fb[id] = append(p.fb[id], details)
		}
	case strings.Contains(rest, "/artifacts/") && resp.Request.Method == http.MethodGet:
		// SWUpdate asks for the size first, with a HEAD; only GETs count.
		p.codes[id] = append(p.codes[id], resp.StatusCode)
		half := resp.ContentLength / 2
		if p.cut[id] && resp.StatusCode == http.StatusOK {
			p.cut[id] = false
			resp.Body = &cutBody{r: resp.Body, left: half}
		}
	case strings.HasPrefix(rest, "/deploymentBase/") && p.skew[id]:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		// Another sha1 of the same length, so Content-Length still holds.
		body = sha1Re.ReplaceAll(body, []byte(`"sha1":"`+strings.Repeat("0", 40)+`"`))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return nil
}

// feedbackKey carries a feedback's details from the request to its answer.
type feedbackKey struct{}

var sha1Re = regexp.MustCompile(`"sha1":"[0-9a-f]{40}"`)

func (p *proxy) cutOnce(id string)  { p.mu.Lock(); p.cut[id] = true; p.mu.Unlock() }
func (p *proxy) skewSHA1(id string) { p.mu.Lock(); p.skew[id] = true; p.mu.Unlock() }

// blockDeployments fails the device's deployment requests until the
// returned function is called.
func (p *proxy) blockDeployments(id string) func() {
	p.mu.Lock()
	p.block[id] = true
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.block[id] = false
		p.mu.Unlock()
	}
}

func (p *proxy) blockedCount(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nblk[id]
}

func (p *proxy) artifactCodes(id string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.codes[id]...)
}

func (p *proxy) feedback(id string) [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]string(nil), p.fb[id]...)
}

var errCut = errors.New("connection cut by the test")

// cutBody passes left bytes and then fails, which makes the reverse proxy
// drop the client's connection mid-body.
type cutBody struct {
	r    io.ReadCloser
	left int64
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	n, err := c.r.Read(b[:min(int64(len(b)), c.left)])
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

// syncBuffer collects a process's output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf.Bytes()
	return string(b[max(0, len(b)-n):])
}
