package tcptunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"i2pbridge/bridge/leaktest"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

// echoServer is a local TCP echo service that half-closes after echoing.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln.Addr().String()
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type tunnel interface {
	Open(ctx context.Context) error
	Serve(ctx context.Context) error
	Close() error
}

// served is a tunnel serving in the background until the test ends.
type served struct {
	stop    func() // cancel Serve, wait, check, Close; idempotent
	done    chan struct{}
	err     error // Serve's result, valid after done
	checked bool  // the test looked at err itself
}

// result waits up to 5 s for Serve to return on its own.
func (s *served) result(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		s.checked = true
		return s.err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// run opens tun and serves it until the test ends, then stops it and
// checks that Serve returned nil (unless the test checked the result).
func run(t *testing.T, tun tunnel) *served {
	t.Helper()
	if err := tun.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{done: make(chan struct{})}
	go func() {
		s.err = tun.Serve(ctx)
		close(s.done)
	}()
	s.stop = sync.OnceFunc(func() {
		cancel()
		<-s.done
		if s.err != nil && !s.checked {
			t.Errorf("Serve: %v", s.err)
		}
		tun.Close()
	})
	t.Cleanup(s.stop)
	return s
}

var errExpected = errors.New("expected")

// roundTrip sends msg through a TCP conn to addr, half-closes and returns
// what came back.
func roundTrip(addr string, msg []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return got, err
	}
	return got, <-werr
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type pair struct {
	net      *i2pnettest.Network
	server   *Server
	client   *Client
	served   [2]*served // server, client
	sc, cc   *relay.Counters
	datadir  string
	keysPath string
}

// newPair builds echo ← tcp-server ← i2pnettest ← tcp-client ← 127.0.0.1:0.
func newPair(t *testing.T, target string, tweak func(srv, cli *Config)) *pair {
	t.Helper()
	p := &pair{net: i2pnettest.New(), sc: new(relay.Counters), cc: new(relay.Counters), datadir: t.TempDir()}
	t.Cleanup(func() { p.net.Close() })
	p.keysPath = filepath.Join(p.datadir, "echo.dat")
	length := 1
	srv := Config{
		Tunnel:  config.Tunnel{Name: "echo", Type: TypeServer, Target: target, Keys: p.keysPath, Inbound: config.Pool{Length: &length}},
		Network: p.net, Datadir: p.datadir, Counters: p.sc,
	}
	cli := Config{
		Tunnel:  config.Tunnel{Name: "echo-client", Type: TypeClient, Listen: "127.0.0.1:0", Destination: "pending"},
		Network: p.net, Counters: p.cc,
	}
	if tweak != nil {
		tweak(&srv, &cli)
	}
	var err error
	p.server, err = NewServer(srv)
	if err != nil {
		t.Fatal(err)
	}
	p.served[0] = run(t, p.server)
	if cli.Tunnel.Destination == "pending" {
		cli.Tunnel.Destination = p.server.Address()
	}
	p.client, err = NewClient(cli)
	if err != nil {
		t.Fatal(err)
	}
	p.served[1] = run(t, p.client)
	return p
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTunnelPairRelays16MiB sends 16 MiB through client and server tunnel
// to an echo server and checks the bytes and the counters on both sides.
func TestTunnelPairRelays16MiB(t *testing.T) {
	leaktest.Check(t)
	p := newPair(t, echoServer(t), nil)
	msg := random(t, 16<<20)
	got, err := roundTrip(p.client.ListenAddr(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo differs: %d bytes back, want %d", len(got), len(msg))
	}
	n := uint64(len(msg))
	waitFor(t, "connections to close", func() bool { return p.sc.Conns.Load() == 0 && p.cc.Conns.Load() == 0 })
	for name, c := range map[string]*relay.Counters{"server": p.sc, "client": p.cc} {
		if c.AToB.Load() != n || c.BToA.Load() != n || c.TotalConns.Load() != 1 || c.FailedConns.Load() != 0 {
			t.Errorf("%s counters: in %d out %d total %d failed %d", name, c.AToB.Load(), c.BToA.Load(), c.TotalConns.Load(), c.FailedConns.Load())
		}
	}
}

// TestTunnelPairParallelConns runs many connections at once.
func TestTunnelPairParallelConns(t *testing.T) {
	leaktest.Check(t)
	p := newPair(t, echoServer(t), nil)
	const conns = 64
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			msg := random(t, 64<<10+i)
			got, err := roundTrip(p.client.ListenAddr(), msg)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("conn %d: %d bytes back, %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
	waitFor(t, "connections to close", func() bool { return p.sc.Conns.Load() == 0 })
	if got := p.sc.TotalConns.Load(); got != conns {
		t.Errorf("server saw %d streams, want %d", got, conns)
	}
}

// TestServerKeysAndB32File checks persistent keys (created once, same b32
// after reopening), the .b32 file, and the session options.
func TestServerKeysAndB32File(t *testing.T) {
	leaktest.Check(t)
	var logs syncBuffer
	p := newPair(t, echoServer(t), func(srv, _ *Config) { srv.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	b32 := p.server.Address()
	if s := logs.String(); strings.Count(s, "created keys file") != 1 || !strings.Contains(s, "b32="+b32) {
		t.Errorf("start logs: %q", s)
	}
	if !strings.HasSuffix(b32, ".b32.i2p") {
		t.Fatalf("Address = %q", b32)
	}
	fi, err := os.Stat(p.keysPath)
	if err != nil {
		t.Fatalf("keys file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v", fi.Mode().Perm())
	}
	b32File := filepath.Join(p.datadir, "echo.b32")
	content, err := os.ReadFile(b32File)
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != b32+"\n" {
		t.Errorf("b32 file = %q, want %q", content, b32+"\n")
	}
	if fi, err := os.Stat(b32File); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("b32 file mode: %v %v", fi.Mode(), err)
	}
	sess := p.net.Session("echo")
	if sess == nil || sess.Config().Keys == nil {
		t.Fatal("server session missing or transient")
	}
	if got := sess.Config().Options["inbound.length"]; got != "1" {
		t.Errorf("session options: inbound.length = %q, want 1 (Tunnel.I2CPOptions)", got)
	}
	if p.net.Session("echo-client").Config().Keys != nil {
		t.Error("client without keys got persistent keys")
	}

	// Reopen: the same keys give the same address.
	p.served[0].stop()
	os.Remove(b32File)
	if err := p.server.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.server.Close()
	if p.server.Address() != b32 {
		t.Error("address changed after reopening with the same keys file")
	}
	if s := logs.String(); strings.Count(s, "created keys file") != 1 {
		t.Errorf("existing keys reported as created: %q", s)
	}
	if _, err := os.Stat(b32File); err != nil {
		t.Errorf("b32 file not rewritten: %v", err)
	}
}

// TestServerTargetDownKeepsTunnel checks that a stream to a dead target is
// closed and counted while the tunnel keeps accepting.
func TestServerTargetDownKeepsTunnel(t *testing.T) {
	leaktest.Check(t)
	target := freeAddr(t)
	var logs syncBuffer
	p := newPair(t, target, func(srv, _ *Config) { srv.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })

	got, err := roundTrip(p.client.ListenAddr(), []byte("hello"))
	if len(got) != 0 {
		t.Fatalf("got %q from a dead target (err %v)", got, err)
	}
	waitFor(t, "the failure to be counted", func() bool { return p.sc.FailedConns.Load() == 1 })
	if !strings.Contains(logs.String(), "target unreachable") {
		t.Errorf("failure not logged: %q", logs.String())
	}

	// The target comes up: the same tunnel now works.
	ln, err := net.Listen("tcp", target)
	if err != nil {
		t.Fatalf("could not take over %s: %v", target, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	got, err = roundTrip(p.client.ListenAddr(), []byte("hello"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("after the target came up: %q, %v", got, err)
	}
}

// TestClientDialFailureClosesLocalConn checks that an unreachable
// destination closes the local conn, is counted and logged.
func TestClientDialFailureClosesLocalConn(t *testing.T) {
	leaktest.Check(t)
	var logs syncBuffer
	p := newPair(t, echoServer(t), func(_, cli *Config) {
		cli.Tunnel.Destination = "nowhere.i2p"
		cli.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	got, err := roundTrip(p.client.ListenAddr(), []byte("hello"))
	if len(got) != 0 {
		t.Fatalf("got %q, %v", got, err)
	}
	waitFor(t, "the failure to be counted", func() bool { return p.cc.FailedConns.Load() == 1 })
	// The count and the log line are not written at once: wait for both.
	waitFor(t, "the reason to be logged", func() bool {
		s := logs.String()
		return strings.Contains(s, "dial failed") && strings.Contains(s, "unknown name")
	})
	// The tunnel is still up for the next connection.
	p.net.FailNextDial(i2pnettest.ErrInjected)
	roundTrip(p.client.ListenAddr(), nil)
	waitFor(t, "the second failure", func() bool { return p.cc.FailedConns.Load() == 2 })
}

// TestServeFailsWhenSessionDies checks that both kinds report a dead
// session from Serve, so the supervisor restarts them.
func TestServeFailsWhenSessionDies(t *testing.T) {
	leaktest.Check(t)
	n := i2pnettest.New()
	defer n.Close()
	srv, err := NewServer(Config{Tunnel: config.Tunnel{Name: "s", Type: TypeServer, Target: freeAddr(t)}, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewClient(Config{Tunnel: config.Tunnel{Name: "c", Type: TypeClient, Listen: "127.0.0.1:0", Destination: "x.i2p"}, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	srvServed, cliServed := run(t, srv), run(t, cli)

	n.Session("s").Drop(errExpected)
	if err := srvServed.result(t); !errors.Is(err, errExpected) {
		t.Errorf("server Serve = %v, want the drop error", err)
	}

	n.Session("c").Close() // closed underneath the tunnel
	roundTrip(cli.ListenAddr(), []byte("x"))
	if err := cliServed.result(t); !errors.Is(err, i2pnet.ErrClosed) {
		t.Errorf("client Serve = %v, want ErrClosed", err)
	}
}

// TestIdleTimeoutClosesConn checks that Tunnel.IdleTimeout reaches the
// relay: a silent connection is closed after it.
func TestIdleTimeoutClosesConn(t *testing.T) {
	leaktest.Check(t)
	const idle = 200 * time.Millisecond
	p := newPair(t, echoServer(t), func(srv, _ *Config) { srv.Tunnel.IdleTimeout = config.Duration(idle) })
	c, err := net.Dial("tcp", p.client.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read data from a silent echo")
	}
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %v, before the idle timeout %v (%v)", d, idle, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection not closed by the idle timeout")
	}
}

// TestClientListenInUse checks that Open fails cleanly (nothing left open)
// when the local port is taken, and that the error names the address.
func TestClientListenInUse(t *testing.T) {
	leaktest.Check(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	n := i2pnettest.New()
	defer n.Close()
	cli, err := NewClient(Config{Tunnel: config.Tunnel{Name: "c", Type: TypeClient, Listen: taken.Addr().String(), Destination: "x.i2p"}, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	err = cli.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("Open = %v, want an error naming %s", err, taken.Addr())
	}
	if n.Session("c") != nil {
		t.Error("a session stayed open after the failed Open")
	}
}

// TestNewRejectsBadConfig checks the constructor's checks.
func TestNewRejectsBadConfig(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	tests := []struct {
		name string
		t    config.Tunnel
	}{
		{"server wrong type", config.Tunnel{Name: "a", Type: TypeClient, Target: "127.0.0.1:1"}},
		{"server bad target", config.Tunnel{Name: "a", Type: TypeServer, Target: "nope"}},
		{"server name with slash", config.Tunnel{Name: "../a", Type: TypeServer, Target: "127.0.0.1:1"}},
		{"client no destination", config.Tunnel{Name: "a", Type: TypeClient, Listen: "127.0.0.1:1"}},
		{"client bad listen", config.Tunnel{Name: "a", Type: TypeClient, Listen: "1", Destination: "x.i2p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if strings.HasPrefix(tt.name, "server") {
				_, err = NewServer(Config{Tunnel: tt.t, Network: n})
			} else {
				_, err = NewClient(Config{Tunnel: tt.t, Network: n})
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
