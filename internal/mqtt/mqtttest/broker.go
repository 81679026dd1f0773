// Package mqtttest starts a real Mosquitto broker for tests, configured
// from the mosquitto.conf and acl files that docs/mqtt.md documents, so
// the tests exercise the configuration operators are told to use.
//
// Without the mosquitto binary, tests that need it fail when CI=true
// (CI installs it) and are skipped otherwise.
package mqtttest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// FerryUser is the broker user name Ferry logs in with, as the documented
// ACL names it.
const FerryUser = "_ferry"

// Product is the product the documented ACL grants device topics for.
const Product = "sensor"

// startWait bounds how long a broker may take to accept connections. It
// is a ceiling for a hung start, not a measurement: a broker normally
// listens within milliseconds.
const startWait = 15 * time.Second

// Options configure a broker.
type Options struct {
	// Users maps broker user names to passwords. FerryUser is added with
	// Password(FerryUser) when absent.
	Users map[string]string
	// Open runs the broker with anonymous access and no ACL, for tests of
	// Ferry's behaviour rather than of the broker's access control (a
	// simulated fleet then needs no password file).
	Open bool
	// TLS makes the listener speak MQTT over TLS with a certificate for
	// 127.0.0.1 that CAFile holds.
	TLS bool
}

// Broker is a Mosquitto process on a loopback port, in a temporary
// directory.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	// Port is the loopback TCP port the broker listens on; it stays the
	// same across Stop and Start.
	Port int
	// CAFile is the PEM certificate clients trust with Options.TLS.
	CAFile string
	scheme string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the process's end once
	log    *syncBuffer
}

// syncBuffer collects the broker's output, written by exec's copying
// goroutines while a test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Password returns the password the harness gives user.
func Password(user string) string { return user + "-secret" }

// Run starts a broker and stops it when the test ends.
func Run(t testing.TB, opts Options) *Broker {
	t.Helper()
	b := Prepare(t, opts)
	b.Start()
	return b
}

// Prepare writes a broker's configuration and picks its port, but does not
// start it: tests of a broker that is down first call Start later.
func Prepare(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := binary(t)
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), Port: freePort(t), scheme: "tcp"}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := b.writeConfig(opts); err != nil {
		t.Fatalf("configure mosquitto: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// URL returns the broker's tcp:// URL without credentials.
func (b *Broker) URL() string { return b.scheme + "://127.0.0.1:" + strconv.Itoa(b.Port) }

// UserURL returns the broker's URL carrying user and the harness's password
// for it.
func (b *Broker) UserURL(user string) string {
	return b.scheme + "://" + user + ":" + Password(user) + "@127.0.0.1:" + strconv.Itoa(b.Port)
}

// binary finds mosquitto, or ends the test: a failure in CI, where .ci/run
// installs it, a skip elsewhere.
func binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	const sbin = "/usr/sbin/mosquitto" // Debian installs it outside a user's PATH
	if _, err := os.Stat(sbin); err == nil {
		return sbin
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto is not installed; CI must install it (apt-get install mosquitto in .ci/run)")
	}
	t.Skip("mosquitto is not installed: apt-get install mosquitto to run the MQTT tests")
	return ""
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts the broker and waits until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatal("mosquitto is already running")
	}
	b.log = new(syncBuffer)
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(startWait)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.Port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			b.t.Fatalf("mosquitto exited at start (%v):\n%s", err, b.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			b.t.Fatalf("mosquitto did not listen on port %d within %s:\n%s", b.Port, startWait, b.log.String())
		}
	}
	b.cmd, b.exited = cmd, exited
}

// Stop stops the broker if it runs. Clients see their connection drop.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	if err := <-b.exited; err == nil {
		b.t.Log("mosquitto exited by itself before it was stopped")
	}
	b.cmd = nil
}

// Log returns what the broker wrote, for failure messages.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}

// docsDir finds docs/mosquitto by walking up from the test's working
// directory to the module root.
func docsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docs", "mosquitto"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// replaced are the directives of the documented mosquitto.conf that name
// this machine's paths and ports; the harness sets its own. Everything
// else, the access rules above all, is used as documented.
var replaced = map[string]bool{
	"listener": true, "certfile": true, "keyfile": true, "cafile": true, "password_file": true,
	"acl_file": true, "persistence": true, "persistence_location": true, "log_dest": true,
	"pid_file": true, "user": true, "allow_anonymous": true,
}

func (b *Broker) writeConfig(opts Options) error {
	docs, err := docsDir()
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(filepath.Join(docs, "mosquitto.conf"))
	if err != nil {
		return err
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nlog_dest stderr\npersistence false\n", b.Port)
	if opts.TLS {
		cert, key, err := selfSigned(b.dir)
		if err != nil {
			return err
		}
		b.CAFile, b.scheme = cert, "mqtts"
		fmt.Fprintf(&conf, "certfile %s\nkeyfile %s\n", cert, key)
	}
	// As root, mosquitto drops to the "mosquitto" user, which could not
	// read the test's files; naming the running user keeps it as it is.
	if u := os.Getenv("USER"); u != "" {
		fmt.Fprintf(&conf, "user %s\n", u)
	} else if os.Geteuid() == 0 {
		conf.WriteString("user root\n")
	}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || replaced[fields[0]] {
			continue
		}
		conf.WriteString(sc.Text() + "\n")
	}

	if opts.Open {
		conf.WriteString("allow_anonymous true\n")
		return os.WriteFile(b.conf, []byte(conf.String()), 0o600)
	}
	conf.WriteString("allow_anonymous false\n")
	acl, err := os.ReadFile(filepath.Join(docs, "acl"))
	if err != nil {
		return err
	}
	aclPath, passwd := filepath.Join(b.dir, "acl"), filepath.Join(b.dir, "passwd")
	if err := os.WriteFile(aclPath, acl, 0o600); err != nil {
		return err
	}
	if err := writePasswd(passwd, opts.Users); err != nil {
		return err
	}
	fmt.Fprintf(&conf, "acl_file %s\npassword_file %s\n", aclPath, passwd)
	return os.WriteFile(b.conf, []byte(conf.String()), 0o600)
}

// writePasswd writes a Mosquitto password file with mosquitto_passwd, as
// docs/mqtt.md tells operators to.
func writePasswd(path string, users map[string]string) error {
	all := map[string]string{FerryUser: Password(FerryUser)}
	for u, p := range users {
		all[u] = p
	}
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		return fmt.Errorf("mosquitto_passwd (installed with mosquitto): %w", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	for u, p := range all {
		out, err := exec.Command(tool, "-b", path, u, p).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %w: %s", u, err, out)
		}
	}
	return nil
}

// Connect connects a client to the broker as user, with the harness's
// password for it and client id user, and disconnects it when the test
// ends. A refused login fails the test.
func (b *Broker) Connect(t testing.TB, user string) paho.Client {
	t.Helper()
	c, err := b.Dial(user, Password(user))
	if err != nil {
		t.Fatalf("connect to mosquitto as %q: %v", user, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// Dial connects a client as user with password, or anonymously when user
// is empty, and returns the broker's refusal as an error.
func (b *Broker) Dial(user, password string) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("test-" + user + "-" + strconv.Itoa(rand.Int())).
		SetUsername(user).SetPassword(password).SetAutoReconnect(false).SetConnectTimeout(startWait)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(startWait) {
		return nil, errors.New("no CONNACK")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ferry test broker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "broker.crt"), filepath.Join(dir, "broker.key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certFile, keyFile, os.WriteFile(keyFile, keyPEM, 0o600)
}
