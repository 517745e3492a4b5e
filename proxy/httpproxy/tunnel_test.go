package httpproxy

import (
	"context"
	"errors"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

func proxyTunnel(name, listen string, books ...string) config.Tunnel {
	return config.Tunnel{Name: name, Type: Type, Listen: listen, HTTPProxy: config.HTTPProxy{AddressBook: books}}
}

// getVia fetches u through the proxy at addr.
func getVia(t *testing.T, addr, u string) (int, string) {
	t.Helper()
	pu, _ := url.Parse("http://" + addr)
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTunnelLifecycle drives the tunnel the way the supervisor does:
// Open, Serve, a request through it, cancel, Close, and again.
func TestTunnelLifecycle(t *testing.T) {
	leaktest.Check(t)
	n := i2pnettest.New()
	defer n.Close()
	site := newEepsite(t, n, nil)
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts.txt")
	if err := os.WriteFile(hosts, []byte("site.i2p="+site.dest.Base64()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	counters := new(relay.Counters)
	tun, err := NewTunnel(TunnelConfig{Tunnel: proxyTunnel("web", "127.0.0.1:0", hosts), Network: n, Datadir: dir, Logger: testLogger(t), Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		if err := tun.Open(ctx); err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		if tun.Address() == "" || strings.HasSuffix(tun.ListenAddr(), ":0") {
			t.Errorf("round %d: Address %q, ListenAddr %q", round, tun.Address(), tun.ListenAddr())
		}
		done := make(chan error, 1)
		go func() { done <- tun.Serve(ctx) }()
		status, body := getVia(t, tun.ListenAddr(), "http://site.i2p/r")
		if status != http.StatusOK || body != "hello from /r" {
			t.Errorf("round %d: %d %q", round, status, body)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("round %d: Serve: %v", round, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve did not return", round)
		}
		if err := tun.Close(); err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
		if tun.Address() != "" {
			t.Errorf("round %d: Address after Close", round)
		}
	}
	if counters.TotalConns.Load() < 2 || counters.AToB.Load() == 0 || counters.BToA.Load() == 0 {
		t.Errorf("counters: conns %d, in %d, out %d", counters.TotalConns.Load(), counters.AToB.Load(), counters.BToA.Load())
	}
}

// TestTunnelSavesHelpersInDatadir: the local book is
// <datadir>/<name>.hosts.txt and survives a restart of the tunnel.
func TestTunnelSavesHelpersInDatadir(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	site := newEepsite(t, n, nil)
	dir := t.TempDir()
	tun, err := NewTunnel(TunnelConfig{Tunnel: proxyTunnel("web", "127.0.0.1:0"), Network: n, Datadir: dir})
	if err != nil {
		t.Fatal(err)
	}
	run := func(f func(addr string)) {
		ctx, cancel := context.WithCancel(context.Background())
		if err := tun.Open(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tun.Serve(ctx) }()
		f(tun.ListenAddr())
		cancel()
		<-done
		tun.Close()
	}
	run(func(addr string) {
		e := &env{t: t, addr: addr}
		_, page := e.get("http://saved.i2p/?i2paddresshelper=" + url.QueryEscape(site.dest.Base64()))
		if resp, _ := e.post(formFields(t, page)[actionSave]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d", resp.StatusCode)
		}
	})
	if b, err := os.ReadFile(filepath.Join(dir, "web.hosts.txt")); err != nil || !strings.Contains(string(b), "saved.i2p=") {
		t.Fatalf("local book: %q, %v", b, err)
	}
	run(func(addr string) {
		if status, body := getVia(t, addr, "http://saved.i2p/after"); status != http.StatusOK || body != "hello from /after" {
			t.Errorf("after restart: %d %q", status, body)
		}
	})
}

// TestTunnelFailsWhenSessionLost: a dial that finds the session closed
// ends Serve with an error, so the supervisor re-opens the tunnel.
func TestTunnelFailsWhenSessionLost(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	site := newEepsite(t, n, nil)
	tun, err := NewTunnel(TunnelConfig{Tunnel: proxyTunnel("lost", "127.0.0.1:0"), Network: n})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tun.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	done := make(chan error, 1)
	go func() { done <- tun.Serve(ctx) }()
	n.Session("lost").Drop(i2pnet.ErrClosed)
	status, _ := getVia(t, tun.ListenAddr(), "http://"+site.b32()+"/")
	if status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", status)
	}
	select {
	case err := <-done:
		if !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Serve returned %v, want the session loss", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running with a lost session")
	}
}

// TestTunnelOpenFailsCleanly: a taken port or a missing book fail Open
// and leave no session open.
func TestTunnelOpenFailsCleanly(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for name, tc := range map[string]config.Tunnel{
		"port taken":   proxyTunnel("a", taken.Addr().String()),
		"missing book": proxyTunnel("b", "127.0.0.1:0", filepath.Join(t.TempDir(), "absent.txt")),
	} {
		tun, err := NewTunnel(TunnelConfig{Tunnel: tc, Network: n})
		if err != nil {
			t.Fatal(err)
		}
		if err := tun.Open(context.Background()); err == nil {
			t.Errorf("%s: Open succeeded", name)
			tun.Close()
		}
		if s := n.Session(tc.Name); s != nil {
			t.Errorf("%s: a session stayed open", name)
		}
	}
}

func TestNewTunnelRejects(t *testing.T) {
	n := i2pnettest.New()
	for name, cfg := range map[string]TunnelConfig{
		"wrong type": {Tunnel: config.Tunnel{Name: "x", Type: "tcp-client", Listen: "127.0.0.1:1"}, Network: n},
		"no network": {Tunnel: proxyTunnel("x", "127.0.0.1:1")},
		"bad name":   {Tunnel: proxyTunnel("a/b", "127.0.0.1:1"), Network: n},
		"bad listen": {Tunnel: proxyTunnel("x", "nonsense"), Network: n},
	} {
		if _, err := NewTunnel(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	tun, err := NewTunnel(TunnelConfig{Tunnel: proxyTunnel("d", ""), Network: n})
	if err != nil || tun.ListenAddr() != config.DefaultProxyListen {
		t.Errorf("default listen: %v %q", err, tun.ListenAddr())
	}
}
