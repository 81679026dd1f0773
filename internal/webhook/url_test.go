package webhook_test

import (
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/webhook"
)

func TestValidateURL(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", webhook.MaxURLLength)
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"https", "https://hooks.example.com/ferry?token=abc", true},
		{"http with port", "http://127.0.0.1:8080/hook", true},
		{"ipv6", "http://[::1]:9000/", true},
		{"upper-case scheme", "HTTPS://example.com/", true},
		{"empty", "", false},
		{"relative", "/hook", false},
		{"ftp", "ftp://example.com/", false},
		{"file", "file:///etc/passwd", false},
		{"javascript", "javascript:alert(1)", false},
		{"no host", "https:///path", false},
		{"port only", "https://:443/", false},
		{"userinfo", "https://user:pass@example.com/", false},
		{"user only", "https://user@example.com/", false},
		{"too long", long, false},
		{"bad escape", "https://example.com/%zz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.ValidateURL(tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateURL(%.40q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && tt.url != "" && strings.Contains(err.Error(), tt.url) {
				t.Errorf("ValidateURL(%.40q) error %q quotes the URL", tt.url, err)
			}
		})
	}
}
