package routertest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/destination"
	"i2pbridge/router/routertest"
)

// TestTwoDestinationsHundredStreams is issue 7's in-process criterion:
// two destinations on two of ten routers of ours (3-hop tunnels, LeaseSets
// published to the floodfills), 100 parallel streams from one to the
// other, each echoing 64 KiB back, all byte-identical. Everything between
// them is the real stack: NTCP2 over in-memory pipes, tunnels, Noise-N to
// the floodfills, the ECIES ratchet, the gzip payload, streaming.
func TestTwoDestinationsHundredStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := routertest.Start(t, routertest.Options{N: 10, Floodfills: 2})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		net.WaitAllKnown(t, ctx)
		formed := time.Now()
		open := func(i int, name string) *router.Client {
			keys, err := data.GeneratePrivateKeys(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.Routers[i].OpenClient(router.ClientConfig{Name: name, Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := c.Pool.WaitReady(ctx); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return c
		}
		server, client := open(3, "server"), open(7, "client")
		checkClientStatus(t, net.Routers[3].Status(ctx), "server", server)
		dupKeys, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		first, err := net.Routers[4].OpenClient(router.ClientConfig{Name: "first", Keys: dupKeys})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := net.Routers[4].OpenClient(router.ClientConfig{Name: "again", Keys: dupKeys}); !errors.Is(err, router.ErrDuplicateDestination) {
			t.Errorf("opening one destination twice: %v, want ErrDuplicateDestination", err)
		}
		first.Close()
		for server.Dest.Publication().State < destination.PublishConfirmed {
			if ctx.Err() != nil {
				t.Fatalf("server's LeaseSet never published: %v", server.Dest.Publication().State)
			}
			time.Sleep(time.Second)
		}
		t.Logf("server's LeaseSet confirmed by a floodfill %v after the network formed", time.Since(formed))
		ln, err := server.Dest.Listen()
		if err != nil {
			t.Fatal(err)
		}
		var sw sync.WaitGroup
		defer sw.Wait()
		defer ln.Close()
		sw.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				sw.Go(func() {
					defer c.Close()
					io.Copy(c, c)
				})
			}
		})
		// One stream first: it sets up the ratchet session (NS, NSR), so
		// that the hundred run on an established session. A burst of New
		// Sessions before any reply is its own, known weakness: most such
		// streams recover, but under heavy load some give up.
		warm, err := client.Dest.Dial(ctx, server.Dest.Hash(), 0)
		if err != nil {
			t.Fatalf("first stream: %v", err)
		}
		warm.Write([]byte("warm"))
		warm.CloseWrite()
		if got, err := io.ReadAll(warm); err != nil || string(got) != "warm" {
			t.Fatalf("first stream: %q, %v", got, err)
		}
		warm.Close()
		start := time.Now()
		const streams, size = 100, 64 << 10
		var wg sync.WaitGroup
		errs := make(chan error, streams)
		for i := range streams {
			wg.Go(func() {
				p := make([]byte, size)
				r := mrand.NewChaCha8([32]byte{byte(i)})
				r.Read(p)
				c, err := client.Dest.Dial(ctx, server.Dest.Hash(), 0)
				if err != nil {
					errs <- fmt.Errorf("stream %d: dial: %w", i, err)
					return
				}
				defer c.Close()
				go func() { c.Write(p); c.CloseWrite() }()
				got, err := io.ReadAll(c)
				if err != nil {
					errs <- fmt.Errorf("stream %d: read: %w", i, err)
					return
				}
				if !bytes.Equal(got, p) {
					errs <- fmt.Errorf("stream %d: %d bytes back, not what was sent", i, len(got))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d streams × %d KiB echoed byte-identical in %v (simulated time); server publication %v",
			streams, size>>10, time.Since(start), server.Dest.Publication().State)
	})
}

// checkClientStatus: the router's status lists the destination with the
// hops of each of its tunnels, other routers of the network only.
func checkClientStatus(t *testing.T, st router.Status, name string, c *router.Client) {
	t.Helper()
	for _, cs := range st.Clients {
		if cs.Name != name {
			continue
		}
		if cs.B32 != c.Dest.Identity().B32() {
			t.Errorf("status of %s: b32 %s, want %s", name, cs.B32, c.Dest.Identity().B32())
		}
		if len(cs.Inbound) != cs.Pool.Inbound || len(cs.Outbound) != cs.Pool.Outbound || len(cs.Inbound) == 0 || len(cs.Outbound) == 0 {
			t.Errorf("status of %s: %d/%d tunnels listed, pool counts %d/%d", name, len(cs.Inbound), len(cs.Outbound), cs.Pool.Inbound, cs.Pool.Outbound)
		}
		for _, hops := range append(cs.Inbound, cs.Outbound...) {
			if len(hops) != router.DefaultClientLength {
				t.Errorf("status of %s: tunnel with %d hops, want %d", name, len(hops), router.DefaultClientLength)
			}
			for _, h := range hops {
				if h == st.Hash || h.IsZero() {
					t.Errorf("status of %s: hop %s is this router or zero", name, h.Short())
				}
			}
		}
		return
	}
	t.Errorf("status lists no destination %q: %+v", name, st.Clients)
}
