package destination

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netdb"
	"i2pbridge/router/ntcp2"
	"i2pbridge/router/tunnel"
)

// testNet is an in-memory I2P network for destinations. Their tunnels are
// fakes (fakeTunnels) that deliver at once: a block with TUNNEL delivery
// goes to the destination whose inbound tunnel has that gateway and
// gateway tunnel ID, a block with ROUTER delivery to a router of the
// network. The routers are real floodfills: a tunnel.Node (which opens
// the Noise N garlic the destinations wrap their stores and lookups in)
// in front of a netdb.DB with the floodfill role, whose replies come back
// in TunnelGateway messages to the reply tunnels. Every message is
// encoded and parsed again on the way, as on the wire. Each receiver has
// a mailbox and a goroutine, so messages arrive in order and nobody
// re-enters a sender. Tests run it inside a testing/synctest bubble.
type testNet struct {
	t    testing.TB
	ctx  context.Context // ends when the test does
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	ends    map[leaseKey]endpoint
	routers map[data.Hash]*testRouter
	// drop, when set, loses the messages it returns true for.
	drop func(to leaseKey, m i2np.Message) bool

	lost     atomic.Int64
	unopened atomic.Int64 // Garlic messages HandleGarlic could not open
}

// leaseKey names an inbound tunnel as a lease does; a router is a
// leaseKey with tunnel 0.
type leaseKey struct {
	gw data.Hash
	id i2np.TunnelID
}

type endpoint struct {
	box *mailbox
	id  i2np.TunnelID // our side's tunnel ID, the via
}

type mailbox struct {
	mu     sync.Mutex
	box    []delivery
	wake   chan struct{}
	handle func(m i2np.Message, via i2np.TunnelID)
}

type delivery struct {
	m   i2np.Message
	via i2np.TunnelID
}

func newTestNet(t testing.TB) *testNet {
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNet{t: t, ctx: ctx, quit: make(chan struct{}), ends: map[leaseKey]endpoint{}, routers: map[data.Hash]*testRouter{}}
	t.Cleanup(func() {
		cancel()
		close(n.quit)
		n.wg.Wait()
	})
	return n
}

func (n *testNet) newMailbox(handle func(m i2np.Message, via i2np.TunnelID)) *mailbox {
	return startMailbox(&n.wg, n.quit, handle)
}

// startMailbox starts a mailbox whose goroutine hands each message to
// handle in order, until quit closes.
func startMailbox(wg *sync.WaitGroup, quit <-chan struct{}, handle func(m i2np.Message, via i2np.TunnelID)) *mailbox {
	mb := &mailbox{wake: make(chan struct{}, 1), handle: handle}
	wg.Go(func() {
		for {
			mb.mu.Lock()
			box := mb.box
			mb.box = nil
			mb.mu.Unlock()
			for _, d := range box {
				mb.handle(d.m, d.via)
			}
			if len(box) > 0 {
				continue
			}
			select {
			case <-mb.wake:
			case <-quit:
				return
			}
		}
	})
	return mb
}

func (mb *mailbox) put(m i2np.Message, via i2np.TunnelID) {
	mb.mu.Lock()
	mb.box = append(mb.box, delivery{m, via})
	mb.mu.Unlock()
	select {
	case mb.wake <- struct{}{}:
	default:
	}
}

// wire encodes and parses m, as a transport would.
func (n *testNet) wire(m i2np.Message) i2np.Message {
	b, err := m.Append(nil)
	if err != nil {
		n.t.Errorf("encode %v: %v", m.Type, err)
		return m
	}
	out, _, err := i2np.ParseMessage(b)
	if err != nil {
		n.t.Errorf("parse %v: %v", m.Type, err)
	}
	return out
}

// deliver takes m to the inbound tunnel (gw, id), or to router gw when id
// is 0. Unknown targets lose the message, as the network would.
func (n *testNet) deliver(gw data.Hash, id i2np.TunnelID, m i2np.Message) {
	to := leaseKey{gw, id}
	n.mu.Lock()
	drop := n.drop
	e, isEnd := n.ends[to]
	r := n.routers[gw]
	n.mu.Unlock()
	if drop != nil && drop(to, m) {
		n.lost.Add(1)
		return
	}
	m = n.wire(m)
	switch {
	case id != 0 && isEnd:
		e.box.put(m, e.id)
	case id == 0 && r != nil:
		r.box.put(m, 0)
	default:
		n.lost.Add(1)
	}
}

// fakeTunnels are a destination's tunnels in a testNet.
type fakeTunnels struct {
	net *testNet
	box *mailbox

	mu         sync.Mutex
	in         []InboundTunnel
	noOutbound bool
	sent       []tunnel.Block
	used       []i2np.TunnelID // the outbound tunnel of each Send
}

func (f *fakeTunnels) Inbound() []InboundTunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.in)
}

// Send delivers at once. The fake has two outbound tunnels, IDs 1 and 2:
// it takes 1 unless told to avoid it.
func (f *fakeTunnels) Send(_ context.Context, _ uint64, avoid i2np.TunnelID, blocks []tunnel.Block) (i2np.TunnelID, error) {
	f.mu.Lock()
	no := f.noOutbound
	f.mu.Unlock()
	if no {
		return 0, fmt.Errorf("%w: fake pool has no outbound tunnel", ErrNoTunnels)
	}
	used := i2np.TunnelID(1)
	if avoid == 1 {
		used = 2
	}
	for _, b := range blocks {
		switch b.Delivery.Type {
		case tunnel.DeliveryTunnel:
			f.net.deliver(b.Delivery.Hash, b.Delivery.TunnelID, b.Msg)
		case tunnel.DeliveryRouter:
			f.net.deliver(b.Delivery.Hash, 0, b.Msg)
		default:
			return 0, fmt.Errorf("fake outbound endpoint: %v delivery", b.Delivery.Type)
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, blocks...)
	f.used = append(f.used, used)
	f.mu.Unlock()
	return used, nil
}

// addInbound gives the destination a new inbound tunnel ending at end,
// with a random gateway, and returns it.
func (f *fakeTunnels) addInbound(end time.Time) InboundTunnel {
	var t InboundTunnel
	rand.Read(t.Gateway[:])
	t.GatewayID = i2np.TunnelID(mrand.Uint32()>>1 + 1)
	t.ID = i2np.TunnelID(mrand.Uint32()>>1 + 1)
	t.End = end
	f.net.mu.Lock()
	f.net.ends[leaseKey{t.Gateway, t.GatewayID}] = endpoint{box: f.box, id: t.ID}
	f.net.mu.Unlock()
	f.mu.Lock()
	f.in = append(f.in, t)
	f.mu.Unlock()
	return t
}

// removeInbound takes a tunnel away: the pool no longer lists it and the
// network loses what is sent to it.
func (f *fakeTunnels) removeInbound(t InboundTunnel) {
	f.net.mu.Lock()
	delete(f.net.ends, leaseKey{t.Gateway, t.GatewayID})
	f.net.mu.Unlock()
	f.mu.Lock()
	f.in = slices.DeleteFunc(f.in, func(x InboundTunnel) bool { return x.GatewayID == t.GatewayID && x.Gateway == t.Gateway })
	f.mu.Unlock()
}

// testRouter is a floodfill of the network.
type testRouter struct {
	keys data.RouterKeys
	ri   data.RouterInfo
	node *tunnel.Node
	db   *netdb.DB
	box  *mailbox
}

const testNetID = 99

var routerPort atomic.Int32

// addFloodfill starts a floodfill router: a tunnel.Node whose Local
// callback feeds a netdb.DB, as the router wires them.
func (n *testNet) addFloodfill() *testRouter {
	t, ctx := n.t, n.ctx
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ri := floodfillRouterInfo(t, keys)
	r := &testRouter{keys: keys, ri: ri}
	n.mu.Lock()
	var seeds []data.RouterInfo
	for _, o := range n.routers {
		seeds = append(seeds, o.ri)
	}
	n.mu.Unlock()
	sender := routerSender{n}
	r.db, err = netdb.New(netdb.Config{RouterInfo: ri, Floodfill: true, Sender: sender, Seeds: seeds, ExploreInterval: -1, MinRouters: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.node, err = tunnel.NewNode(tunnel.NodeConfig{
		Keys:   crypto.X25519KeysFromPrivate([32]byte(keys.X25519PrivateKey())),
		Hash:   keys.Hash(),
		Sender: sender,
		Local: func(_ context.Context, m i2np.Message, _ i2np.TunnelID) {
			r.db.Handle(data.Hash{}, m)
		},
		IVFilterLog2Bits: 12,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.box = n.newMailbox(func(m i2np.Message, _ i2np.TunnelID) {
		r.node.HandleMessage(context.Background(), m)
	})
	n.mu.Lock()
	for _, o := range n.routers {
		o.db.AddRouterInfo(ri)
	}
	n.routers[keys.Hash()] = r
	n.mu.Unlock()
	n.wg.Go(func() {
		if err := r.db.Run(ctx); err != nil {
			t.Errorf("netdb: %v", err)
		}
	})
	return r
}

// floodfillRouterInfo signs a floodfill RouterInfo for keys.
func floodfillRouterInfo(t testing.TB, keys data.RouterKeys) data.RouterInfo {
	t.Helper()
	static, err := ntcp2.GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("198.19.2.1"), uint16(20000+routerPort.Add(1)))
	a, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: static.Public, IV: static.IV, AddrPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := data.NewMapping(map[string]string{data.OptionCaps: "XfR", data.OptionNetID: fmt.Sprint(testNetID), data.OptionRouterVersion: "0.9.57"})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{Published: time.Now(), Addresses: []data.RouterAddress{a}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

// routerSender carries what the routers send: TunnelGateway messages to
// the reply tunnels, anything else to another router.
type routerSender struct{ n *testNet }

func (s routerSender) Send(_ context.Context, to data.Hash, m i2np.Message) error {
	if m.Type == i2np.TypeTunnelGateway {
		tg, _, err := i2np.ParseTunnelGateway(m.Payload)
		if err != nil {
			return err
		}
		inner, err := tg.Inner()
		if err != nil {
			return err
		}
		s.n.deliver(to, tg.TunnelID, inner)
		return nil
	}
	s.n.deliver(to, 0, m)
	return nil
}

// floodfillRIs lists the routers' RouterInfos.
func (n *testNet) floodfillRIs() []data.RouterInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []data.RouterInfo
	for _, r := range n.routers {
		out = append(out, r.ri)
	}
	return out
}

// testDest is a destination of a testNet.
type testDest struct {
	*Destination
	tun *fakeTunnels
}

type destOpts struct {
	inbound    int           // inbound tunnels (default 2; -1 none)
	lifetime   time.Duration // of each tunnel (default 1 h, longer than the tests)
	floodfills Floodfills    // default: the network's routers
	noRun      bool
	mod        func(*Config)
}

// newDest creates a destination in the network, runs it until the test
// ends and closes it then.
func (n *testNet) newDest(seed uint64, o destOpts) *testDest {
	t, ctx := n.t, n.ctx
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xde})
	keys, err := data.GeneratePrivateKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	td := &testDest{tun: &fakeTunnels{net: n}}
	if o.floodfills == nil {
		o.floodfills = FloodfillsFrom(n.floodfillRIs)
	}
	cfg := Config{Keys: keys, Tunnels: td.tun, Floodfills: o.floodfills, Rand: r}
	if o.mod != nil {
		o.mod(&cfg)
	}
	td.Destination, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := td.Destination
	td.tun.box = n.newMailbox(func(m i2np.Message, via i2np.TunnelID) {
		// The router's part: garlic to the destination, DeliveryStatus to
		// the pools and then the destinations.
		switch m.Type {
		case i2np.TypeGarlic:
			err := d.HandleGarlic(context.Background(), m, via)
			switch {
			case errors.Is(err, ErrNotForUs):
				// Replies to New Sessions the sender no longer keeps
				// state for, when it sent more than eight before the
				// first reply.
				n.unopened.Add(1)
			case err != nil:
				t.Logf("%s: garlic via %d: %v", d.Hash().Short(), via, err)
			}
		case i2np.TypeDeliveryStatus:
			ds, _, err := i2np.ParseDeliveryStatus(m.Payload)
			if err != nil || !d.HandleDeliveryStatus(ds.MessageID) {
				t.Logf("%s: DeliveryStatus not claimed (%v)", d.Hash().Short(), err)
			}
		default:
			t.Errorf("%s: unexpected %v through an inbound tunnel", d.Hash().Short(), m.Type)
		}
	})
	if o.inbound == 0 {
		o.inbound = 2
	}
	if o.lifetime == 0 {
		o.lifetime = time.Hour
	}
	for range max(o.inbound, 0) {
		td.tun.addInbound(time.Now().Add(o.lifetime))
	}
	if !o.noRun {
		n.wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(func() { d.Close() })
	return td
}

// waitFor polls cond every 100 ms (fake time) until it holds or limit
// passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
