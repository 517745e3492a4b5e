package destination

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
)

func leaseOf(t InboundTunnel) data.Lease2 {
	return data.Lease2{Gateway: t.Gateway, TunnelID: uint32(t.GatewayID), End: uint32(t.End.Unix())}
}

func TestLeaseSwitchesWhenATunnelExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{inbound: -1})
		t0 := time.Now()
		t1 := bob.tun.addInbound(t0.Add(10 * time.Minute))
		waitFor(t, time.Minute, "bob published", func() bool { return bob.Publication().State == PublishVerified })
		ctx := context.Background()
		send := func(what string) {
			t.Helper()
			if err := alice.SendRaw(ctx, bob.Hash(), 0, 0, []byte(what)); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if dg := receive(t, bob.Destination); string(dg.Payload) != what {
				t.Fatalf("bob got %q, want %q", dg.Payload, what)
			}
		}
		lease := func() data.Lease2 {
			t.Helper()
			l, ok := alice.CurrentLease(bob.Hash())
			if !ok {
				t.Fatal("alice has no current lease to bob")
			}
			return l
		}

		send("through t1")
		if lease() != leaseOf(t1) {
			t.Fatal("not sent to bob's only lease")
		}
		lookups := alice.Stats().Lookups

		// Half-way through t1's life the pool adds t2; Bob republishes.
		time.Sleep(5 * time.Minute)
		t2 := bob.tun.addInbound(time.Now().Add(10 * time.Minute))
		waitFor(t, time.Minute, "bob republished", func() bool {
			p := bob.Publication()
			return p.State == PublishVerified && len(p.LeaseSet.Leases()) == 2
		})
		send("still t1")
		if lease() != leaseOf(t1) {
			t.Fatal("alice left a lease that still lasts")
		}

		// 51 s before t1 ends Alice stops using it; her copy of Bob's
		// LeaseSet has no other lease, so she looks it up again.
		time.Sleep(time.Until(t1.End.Add(-LeaseEndThreshold + time.Second)))
		send("through t2")
		if lease() != leaseOf(t2) {
			t.Fatalf("alice sends to %v, want t2", lease())
		}
		if got := alice.Stats().Lookups; got != lookups+1 {
			t.Fatalf("alice made %d lookups, want 1", got-lookups)
		}
		time.Sleep(time.Until(t1.End))
		bob.tun.removeInbound(t1)
		send("t1 gone")

		// Now t2 is replaced at once and Bob tells Alice himself: his next
		// message carries the new LeaseSet, so she needs no lookup.
		t3 := bob.tun.addInbound(time.Now().Add(time.Hour))
		bob.tun.removeInbound(t2)
		waitFor(t, 10*time.Second, "bob's new LeaseSet", func() bool {
			ls, _ := bob.LeaseSet()
			return len(ls.Leases()) == 1 && ls.Leases()[0] == leaseOf(t3)
		})
		lookups = alice.Stats().Lookups
		if err := bob.SendRaw(ctx, alice.Hash(), 0, 0, []byte("my tunnels changed")); err != nil {
			t.Fatal(err)
		}
		receive(t, alice.Destination)
		send("through t3")
		if lease() != leaseOf(t3) {
			t.Fatalf("alice sends to %v, want t3", lease())
		}
		if got := alice.Stats().Lookups; got != lookups {
			t.Fatalf("alice made %d lookups, want none", got-lookups)
		}
		if u := n.unopened.Load(); u != 0 {
			t.Errorf("%d messages could not be opened", u)
		}
	})
}
