package destination

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/payload"
)

func TestLeaseSetIsPublishedVerifiedAndLookedUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		ff1, ff2 := n.addFloodfill(), n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{noRun: true})

		waitFor(t, 2*time.Minute, "publish verified", func() bool { return alice.Publication().State == PublishVerified })
		pub := alice.Publication()
		ls, ok := alice.LeaseSet()
		if !ok || !bytes.Equal(pub.LeaseSet.Bytes(), ls.Bytes()) {
			t.Fatalf("published %v, current %v", pub.LeaseSet, ls)
		}
		if len(ls.Leases()) != 2 {
			t.Fatalf("%d leases, want 2", len(ls.Leases()))
		}
		if k, ok := ls.EncryptionKey(data.CryptoTypeX25519); !ok || !bytes.Equal(k, alice.static.Public[:]) {
			t.Fatalf("LeaseSet key %x, want our X25519 key", k)
		}
		// The store went to one floodfill, which flooded it to the other.
		for _, r := range []*testRouter{ff1, ff2} {
			if got := r.db.Stats().LeaseSets; got != 1 {
				t.Errorf("floodfill %s holds %d LeaseSets, want 1", r.keys.Hash().Short(), got)
			}
		}
		st := alice.Stats()
		if st.Stores != 1 || st.Confirmed != 1 || st.Verified != 1 {
			t.Errorf("stats %+v: want one store, confirmed and verified", st)
		}

		got, err := bob.LookupLeaseSet(context.Background(), alice.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), ls.Bytes()) {
			t.Fatal("looked-up LeaseSet differs from the published one")
		}
		// Cached: a second lookup asks nobody.
		if _, err := bob.LookupLeaseSet(context.Background(), alice.Hash()); err != nil {
			t.Fatal(err)
		}
		if st := bob.Stats(); st.Lookups != 1 || st.ReceivedReplies != 1 || st.RemoteLeaseSets != 1 {
			t.Errorf("bob's stats %+v: want one lookup, one reply, one cached LeaseSet", st)
		}
		dest, err := bob.Resolve(context.Background(), alice.Hash().B32())
		if err != nil || dest != alice.Identity() {
			t.Fatalf("resolve: %v, %v", dest, err)
		}
	})
}

func TestLeaseSetIsRepublishedWhenTunnelsChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		ff := n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		waitFor(t, time.Minute, "publish verified", func() bool { return alice.Publication().State == PublishVerified })
		first, _ := alice.LeaseSet()

		added := alice.tun.addInbound(time.Now().Add(time.Hour))
		waitFor(t, 2*time.Minute, "republished", func() bool {
			p := alice.Publication()
			return p.State == PublishVerified && !bytes.Equal(p.LeaseSet.Bytes(), first.Bytes())
		})
		ls, _ := alice.LeaseSet()
		if len(ls.Leases()) != 3 || !ls.Published().After(first.Published()) {
			t.Fatalf("new LeaseSet: %d leases, published %v after %v", len(ls.Leases()), ls.Published(), first.Published())
		}
		found := false
		for _, l := range ls.Leases() {
			found = found || l.Gateway == added.Gateway && l.TunnelID == uint32(added.GatewayID)
		}
		if !found {
			t.Fatal("the new tunnel is not a lease")
		}
		if st := ff.db.Stats(); st.StoresAcked != 2 {
			t.Errorf("floodfill acknowledged %d stores, want 2", st.StoresAcked)
		}
	})
}

func TestDatagramsRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{})
		waitFor(t, time.Minute, "bob published", func() bool { return bob.Publication().State == PublishVerified })
		ctx := context.Background()

		if err := alice.SendDatagram(ctx, bob.Hash(), 1234, 5678, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		dg := receive(t, bob.Destination)
		if dg.Protocol != payload.ProtoDatagram || dg.From != alice.Identity() || dg.SrcPort != 1234 || dg.DstPort != 5678 || string(dg.Payload) != "ping" {
			t.Fatalf("bob got %+v", dg)
		}
		// Bob answers the signed sender: its LeaseSet came with the New
		// Session, so no lookup is needed (the one Bob made verified his
		// own LeaseSet).
		lookups := bob.Stats().Lookups
		if err := bob.SendDatagram(ctx, dg.From.Hash(), dg.DstPort, dg.SrcPort, []byte("pong")); err != nil {
			t.Fatal(err)
		}
		dg = receive(t, alice.Destination)
		if dg.From != bob.Identity() || dg.SrcPort != 5678 || dg.DstPort != 1234 || string(dg.Payload) != "pong" {
			t.Fatalf("alice got %+v", dg)
		}
		if st := bob.Stats(); st.Lookups != lookups {
			t.Errorf("bob looked up %d LeaseSets to answer, want none", st.Lookups-lookups)
		}

		big := bytes.Repeat([]byte("raw "), 4000)
		if err := alice.SendRaw(ctx, bob.Hash(), 7, 8, big); err != nil {
			t.Fatal(err)
		}
		dg = receive(t, bob.Destination)
		if dg.Protocol != payload.ProtoRaw || !dg.From.IsZero() || dg.SrcPort != 7 || dg.DstPort != 8 || !bytes.Equal(dg.Payload, big) {
			t.Fatalf("bob got raw %d bytes from %v, protocol %d", len(dg.Payload), dg.From, dg.Protocol)
		}
		if err := bob.SendRaw(ctx, alice.Hash(), 9, 10, []byte("raw back")); err != nil {
			t.Fatal(err)
		}
		if dg = receive(t, alice.Destination); dg.Protocol != payload.ProtoRaw || string(dg.Payload) != "raw back" {
			t.Fatalf("alice got %+v", dg)
		}
		if u, l := n.unopened.Load(), n.lost.Load(); u != 0 || l != 0 {
			t.Errorf("%d messages could not be opened, %d were lost", u, l)
		}
	})
}

func receive(t *testing.T, d *Destination) Datagram {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dg, err := d.ReceiveDatagram(ctx)
	if err != nil {
		t.Fatalf("%s: receive: %v", d.Hash().Short(), err)
	}
	return dg
}

func TestRatchetGoesFromNewSessionToExistingSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{})
		waitFor(t, time.Minute, "bob published", func() bool { return bob.Publication().State == PublishVerified })
		ctx := context.Background()
		bobKey := bob.static.Public

		// NS: the first message, carrying Alice's LeaseSet.
		if err := alice.SendRaw(ctx, bob.Hash(), 0, 0, []byte("1")); err != nil {
			t.Fatal(err)
		}
		receive(t, bob.Destination)
		if a, b := alice.Stats(), bob.Stats(); a.SentNS != 1 || b.ReceivedNS != 1 || b.RemoteLeaseSets != 1 {
			t.Fatalf("after the first message: alice %+v, bob %+v", a, b)
		}
		if s := alice.Keyring().Session(bobKey); s == nil || s.State() != garlic.StateNewSessionSent {
			t.Fatalf("alice's session: %v", s)
		}
		// NSR: Bob has nothing to say, but owes a reply and sends an empty
		// one; Alice then owes her first ES and sends it empty.
		waitFor(t, 10*time.Second, "handshake", func() bool {
			s := bob.Keyring().Session(alice.static.Public)
			return s != nil && s.State() == garlic.StateEstablished
		})
		a, b := alice.Stats(), bob.Stats()
		if b.SentNSR != 1 || a.ReceivedNSR != 1 || a.SentES != 1 || b.ReceivedES != 1 {
			t.Fatalf("handshake: alice %+v, bob %+v", a, b)
		}
		if s := alice.Keyring().Session(bobKey); s.State() != garlic.StateEstablished {
			t.Fatalf("alice's session: %v", s.State())
		}
		// ES both ways from now on.
		if err := bob.SendRaw(ctx, alice.Hash(), 0, 0, []byte("2")); err != nil {
			t.Fatal(err)
		}
		receive(t, alice.Destination)
		if err := alice.SendRaw(ctx, bob.Hash(), 0, 0, []byte("3")); err != nil {
			t.Fatal(err)
		}
		receive(t, bob.Destination)
		a2, b2 := alice.Stats(), bob.Stats()
		if a2.SentNS != 1 || b2.SentNSR != 1 || b2.SentES != b.SentES+1 || a2.SentES != a.SentES+1 {
			t.Fatalf("after the handshake: alice %+v, bob %+v", a2, b2)
		}
		if u := n.unopened.Load(); u != 0 {
			t.Errorf("%d messages could not be opened", u)
		}
	})
}

type noFloodfills struct{}

func (noFloodfills) ClosestFloodfills(data.Hash, time.Time, int, map[data.Hash]bool) []Floodfill {
	return nil
}
