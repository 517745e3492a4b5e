package destination

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netdb"
	"i2pbridge/router/tunnel"
	"i2pbridge/router/tunnel/pool"
)

// simNet is a network of real routers, as far as destinations need them:
// a tunnel.Node each (builds, transit, gateways, endpoints, layer
// encryption), a floodfill with a netdb.DB behind its Node, and hosts
// whose destinations get real tunnel pools (PoolTunnels). Send puts a
// message in the target's mailbox.
//
// A host does what the router will do once tunnel.Node hands client
// garlic out (see the package documentation): it takes the TunnelData of
// its inbound tunnels itself (Node.Inbound, InboundTunnel.Receive), gives
// each Garlic message that comes out to the Node first (router garlic:
// build replies) and, when the Node cannot open it, to the destination
// that owns the tunnel; DeliveryStatus goes to the pools, then the
// destinations.
type simNet struct {
	t    testing.TB
	ctx  context.Context
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	routers map[data.Hash]*simRouter
}

type simRouter struct {
	net  *simNet
	keys data.RouterKeys
	ri   data.RouterInfo
	node *tunnel.Node
	db   *netdb.DB // floodfill only
	box  *mailbox
	host bool

	mu    sync.Mutex
	pools []*pool.Pool
	dests []*Destination
}

func newSimNet(t testing.TB) *simNet {
	ctx, cancel := context.WithCancel(context.Background())
	s := &simNet{t: t, ctx: ctx, quit: make(chan struct{}), routers: map[data.Hash]*simRouter{}}
	t.Cleanup(func() {
		cancel()
		close(s.quit)
		s.wg.Wait()
	})
	return s
}

type simSender struct{ s *simNet }

func (ss simSender) Send(_ context.Context, to data.Hash, m i2np.Message) error {
	ss.s.mu.Lock()
	r := ss.s.routers[to]
	ss.s.mu.Unlock()
	if r == nil {
		return errors.New("sim: no such router")
	}
	m.Payload = append([]byte(nil), m.Payload...)
	r.box.put(m, 0)
	return nil
}

func (s *simNet) addRouter(kind string) *simRouter {
	t := s.t
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &simRouter{net: s, keys: keys, host: kind == "host"}
	r.node, err = tunnel.NewNode(tunnel.NodeConfig{
		Keys:             crypto.X25519KeysFromPrivate([32]byte(keys.X25519PrivateKey())),
		Hash:             keys.Hash(),
		Sender:           simSender{s},
		Local:            r.local,
		IVFilterLog2Bits: 14,
	})
	if err != nil {
		t.Fatal(err)
	}
	if kind == "floodfill" {
		// The floodfills know each other, so that they flood stores.
		others := s.floodfillRIs()
		r.ri = floodfillRouterInfo(t, keys)
		r.db, err = netdb.New(netdb.Config{RouterInfo: r.ri, Floodfill: true, Sender: simSender{s}, Seeds: others, ExploreInterval: -1, MinRouters: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		for _, o := range s.routers {
			if o.db != nil {
				o.db.AddRouterInfo(r.ri)
			}
		}
		s.mu.Unlock()
		s.wg.Go(func() { r.db.Run(s.ctx) })
	}
	r.box = startMailbox(&s.wg, s.quit, func(m i2np.Message, _ i2np.TunnelID) { r.receive(m) })
	s.mu.Lock()
	s.routers[keys.Hash()] = r
	s.mu.Unlock()
	return r
}

func (r *simRouter) receive(m i2np.Message) {
	if r.host && m.Type == i2np.TypeTunnelData {
		td, _, err := i2np.ParseTunnelData(m.Payload)
		if err == nil {
			if in, ok := r.node.Inbound(td.TunnelID); ok {
				got, err := in.Receive(time.Now(), &td)
				if err != nil {
					r.net.t.Logf("inbound tunnel %d: %v", td.TunnelID, err)
				}
				for _, d := range got {
					r.client(d.Msg, td.TunnelID)
				}
				return
			}
		}
	}
	r.node.HandleMessage(r.net.ctx, m)
}

// client handles what came out of one of the host's inbound tunnels.
func (r *simRouter) client(m i2np.Message, via i2np.TunnelID) {
	if m.Type != i2np.TypeGarlic {
		r.local(r.net.ctx, m, via)
		return
	}
	if err := r.node.HandleMessage(r.net.ctx, m); err == nil {
		return // router garlic: a build reply
	}
	r.mu.Lock()
	dests := r.dests
	r.mu.Unlock()
	for _, d := range dests {
		if d.Receives(via) {
			if err := d.HandleGarlic(r.net.ctx, m, via); err != nil && !errors.Is(err, ErrClosed) {
				r.net.t.Logf("%s: %v", d.Hash().Short(), err)
			}
			return
		}
	}
	r.net.t.Errorf("garlic through tunnel %d, which no destination owns", via)
}

// local is the Node's Local callback and the host's dispatch of plain
// messages: DeliveryStatus to the pools, then the destinations, then the
// netDb; netDb messages to the floodfill's netDb.
func (r *simRouter) local(_ context.Context, m i2np.Message, via i2np.TunnelID) {
	if m.Type == i2np.TypeDeliveryStatus {
		ds, _, err := i2np.ParseDeliveryStatus(m.Payload)
		if err != nil {
			return
		}
		r.mu.Lock()
		pools, dests := r.pools, r.dests
		r.mu.Unlock()
		for _, p := range pools {
			if p.HandleDeliveryStatus(ds.MessageID, via) {
				return
			}
		}
		for _, d := range dests {
			if d.HandleDeliveryStatus(ds.MessageID) {
				return
			}
		}
	}
	if r.db != nil {
		r.db.Handle(data.Hash{}, m)
	}
}

// candidates are the routers other than hosts, as tunnel hops.
func (s *simNet) candidates() []pool.Candidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pool.Candidate
	for h, r := range s.routers {
		if !r.host {
			out = append(out, pool.Candidate{Peer: tunnel.Peer{Hash: h, Key: crypto.X25519Public([32]byte(r.keys.X25519PrivateKey()))}, Caps: "LR", Version: "0.9.57", Reachable: true})
		}
	}
	return out
}

func (s *simNet) floodfillRIs() []data.RouterInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []data.RouterInfo
	for _, r := range s.routers {
		if r.db != nil {
			out = append(out, r.ri)
		}
	}
	return out
}

// addDestination gives host a destination with a pool of two 2-hop
// tunnels each way, running until the test ends.
func (s *simNet) addDestination(host *simRouter, seed uint64) *Destination {
	t := s.t
	r := mrand.NewChaCha8([32]byte{byte(seed), 0xe2})
	keys, err := data.GeneratePrivateKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	dir := pool.DirConfig{Length: 2, Quantity: 2}
	p, err := pool.New(pool.Config{
		Name: keys.Destination().Hash().Short(), Node: host.node, Peers: pool.PeersFunc(s.candidates),
		Inbound: dir, Outbound: dir, Rand: r,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{
		Keys:       keys,
		Tunnels:    PoolTunnels{Pool: p, Node: host.node},
		Floodfills: FloodfillsFrom(s.floodfillRIs),
		Rand:       r,
	})
	if err != nil {
		t.Fatal(err)
	}
	host.mu.Lock()
	host.pools = append(host.pools, p)
	host.dests = append(host.dests, d)
	host.mu.Unlock()
	s.wg.Go(func() { p.Run(s.ctx) })
	s.wg.Go(func() { d.Run(s.ctx) })
	t.Cleanup(func() { d.Close() })
	return d
}

func TestEndToEndOverRealTunnels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSimNet(t)
		for range 6 {
			s.addRouter("relay")
		}
		// Two floodfills, which are tunnel hops too: when one is the
		// gateway of all of a destination's inbound tunnels, the
		// destination uses the other (our netDb cannot reply through a
		// tunnel it is the gateway of).
		s.addRouter("floodfill")
		s.addRouter("floodfill")
		alice := s.addDestination(s.addRouter("host"), 1)
		bob := s.addDestination(s.addRouter("host"), 2)
		for _, d := range []*Destination{alice, bob} {
			waitFor(t, 3*time.Minute, "published", func() bool { return d.Publication().State == PublishVerified })
		}
		ls, _ := bob.LeaseSet()
		if len(ls.Leases()) != 2 {
			t.Fatalf("bob's LeaseSet has %d leases, want his 2 inbound tunnels", len(ls.Leases()))
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// A datagram each way.
		if err := alice.SendDatagram(ctx, bob.Hash(), 1, 2, []byte("over real tunnels")); err != nil {
			t.Fatal(err)
		}
		dg := receive(t, bob)
		if dg.From != alice.Identity() || string(dg.Payload) != "over real tunnels" {
			t.Fatalf("bob got %+v", dg)
		}
		if err := bob.SendDatagram(ctx, dg.From.Hash(), 2, 1, []byte("and back")); err != nil {
			t.Fatal(err)
		}
		if dg := receive(t, alice); string(dg.Payload) != "and back" {
			t.Fatalf("alice got %q", dg.Payload)
		}

		// Streams.
		ln, err := bob.Listen()
		if err != nil {
			t.Fatal(err)
		}
		var servers, clients sync.WaitGroup
		echo(t, ln, &servers)
		for i := range 10 {
			clients.Go(func() {
				msg := make([]byte, 8<<10)
				mrand.NewChaCha8([32]byte{byte(i), 9}).Read(msg)
				c, err := alice.Dial(ctx, bob.Hash(), 80)
				if err != nil {
					t.Errorf("stream %d: dial: %v", i, err)
					return
				}
				defer c.Close()
				go func() {
					c.Write(msg)
					c.CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("stream %d: %d bytes back of %d (%v)", i, len(got), len(msg), err)
				}
			})
		}
		clients.Wait()
		ln.Close()
		servers.Wait()
		t.Logf("alice %+v", alice.Stats())
		t.Logf("bob   %+v", bob.Stats())
	})
}
