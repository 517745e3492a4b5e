package routertest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/routertest"
)

// TestTenRoutersFindEachOtherFromOneSeed is issue 5's in-process criterion:
// ten of our routers, nine of which know only the seed (a floodfill), all
// learn all the others by publishing and exploring. In a synctest bubble
// the protocol's real timers (30 s exploration, 5 s lookup timeouts) cost
// no wall time.
//
// With two floodfills, the second (also seeded with the first only) must
// be found too: by the floodfills named in search replies.
func TestTenRoutersFindEachOtherFromOneSeed(t *testing.T) {
	for _, floodfills := range []int{1, 2} {
		synctest.Test(t, func(t *testing.T) {
			net := routertest.Start(t, routertest.Options{N: 10, Floodfills: floodfills})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			took := net.WaitAllKnown(t, ctx)
			t.Logf("%d floodfills: 10 routers know each other after %v (simulated)", floodfills, took)
			// Publishing goes on in the background: give every router a
			// few (simulated) minutes to have its RouterInfo confirmed.
			for range 300 {
				all := true
				for i, r := range net.Routers {
					if r.Status(ctx).Published.IsZero() && !(floodfills == 1 && i == 0) {
						all = false
					}
				}
				if all {
					break
				}
				time.Sleep(time.Second)
			}
			for i, r := range net.Routers {
				st := r.Status(ctx)
				want := floodfills
				if i < floodfills {
					want-- // a floodfill does not count itself
				}
				if st.Floodfills != want {
					t.Errorf("router %d knows %d floodfills, want %d", i, st.Floodfills, want)
				}
				if st.Published.IsZero() && !(floodfills == 1 && i == 0) {
					t.Errorf("router %d never got a publish confirmation", i)
				}
			}
			net.Close()
		})
	}
}

// TestExploratoryPoolsAndTransitLimits: in ten routers of ours, every
// exploratory pool (2 hops, 3 tunnels each way, the defaults) fills up and
// its tunnel tests pass through the others' hops; router 9 carries no
// transit (max_tunnels: 0), so it refuses every request with code 30 and
// no tunnel of the others goes through it, while the others carry theirs.
func TestExploratoryPoolsAndTransitLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const noTransit = 9
		net := routertest.Start(t, routertest.Options{N: 10, Floodfills: 2, Configure: func(i int, c *router.Config) {
			if i == noTransit {
				c.MaxTransit = -1
			}
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		net.WaitAllKnown(t, ctx)
		for i, r := range net.Routers {
			if err := r.Exploratory().WaitReady(ctx); err != nil {
				t.Fatalf("router %d: exploratory pool: %v", i, err)
			}
		}
		time.Sleep(2 * time.Minute) // tunnel tests run every 15 s
		var carried int
		for i, r := range net.Routers {
			st := r.Status(ctx)
			ex := st.Exploratory
			b := ex.TotalBuilds()
			t.Logf("router %d: exploratory %d in, %d out; builds %d ok, %d failed/rejected/timed out; tests %d passed, %d failed; transit %d (accepted %d, refused %d)",
				i, ex.Inbound, ex.Outbound, b.OK, b.Failed+b.Rejected+b.TimedOut, ex.TestsPassed, ex.TestsFailed, st.Transit, st.TransitAccepted, st.TransitRefused)
			if ex.Inbound < 3 || ex.Outbound < 3 {
				t.Errorf("router %d: exploratory pool has %d in, %d out; want 3 each", i, ex.Inbound, ex.Outbound)
			}
			// A rare failed test is the pools' business (they drop the tunnel
			// and build another); many mean the data path is broken.
			if ex.TestsPassed == 0 || ex.TestsFailed*10 > ex.TestsPassed {
				t.Errorf("router %d: tunnel tests %d passed, %d failed", i, ex.TestsPassed, ex.TestsFailed)
			}
			if i == noTransit {
				if st.TransitAccepted != 0 || st.Transit != 0 {
					t.Errorf("router %d has transit off but accepted %d", i, st.TransitAccepted)
				}
				if st.TransitRefused == 0 {
					t.Errorf("router %d refused nothing: nobody asked it, so the limit is untested", i)
				}
				continue
			}
			carried += st.Transit
		}
		if carried == 0 {
			t.Error("no router carries transit tunnels")
		}
		net.Close()
	})
}
