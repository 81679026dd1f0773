package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// espBoard is the ESP board the catalog's ESP cases speak for: it has
// checked in to product p on 1.0.0 and been offered 1.1.0.
const espBoard = "5C:CF:7F:00:00:0A"

// espCases attack the httpUpdate endpoint: malformed and oversized
// headers, missing identity, and credentials of the wrong kind or device.
func espCases(t *testing.T, f *catalogFixture) []catalogCase {
	t.Helper()
	headers := func(kv ...string) []string {
		base := map[string]string{"X-Esp8266-Sta-Mac": espBoard, "X-Esp8266-Free-Space": "1000000",
			"X-Esp8266-Sketch-Md5": md5Of(testImage(3000, 1)), "X-Esp8266-Mode": "sketch"}
		for i := 0; i+1 < len(kv); i += 2 {
			base[kv[i]] = kv[i+1]
		}
		var h []string
		for k, v := range base {
			if v != "" {
				h = append(h, k, v)
			}
		}
		return h
	}
	if r := advReq(t, "GET", f.url+"/esp/p", "", headers()...); r.StatusCode != http.StatusOK {
		t.Fatalf("ESP board check-in = %d %s, want the offer of 1.1.0", r.StatusCode, r.body)
	}
	if _, err := f.svc.Enroll(t.Context(), "vault", f.vaultKey, "5C:CF:7F:00:00:0B"); err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Enroll(t.Context(), "vault", f.vaultKey, "5C:CF:7F:00:00:0C")
	if err != nil {
		t.Fatal(err)
	}

	c := func(category, name, path string, header []string, want int) catalogCase {
		return catalogCase{category, name, "GET", path, "", header, want}
	}
	big := strings.Repeat("9", 200)
	return []catalogCase{
		c("malformed", "esp MAC of five pairs", "/esp/p", headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00"), 400),
		c("malformed", "esp MAC not hex", "/esp/p", headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00:0Z"), 400),
		c("malformed", "esp MAC mixed separators", "/esp/p", headers("X-Esp8266-Sta-Mac", "5C-CF:7F:00:00:0A"), 400),
		c("malformed", "esp MAC with a line of its own", "/esp/p",
			headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00:0A,5C:CF:7F:00:00:0B"), 400),
		c("malformed", "esp headers of both cores", "/esp/p", headers("X-Esp32-Sta-Mac", espBoard), 400),
		c("malformed", "esp negative free space", "/esp/p", headers("X-Esp8266-Free-Space", "-1"), 400),
		c("malformed", "esp garbage free space", "/esp/p", headers("X-Esp8266-Free-Space", "lots"), 400),
		c("malformed", "esp free space in hex", "/esp/p", headers("X-Esp8266-Free-Space", "0x100000"), 400),
		c("malformed", "esp free space past int64", "/esp/p",
			headers("X-Esp8266-Free-Space", "99999999999999999999"), 400),
		c("malformed", "esp sketch md5 not hex", "/esp/p", headers("X-Esp8266-Sketch-Md5", strings.Repeat("g", 32)),
			400),
		c("malformed", "esp sketch md5 short", "/esp/p", headers("X-Esp8266-Sketch-Md5", "abc"), 400),
		c("malformed", "esp version malformed", "/esp/p", headers("X-Esp8266-Version", "1..0"), 400),
		c("malformed", "esp version parameter malformed", "/esp/p?version=v%00", headers(), 400),
		c("malformed", "esp chip size garbage", "/esp/p", headers("X-Esp8266-Chip-Size", "4M"), 400),
		c("malformed", "esp without identity", "/esp/p", headers("X-Esp8266-Sta-Mac", ""), 400),
		c("malformed", "esp saying nothing of what runs", "/esp/p", headers("X-Esp8266-Sketch-Md5", ""), 400),
		c("malformed", "esp device parameter malformed", "/esp/p?device=..%2f", nil, 400),
		c("malformed", "esp unknown product", "/esp/nope", headers(), 404),
		c("oversized", "esp MAC of 200 bytes", "/esp/p", headers("X-Esp8266-Sta-Mac", big), 400),
		c("oversized", "esp SDK version of 200 bytes", "/esp/p", headers("X-Esp8266-Sdk-Version", big), 400),
		c("oversized", "esp free space of 200 digits", "/esp/p", headers("X-Esp8266-Free-Space", big), 400),
		c("oversized", "esp header over 16 KiB", "/esp/p",
			headers("X-Esp8266-Sdk-Version", strings.Repeat("s", 32<<10)), 431),
		c("traversal", "esp product traversal", "/esp/..%2fp", headers(), 400),
		c("traversal", "esp path below the product", "/esp/p/..%2fvault", headers(), 404),
		c("forged", "esp key product without a token", "/esp/vault",
			headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00:0B"), 401),
		c("forged", "esp key product with the enrollment key", "/esp/vault?token="+f.vaultKey,
			headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00:0B"), 401),
		c("wrong-device", "esp token of another board", "/esp/vault?token="+other,
			headers("X-Esp8266-Sta-Mac", "5C:CF:7F:00:00:0B"), 403),
	}
}
