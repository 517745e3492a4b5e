package tcptunnel

import (
	"bytes"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"sync"
	"testing"

	"i2pbridge/bridge/protect"
	"i2pbridge/router/data"
)

// TestServerProtection: a tcp-server refuses streams over its per-minute
// limit (counted in Rejected, never reaching the target) and, with
// unique_local, dials the target from the caller's own loopback address.
func TestServerProtection(t *testing.T) {
	leaktest.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sources []string
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			sources = append(sources, c.RemoteAddr().String())
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	p := newPair(t, ln.Addr().String(), func(srv, cli *Config) {
		srv.Tunnel.MaxConnsPerMinute = 2
		srv.Tunnel.UniqueLocal = true
	})
	for i := range 2 {
		if got, err := roundTrip(p.client.ListenAddr(), []byte("hi")); err != nil || !bytes.Equal(got, []byte("hi")) {
			t.Fatalf("stream %d: %q, %v", i+1, got, err)
		}
	}
	if got, _ := roundTrip(p.client.ListenAddr(), []byte("hi")); len(got) != 0 {
		t.Errorf("3rd stream in a minute got %q through", got)
	}
	waitFor(t, "the refusal to be counted", func() bool { return p.server.Rejected()[string(protect.RateMinute)] == 1 })

	h, err := data.ParseB32(p.client.Address())
	if err != nil {
		t.Fatal(err)
	}
	want := protect.LoopbackFor(h).String()
	mu.Lock()
	defer mu.Unlock()
	if len(sources) != 2 {
		t.Fatalf("target saw %d connections, want 2", len(sources))
	}
	for _, s := range sources {
		if host, _, _ := net.SplitHostPort(s); host != want {
			t.Errorf("target saw %s, want %s", host, want)
		}
	}
}
