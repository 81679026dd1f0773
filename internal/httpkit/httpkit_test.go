package httpkit

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", core.ErrInvalid), 400},
		{fmt.Errorf("x: %w", core.ErrUnauthorized), 401},
		{fmt.Errorf("x: %w", core.ErrNotFound), 404},
		{fmt.Errorf("x: %w", core.ErrConflict), 409},
		{fmt.Errorf("x: %w", core.ErrAmbiguous), 409},
		{fmt.Errorf("x: %w", core.ErrState), 409},
		{fmt.Errorf("x: %w", core.ErrTooLarge), 413},
		{fmt.Errorf("x: %w", &http.MaxBytesError{Limit: 1}), 413},
		{errors.New("disk on fire at /var/lib/secret"), 500},
	}
	for _, tt := range tests {
		got, msg := Status(tt.err)
		if got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if got == 500 && strings.Contains(msg, "secret") {
			t.Errorf("Status(%v) leaks %q to the client", tt.err, msg)
		}
	}
}

func TestCredential(t *testing.T) {
	tests := []struct {
		header, query, want string
	}{
		{"Bearer abc", "", "abc"},
		{"Bearer  abc ", "", "abc"},
		{"", "xyz", "xyz"},
		{"Bearer abc", "xyz", "abc"},
		{"Basic abc", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/fw/p/version?token="+tt.query, nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := Credential(r); got != tt.want {
			t.Errorf("Credential(%q, token=%q) = %q, want %q", tt.header, tt.query, got, tt.want)
		}
	}
}

func TestTextAndJSONHaveLength(t *testing.T) {
	w := httptest.NewRecorder()
	Text(w, 200, "1.2.3")
	if w.Body.String() != "1.2.3" || w.Header().Get("Content-Length") != "5" {
		t.Errorf("Text = %q length %s, want 1.2.3 length 5", w.Body, w.Header().Get("Content-Length"))
	}
	w = httptest.NewRecorder()
	JSON(w, 201, map[string]int{"poll": 60})
	if w.Body.String() != `{"poll":60}` || w.Header().Get("Content-Length") != "11" || w.Code != 201 {
		t.Errorf("JSON = %d %q length %s", w.Code, w.Body, w.Header().Get("Content-Length"))
	}
}

func TestServeImageRanges(t *testing.T) {
	img := bytes.Repeat([]byte("0123456789"), 1000)
	serve := func(header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/bin", nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		n := ServeImage(w, r, Image{Content: bytes.NewReader(img), ETag: `"abc"`, ContentType: "x/y"}, 0)
		if n != int64(w.Body.Len()) {
			t.Errorf("ServeImage(%v) counted %d bytes, wrote %d", header, n, w.Body.Len())
		}
		return w
	}
	tests := []struct {
		name   string
		header []string
		code   int
		body   string
	}{
		{"whole", nil, 200, string(img)},
		{"range", []string{"Range", "bytes=10-19"}, 206, "0123456789"},
		{"suffix", []string{"Range", "bytes=-3"}, 206, "789"},
		{"past the end", []string{"Range", "bytes=10000-"}, 416, ""},
		{"multi-range gets the whole image", []string{"Range", "bytes=0-1,5-6"}, 200, string(img)},
		{"if-range match", []string{"Range", "bytes=0-1", "If-Range", `"abc"`}, 206, "01"},
		{"if-range stale", []string{"Range", "bytes=0-1", "If-Range", `"old"`}, 200, string(img)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(tt.header...)
			if w.Code != tt.code || (tt.body != "" && w.Body.String() != tt.body) {
				t.Errorf("ServeImage(%v) = %d with %d bytes, want %d with %d", tt.header, w.Code, w.Body.Len(),
					tt.code, len(tt.body))
			}
		})
	}
}

func TestParseHoldNamesTheParameter(t *testing.T) {
	for _, name := range []string{"wait", "timeout"} {
		for _, s := range []string{"700", "0", "-5", "1.5", "soon", strings.Repeat("9", 30)} {
			_, err := ParseHold(name, s)
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("ParseHold(%q, %q) = %v, want ErrInvalid", name, s, err)
			}
			if !strings.Contains(err.Error(), name+" \"") {
				t.Errorf("ParseHold(%q, %q) = %q, does not name the parameter", name, s, err)
			}
		}
	}
	if _, err := ParseHold("wait", "700"); strings.Contains(err.Error(), "timeout") {
		t.Errorf("ParseHold(wait) = %q, names timeout", err)
	}
	for s, want := range map[string]int{"": int(DefaultHold / time.Second), "1": 1, "600": 600} {
		d, err := ParseHold("wait", s)
		if err != nil || d != time.Duration(want)*time.Second {
			t.Errorf("ParseHold(wait, %q) = %v, %v, want %ds", s, d, err, want)
		}
	}
}
