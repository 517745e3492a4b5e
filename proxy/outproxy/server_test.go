package outproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/proxy/internal/proxytest"
)

// clearnet is a web server standing in for the clearnet: it answers
// "CLEARNET-SITE <path> ua=<User-Agent>".
func clearnet(t *testing.T) (addr, port string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "CLEARNET-SITE "+r.URL.Path+" ua="+r.Header.Get("User-Agent"))
	}))
	t.Cleanup(srv.Close)
	addr = srv.Listener.Addr().String()
	_, port, _ = net.SplitHostPort(addr)
	return addr, port
}

// outproxyEnv runs an outproxy tunnel on an in-memory I2P and a client
// session that talks to it.
type outproxyEnv struct {
	t      *testing.T
	server *Server
	client i2pnet.Session
	dir    string
}

func newOutproxyEnv(t *testing.T, tun config.Tunnel, res *net.Resolver) *outproxyEnv {
	t.Helper()
	n := i2pnettest.New()
	dir := t.TempDir()
	tun.Name, tun.Type = "exit", Type
	s, err := NewServer(Config{Tunnel: tun, Network: n, Datadir: dir, Resolver: res, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	client, err := n.Open(ctx, i2pnet.SessionConfig{Name: "client"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
		client.Close()
	})
	return &outproxyEnv{t: t, server: s, client: client, dir: dir}
}

// request sends raw over a new stream to the outproxy and reads the
// response (status, body).
func (e *outproxyEnv) request(raw string) (int, string) {
	e.t.Helper()
	c, err := e.client.Dial(context.Background(), e.server.Address())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerWritesB32(t *testing.T) {
	e := newOutproxyEnv(t, config.Tunnel{}, nil)
	b, err := os.ReadFile(filepath.Join(e.dir, "exit.b32"))
	if err != nil || string(b) != e.server.Address()+"\n" {
		t.Errorf("exit.b32 = %q, %v; want %s", b, err, e.server.Address())
	}
}

// TestServerRefusesPrivateTargets: by default every local, private or
// special address is refused, including names that resolve to one (the
// check is on the dialed address), and with nothing reaching the target.
func TestServerRefusesPrivateTargets(t *testing.T) {
	addr, port := clearnet(t)
	dns := proxytest.NewDNS(t, map[string][]netip.Addr{
		"rebind.example":  {netip.MustParseAddr("127.0.0.1")},
		"private.example": {netip.MustParseAddr("10.9.8.7")},
	})
	e := newOutproxyEnv(t, config.Tunnel{}, dns.Resolver())
	tests := []struct {
		name, raw string
		status    int
	}{
		{"loopback literal", "GET http://" + addr + "/ HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", http.StatusForbidden},
		{"name resolving to loopback", "GET http://rebind.example:" + port + "/ HTTP/1.1\r\nHost: rebind.example\r\n\r\n", http.StatusForbidden},
		{"localhost", "GET http://localhost:" + port + "/ HTTP/1.1\r\nHost: localhost\r\n\r\n", http.StatusForbidden},
		{"private literal", "GET http://10.1.1.1:8080/ HTTP/1.1\r\nHost: 10.1.1.1\r\n\r\n", http.StatusForbidden},
		{"name resolving to private", "GET http://private.example:8080/ HTTP/1.1\r\nHost: private.example\r\n\r\n", http.StatusForbidden},
		{"test network", "GET http://198.18.0.9:8080/ HTTP/1.1\r\nHost: 198.18.0.9\r\n\r\n", http.StatusForbidden},
		{"v6 loopback", "GET http://[::1]:" + port + "/ HTTP/1.1\r\nHost: [::1]\r\n\r\n", http.StatusForbidden},
		{"CONNECT loopback", "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", http.StatusForbidden},
		{"CONNECT name resolving to loopback", "CONNECT rebind.example:" + port + " HTTP/1.1\r\nHost: rebind.example\r\n\r\n", http.StatusForbidden},
		{"low port", "GET http://93.184.216.34:25/ HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"CONNECT low port", "CONNECT 93.184.216.34:22 HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"i2p host", "GET http://site.i2p/ HTTP/1.1\r\nHost: site.i2p\r\n\r\n", http.StatusBadRequest},
		{"not a proxy request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"ftp", "GET ftp://93.184.216.34/ HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"unknown name", "GET http://nxdomain.example:8080/ HTTP/1.1\r\nHost: nxdomain.example\r\n\r\n", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.request(tt.raw)
			if status != tt.status {
				t.Errorf("status %d, want %d (%s)", status, tt.status, body)
			}
			if strings.Contains(body, "CLEARNET-SITE") {
				t.Errorf("the target was reached: %q", body)
			}
		})
	}
}

// TestServerForwardsAllowed: with the target's network allowed, plain
// requests and CONNECT reach it, directly.
func TestServerForwardsAllowed(t *testing.T) {
	addr, port := clearnet(t)
	dns := proxytest.NewDNS(t, map[string][]netip.Addr{"site.example": {netip.MustParseAddr("127.0.0.1")}})
	for name, tun := range map[string]config.Tunnel{
		"allow_cidrs":   {Outproxy: config.Outproxy{AllowCIDRs: []string{"127.0.0.0/8"}}},
		"allow_private": {Outproxy: config.Outproxy{AllowPrivate: true}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newOutproxyEnv(t, tun, dns.Resolver())
			status, body := e.request("GET http://site.example:" + port + "/page HTTP/1.1\r\nHost: site.example\r\nUser-Agent: ua-x\r\n\r\n")
			if status != http.StatusOK || body != "CLEARNET-SITE /page ua=ua-x" {
				t.Errorf("GET: %d %q", status, body)
			}
			// CONNECT, then HTTP inside the tunnel.
			c, err := e.client.Dial(context.Background(), e.server.Address())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, "CONNECT "+addr+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\nGET /inside HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %v %v", resp, err)
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(string(b), "CLEARNET-SITE /inside") {
				t.Errorf("inside the tunnel: %q", b)
			}
		})
	}
}

// TestServerUpstream: with an upstream proxy, requests go there (plain
// ones by name, CONNECT to the checked address), and names resolving to
// refused addresses never reach it.
func TestServerUpstream(t *testing.T) {
	up := proxytest.NewUpstream(t)
	dns := proxytest.NewDNS(t, map[string][]netip.Addr{
		"site.example":   {netip.MustParseAddr("198.18.0.44")},
		"inside.example": {netip.MustParseAddr("10.0.0.5")},
	})
	e := newOutproxyEnv(t, config.Tunnel{Outproxy: config.Outproxy{Upstream: up.Addr, AllowCIDRs: []string{"198.18.0.0/15"}}}, dns.Resolver())

	status, body := e.request("GET http://site.example:8080/x?y=1 HTTP/1.1\r\nHost: site.example:8080\r\n\r\n")
	if status != http.StatusOK || body != "upstream saw http://site.example:8080/x?y=1" {
		t.Errorf("GET via upstream: %d %q", status, body)
	}
	status, _ = e.request("GET http://inside.example:8080/ HTTP/1.1\r\nHost: inside.example:8080\r\n\r\n")
	if status != http.StatusForbidden {
		t.Errorf("private name via upstream: %d", status)
	}
	status, _ = e.request("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
	if status != http.StatusForbidden {
		t.Errorf("CONNECT loopback via upstream: %d", status)
	}

	c, err := e.client.Dial(context.Background(), e.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "CONNECT site.example:443 HTTP/1.1\r\nHost: site.example:443\r\n\r\nhello")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT via upstream: %v %v", resp, err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello" {
		t.Errorf("echo %q, %v", got, err)
	}
	want := []string{"GET http://site.example:8080/x?y=1", "CONNECT 198.18.0.44:443"}
	if seen := up.Seen(); strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("upstream saw %q, want %q", seen, want)
	}
}

func TestNewServerRejects(t *testing.T) {
	n := i2pnettest.New()
	tests := map[string]Config{
		"wrong type":  {Tunnel: config.Tunnel{Name: "x", Type: "tcp-server"}, Network: n},
		"no network":  {Tunnel: config.Tunnel{Name: "x", Type: Type}},
		"bad name":    {Tunnel: config.Tunnel{Name: "../x", Type: Type}, Network: n},
		"bad CIDR":    {Tunnel: config.Tunnel{Name: "x", Type: Type, Outproxy: config.Outproxy{AllowCIDRs: []string{"nope"}}}, Network: n},
		"bad upstrem": {Tunnel: config.Tunnel{Name: "x", Type: Type, Outproxy: config.Outproxy{Upstream: "noport"}}, Network: n},
	}
	for name, cfg := range tests {
		if _, err := NewServer(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// TestServerCountsAndStops: the supervisor's lifecycle: Serve returns nil
// when its ctx ends, counters see the streams and bytes.
func TestServerCountsAndStops(t *testing.T) {
	n := i2pnettest.New()
	counters := new(relay.Counters)
	s, err := NewServer(Config{Tunnel: config.Tunnel{Name: "exit", Type: Type}, Network: n, Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	client, _ := n.Open(ctx, i2pnet.SessionConfig{Name: "c"})
	c, err := client.Dial(ctx, s.Address())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%v %v", resp, err)
	}
	// The reply's bytes are counted once the server's Write returns, which
	// may be after the client has read them: wait, do not sample once.
	deadline := time.Now().Add(5 * time.Second)
	for counters.TotalConns.Load() != 1 || counters.AToB.Load() == 0 || counters.BToA.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("counters: conns %d in %d out %d", counters.TotalConns.Load(), counters.AToB.Load(), counters.BToA.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if s.Address() != "" {
		t.Error("Address after Close")
	}
	client.Close()
}
