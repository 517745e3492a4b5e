package destination

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
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

// TestSwitchPathTakesAnotherLeaseAndTunnel: messages to one remote keep
// one lease; SwitchPath (what the streams call after repeated timeouts)
// moves to another lease and away from the outbound tunnel last used, and
// the new lease is kept.
func TestSwitchPathTakesAnotherLeaseAndTunnel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{inbound: -1})
		now := time.Now()
		t1 := bob.tun.addInbound(now.Add(10 * time.Minute))
		t2 := bob.tun.addInbound(now.Add(10 * time.Minute))
		waitFor(t, time.Minute, "bob published", func() bool {
			p := bob.Publication()
			return p.State == PublishVerified && len(p.LeaseSet.Leases()) == 2
		})
		ctx := context.Background()
		send := func(what string) (data.Lease2, i2np.TunnelID) {
			t.Helper()
			if err := alice.SendRaw(ctx, bob.Hash(), 0, 0, []byte(what)); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if dg := receive(t, bob.Destination); string(dg.Payload) != what {
				t.Fatalf("bob got %q, want %q", dg.Payload, what)
			}
			l, _ := alice.CurrentLease(bob.Hash())
			alice.tun.mu.Lock()
			defer alice.tun.mu.Unlock()
			return l, alice.tun.used[len(alice.tun.used)-1]
		}
		l1, o1 := send("first")
		for i := range 5 {
			if l, o := send(fmt.Sprint("again ", i)); l != l1 || o != o1 {
				t.Fatalf("path moved without a switch: lease %v tunnel %d, was %v %d", l.Gateway.Short(), o, l1.Gateway.Short(), o1)
			}
		}
		alice.SwitchPath(bob.Hash())
		l2, o2 := send("after the switch")
		if l2 == l1 || o2 == o1 {
			t.Fatalf("after SwitchPath: lease %v tunnel %d, was %v %d", l2.Gateway.Short(), o2, l1.Gateway.Short(), o1)
		}
		if want := map[data.Lease2]bool{leaseOf(t1): true, leaseOf(t2): true}; !want[l2] {
			t.Fatalf("switched to a lease bob does not have: %v", l2)
		}
		if l, o := send("kept"); l != l2 || o != o2 {
			t.Fatalf("new path not kept: lease %v tunnel %d", l.Gateway.Short(), o)
		}
		if got := alice.Stats().PathSwitches; got != 1 {
			t.Errorf("PathSwitches %d, want 1", got)
		}
	})
}
