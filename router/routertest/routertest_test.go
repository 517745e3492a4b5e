package routertest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

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
