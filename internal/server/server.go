// Package server assembles Ferry's HTTP adapters into one server: the
// operator API, the device protocols and the health check, behind shared
// middleware and timeouts chosen for devices on slow, flaky links.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ferry-ota/ferry/internal/api"
	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/ddi"
	"github.com/ferry-ota/ferry/internal/esp"
	"github.com/ferry-ota/ferry/internal/httpkit"
	"github.com/ferry-ota/ferry/internal/native"
	"github.com/ferry-ota/ferry/internal/plain"
)

// Config holds the server's timeouts and limits. Zero fields take the
// defaults noted.
type Config struct {
	// Stall is how long a transfer may make no progress before its
	// connection is closed. A device at a few hundred bytes per second
	// never comes near it while it is receiving. Default 60 seconds.
	Stall time.Duration
	// ReadHeader bounds the time to send request headers. Default 30 seconds.
	ReadHeader time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request. Default 120 seconds.
	Idle time.Duration
	// ShutdownGrace is how long a shutdown waits for requests in flight.
	// Default 30 seconds.
	ShutdownGrace time.Duration
	// MaxDeviceRequests bounds the device requests served at once; past
	// it, devices are told to come back later with 503 and Retry-After.
	// Default 2048.
	MaxDeviceRequests int
	// RetryAfter is the base of the Retry-After hint when shedding load;
	// devices get a random value between it and twice it, so they do not
	// return in step. Default 10 seconds.
	RetryAfter time.Duration
	// RatePerAddress limits device requests per second from one client
	// address (an IPv6 /64); past it, 429 with Retry-After. Zero disables
	// the limit: it is cmd/ferry that sets the shipped default.
	RatePerAddress float64
	// RatePerDevice does the same per product and device, for requests
	// that name the device in their query. Zero disables it.
	RatePerDevice float64
	// TrustProxy takes the client address from the last X-Forwarded-For
	// hop. Only set it behind a proxy that appends that header, or any
	// client can pick the address it is limited by.
	TrustProxy bool
	// MaxHeld bounds held (long-poll) device requests, which do not count
	// against MaxDeviceRequests: each costs a goroutine and a connection
	// (a few tens of KB), not work. Past it, 503 with Retry-After.
	// Default 50000.
	MaxHeld int
	// RateEntries caps the buckets each limit keeps. Default 65536: at
	// a few hundred bytes a bucket (keys are cut at 256 bytes), tens of MB
	// per limit at worst.
	RateEntries int
}

func (c Config) withDefaults() Config {
	if c.Stall <= 0 {
		c.Stall = 60 * time.Second
	}
	if c.ReadHeader <= 0 {
		c.ReadHeader = 30 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 120 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.MaxDeviceRequests <= 0 {
		c.MaxDeviceRequests = 2048
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 10 * time.Second
	}
	if c.RateEntries <= 0 {
		c.RateEntries = 65536
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 50000
	}
	return c
}

// Server is Ferry's HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	// hold admits held device requests; shutting down ends them.
	hold *httpkit.Holder
}

// New returns a Server for svc.
func New(svc *core.Service, cfg Config, logger *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: logger.With("component", "http")}
	s.hold = httpkit.NewHolder(svc.Hub(), cfg.MaxHeld, cfg.RetryAfter)
	s.handler = s.middleware(routes(svc, cfg, s.hold, logger))
	return s
}

// routes puts every part of the server on one screen: each adapter owns
// its prefix and its own authentication. Held requests (long-polls) are
// rate-limited like the others but bounded by hold, not by the shedder.
func routes(svc *core.Service, cfg Config, hold *httpkit.Holder, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	shed := newShedder(cfg.MaxDeviceRequests, cfg.RetryAfter)
	limits := newRateLimits(cfg)
	mux.Handle("/api/", api.New(svc, cfg.Stall, logger))
	plainH := plain.New(svc, cfg.Stall, logger)
	mux.Handle("/fw/", limits.wrap(shed.wrap(plainH), plainDeviceKey))
	mux.Handle("GET /fw/{product}/cmd", limits.wrap(heldOr(shed.wrap(plainH), plain.NewWait(svc, hold, logger)),
		plainDeviceKey))
	mux.Handle("/device/", limits.wrap(shed.wrap(native.New(svc, cfg.Stall, logger)), nativeDeviceKey))
	mux.Handle("GET /device/v1/{product}/wait", limits.wrap(native.NewWait(svc, hold, logger), waitDeviceKey))
	mux.Handle("/esp/", limits.wrap(shed.wrap(esp.New(svc, cfg.Stall, logger)), espDeviceKey))
	// hawkBit DDI paths start with the tenant, so they cannot have a
	// prefix of their own: any pattern for them would overlap /api/ and
	// the others. They take what no other prefix claims; a product named
	// like one of those prefixes is not reachable as a tenant.
	mux.Handle("/", limits.wrap(shed.wrap(ddi.New(svc, cfg.Stall, logger)), ddiDeviceKey))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpkit.Text(w, http.StatusOK, "ok")
	})
	return mux
}

// heldOr sends plain command requests that ask to wait to held, and the
// others to h.
func heldOr(h, held http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Has("wait") {
			held.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Handler returns the server's handler, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// middleware wraps h, outermost first: recover from panics, then log each
// request at Debug.
func (s *Server) middleware(h http.Handler) http.Handler {
	return s.recoverPanics(s.logRequests(h))
}

func (s *Server) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				httpkit.Text(w, http.StatusInternalServerError, "internal server error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		// The path only: query strings may carry device tokens.
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	})
}

// Serve serves on every listener in lns until ctx is canceled or one of
// them fails, then shuts all of them down gracefully together: it stops
// accepting, lets requests in flight finish within the grace period, and
// closes what remains.
func (s *Server) Serve(ctx context.Context, lns ...net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeader,
		IdleTimeout:       s.cfg.Idle,
		// No ReadTimeout or WriteTimeout: both bound a whole request, which
		// would cut a slow but progressing download. Handlers that move
		// bodies extend per-piece deadlines instead (httpkit.ServeImage).
		// TLS handshakes are bounded by ReadHeaderTimeout.
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// Shutdown waits for requests in flight; held ones would hold it for
	// their whole timeout, so they are told to end at once.
	hs.RegisterOnShutdown(s.hold.Close)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- hs.Serve(ln) }()
	}

	var failed error
	pending := len(lns)
	select {
	case err := <-errc:
		failed = fmt.Errorf("serve: %w", err)
		pending--
	case <-ctx.Done():
		s.log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = hs.Close()
	}
	for range pending {
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && failed == nil {
			failed = fmt.Errorf("serve: %w", serr)
		}
	}
	if failed != nil {
		return failed
	}
	return err
}

// TLSListener wraps ln to serve TLS with cert. TLS 1.2 is the floor: older
// versions have known breaks, and devices that cannot do 1.2 use the
// plain listener, where release signatures protect them instead.
func TLSListener(ln net.Listener, cert tls.Certificate) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	})
}
