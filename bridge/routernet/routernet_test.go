package routernet_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/routernet"
	"i2pbridge/router/routertest"
	"i2pbridge/router/tunnel/pool"
)

// TestSessionsOnTheBundledRouter: two Sessions on two of eight in-memory
// routers; one listens, the other dials it by b32 with a port. The
// accepted stream's RemoteAddr is the dialer's i2pnet.Addr (tunnel kinds
// read it), bytes pass both ways with half-close, names resolve, and bad
// addresses get the seam's errors.
func TestSessionsOnTheBundledRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := routertest.Start(t, routertest.Options{N: 8, Floodfills: 2})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		net.WaitAllKnown(t, ctx)
		opts := map[string]string{"inbound.length": "2", "outbound.length": "2", "inbound.quantity": "1", "outbound.quantity": "1"}
		server, err := routernet.New(net.Routers[2], nil).Open(ctx, i2pnet.SessionConfig{Name: "server", Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		clients := routernet.New(net.Routers[5], nil)
		client, err := clients.Open(ctx, i2pnet.SessionConfig{Name: "client", Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := server.Listen()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.Listen(); err == nil {
			t.Error("a second Listen succeeded")
		}
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			defer c.Close()
			ra, ok := c.RemoteAddr().(i2pnet.Addr)
			if !ok || ra.Dest != client.Addr().Dest {
				accepted <- errors.New("accepted stream's RemoteAddr is not the client's i2pnet.Addr")
				return
			}
			if la := c.LocalAddr().(i2pnet.Addr); la.Dest != server.Addr().Dest || la.Port != 8080 {
				accepted <- errors.New("accepted stream's LocalAddr is not the server's destination and port 8080")
				return
			}
			_, err = io.Copy(c, c)
			accepted <- err
		}()
		c, err := client.Dial(ctx, server.Addr().Dest.B32()+":8080")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello through the bundled router")); err != nil {
			t.Fatal(err)
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello through the bundled router" {
			t.Fatalf("echo: %q, %v", got, err)
		}
		c.Close()
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
		d, err := client.Resolve(ctx, server.Addr().Dest.B32())
		if err != nil || d != server.Addr().Dest {
			t.Fatalf("Resolve b32: %v", err)
		}
		if d, err := client.Resolve(ctx, server.Addr().Dest.Base64()); err != nil || d != server.Addr().Dest {
			t.Fatalf("Resolve base64: %v", err)
		}
		for _, bad := range []string{"example.i2p", "example.i2p:99999"} {
			if _, err := client.Dial(ctx, bad); !errors.Is(err, i2pnet.ErrUnknownName) {
				t.Errorf("Dial %q: %v, want ErrUnknownName", bad, err)
			}
		}
		if err := clients.Close(); err != nil {
			t.Error(err)
		}
		if _, err := clients.Open(ctx, i2pnet.SessionConfig{Name: "late"}); !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Open after Close: %v, want ErrClosed", err)
		}
		ln.Close()
	})
}

func TestPoolConfig(t *testing.T) {
	in, out, err := routernet.PoolConfig(map[string]string{
		"inbound.length": "1", "inbound.quantity": "3", "outbound.lengthVariance": "-1", "i2cp.leaseSetEncType": "4",
	})
	if err != nil || in != (pool.DirConfig{Length: 1, Quantity: 3}) || out != (pool.DirConfig{Variance: -1}) {
		t.Fatalf("PoolConfig: %+v %+v %v", in, out, err)
	}
	// Zero hops, asked for explicitly, is the shortest tunnel we build;
	// not the three-hop default an unset length means.
	if _, out, err := routernet.PoolConfig(map[string]string{"outbound.length": "0"}); err != nil || out.Length != pool.MinLength {
		t.Fatalf("outbound.length 0: %+v %v, want length %d", out, err, pool.MinLength)
	}
	if _, _, err := routernet.PoolConfig(map[string]string{"outbound.length": "three"}); err == nil {
		t.Fatal("a word as a length was accepted")
	}
}
