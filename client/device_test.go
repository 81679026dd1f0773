package client_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/client"
)

func TestDeviceCheckIn(t *testing.T) {
	rec := newRecorder(t, http.StatusOK, `{"poll":60,"update":{"id":7,"version":"1.1.0","size":3,`+
		`"sha256":"s","md5":"m","crc32":"1a2b3c4d","url":"/device/v1/p/img/s","format":"full"}}`)
	d := client.NewDevice(rec.srv.URL, "p", "d1", "fek_x", nil)

	resp, err := d.CheckIn(t.Context(), client.CheckInRequest{
		Version: "1.0.0", SHA256: "abc", Attrs: map[string]string{"rssi": "-71"},
	})
	if err != nil {
		t.Fatalf("CheckIn: %v", err)
	}
	if resp.Poll != 60 || resp.Offer == nil || resp.Offer.ID != 7 || resp.Offer.URL != "/device/v1/p/img/s" {
		t.Errorf("CheckIn = %+v (offer %+v), want poll 60 and offer 7", resp, resp.Offer)
	}

	req := rec.only(t)
	if req.Method != "POST" || req.Path != "/device/v1/p/checkin" {
		t.Errorf("request = %s %s, want POST /device/v1/p/checkin", req.Method, req.Path)
	}
	want := `{"id":"d1","version":"1.0.0","sha256":"abc","attrs":{"rssi":"-71"}}`
	if !jsonEqual(t, req.Body, want) {
		t.Errorf("body = %s, want %s", req.Body, want)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer fek_x" {
		t.Errorf("Authorization = %q, want Bearer fek_x", got)
	}
}

func TestDeviceCheckInNothingToDo(t *testing.T) {
	rec := newRecorder(t, http.StatusOK, `{"poll":3600}`)
	d := client.NewDevice(rec.srv.URL, "p", "d1", "", nil)

	resp, err := d.CheckIn(t.Context(), client.CheckInRequest{Version: "1.0.0"})
	if err != nil {
		t.Fatalf("CheckIn: %v", err)
	}
	if resp.Offer != nil || resp.PollInterval().Hours() != 1 {
		t.Errorf("CheckIn = %+v, want poll 1h and no offer", resp)
	}

	req := rec.only(t)
	if !jsonEqual(t, req.Body, `{"id":"d1","version":"1.0.0"}`) {
		t.Errorf("body = %s, want only id and version", req.Body)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none for a public product", got)
	}
}

func TestDeviceCheckInCounterAndSignature(t *testing.T) {
	// "ZmVycnk=" and "AAE=" are standard base64 for "ferry" and 0x00 0x01.
	rec := newRecorder(t, http.StatusOK, `{"poll":60,"update":{"id":7,"version":"1.1.0","size":3,`+
		`"sha256":"s","url":"/u","format":"full","counter":6,"manifest":"ZmVycnk=","sig":"AAE="}}`)
	d := client.NewDevice(rec.srv.URL, "p", "d1", "", nil)

	zero := int64(0)
	resp, err := d.CheckIn(t.Context(), client.CheckInRequest{Version: "1.0.0", Counter: &zero})
	if err != nil {
		t.Fatalf("CheckIn: %v", err)
	}
	o := resp.Offer
	if o == nil || o.Counter != 6 || string(o.Manifest) != "ferry" || !bytes.Equal(o.Sig, []byte{0, 1}) {
		t.Errorf("CheckIn offer = %+v, want counter 6, manifest \"ferry\", sig 00 01", o)
	}
	// A counter of zero is a statement, not an absent field.
	if body := rec.only(t).Body; !jsonEqual(t, body, `{"id":"d1","version":"1.0.0","counter":0}`) {
		t.Errorf("body = %s, want id, version and counter 0", body)
	}
}

func TestDeviceReport(t *testing.T) {
	rec := newRecorder(t, http.StatusNoContent, "")
	d := client.NewDevice(rec.srv.URL, "p", "d1", "k", nil)

	if err := d.Report(t.Context(), 7, client.StateDownloading, 65536, "x"); err != nil {
		t.Fatalf("Report: %v", err)
	}
	req := rec.only(t)
	if req.Method != "POST" || req.Path != "/device/v1/p/status" {
		t.Errorf("request = %s %s, want POST /device/v1/p/status", req.Method, req.Path)
	}
	want := `{"id":"d1","update":7,"state":"downloading","progress":65536,"detail":"x"}`
	if !jsonEqual(t, req.Body, want) {
		t.Errorf("body = %s, want %s", req.Body, want)
	}
}

func TestDeviceReportError(t *testing.T) {
	rec := newRecorder(t, http.StatusBadRequest, `{"error":"unknown status state \"x\""}`)
	d := client.NewDevice(rec.srv.URL, "p", "d1", "", nil)

	err := d.Report(t.Context(), 7, "x", 0, "")
	want := `server said 400 Bad Request: unknown status state "x"`
	if err == nil || err.Error() != want {
		t.Errorf("Report error = %v, want %s", err, want)
	}
}

var image = []byte(strings.Repeat("0123456789abcdef", 64)) // 1 KiB

const imageETag = `"abcdef0123456789"`

// imageServer serves image with Range and If-Range, unless ignoreRange is
// set; it records the last request's headers and query.
type imageServer struct {
	srv         *httptest.Server
	ignoreRange bool
	last        *http.Request
}

func newImageServer(t testing.TB) *imageServer {
	t.Helper()
	is := &imageServer{}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.last = r.Clone(r.Context())
		if is.ignoreRange {
			w.Header().Set("ETag", imageETag)
			_, _ = w.Write(image)
			return
		}
		w.Header().Set("ETag", imageETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(image))
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func TestDownload(t *testing.T) {
	is := newImageServer(t)
	d := client.NewDevice(is.srv.URL, "p", "d1", "k", nil)

	var buf bytes.Buffer
	tr, err := d.Download(t.Context(), "/device/v1/p/img/s", &buf, 0, "")
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), image) || tr.Written != int64(len(image)) || tr.Size != int64(len(image)) {
		t.Errorf("Download = %+v with %d bytes, want the %d-byte image", tr, buf.Len(), len(image))
	}
	if tr.ETag != imageETag || tr.Restarted {
		t.Errorf("Download = %+v, want ETag %s and no restart", tr, imageETag)
	}
	if got := is.last.URL.Query().Get("id"); got != "d1" {
		t.Errorf("download query id = %q, want d1", got)
	}
	if got := is.last.Header.Get("Range"); got != "" {
		t.Errorf("Range = %q, want none from offset 0", got)
	}
	if got := is.last.Header.Get("Authorization"); got != "Bearer k" {
		t.Errorf("Authorization = %q, want Bearer k", got)
	}
}

func TestDownloadResume(t *testing.T) {
	is := newImageServer(t)
	d := client.NewDevice(is.srv.URL, "p", "d1", "", nil)

	var buf bytes.Buffer
	tr, err := d.Download(t.Context(), "/device/v1/p/img/s", &buf, 100, imageETag)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), image[100:]) || tr.Restarted || tr.Size != int64(len(image)) {
		t.Errorf("Download = %+v with %d bytes, want bytes 100- of %d", tr, buf.Len(), len(image))
	}
	if got := is.last.Header.Get("Range"); got != "bytes=100-" {
		t.Errorf("Range = %q, want bytes=100-", got)
	}
	if got := is.last.Header.Get("If-Range"); got != imageETag {
		t.Errorf("If-Range = %q, want %s", got, imageETag)
	}
}

func TestDownloadStaleIfRangeRestartsFile(t *testing.T) {
	tests := []struct {
		name        string
		ignoreRange bool
		ifRange     string
	}{
		{"validator changed", false, `"0000000000000000"`},
		{"range ignored", true, imageETag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newImageServer(t)
			is.ignoreRange = tt.ignoreRange
			d := client.NewDevice(is.srv.URL, "p", "d1", "", nil)

			f, err := os.Create(filepath.Join(t.TempDir(), "part"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Close() })
			if _, err := f.WriteString("stale bytes from another image"); err != nil {
				t.Fatal(err)
			}

			tr, err := d.Download(t.Context(), "/device/v1/p/img/s", f, 30, tt.ifRange)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			got, _ := os.ReadFile(f.Name())
			if !tr.Restarted || !bytes.Equal(got, image) {
				t.Errorf("Download = %+v, file %d bytes; want a restart holding exactly the image", tr, len(got))
			}
		})
	}
}

func TestDownloadWrongRangeStart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-9/1024")
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(image[:10])
	}))
	defer srv.Close()
	d := client.NewDevice(srv.URL, "p", "d1", "", nil)

	var buf bytes.Buffer
	_, err := d.Download(t.Context(), "/img", &buf, 100, "")
	if err == nil || buf.Len() != 0 {
		t.Errorf("Download with a part from byte 0 = %v, %d bytes written; want an error and nothing", err, buf.Len())
	}
}

func TestDownloadCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1024")
		_, _ = w.Write(image[:300])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	d := client.NewDevice(srv.URL, "p", "d1", "", nil)

	var buf bytes.Buffer
	tr, err := d.Download(t.Context(), "/img", &buf, 0, "")
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Download of a cut body: error %v, want unexpected EOF", err)
	}
	if tr.Written != 300 || buf.Len() != 300 {
		t.Errorf("Download of a cut body wrote %d (Written %d), want 300", buf.Len(), tr.Written)
	}
}

func TestDownloadError(t *testing.T) {
	rec := newRecorder(t, http.StatusNotFound, `{"error":"no such image"}`)
	d := client.NewDevice(rec.srv.URL, "p", "d1", "", nil)

	var buf bytes.Buffer
	_, err := d.Download(t.Context(), "/device/v1/p/img/x", &buf, 0, "")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 404 || ce.Message != "no such image" {
		t.Errorf("Download error = %v, want *client.Error 404 no such image", err)
	}
}

func TestDownloadElsewhereGetsNoCredential(t *testing.T) {
	other := newImageServer(t)
	home := newRecorder(t, http.StatusOK, "{}")
	d := client.NewDevice(home.srv.URL, "p", "d1", "fek_secret", nil)

	var buf bytes.Buffer
	if _, err := d.Download(t.Context(), other.srv.URL+"/img?sig=1", &buf, 0, ""); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got := other.last.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization sent to another server = %q, want none", got)
	}
	if got := other.last.URL.RawQuery; got != "sig=1" {
		t.Errorf("query sent to another server = %q, want it unchanged", got)
	}
}
