package ddi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// swuKit builds SWUpdate images for tests: a signing certificate made with
// openssl, sw-descriptions signed with it (CMS, as Debian's swupdate
// requires), and cpio "newc" archives written here.
type swuKit struct {
	dir  string // readable by the user swupdate runs as
	cert string
	key  string
}

func newSWUKit(t testing.TB, dir string) *swuKit {
	t.Helper()
	k := &swuKit{dir: dir, cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	run(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=signer",
		"-addext", "keyUsage=digitalSignature", "-addext", "extendedKeyUsage=emailProtection",
		"-keyout", k.key, "-out", k.cert)
	if err := os.Chmod(k.cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// build returns a signed .swu of version v whose one payload is a dummy
// image of size bytes.
func (k *swuKit) build(t testing.TB, v string, size int) []byte {
	t.Helper()
	payload := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(payload)
	desc := fmt.Sprintf(`software = {
	version = "%s";
	hardware-compatibility: [ "1.0" ];
	images: ( { filename = "payload.bin"; type = "dummy"; sha256 = "%s"; } );
}
`, v, hex.EncodeToString(sum[:]))

	descPath := filepath.Join(k.dir, "sw-description-"+v)
	sigPath := descPath + ".sig"
	if err := os.WriteFile(descPath, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "openssl", "cms", "-sign", "-in", descPath, "-out", sigPath, "-signer", k.cert, "-inkey", k.key,
		"-outform", "DER", "-nosmimecap", "-binary")
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	ino := 1
	for _, f := range []struct {
		name string
		data []byte
	}{{"sw-description", []byte(desc)}, {"sw-description.sig", sig}, {"payload.bin", payload}} {
		writeCPIO(&buf, ino, f.name, f.data)
		ino++
	}
	writeCPIO(&buf, 0, "TRAILER!!!", nil)
	return buf.Bytes()
}

// writeCPIO appends one entry of a cpio "newc" archive: a 110-byte ASCII
// header of hex fields, the NUL-terminated name padded to four bytes, the
// data padded to four bytes.
func writeCPIO(buf *bytes.Buffer, ino int, name string, data []byte) {
	mode := 0o100644
	if name == "TRAILER!!!" {
		mode = 0
	}
	fmt.Fprintf(buf, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	buf.WriteString(name)
	buf.WriteByte(0)
	pad(buf)
	buf.Write(data)
	pad(buf)
}

func pad(buf *bytes.Buffer) {
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
