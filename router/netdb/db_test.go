package netdb

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

func lookupRI(t *testing.T, db *DB, h data.Hash) (data.RouterInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return db.LookupRouterInfo(ctx, h)
}

func closerTo(key data.Hash, than ...data.Hash) func(data.Hash) bool {
	return func(h data.Hash) bool {
		rk := RoutingKey(key, time.Now())
		for _, o := range than {
			if !Closer(rk, h, o) {
				return false
			}
		}
		return true
	}
}

// TestLookupFollowsSearchReplyReferrals: R knows only floodfill F1, which
// does not have T but knows a closer floodfill F2 that does. F1 answers
// with a DatabaseSearchReply naming F2; R fetches F2's RouterInfo from F1,
// asks F2 and gets T (network-database.html §"RouterInfo and LeaseSet
// Lookup").
func TestLookupFollowsSearchReplyReferrals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		T := newRouter(t, riOpts{})
		F1 := newRouter(t, riOpts{floodfill: true})
		F2 := routerWhere(t, riOpts{floodfill: true}, closerTo(T.hash(), F1.hash()))
		R := newRouter(t, riOpts{})
		// T itself does not run: only F2 holds its RouterInfo. Nobody
		// explores, so F1 cannot learn T from F2.
		noExplore := func(c *Config) { c.ExploreInterval = -1 }
		n.start(t, F1, dbOpts{floodfill: true, seeds: []testRouter{F2}, cfg: noExplore})
		n.start(t, F2, dbOpts{floodfill: true, seeds: []testRouter{T, F1}, cfg: noExplore})
		r := n.start(t, R, dbOpts{seeds: []testRouter{F1}, cfg: noExplore})
		synctest.Wait()

		ri, err := lookupRI(t, r, T.hash())
		if err != nil {
			t.Fatal(err)
		}
		if ri.Hash() != T.hash() {
			t.Fatalf("got %s", ri.Hash().Short())
		}
		if len(n.messages(F1.hash(), R.hash(), i2np.TypeDatabaseSearchReply)) == 0 {
			t.Fatal("F1 sent no search reply")
		}
		var askedF2 bool
		for _, s := range n.messages(R.hash(), F2.hash(), i2np.TypeDatabaseLookup) {
			l := s.body.(i2np.DatabaseLookup)
			if l.Key == T.hash() {
				askedF2 = true
				if l.LookupType() != i2np.LookupRouterInfo || len(l.Exclude) == 0 || l.From != R.hash() {
					t.Errorf("lookup to F2: %+v; want an RI lookup from R excluding F1", l)
				}
			}
		}
		if !askedF2 {
			t.Fatal("R never asked F2")
		}
		// A second lookup is answered from the store.
		before := len(n.messages(R.hash(), data.Hash{}, i2np.TypeDatabaseLookup))
		if _, err := lookupRI(t, r, T.hash()); err != nil {
			t.Fatal(err)
		}
		if after := len(n.messages(R.hash(), data.Hash{}, i2np.TypeDatabaseLookup)); after != before {
			t.Fatalf("a known RouterInfo was looked up again (%d lookups)", after-before)
		}
	})
}

// TestLookupGivesUp: nobody has the key; every floodfill is asked once and
// the lookup ends with ErrNotFound. With no floodfill at all it ends with
// ErrNoPeers at once.
func TestLookupGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		var ffs []testRouter
		for range 3 {
			ffs = append(ffs, newRouter(t, riOpts{floodfill: true}))
		}
		for _, f := range ffs {
			n.start(t, f, dbOpts{floodfill: true, seeds: ffs})
		}
		R := newRouter(t, riOpts{})
		r := n.start(t, R, dbOpts{seeds: ffs, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		start := time.Now()
		_, err := lookupRI(t, r, data.Hash{7})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("lookup of a missing key: %v, want ErrNotFound", err)
		}
		asked := map[data.Hash]bool{}
		for _, s := range n.messages(R.hash(), data.Hash{}, i2np.TypeDatabaseLookup) {
			if s.body.(i2np.DatabaseLookup).Key == (data.Hash{7}) {
				if asked[s.to] {
					t.Errorf("%s asked twice", s.to.Short())
				}
				asked[s.to] = true
			}
		}
		if len(asked) != 3 {
			t.Fatalf("asked %d floodfills, want all 3", len(asked))
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v although every floodfill answered at once", d)
		}

		lonely := n.start(t, newRouter(t, riOpts{}), dbOpts{})
		if _, err := lookupRI(t, lonely, data.Hash{7}); !errors.Is(err, ErrNoPeers) {
			t.Fatalf("lookup without floodfills: %v, want ErrNoPeers", err)
		}
	})
}

// TestLookupTimeoutMovesOn: a floodfill that does not answer within
// LookupTimeout (5 s) is passed over for the next closest.
func TestLookupTimeoutMovesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		T := newRouter(t, riOpts{})
		good := newRouter(t, riOpts{floodfill: true})
		mute := routerWhere(t, riOpts{floodfill: true}, closerTo(T.hash(), good.hash()))
		n.start(t, mute, dbOpts{floodfill: true, silent: true})
		n.start(t, good, dbOpts{floodfill: true, seeds: []testRouter{T}})
		// No exploration: its first round (at start) could fetch T from good
		// before the lookup is even made.
		r := n.start(t, newRouter(t, riOpts{}), dbOpts{seeds: []testRouter{good, mute}, cfg: func(c *Config) { c.ExploreInterval = -1 }})
		start := time.Now()
		if _, err := lookupRI(t, r, T.hash()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < DefaultLookupTimeout || d > DefaultLookupTimeout+2*tick {
			t.Fatalf("found after %v, want just after the %v timeout", d, DefaultLookupTimeout)
		}
	})
}

// TestPublishConfirmRetryAndRepublish: our RouterInfo goes to the
// floodfill closest to our hash with a reply token; without a
// DeliveryStatus in PublishTimeout the next closest gets it; once
// confirmed, the next round is PublishInterval later, and a new
// RouterInfo is published at once.
func TestPublishConfirmRetryAndRepublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		R := newRouter(t, riOpts{})
		good := newRouter(t, riOpts{floodfill: true})
		mute := routerWhere(t, riOpts{floodfill: true}, closerTo(R.hash(), good.hash()))
		n.start(t, mute, dbOpts{floodfill: true, silent: true})
		g := n.start(t, good, dbOpts{floodfill: true})
		start := time.Now()
		r := n.start(t, R, dbOpts{seeds: []testRouter{good, mute}, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		synctest.Wait()
		stores := n.messages(R.hash(), mute.hash(), i2np.TypeDatabaseStore)
		if len(stores) != 1 {
			t.Fatalf("%d stores to the closest floodfill, want 1 at once", len(stores))
		}
		ds := stores[0].body.(i2np.DatabaseStore)
		if ds.Key != R.hash() || ds.ReplyToken == 0 || ds.ReplyTunnel != 0 || ds.ReplyGateway != R.hash() {
			t.Fatalf("publish %+v: want our key, a token, tunnel 0, gateway us", ds)
		}
		time.Sleep(DefaultPublishTimeout + tick)
		synctest.Wait()
		if got := n.messages(R.hash(), good.hash(), i2np.TypeDatabaseStore); len(got) != 1 {
			t.Fatalf("%d stores to the next floodfill after the timeout, want 1", len(got))
		}
		st := r.Stats()
		if st.Published.IsZero() || st.PublishedTo != good.hash() || st.Published.Sub(start) > DefaultPublishTimeout+2*tick {
			t.Fatalf("stats %+v: want confirmed by the second floodfill", st)
		}
		if _, ok := g.RouterInfo(R.hash()); !ok {
			t.Fatal("the floodfill did not store our RouterInfo")
		}
		// The next round, PublishInterval later, starts with the closest
		// again.
		time.Sleep(DefaultPublishInterval)
		synctest.Wait()
		if got := n.messages(R.hash(), mute.hash(), i2np.TypeDatabaseStore); len(got) != 2 {
			t.Fatalf("%d stores to the closest floodfill after %v, want 2", len(got), DefaultPublishInterval)
		}
		// A new RouterInfo goes out at once.
		time.Sleep(DefaultPublishTimeout + tick) // let that round finish at good
		synctest.Wait()
		before := len(n.messages(R.hash(), data.Hash{}, i2np.TypeDatabaseStore))
		if err := r.SetRouterInfo(R.sign(t, riOpts{})); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if after := len(n.messages(R.hash(), data.Hash{}, i2np.TypeDatabaseStore)); after != before+1 {
			t.Fatalf("%d stores after SetRouterInfo, want 1", after-before)
		}
		if err := r.SetRouterInfo(good.ri); err == nil {
			t.Fatal("SetRouterInfo accepted another router's RouterInfo")
		}
	})
}

// TestFloodfillAcksAndFloodsToThreeClosest: a store with a reply token is
// acknowledged with a DeliveryStatus to the gateway and flooded, token 0,
// to exactly the 3 floodfills closest to the key (not to ourselves, not to
// the entry's router); the flooded copies are stored and not flooded again.
func TestFloodfillAcksAndFloodsToThreeClosest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		var ffs []testRouter
		for range 6 {
			ffs = append(ffs, newRouter(t, riOpts{floodfill: true}))
		}
		var ffDBs []*DB
		for _, f := range ffs {
			ffDBs = append(ffDBs, n.start(t, f, dbOpts{floodfill: true, seeds: ffs, cfg: func(c *Config) { c.ExploreInterval = time.Hour }}))
		}
		synctest.Wait()
		P := newRouter(t, riOpts{})
		target := ffs[0]
		gz, _ := i2np.CompressRouterInfo(P.ri.Bytes())
		m, _ := newMessage(i2np.DatabaseStore{Key: P.hash(), ReplyToken: 77, ReplyGateway: P.hash(), Data: gz})
		// P does not run (it would publish itself); the acknowledgement to
		// it is sent and lost.
		n.mu.Lock()
		n.log = nil
		n.mu.Unlock()
		before := ffDBs[0].Stats()
		ffDBs[0].Handle(P.hash(), m)
		synctest.Wait()

		// The acknowledgement goes out before P is stored, when its
		// RouterInfo is not known yet; here no session carries it, so it
		// is sent again once P is known (and lost again).
		acks := n.messages(target.hash(), P.hash(), i2np.TypeDeliveryStatus)
		if len(acks) == 0 {
			t.Fatal("no DeliveryStatus to the reply gateway")
		}
		for _, a := range acks {
			if a.body.(i2np.DeliveryStatus).MessageID != 77 {
				t.Fatalf("DeliveryStatus %+v does not carry the token", a.body)
			}
		}
		var others []data.Hash
		for _, f := range ffs[1:] {
			others = append(others, f.hash())
		}
		want := Closest(RoutingKey(P.hash(), time.Now()), others, 3, nil)
		floods := n.messages(target.hash(), data.Hash{}, i2np.TypeDatabaseStore)
		got := map[data.Hash]bool{}
		for _, f := range floods {
			d := f.body.(i2np.DatabaseStore)
			if d.Key != P.hash() || d.ReplyToken != 0 {
				t.Errorf("flood %+v: want P with token 0", d)
			}
			got[f.to] = true
		}
		if len(floods) != 3 || !got[want[0]] || !got[want[1]] || !got[want[2]] {
			t.Fatalf("flooded to %d floodfills %v, want the 3 closest %v", len(floods), got, want)
		}
		for i, f := range ffs[1:] {
			_, has := ffDBs[i+1].RouterInfo(P.hash())
			if has != got[f.hash()] {
				t.Errorf("floodfill %s has P: %v, was flooded: %v", f.hash().Short(), has, got[f.hash()])
			}
			if len(n.messages(f.hash(), data.Hash{}, i2np.TypeDatabaseStore)) != 0 {
				t.Errorf("floodfill %s flooded a flood copy", f.hash().Short())
			}
		}
		// The same store again: acknowledged, not flooded twice.
		ffDBs[0].Handle(P.hash(), m)
		synctest.Wait()
		if floods := n.messages(target.hash(), data.Hash{}, i2np.TypeDatabaseStore); len(floods) != 3 {
			t.Fatalf("%d floods after a repeated store, want still 3", len(floods))
		}
		if st := ffDBs[0].Stats(); st.StoresAcked-before.StoresAcked != 2 || st.Flooded-before.Flooded != 3 {
			t.Fatalf("stats %+v, before %+v: want 2 more stores acknowledged, 3 more floods", st, before)
		}
	})
}

// TestStoreRefusesBadEntries: what i2pd would not store, we do not either.
func TestStoreRefusesBadEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		F := newRouter(t, riOpts{floodfill: true})
		f := n.start(t, F, dbOpts{floodfill: true, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		P := newRouter(t, riOpts{})
		other := newRouter(t, riOpts{})
		tampered := append([]byte(nil), P.ri.Bytes()...)
		tampered[len(tampered)-1] ^= 1
		tests := []struct {
			name string
			key  data.Hash
			raw  []byte
		}{
			{"key is not the RouterInfo's hash", other.hash(), P.ri.Bytes()},
			{"bad signature", P.hash(), tampered},
			{"other network", P.hash(), P.sign(t, riOpts{netID: "2"}).Bytes()},
			{"from the future", P.hash(), P.sign(t, riOpts{published: time.Now().Add(3 * time.Minute)}).Bytes()},
			{"too old", P.hash(), P.sign(t, riOpts{published: time.Now().Add(-28 * time.Hour)}).Bytes()},
			{"no version", P.hash(), P.sign(t, riOpts{version: "x"}).Bytes()},
			{"trailing bytes", P.hash(), append(append([]byte(nil), P.ri.Bytes()...), 0)},
			{"our own", F.hash(), F.ri.Bytes()},
		}
		for _, tc := range tests {
			gz, err := i2np.CompressRouterInfo(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := newMessage(i2np.DatabaseStore{Key: tc.key, Data: gz})
			f.Handle(P.hash(), m)
			synctest.Wait()
			if st := f.Stats(); st.Routers != 0 {
				t.Fatalf("%s: stored", tc.name)
			}
		}
		// An older RouterInfo does not replace a newer one.
		newer := P.sign(t, riOpts{published: time.Now()})
		older := P.sign(t, riOpts{published: time.Now().Add(-time.Minute)})
		for _, ri := range []data.RouterInfo{newer, older} {
			gz, _ := i2np.CompressRouterInfo(ri.Bytes())
			m, _ := newMessage(i2np.DatabaseStore{Key: P.hash(), Data: gz})
			f.Handle(P.hash(), m)
		}
		synctest.Wait()
		if got, _ := f.RouterInfo(P.hash()); got.Published() != newer.Published() {
			t.Fatal("an older RouterInfo replaced a newer one")
		}
		// Expired messages are dropped before anything else.
		gz, _ := i2np.CompressRouterInfo(other.ri.Bytes())
		m, _ := i2np.NewMessage(1, i2np.ExpirationMillis(time.Now().Add(-2*time.Minute)), i2np.DatabaseStore{Key: other.hash(), ReplyToken: 5, ReplyGateway: other.hash(), Data: gz})
		f.Handle(other.hash(), m)
		synctest.Wait()
		if _, ok := f.RouterInfo(other.hash()); ok || len(n.messages(F.hash(), data.Hash{}, i2np.TypeDeliveryStatus)) != 0 {
			t.Fatal("an expired store was processed")
		}
	})
}

// TestFloodfillAnswersLookups covers the reply kinds and their routing.
func TestFloodfillAnswersLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		F := newRouter(t, riOpts{floodfill: true})
		var plain []testRouter
		for range 5 {
			plain = append(plain, newRouter(t, riOpts{}))
		}
		T := plain[0]
		missing := data.Hash{9, 9, 9}
		closerFF := routerWhere(t, riOpts{floodfill: true}, closerTo(missing, F.hash()))
		fartherFF := routerWhere(t, riOpts{floodfill: true}, func(h data.Hash) bool { return !closerTo(missing, F.hash())(h) })
		seeds := append(append([]testRouter(nil), plain...), closerFF, fartherFF)
		f := n.start(t, F, dbOpts{floodfill: true, seeds: seeds, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		asker := newRouter(t, riOpts{})
		n.start(t, asker, dbOpts{cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		synctest.Wait()

		ask := func(l i2np.DatabaseLookup) {
			t.Helper()
			n.mu.Lock()
			n.log = nil
			n.mu.Unlock()
			m, err := newMessage(l)
			if err != nil {
				t.Fatal(err)
			}
			f.Handle(asker.hash(), m)
			synctest.Wait()
		}
		all := func() []sent {
			n.mu.Lock()
			defer n.mu.Unlock()
			return append([]sent(nil), n.log...)
		}

		{ // known RouterInfo
			ask(i2np.DatabaseLookup{Key: T.hash(), From: asker.hash(), Flags: i2np.LookupRouterInfo})
			out := all()
			if len(out) != 1 || out[0].to != asker.hash() || out[0].msg.Type != i2np.TypeDatabaseStore {
				t.Fatalf("replies %v: want one DatabaseStore to the asker", out)
			}
			d := out[0].body.(i2np.DatabaseStore)
			raw, _ := i2np.DecompressRouterInfo(d.Data)
			if d.Key != T.hash() || d.ReplyToken != 0 || string(raw) != string(T.ri.Bytes()) {
				t.Fatalf("reply %+v does not carry T's RouterInfo", d)
			}
		}
		{ // a miss lists closer floodfills only
			ask(i2np.DatabaseLookup{Key: missing, From: asker.hash(), Flags: i2np.LookupRouterInfo})
			out := all()
			if len(out) != 1 || out[0].msg.Type != i2np.TypeDatabaseSearchReply {
				t.Fatalf("replies %v", out)
			}
			r := out[0].body.(i2np.DatabaseSearchReply)
			if r.Key != missing || r.From != F.hash() || len(r.Peers) != 1 || r.Peers[0] != closerFF.hash() {
				t.Fatalf("search reply %+v: want only the floodfill closer than us", r)
			}
		}
		{ // exploratory lists non-floodfills that were not excluded
			ask(i2np.DatabaseLookup{Key: missing, From: asker.hash(), Flags: i2np.LookupExploratory, Exclude: []data.Hash{plain[1].hash(), plain[2].hash()}})
			out := all()
			r := out[0].body.(i2np.DatabaseSearchReply)
			if len(r.Peers) != 3 {
				t.Fatalf("exploratory reply %+v: want 3 peers", r)
			}
			for _, p := range r.Peers {
				if p == plain[1].hash() || p == plain[2].hash() || p == closerFF.hash() || p == fartherFF.hash() {
					t.Fatalf("exploratory reply lists %s (excluded or a floodfill)", p.Short())
				}
			}
		}
		{ // reply tunnel, ECIES
			key := [32]byte{1, 2, 3}
			tag := i2np.SessionTag{8, 7, 6, 5, 4, 3, 2, 1}
			gw := plain[3].hash()
			ask(i2np.DatabaseLookup{Key: T.hash(), From: gw, Flags: i2np.LookupRouterInfo | i2np.LookupDelivery | i2np.LookupECIES,
				ReplyTunnel: 1234, ReplyKey: key, ReplyTags: []i2np.SessionTag{tag}})
			out := all()
			if len(out) != 1 || out[0].to != gw || out[0].msg.Type != i2np.TypeTunnelGateway {
				t.Fatalf("replies %v: want a TunnelGateway to the reply gateway", out)
			}
			tg := out[0].body.(i2np.TunnelGateway)
			inner, err := tg.Inner()
			if err != nil || tg.TunnelID != 1234 || inner.Type != i2np.TypeGarlic {
				t.Fatalf("tunnel %d, inner %v, %v: want a Garlic for tunnel 1234", tg.TunnelID, inner.Type, err)
			}
			g, _, err := i2np.ParseGarlic(inner.Payload)
			if err != nil || string(g.Data[:8]) != string(tag[:]) {
				t.Fatalf("garlic does not start with the tag: %v", err)
			}
			plainText, err := crypto.AEADOpen(&key, 0, nil, g.Data[8:], tag[:])
			if err != nil {
				t.Fatalf("reply does not decrypt with the lookup's key: %v", err)
			}
			if plainText[0] != blockGarlicClove {
				t.Fatalf("first block %d, want a garlic clove", plainText[0])
			}
			size := int(plainText[1])<<8 | int(plainText[2])
			c, _, err := i2np.ParseClove(plainText[3 : 3+size])
			if err != nil || c.Delivery.Type != i2np.DeliveryLocal || c.Message.Type != i2np.TypeDatabaseStore {
				t.Fatalf("clove %+v, %v: want a LOCAL DatabaseStore", c, err)
			}
		}
		{ // an ElGamal reply is refused
			ask(i2np.DatabaseLookup{Key: T.hash(), From: asker.hash(), Flags: i2np.LookupRouterInfo | i2np.LookupDelivery | i2np.LookupEncryption,
				ReplyTunnel: 1, ElGamalReplyTags: [][32]byte{{1}}})
			if out := all(); len(out) != 0 {
				t.Fatalf("answered an ElGamal-reply lookup: %v", out)
			}
		}
		if st := f.Stats(); st.LookupsAnswered != 4 {
			t.Fatalf("LookupsAnswered = %d, want 4", st.LookupsAnswered)
		}
	})
}

// TestNonFloodfillAnswersOnlyForItself: a router that is not a floodfill
// ignores lookups, except for its own RouterInfo.
func TestNonFloodfillAnswersOnlyForItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		R := newRouter(t, riOpts{})
		other := newRouter(t, riOpts{})
		r := n.start(t, R, dbOpts{seeds: []testRouter{other}, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		n.start(t, other, dbOpts{cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		synctest.Wait()
		for _, key := range []data.Hash{other.hash(), R.hash()} {
			m, _ := newMessage(i2np.DatabaseLookup{Key: key, From: other.hash(), Flags: i2np.LookupRouterInfo})
			r.Handle(other.hash(), m)
		}
		synctest.Wait()
		out := n.messages(R.hash(), other.hash(), i2np.TypeDatabaseStore)
		if len(out) != 1 || out[0].body.(i2np.DatabaseStore).Key != R.hash() {
			t.Fatalf("replies %v: want only our own RouterInfo", out)
		}
	})
}

// TestExplorationFindsEveryRouter: a router that knows one floodfill
// learns all the routers the floodfill knows, three per exploratory reply,
// by excluding those it knows.
func TestExplorationFindsEveryRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		F := newRouter(t, riOpts{floodfill: true})
		var plain []testRouter
		for range 12 {
			p := newRouter(t, riOpts{})
			plain = append(plain, p)
			n.start(t, p, dbOpts{cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		}
		n.start(t, F, dbOpts{floodfill: true, seeds: plain, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		R := newRouter(t, riOpts{})
		r := n.start(t, R, dbOpts{seeds: []testRouter{F}})
		deadline := time.Now().Add(10 * time.Minute)
		for r.Stats().Routers < 13 && time.Now().Before(deadline) {
			time.Sleep(time.Second)
		}
		if got := r.Stats().Routers; got != 13 {
			t.Fatalf("R knows %d routers after 10 minutes, want 13", got)
		}
		for _, s := range n.messages(R.hash(), F.hash(), i2np.TypeDatabaseLookup) {
			l := s.body.(i2np.DatabaseLookup)
			if l.LookupType() == i2np.LookupExploratory && (len(l.Exclude) == 0 || l.Exclude[0] == (data.Hash{})) {
				t.Fatalf("exploratory lookup without an exclusion list: %+v", l)
			}
		}
	})
}

// TestExpiry: after an hour of uptime a floodfill drops RouterInfos older
// than an hour, on disk too; RouterInfos from the future go at once.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		dir := t.TempDir()
		F := newRouter(t, riOpts{floodfill: true})
		old := newRouter(t, riOpts{})
		fresh := newRouter(t, riOpts{})
		f := n.start(t, F, dbOpts{floodfill: true, dir: dir, seeds: []testRouter{old, fresh}, cfg: func(c *Config) {
			c.MinRouters = -1
			c.ExploreInterval = 2 * time.Hour
		}})
		if _, err := os.Stat(data.RouterInfoPath(dir, old.hash())); err != nil {
			t.Fatalf("seed not saved: %v", err)
		}
		// fresh republishes every 30 minutes; old never does.
		for range 3 {
			time.Sleep(30 * time.Minute)
			gz, _ := i2np.CompressRouterInfo(fresh.sign(t, riOpts{}).Bytes())
			m, _ := newMessage(i2np.DatabaseStore{Key: fresh.hash(), Data: gz})
			f.Handle(fresh.hash(), m)
		}
		time.Sleep(expireEvery + tick)
		synctest.Wait()
		if _, ok := f.RouterInfo(old.hash()); ok {
			t.Fatal("a 90-minute-old RouterInfo survived at a floodfill")
		}
		if _, ok := f.RouterInfo(fresh.hash()); !ok {
			t.Fatal("a fresh RouterInfo expired")
		}
		if _, err := os.Stat(data.RouterInfoPath(dir, old.hash())); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("expired file still on disk: %v", err)
		}
	})
}

// TestMinRoutersKeepsSmallNetDbs: with fewer than MinRouters known,
// nothing expires (i2pd NETDB_MIN_ROUTERS), however old.
func TestMinRoutersKeepsSmallNetDbs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		F := newRouter(t, riOpts{floodfill: true})
		old := newRouter(t, riOpts{})
		f := n.start(t, F, dbOpts{floodfill: true, seeds: []testRouter{old}, cfg: func(c *Config) { c.ExploreInterval = 3 * time.Hour }})
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if _, ok := f.RouterInfo(old.hash()); !ok {
			t.Fatal("the only known router expired")
		}
	})
}

// TestLeaseSet2StoreAndLookup: a floodfill keeps a verified LeaseSet2,
// only a strictly newer one replaces it, and LS lookups get it back.
func TestLeaseSet2StoreAndLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		F := newRouter(t, riOpts{floodfill: true})
		f := n.start(t, F, dbOpts{floodfill: true, cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		asker := newRouter(t, riOpts{})
		n.start(t, asker, dbOpts{cfg: func(c *Config) { c.ExploreInterval = time.Hour }})
		keys, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		build := func(published time.Time) data.LeaseSet2 {
			ls, err := data.BuildLeaseSet2(keys, data.LeaseSet2Params{
				Published: published, Expires: published.Add(10 * time.Minute),
				Keys:   []data.EncryptionKey{{Type: 4, Key: make([]byte, 32)}},
				Leases: []data.Lease2{{Gateway: F.hash(), TunnelID: 1, End: uint32(published.Add(10 * time.Minute).Unix())}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return ls
		}
		now := time.Now().Truncate(time.Second)
		first, same, newer := build(now), build(now), build(now.Add(time.Second))
		key := first.Hash()
		for _, ls := range []data.LeaseSet2{first, same, newer, first} {
			m, _ := newMessage(i2np.DatabaseStore{Key: key, StoreType: i2np.StoreLeaseSet2, Data: ls.Bytes()})
			f.Handle(asker.hash(), m)
		}
		synctest.Wait()
		m, _ := newMessage(i2np.DatabaseLookup{Key: key, From: asker.hash(), Flags: i2np.LookupLeaseSet})
		f.Handle(asker.hash(), m)
		synctest.Wait()
		out := n.messages(F.hash(), asker.hash(), i2np.TypeDatabaseStore)
		if len(out) != 1 {
			t.Fatalf("%d replies", len(out))
		}
		d := out[0].body.(i2np.DatabaseStore)
		if d.StoreType != i2np.StoreLeaseSet2 || string(d.Data) != string(newer.Bytes()) {
			t.Fatal("lookup did not return the newest LeaseSet2")
		}
		if f.Stats().LeaseSets != 1 {
			t.Fatal("LeaseSets count")
		}
		// It expires.
		time.Sleep(11*time.Minute + expireEvery)
		synctest.Wait()
		if f.Stats().LeaseSets != 0 {
			t.Fatal("expired LeaseSet2 kept")
		}
	})
}

// TestRunLifecycle: Run twice fails, calls after Run ended do not block,
// and nothing is left running (synctest.Test fails on leftover goroutines).
func TestRunLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet()
		R := newRouter(t, riOpts{})
		db, err := New(Config{RouterInfo: R.ri, Sender: netSender{n, R.hash()}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- db.Run(ctx) }()
		synctest.Wait()
		if err := db.Run(ctx); err == nil {
			t.Fatal("second Run succeeded")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		m, _ := newMessage(i2np.DeliveryStatus{MessageID: 1})
		db.Handle(R.hash(), m)
		db.AddRouterInfo(newRouter(t, riOpts{}).ri)
		db.PeerFailed(data.Hash{1})
		if err := db.SetRouterInfo(R.ri); !errors.Is(err, ErrClosed) {
			t.Fatalf("SetRouterInfo after Run: %v", err)
		}
		if _, err := db.LookupRouterInfo(context.Background(), data.Hash{1}); !errors.Is(err, ErrClosed) {
			t.Fatalf("LookupRouterInfo after Run: %v", err)
		}
		if _, err := New(Config{RouterInfo: R.ri}); !errors.Is(err, ErrConfig) {
			t.Fatalf("New without Sender: %v", err)
		}
	})
}
