package sam_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/routertest"
	"i2pbridge/router/sam"
)

// fastTunnels keeps test sessions quick: one hop each way.
const fastTunnels = "inbound.length=1 outbound.length=1 inbound.quantity=2 outbound.quantity=2"

// env is an in-memory network of our routers (real time, no synctest: the
// SAM sockets are real loopback TCP) with SAM servers on some of them.
type env struct {
	net     *routertest.Network
	servers []*sam.Server
	addrs   []string // SAM TCP address of each server
	stops   []func() // stop server i and wait for Serve (idempotent)
}

type envOptions struct {
	servers int
	cfg     func(i int, c *sam.Config)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SAM_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startEnv starts five routers (two floodfills, one-hop exploratory
// tunnels, exploring every second) and a SAM server on routers 1, 2...
// Everything stops when the test ends; SAM servers first.
func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.servers == 0 {
		o.servers = 1
	}
	start := time.Now()
	n := routertest.Start(t, routertest.Options{
		N: 5, Floodfills: 2,
		Tuning: router.Tuning{ExploreInterval: time.Second},
		Configure: func(i int, c *router.Config) {
			c.Exploratory = router.PoolConfig{Length: 1, Quantity: 2}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.WaitAllKnown(t, ctx)
	for _, r := range n.Routers {
		if err := r.Exploratory().WaitReady(ctx); err != nil {
			t.Fatalf("exploratory tunnels: %v", err)
		}
	}
	e := &env{net: n}
	for i := range o.servers {
		cfg := sam.Config{Router: n.Routers[1+i], Logger: testLogger(t)}
		if o.cfg != nil {
			o.cfg(i, &cfg)
		}
		e.serve(t, cfg)
	}
	t.Logf("network of 5 routers and %d SAM servers up in %v", o.servers, time.Since(start).Round(time.Millisecond))
	return e
}

// serve starts a SAM server on a loopback port; it stops at cleanup.
func (e *env) serve(t *testing.T, cfg sam.Config) *sam.Server {
	t.Helper()
	srv, err := sam.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Serve did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	e.stops = append(e.stops, stop)
	e.servers = append(e.servers, srv)
	e.addrs = append(e.addrs, ln.Addr().String())
	return srv
}

// client is a SAM client socket driven by a test.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialSAM(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// hello dials and agrees on SAM 3.3.
func hello(t testing.TB, addr string) *client {
	t.Helper()
	c := dialSAM(t, addr)
	if r := c.cmd("HELLO VERSION MIN=3.0 MAX=3.3"); r.Value("RESULT") != "OK" || r.Value("VERSION") != "3.3" {
		t.Fatalf("HELLO: %v", r)
	}
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// rawLine reads one line, '\n' removed.
func (c *client) rawLine(timeout time.Duration) (string, error) {
	c.c.SetReadDeadline(time.Now().Add(timeout))
	defer c.c.SetReadDeadline(time.Time{})
	s, err := c.br.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// line reads and parses one reply line.
func (c *client) line(timeout time.Duration) sam.Line {
	c.t.Helper()
	s, err := c.rawLine(timeout)
	if err != nil {
		c.t.Fatalf("reading a reply: %v (got %q)", err, s)
	}
	l, _, err := sam.ParseLine([]byte(s + "\n"))
	if err != nil {
		c.t.Fatalf("reply %q: %v", s, err)
	}
	return l
}

// cmd sends a line and reads the reply.
func (c *client) cmd(line string) sam.Line {
	c.t.Helper()
	c.send(line)
	return c.line(30 * time.Second)
}

// closed reports whether the server closed the socket (EOF within a
// short wait, nothing read).
func (c *client) closed() bool {
	c.t.Helper()
	s, err := c.rawLine(2 * time.Second)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if s != "" {
		c.t.Errorf("unexpected line %q", s)
	}
	return err != nil
}

// alive checks the socket still answers commands.
func (c *client) alive() bool {
	c.t.Helper()
	c.send("PING alive?")
	s, err := c.rawLine(5 * time.Second)
	return err == nil && s == "PONG alive?"
}

// session creates a session on a new control socket and returns the
// socket, its private keys and its destination.
func session(t testing.TB, addr, id, style, extra string) (*client, data.PrivateKeys) {
	t.Helper()
	c := hello(t, addr)
	start := time.Now()
	r := c.cmd("SESSION CREATE STYLE=" + style + " ID=" + id + " DESTINATION=TRANSIENT " + extra)
	if !r.Is("SESSION", "STATUS") || r.Value("RESULT") != "OK" {
		t.Fatalf("SESSION CREATE %s: %v", id, r)
	}
	keys, err := data.ParsePrivateKeysBase64(r.Value("DESTINATION"))
	if err != nil {
		t.Fatalf("SESSION STATUS DESTINATION: %v", err)
	}
	t.Logf("session %s: SESSION CREATE answered OK after %v", id, time.Since(start).Round(time.Millisecond))
	return c, keys
}

// checkNoLeaks waits for the package's goroutines to end (design habit
// 11): after its server stopped, nothing of router/sam may be left.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "i2pbridge/router/sam.") && !strings.Contains(g, "_test.") {
				leaked = true
			}
		}
		if !leaked {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("goroutines of router/sam left after the server stopped:\n%s", stacks)
}

// serveDatagrams runs srv's UDP port on a loopback address until the test
// ends and returns that address.
func serveDatagrams(t *testing.T, srv *sam.Server) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeDatagrams(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeDatagrams: %v", err)
		}
	})
	return pc.LocalAddr().(*net.UDPAddr)
}

// udpPort is the port of a local UDP socket, for PORT=.
func udpPort(pc net.PacketConn) string {
	return strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
}

// splitMessage renders a reply without its MESSAGE, and the MESSAGE: the
// error tables match the first exactly and look for words in the second.
func splitMessage(r sam.Line) (head, msg string) {
	h := r
	h.Args = nil
	for _, a := range r.Args {
		if a.Key != "MESSAGE" {
			h.Args = append(h.Args, a)
		}
	}
	return h.String(), r.Value("MESSAGE")
}
