package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-ota/ferry/internal/arduino"
)

// mkrSketch is a crafted exported sketch for an MKR GSM 1400 built with a
// loader stub of stub bytes (0: none): valid vector tables where the stub
// and the sketch start, code-like bytes elsewhere.
func mkrSketch(stub uint32, size int, seed byte) []byte {
	img := testImage(size, seed)
	binary.LittleEndian.PutUint32(img[0:], 0x20008000)
	binary.LittleEndian.PutUint32(img[4:], 0x2151)
	if stub > 0 {
		binary.LittleEndian.PutUint32(img[stub:], 0x20008000)
		binary.LittleEndian.PutUint32(img[stub+4:], 0x2000+stub+0x1E5)
	}
	return img
}

func (e *env) api(t *testing.T, method, path, body string) response {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	return do(t, req)
}

func TestArduinoBoardProfile(t *testing.T) {
	e := newEnv(t, 0, nil)
	if r := e.api(t, "POST", "/products", `{"name":"mkr","access":"public"}`); r.StatusCode != http.StatusCreated {
		t.Fatalf("create product: %d %s", r.StatusCode, r.body)
	}
	r := e.api(t, "PATCH", "/products/mkr", `{"board":"mkrgsm1400","loader":"sdu","poll_idle":"2h"}`)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"board":"mkrgsm1400","loader":"sdu"`) {
		t.Fatalf("set board: %d %s", r.StatusCode, r.body)
	}
	// A bad profile is refused before anything changes, the poll too.
	r = e.api(t, "PATCH", "/products/mkr", `{"board":"mkrgsm1400","loader":"snu","poll_idle":"3h"}`)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), `no loader \"snu\"`) {
		t.Errorf("set board with a loader it lacks: %d %s, want 400 naming the loader", r.StatusCode, r.body)
	}
	r = e.api(t, "PATCH", "/products/mkr", `{"board":"mkrgsm1400","loader":"ssu"}`)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"poll_idle":"2h0m0s"`) {
		t.Fatalf("set board ssu: %d %s, want the poll of the refused change not applied", r.StatusCode, r.body)
	}

	// An image built without SSU.h is refused with the reason, and
	// nothing is published.
	req, _ := http.NewRequest("POST", e.url+"/api/v1/products/mkr/releases?version=1.0.0",
		bytes.NewReader(mkrSketch(0, 40000, 1)))
	req.Header.Set("Authorization", "Bearer "+e.token)
	r = do(t, req)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), "built without SSU.h?") {
		t.Errorf("push without the SSU stub: %d %s, want 400 saying it was built without SSU.h", r.StatusCode, r.body)
	}
	if r := e.api(t, "GET", "/products/mkr/releases", ""); !strings.Contains(string(r.body), `"releases":[]`) {
		t.Errorf("releases after the refused push: %s, want none", r.body)
	}

	img := mkrSketch(0x8000, 0x8000+30000, 2)
	e.push(t, "mkr", "1.0.0", img)
	r = e.api(t, "GET", "/products/mkr/releases/1.0.0", "")
	var rel struct {
		Size    int64 `json:"size"`
		Derived []struct {
			Format       string  `json:"format"`
			Size         int64   `json:"size"`
			CRC32        string  `json:"crc32"`
			SHA256       string  `json:"sha256"`
			Saved        int64   `json:"saved"`
			SavedPercent float64 `json:"saved_percent"`
		} `json:"derived"`
	}
	if err := json.Unmarshal(r.body, &rel); err != nil || len(rel.Derived) != 2 {
		t.Fatalf("release: %s (%v), want two derived files", r.body, err)
	}
	for _, d := range rel.Derived {
		if d.Saved != rel.Size-d.Size || d.SavedPercent <= 0 {
			t.Errorf("%s: saved %d (%.1f%%) of %d, size %d", d.Format, d.Saved, d.SavedPercent, rel.Size, d.Size)
		}
	}

	fw := e.url + "/fw/mkr/"
	ota := get(t, fw+"ota")
	stream := get(t, fw+"lzss?device=d1")
	if ota.StatusCode != http.StatusOK || ota.ContentLength != int64(len(ota.body)) || len(ota.TransferEncoding) > 0 {
		t.Fatalf("ota = %d, Content-Length %d for %d bytes", ota.StatusCode, ota.ContentLength, len(ota.body))
	}
	if !bytes.Equal(ota.body[20:], stream.body) || binary.LittleEndian.Uint32(ota.body[8:]) != 0x23418052 ||
		binary.LittleEndian.Uint32(ota.body[0:]) != uint32(len(ota.body)-8) ||
		binary.LittleEndian.Uint32(ota.body[4:]) != crc32.ChecksumIEEE(ota.body[8:]) {
		t.Errorf(".ota header % x is not length, crc32 and magic 0x23418052 over the LZSS stream", ota.body[:20])
	}
	if back, err := arduino.DecodeLZSS(stream.body, len(img)); err != nil || !bytes.Equal(back, img) {
		t.Errorf("lzss does not decode back to the image: %v", err)
	}
	if r := get(t, fw+"update.lzss"); !bytes.Equal(r.body, stream.body) {
		t.Error("update.lzss differs from lzss")
	}
	sum := sha256.Sum256(stream.body)
	digests := map[string]string{
		"lzss.sha256": hex.EncodeToString(sum[:]),
		"lzss.hash":   fmt.Sprintf("%08x", crc32.ChecksumIEEE(stream.body)),
		"ota.hash":    fmt.Sprintf("%08x", crc32.ChecksumIEEE(ota.body)),
		"ota.sha256":  rel.Derived[0].SHA256,
	}
	for name, want := range digests {
		if r := get(t, fw+name); string(r.body) != want {
			t.Errorf("%s = %q, want %q", name, r.body, want)
		}
	}

	// Everything bin does: Range, If-Range, HEAD.
	etag := stream.Header.Get("ETag")
	if etag != `"`+hex.EncodeToString(sum[:8])+`"` {
		t.Errorf("lzss ETag %s, want the first 16 hex digits of its sha256", etag)
	}
	r = get(t, fw+"lzss", "Range", "bytes=512-1023", "If-Range", etag)
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, stream.body[512:1024]) {
		t.Errorf("lzss Range 512-1023 = %d with %d bytes, want 206 with those bytes", r.StatusCode, len(r.body))
	}
	req, _ = http.NewRequest("HEAD", fw+"ota", nil)
	if r := do(t, req); r.ContentLength != int64(len(ota.body)) || len(r.body) != 0 {
		t.Errorf("HEAD ota = Content-Length %d, body %d bytes", r.ContentLength, len(r.body))
	}

	// A product without a profile has no such files, and says why.
	e.push(t, "p", "1.0.0", testImage(3000, 3))
	r = get(t, e.url+"/fw/p/lzss")
	if r.StatusCode != http.StatusNotFound || !strings.Contains(string(r.body), "no board profile") {
		t.Errorf("lzss of a product without a profile = %d %s, want 404 naming the missing profile",
			r.StatusCode, r.body)
	}
}
