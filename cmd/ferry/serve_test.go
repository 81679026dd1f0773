package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ferry test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeAt(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAt(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writeAt(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveBoth starts the server with cfg and returns its plain and TLS
// addresses; the server stops, and must stop cleanly, when the test ends.
func serveBoth(t *testing.T, cfg serveConfig) (plainAddr, tlsAddr string) {
	t.Helper()
	ready, readyTLS := make(chan string, 1), make(chan string, 1)
	cfg.ready = func(a string) { ready <- a }
	cfg.readyTLS = func(a string) { readyTLS <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve after cancel = %v, want nil", err)
		}
	})

	select {
	case tlsAddr = <-readyTLS:
	case err := <-done:
		t.Fatalf("serve = %v before listening", err)
	}
	return <-ready, tlsAddr
}

func getBody(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServeTLSAndPlain(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	plainAddr, tlsAddr := serveBoth(t, serveConfig{
		addr: "127.0.0.1:0", data: filepath.Join(dir, "data"),
		tlsAddr: "127.0.0.1:0", tlsCert: certFile, tlsKey: keyFile,
	})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	if code, body := getBody(t, client, "https://"+tlsAddr+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("GET https://%s/healthz = %d %q, want 200 \"ok\"", tlsAddr, code, body)
	}
	if code, body := getBody(t, http.DefaultClient, "http://"+plainAddr+"/healthz"); code != http.StatusOK ||
		body != "ok" {
		t.Errorf("GET http://%s/healthz = %d %q, want 200 \"ok\"", plainAddr, code, body)
	}

	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", tlsAddr, old); err == nil {
		conn.Close()
		t.Errorf("TLS 1.1 handshake with %s succeeded, want it refused", tlsAddr)
	}
}

func TestServeRateLimitsDevices(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	cfg := serveConfig{addr: "127.0.0.1:0", data: filepath.Join(dir, "data"),
		tlsAddr: "127.0.0.1:0", tlsCert: certFile, tlsKey: keyFile}
	cfg.http.RatePerDevice = 1 // a burst of 5
	plainAddr, _ := serveBoth(t, cfg)

	url := "http://" + plainAddr + "/fw/nosuch/version?device=a"
	for range 5 {
		getBody(t, http.DefaultClient, url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET %s past the burst = %d, Retry-After %q; want 429 with Retry-After",
			url, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, _ := getBody(t, http.DefaultClient, "http://"+plainAddr+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200: only device endpoints are limited", code)
	}
}

func TestServeTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	writeAt(t, garbage, []byte("not a key"))
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing certificate", filepath.Join(dir, "none.pem"), keyFile, "none.pem"},
		{"missing key", certFile, filepath.Join(dir, "nokey.pem"), "nokey.pem"},
		{"bad key", certFile, garbage, "garbage.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cfg := serveConfig{addr: "127.0.0.1:0", data: data,
				tlsAddr: "127.0.0.1:0", tlsCert: tt.cert, tlsKey: tt.key}
			err := serve(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve with --tls-cert %s --tls-key %s = %v, want an error naming %s",
					tt.cert, tt.key, err, tt.want)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("serve created %s before loading the certificate", data)
			}
		})
	}
}

func TestParseServeTLSAndRates(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tls complete", []string{"--tls-addr", "127.0.0.1:8443", "--tls-cert", "c", "--tls-key", "k"}, ""},
		{"tls without key", []string{"--tls-addr", "127.0.0.1:8443", "--tls-cert", "c"}, "--tls-key"},
		{"cert without addr", []string{"--tls-cert", "c", "--tls-key", "k"}, "need --tls-addr"},
		{"bad tls addr", []string{"--tls-addr", "8443", "--tls-cert", "c", "--tls-key", "k"}, "--tls-addr"},
		{"negative rate", []string{"--rate-per-device", "-1"}, "--rate-per-device"},
		{"rates disabled", []string{"--rate-per-address", "0", "--rate-per-device", "0"}, ""},
		{"held limit", []string{"--max-held", "10"}, ""},
		{"no held requests", []string{"--max-held", "0"}, "--max-held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{args: tt.args, stderr: io.Discard, getenv: func(string) string { return "" }}
			_, err := parseServe(e)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseServe(%q) = %v, want no error", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseServe(%q) = %v, want an error mentioning %s", tt.args, err, tt.wantErr)
			}
		})
	}

	cfg, err := parseServe(env{stderr: io.Discard, getenv: func(k string) string {
		return map[string]string{"FERRY_TLS_ADDR": ":8443", "FERRY_TLS_CERT": "c.pem", "FERRY_TLS_KEY": "k.pem"}[k]
	}})
	if err != nil || cfg.tlsAddr != ":8443" || cfg.tlsCert != "c.pem" || cfg.tlsKey != "k.pem" {
		t.Errorf("parseServe with FERRY_TLS_* = %q %q %q, %v; want :8443 c.pem k.pem", cfg.tlsAddr, cfg.tlsCert,
			cfg.tlsKey, err)
	}
	if cfg.http.RatePerAddress != 100 || cfg.http.RatePerDevice != 20 {
		t.Errorf("default rates = %v per address, %v per device; want 100 and 20",
			cfg.http.RatePerAddress, cfg.http.RatePerDevice)
	}
}
