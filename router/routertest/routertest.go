// Package routertest brings up a network of our routers inside one test
// process, over netx.Mem: no sockets, no root, and inside a
// testing/synctest bubble no real waiting either.
//
// Routers are numbered from 0; router i listens on 198.19.1.(10+i):12345.
// The first Floodfills routers are floodfills. Router 0 is the seed: every
// other router starts knowing only router 0's RouterInfo, given as a seed
// directory holding its router.info, and has to find the rest by itself.
package routertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/netx"
)

// Options configures a Network.
type Options struct {
	// N is the number of routers (at least 1).
	N int
	// Floodfills is how many of them (the first ones) are floodfills;
	// default 1.
	Floodfills int
	// NetID defaults to 99, a private test network.
	NetID int
	// Tuning is passed to every router.
	Tuning router.Tuning
	// Logger, when set, receives every router's events.
	Logger *slog.Logger
	// Configure, when set, adjusts router i's configuration before New.
	Configure func(i int, c *router.Config)
}

// Network is a running set of routers.
type Network struct {
	Mem     *netx.Mem
	Routers []*router.Router

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
	once   sync.Once
}

// Addr returns router i's NTCP2 address.
func Addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 1, byte(10 + i)}), 12345)
}

// Start creates and runs the routers; they stop when the test ends (or at
// Close), and any error from their Run fails the test.
func Start(t testing.TB, o Options) *Network {
	t.Helper()
	if o.N < 1 || o.N > 240 {
		t.Fatalf("routertest: %d routers", o.N)
	}
	if o.Floodfills == 0 {
		o.Floodfills = 1
	}
	if o.NetID == 0 {
		o.NetID = 99
	}
	n := &Network{Mem: netx.NewMem(), errs: make(chan error, o.N)}
	base := t.TempDir()
	seedDir := filepath.Join(base, "seed")
	if err := os.MkdirAll(seedDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range o.N {
		ap := Addr(i)
		cfg := router.Config{
			Datadir:     filepath.Join(base, fmt.Sprintf("r%02d", i)),
			NetID:       o.NetID,
			NTCP2Listen: ap.String(),
			Floodfill:   i < o.Floodfills,
			Logger:      o.Logger,
			Net:         n.Mem.From(ap.Addr()),
			Tuning:      o.Tuning,
		}
		if i > 0 {
			cfg.SeedDir = seedDir
		}
		if o.Configure != nil {
			o.Configure(i, &cfg)
		}
		r, err := router.New(cfg)
		if err != nil {
			n.closeAll()
			t.Fatalf("routertest: router %d: %v", i, err)
		}
		n.Routers = append(n.Routers, r)
		if i == 0 {
			if err := os.WriteFile(filepath.Join(seedDir, router.RouterInfoFile), r.RouterInfo().Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, r := range n.Routers {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := r.Run(ctx); err != nil {
				n.errs <- err
			}
		}()
	}
	t.Cleanup(func() {
		n.Close()
		close(n.errs)
		for err := range n.errs {
			t.Errorf("routertest: %v", err)
		}
	})
	return n
}

// closeAll releases routers created so far (before Run).
func (n *Network) closeAll() {
	for _, r := range n.Routers {
		r.Close()
	}
}

// Close stops every router and waits for them.
func (n *Network) Close() {
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
	})
}

// Known returns how many other routers each router knows.
func (n *Network) Known() []int {
	out := make([]int, len(n.Routers))
	for i, r := range n.Routers {
		out[i] = r.NetDB().Stats().Routers
	}
	return out
}

// WaitAllKnown polls until every router knows every other one, and
// returns how long that took; it fails the test at ctx's end.
func (n *Network) WaitAllKnown(t testing.TB, ctx context.Context) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		done := true
		for _, k := range n.Known() {
			if k < len(n.Routers)-1 {
				done = false
				break
			}
		}
		if done {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("routertest: routers know %v of %d others after %v", n.Known(), len(n.Routers)-1, time.Since(start))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
