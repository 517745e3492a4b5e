package destination

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netdb"
	"i2pbridge/router/ntcp2"
)

func TestUnpublishedDestinationIsAnsweredThroughItsNewSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		ff := n.addFloodfill()
		alice := n.newDest(1, destOpts{mod: func(c *Config) { c.Unpublished = true }})
		bob := n.newDest(2, destOpts{})
		waitFor(t, time.Minute, "bob published", func() bool { return bob.Publication().State == PublishVerified })
		ctx := context.Background()
		if err := alice.SendDatagram(ctx, bob.Hash(), 1, 2, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		dg := receive(t, bob.Destination)
		if err := bob.SendDatagram(ctx, dg.From.Hash(), 2, 1, []byte("hi yourself")); err != nil {
			t.Fatal(err)
		}
		if dg := receive(t, alice.Destination); string(dg.Payload) != "hi yourself" {
			t.Fatalf("alice got %q", dg.Payload)
		}
		time.Sleep(time.Minute)
		if p := alice.Publication(); p.State != PublishIdle {
			t.Errorf("unpublished destination's publication: %v", p.State)
		}
		ls, _ := alice.LeaseSet()
		if !ls.IsUnpublished() {
			t.Error("LeaseSet lacks the unpublished flag")
		}
		if got := ff.db.Stats().LeaseSets; got != 1 {
			t.Errorf("floodfill holds %d LeaseSets, want bob's only", got)
		}
	})
}

func TestCloseEndsPendingLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		n.mu.Lock()
		n.drop = func(to leaseKey, _ i2np.Message) bool { return to.id == 0 } // floodfills never answer
		n.mu.Unlock()
		alice := n.newDest(1, destOpts{})
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := alice.LookupLeaseSet(context.Background(), data.HashOf([]byte("slow")))
				errs <- err
			}()
		}
		time.Sleep(time.Second)
		if st := alice.Stats(); st.Lookups != 1 {
			t.Errorf("%d lookups for one key, want 1 shared", st.Lookups)
		}
		alice.Close()
		for range 3 {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Errorf("lookup after Close: %v", err)
			}
		}
	})
}

func TestReceivesKnowsOurInboundTunnels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		alice := n.newDest(1, destOpts{inbound: -1, noRun: true})
		tun := alice.tun.addInbound(time.Now().Add(10 * time.Minute))
		if !alice.Receives(tun.ID) || alice.Receives(tun.ID+1) || alice.Receives(0) {
			t.Fatal("Receives does not match the pool's tunnels")
		}
		if _, err := alice.refreshLeaseSet(time.Now()); err != nil {
			t.Fatal(err)
		}
		alice.tun.removeInbound(tun)
		// Gone from the pool, the tunnel still delivers for a minute.
		time.Sleep(10*time.Minute + 30*time.Second)
		if !alice.Receives(tun.ID) {
			t.Error("a tunnel in its grace minute is not ours")
		}
		time.Sleep(time.Minute)
		if alice.Receives(tun.ID) {
			t.Error("an expired tunnel is still ours")
		}
	})
}

func TestFloodfillsFromIsClosestEligibleFirst(t *testing.T) {
	var ris []data.RouterInfo
	var eligible []data.Hash
	for i := range 12 {
		ff := i%4 != 0 // every fourth is no floodfill
		ri := testRouterInfo(t, ff, "0.9.57")
		ris = append(ris, ri)
		if ff {
			eligible = append(eligible, ri.Hash())
		}
	}
	ris = append(ris, testRouterInfo(t, true, "0.9.30")) // too old to be used
	ffs := FloodfillsFrom(func() []data.RouterInfo { return ris })
	key := data.HashOf([]byte("key"))
	now := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	exclude := map[data.Hash]bool{eligible[0]: true}
	got := ffs.ClosestFloodfills(key, now, 5, exclude)
	want := netdb.Closest(netdb.RoutingKey(key, now), eligible, 5, exclude)
	var gotHashes []data.Hash
	for _, f := range got {
		gotHashes = append(gotHashes, f.Hash)
		i := slices.IndexFunc(ris, func(ri data.RouterInfo) bool { return ri.Hash() == f.Hash })
		k, _ := ris[i].Identity().CryptoPublicKey()
		if string(k) != string(f.Key[:]) {
			t.Errorf("floodfill %s: wrong key", f.Hash.Short())
		}
	}
	if !slices.Equal(gotHashes, want) {
		t.Fatalf("got %v, want %v", gotHashes, want)
	}
}

func testRouterInfo(t *testing.T, floodfill bool, version string) data.RouterInfo {
	t.Helper()
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	static, err := ntcp2.GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: static.Public, IV: static.IV, AddrPort: netip.MustParseAddrPort("198.19.3.1:1234")})
	if err != nil {
		t.Fatal(err)
	}
	caps := "LR"
	if floodfill {
		caps = "XfR"
	}
	opts, err := data.NewMapping(map[string]string{data.OptionCaps: caps, data.OptionNetID: fmt.Sprint(testNetID), data.OptionRouterVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{Published: time.Now(), Addresses: []data.RouterAddress{a}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

func TestUnconfirmedStoreMovesToTheNextFloodfill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		n.addFloodfill()
		alice := n.newDest(1, destOpts{noRun: true})
		ffs := FloodfillsFrom(n.floodfillRIs).ClosestFloodfills(alice.Hash(), time.Now(), 2, nil)
		silent := ffs[0].Hash
		n.mu.Lock()
		n.drop = func(to leaseKey, _ i2np.Message) bool { return to.id == 0 && to.gw == silent }
		n.mu.Unlock()
		n.wg.Go(func() { alice.Run(n.ctx) })

		waitFor(t, 2*time.Minute, "publish verified", func() bool { return alice.Publication().State == PublishVerified })
		p, st := alice.Publication(), alice.Stats()
		if p.Floodfill != ffs[1].Hash {
			t.Errorf("stored at %s, want the second closest %s", p.Floodfill.Short(), ffs[1].Hash.Short())
		}
		if st.Stores != 2 || st.Confirmed != 1 {
			t.Errorf("stats %+v: want two stores, one confirmed", st)
		}
	})
}
