package esp_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/blob/disk"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/esp"
	"github.com/ferry-ota/ferry/internal/store/sqlite"
)

// FuzzRequest sends arbitrary values in the headers an updater sends. The
// answer is 304, the image with its MD5, or a 4xx with a one-line reason;
// a request refused as malformed changes nothing stored.
func FuzzRequest(f *testing.F) {
	ctx := f.Context()
	log := slog.New(slog.DiscardHandler)
	dir := f.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "ferry.db"), log)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	blobs, err := disk.New(filepath.Join(dir, "images"))
	if err != nil {
		f.Fatal(err)
	}
	svc := core.NewService(st, blobs, core.Config{RolloutTick: time.Hour}, log)
	f.Cleanup(func() { _ = svc.Close() })
	p, _, err := svc.CreateProduct(ctx, "sensor", core.AccessPublic)
	if err != nil {
		f.Fatal(err)
	}
	img := bytes.Repeat([]byte("sketch "), 300)
	rel, err := svc.PublishRelease(ctx, core.Publish{Product: "sensor", Version: "1.1.0",
		Channel: core.DefaultChannel, Image: bytes.NewReader(img)})
	if err != nil {
		f.Fatal(err)
	}
	h := esp.New(svc, time.Minute, log)

	for _, s := range [][6]string{
		{mac, "1000000", rel.MD5, "1.0.0", "sketch", "4194304"},
		{mac, "10", "", "1.0.0", "", ""},
		{"5ccf7f010203", "", strings.Repeat("a", 32), "", "spiffs", ""},
		{"5C:CF:7F:01:02", "-1", "xyz", "1..0", "sketch", "4M"},
		{"", "99999999999999999999", "", "v1", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, mac, free, md5, version, mode, chip string) {
		before := deviceCount(t, svc, p)
		r := httptest.NewRequest("GET", "/esp/sensor", nil)
		for k, v := range map[string]string{"STA-MAC": mac, "free-space": free, "sketch-md5": md5,
			"version": version, "mode": mode, "chip-size": chip} {
			if v != "" {
				r.Header.Set("x-ESP8266-"+k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		resp := w.Result()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body) // a recorder's body cannot fail

		switch code := resp.StatusCode; {
		case code == http.StatusOK:
			if got := md5Header(resp.Header); !bytes.Equal(body, img) || got != rel.MD5 {
				t.Errorf("200 answer has %d bytes and x-MD5 %q, want the image and %s", len(body), got, rel.MD5)
			}
		case code == http.StatusNotModified:
			if len(body) != 0 {
				t.Errorf("304 answer has a %d-byte body", len(body))
			}
		case code >= 400 && code < 500:
			if len(body) == 0 || bytes.ContainsRune(body, '\n') {
				t.Errorf("%d answer %q, want a one-line reason", code, body)
			}
			if code == http.StatusBadRequest && deviceCount(t, svc, p) != before {
				t.Errorf("refused request %q registered a device", body)
			}
		default:
			t.Errorf("answer %d %q, want 200, 304 or a 4xx", code, body)
		}
	})
}

func deviceCount(t *testing.T, svc *core.Service, p core.Product) int {
	t.Helper()
	ds, err := svc.Devices(t.Context(), core.DeviceQuery{Product: p.Name})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// md5Header returns the x-MD5 header of an answer taken from a recorder,
// which keeps header names as the handler spelled them.
func md5Header(h http.Header) string {
	for k, v := range h {
		if strings.EqualFold(k, "x-MD5") && len(v) == 1 {
			return v[0]
		}
	}
	return ""
}
