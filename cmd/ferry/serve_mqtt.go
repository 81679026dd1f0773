package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
)

// mqttFlags are serve's MQTT flags before they are checked.
type mqttFlags struct {
	broker, user, passwordFile, prefix, clientID, trust, imageURL, ca *string
}

func addMQTTFlags(fs *flag.FlagSet, def func(name, fallback string) string) mqttFlags {
	return mqttFlags{
		broker: fs.String("mqtt", def("FERRY_MQTT", ""),
			"serve devices over this MQTT broker: tcp://HOST:PORT or mqtts://HOST:PORT, "+
				"user and password may be in the URL (FERRY_MQTT)"),
		user: fs.String("mqtt-user", def("FERRY_MQTT_USER", ""), "broker user name (FERRY_MQTT_USER)"),
		passwordFile: fs.String("mqtt-password-file", def("FERRY_MQTT_PASSWORD_FILE", ""),
			"file holding the broker password (FERRY_MQTT_PASSWORD_FILE)"),
		prefix: fs.String("mqtt-prefix", def("FERRY_MQTT_PREFIX", wire.DefaultPrefix),
			"first segment of every MQTT topic (FERRY_MQTT_PREFIX)"),
		clientID: fs.String("mqtt-client-id", def("FERRY_MQTT_CLIENT_ID", mqtt.DefaultClientID),
			"Ferry's MQTT client id; the broker keeps Ferry's session under it (FERRY_MQTT_CLIENT_ID)"),
		trust: fs.String("mqtt-trust", def("FERRY_MQTT_TRUST", ""),
			"comma-separated key and p256 products whose devices the broker authenticates with "+
				"per-device ACLs, or * for all; public products are always served (FERRY_MQTT_TRUST)"),
		ca: fs.String("mqtt-ca", def("FERRY_MQTT_CA", ""),
			"PEM `file` of the CA certificates that sign an mqtts:// broker's certificate, "+
				"instead of the system's (FERRY_MQTT_CA)"),
		imageURL: fs.String("mqtt-image-url", def("FERRY_MQTT_IMAGE_URL", ""),
			"base URL devices download images from, such as http://ferry.example:8080; "+
				"without it MQTT offers carry paths relative to the server the device knows (FERRY_MQTT_IMAGE_URL)"),
	}
}

// config checks the MQTT flags; nil without --mqtt. The password file is
// read here so that a missing file fails at start.
func (f mqttFlags) config(errs *[]error) *mqtt.Config {
	if *f.broker == "" {
		if *f.user != "" || *f.passwordFile != "" || *f.trust != "" || *f.imageURL != "" || *f.ca != "" {
			*errs = append(*errs, errors.New(
				"--mqtt-user, --mqtt-password-file, --mqtt-trust, --mqtt-ca and --mqtt-image-url need --mqtt"))
		}
		return nil
	}
	cfg := &mqtt.Config{Broker: *f.broker, Username: *f.user, Prefix: *f.prefix, ClientID: *f.clientID,
		ImageBase: strings.TrimSuffix(*f.imageURL, "/")}
	if err := cfg.Validate(); err != nil {
		*errs = append(*errs, fmt.Errorf("--mqtt: %w", err))
	}
	if *f.passwordFile != "" {
		if cfg.Username == "" {
			*errs = append(*errs, errors.New("--mqtt-password-file needs --mqtt-user"))
		}
		b, err := readSmall(*f.passwordFile, 4096)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("--mqtt-password-file: %w", err))
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if *f.ca != "" {
		var err error
		if cfg.TLS, err = mqttTLS(*f.ca); err != nil {
			*errs = append(*errs, fmt.Errorf("--mqtt-ca: %w", err))
		}
	}
	for _, name := range strings.Split(*f.trust, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if name != "*" {
			if err := core.ValidateProductName(name); err != nil {
				*errs = append(*errs, fmt.Errorf("--mqtt-trust: %w", err))
			}
		}
		cfg.Trust = append(cfg.Trust, name)
	}
	if cfg.ImageBase != "" {
		u, err := url.Parse(cfg.ImageBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			*errs = append(*errs, fmt.Errorf("--mqtt-image-url %q: want http(s)://HOST[:PORT][/PATH]", cfg.ImageBase))
		}
	}
	return cfg
}

// startMQTT starts the MQTT adapter beside the HTTP server and returns a
// function that waits for it to stop after ctx ends.
func startMQTT(ctx context.Context, cfg serveConfig, svc *core.Service, log *slog.Logger) (func(), error) {
	if cfg.mqtt == nil {
		return func() {}, nil
	}
	a, err := mqtt.New(svc, *cfg.mqtt, log)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	if cfg.mqttStarted != nil {
		cfg.mqttStarted(a)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx) // returns nil when ctx ends
	}()
	return func() { <-done }, nil
}

// mqttTLS returns a TLS configuration that trusts the CA certificates in
// the PEM file at path, for a broker with a private CA.
func mqttTLS(path string) (*tls.Config, error) {
	b, err := readSmall(path, 1<<20)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
