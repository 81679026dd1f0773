// Command holdconns opens many idle connections to a server on loopback
// and holds them, for measuring what each held connection costs the
// server. It is a benchmark tool; the product does not import it.
//
// In http mode each connection sends one GET (a long-poll) and waits; in
// mqtt mode each sends a minimal MQTT 3.1.1 CONNECT with a long keepalive
// and waits after the CONNACK. Client sockets bind to consecutive loopback
// source addresses (127.0.0.2, 127.0.0.3, …), --per-source connections
// each, so that tens of thousands fit the ephemeral port range. When every
// connection is open (or --dial-timeout passed), it prints "held N" on
// stdout, then holds them until it is signalled or --hold has passed.
//
// Only loopback targets are accepted.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	mode        string
	addr        string
	n, first    int
	perSource   int
	firstSource net.IP
	path        string
	workers     int
	dialTimeout time.Duration
	hold        time.Duration
	register    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "holdconns:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("holdconns", flag.ContinueOnError)
	var c config
	var src string
	fs.StringVar(&c.mode, "mode", "http", "http (long-poll GET) or mqtt (CONNECT)")
	fs.StringVar(&c.addr, "addr", "", "server HOST:PORT on loopback (required)")
	fs.IntVar(&c.n, "n", 1000, "connections to hold")
	fs.IntVar(&c.first, "first", 0, "index of the first device; device i is named d<i>")
	fs.IntVar(&c.perSource, "per-source", 10000, "connections per loopback source address")
	fs.StringVar(&src, "source", "127.0.0.2", "first loopback source address")
	fs.StringVar(&c.path, "path", "/device/v1/p/wait?device=d%d&timeout=600",
		"request path in http mode; %d is the device index")
	fs.IntVar(&c.workers, "workers", 64, "connections opened at once")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 2*time.Minute, "give up opening connections after this long")
	fs.DurationVar(&c.hold, "hold", 10*time.Minute, "hold the connections this long at most")
	fs.BoolVar(&c.register, "register", false,
		"http mode: instead of holding, send each path once over keep-alive connections and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.firstSource = net.ParseIP(src).To4()
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil || !net.ParseIP(host).IsLoopback() || c.firstSource == nil || !c.firstSource.IsLoopback() {
		return errors.New("--addr and --source must be loopback addresses")
	}
	if c.mode != "http" && c.mode != "mqtt" {
		return fmt.Errorf("--mode %q: want http or mqtt", c.mode)
	}
	if c.register {
		return register(ctx, c)
	}
	return hold(ctx, c)
}

// source returns the loopback address connection i binds to.
func (c config) source(i int) *net.TCPAddr {
	ip := binary.BigEndian.Uint32(c.firstSource) + uint32(i/c.perSource)
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, ip)
	return &net.TCPAddr{IP: b}
}

func hold(ctx context.Context, c config) error {
	dctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	conns := make([]net.Conn, c.n)
	var (
		next    atomic.Int64
		failed  atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for range c.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= c.n || dctx.Err() != nil {
					return
				}
				conn, err := open(dctx, c, i)
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { first = err })
					continue
				}
				conns[i] = conn
			}
		})
	}
	wg.Wait()

	held := 0
	for _, conn := range conns {
		if conn != nil {
			held++
		}
	}
	if first != nil {
		fmt.Fprintf(os.Stderr, "holdconns: %d connections failed, the first: %v\n", failed.Load(), first)
	}
	if err := checkIdle(conns); err != nil {
		return err
	}
	fmt.Printf("held %d\n", held)

	// Hold until a signal comes or the time is up.
	select {
	case <-ctx.Done():
	case <-time.After(c.hold):
	}
	for _, conn := range conns {
		if conn != nil {
			conn.Close()
		}
	}
	return nil
}

// open dials connection i and sends its request; in mqtt mode it also
// waits for the CONNACK.
func open(ctx context.Context, c config, i int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: c.source(i)}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	dev := c.first + i
	if c.mode == "http" {
		_, err = fmt.Fprintf(conn, "GET "+c.path+" HTTP/1.1\r\nHost: ferry\r\n\r\n", dev)
	} else {
		err = mqttConnect(conn, fmt.Sprintf("d%d", dev))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// mqttConnect sends a minimal MQTT 3.1.1 CONNECT (clean session, keepalive
// 65535 s) and reads the CONNACK.
func mqttConnect(conn net.Conn, clientID string) error {
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0xff, 0xff}
	payload := append([]byte{byte(len(clientID) >> 8), byte(len(clientID))}, clientID...)
	rem := len(vh) + len(payload)
	pkt := append([]byte{0x10, byte(rem)}, vh...)
	pkt = append(pkt, payload...)
	if _, err := conn.Write(pkt); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return fmt.Errorf("read CONNACK: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("CONNACK % x: refused", ack)
	}
	return nil
}

// checkIdle makes sure a sample of held connections got no answer yet: an
// early answer (an error, a refused request) means nothing is held.
func checkIdle(conns []net.Conn) error {
	step := max(len(conns)/20, 1)
	buf := make([]byte, 512)
	for i := 0; i < len(conns); i += step {
		conn := conns[i]
		if conn == nil {
			continue
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := conn.Read(buf)
		_ = conn.SetReadDeadline(time.Time{})
		if n > 0 {
			return fmt.Errorf("connection %d was answered instead of held: %q", i,
				strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return nil
}

// register sends each device's request once, over a few keep-alive
// connections, so the devices exist before they are held.
func register(ctx context.Context, c config) error {
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed atomic.Int64
	)
	for w := range c.workers {
		wg.Go(func() {
			if err := registerWorker(ctx, c, w, &next, &failed); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d registrations answered other than 2xx", n)
	}
	return errors.Join(errs...)
}

func registerWorker(ctx context.Context, c config, w int, next, failed *atomic.Int64) error {
	d := net.Dialer{LocalAddr: c.source(w)}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for ctx.Err() == nil {
		i := int(next.Add(1) - 1)
		if i >= c.n {
			return nil
		}
		if _, err := fmt.Fprintf(conn, "GET "+c.path+" HTTP/1.1\r\nHost: ferry\r\n\r\n", c.first+i); err != nil {
			return err
		}
		if err := readAnswer(br, failed); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readAnswer reads one HTTP answer with a Content-Length body.
func readAnswer(br *bufio.Reader, failed *atomic.Int64) error {
	status, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 2") {
		if failed.Add(1) == 1 {
			fmt.Fprintf(os.Stderr, "holdconns: register answered %s", status)
		}
	}
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &length)
		}
	}
	_, err = br.Discard(length)
	return err
}
