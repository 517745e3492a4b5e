package tunnel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// simNet is an in-memory network of Nodes: Send queues a message in the
// target's unbounded mailbox, and one goroutine per node hands its
// messages to Node.HandleMessage in order (the single owner). Unbounded
// mailboxes keep two nodes sending to each other from deadlocking.
type simNet struct {
	t        *testing.T
	nodes    map[data.Hash]*simNode
	order    []*simNode
	inflight sync.WaitGroup
	stopped  sync.WaitGroup

	mu   sync.Mutex
	errs []error
}

type simNode struct {
	net  *simNet
	hop  testHop
	node *Node

	mu    sync.Mutex
	box   []i2np.Message
	wake  chan struct{}
	quit  chan struct{}
	local []localMsg
}

type localMsg struct {
	m      i2np.Message
	tunnel i2np.TunnelID
}

func newSimNet(t *testing.T, r *rand.ChaCha8, n int) *simNet {
	s := &simNet{t: t, nodes: map[data.Hash]*simNode{}}
	for range n {
		sn := &simNode{net: s, hop: newTestHop(r), wake: make(chan struct{}, 1), quit: make(chan struct{})}
		var seed [32]byte
		r.Read(seed[:])
		node, err := NewNode(NodeConfig{
			Keys: sn.hop.keys, Hash: sn.hop.hash, Sender: s,
			Local: func(_ context.Context, m i2np.Message, tunnel i2np.TunnelID) {
				sn.mu.Lock()
				sn.local = append(sn.local, localMsg{m, tunnel})
				sn.mu.Unlock()
			},
			IVFilterLog2Bits: 20, // 128 KiB per generation: no false positive among a few thousand messages
			Rand:             rand.NewChaCha8(seed),
		})
		if err != nil {
			t.Fatal(err)
		}
		sn.node = node
		s.nodes[sn.hop.hash] = sn
		s.order = append(s.order, sn)
		s.stopped.Add(1)
		go sn.run()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *simNet) Send(_ context.Context, to data.Hash, m i2np.Message) error {
	sn, ok := s.nodes[to]
	if !ok {
		return fmt.Errorf("no router %s", to.Short())
	}
	// Messages are copied on the wire: nobody may share a payload.
	m.Payload = append([]byte(nil), m.Payload...)
	s.inflight.Add(1)
	sn.mu.Lock()
	sn.box = append(sn.box, m)
	sn.mu.Unlock()
	select {
	case sn.wake <- struct{}{}:
	default:
	}
	return nil
}

func (sn *simNode) run() {
	defer sn.net.stopped.Done()
	for {
		sn.mu.Lock()
		box := sn.box
		sn.box = nil
		sn.mu.Unlock()
		for _, m := range box {
			if err := sn.node.HandleMessage(context.Background(), m); err != nil {
				sn.net.mu.Lock()
				sn.net.errs = append(sn.net.errs, fmt.Errorf("node %s: %w", sn.hop.hash.Short(), err))
				sn.net.mu.Unlock()
			}
			sn.net.inflight.Done()
		}
		if len(box) > 0 {
			continue
		}
		select {
		case <-sn.wake:
		case <-sn.quit:
			return
		}
	}
}

// settle waits until no message is in flight and fails on any error.
func (s *simNet) settle() {
	s.t.Helper()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		s.t.Fatal("network did not settle")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		s.t.Fatalf("%d errors, first: %v", len(s.errs), s.errs[0])
	}
}

func (s *simNet) stop() {
	for _, sn := range s.order {
		close(sn.quit)
	}
	s.stopped.Wait()
}

// pickHops chooses n distinct nodes other than creator.
func (s *simNet) pickHops(rr *rand.Rand, creator *simNode, n int) []Peer {
	var ps []Peer
	for _, i := range rr.Perm(len(s.order)) {
		if s.order[i] == creator {
			continue
		}
		ps = append(ps, s.order[i].hop.peer())
		if len(ps) == n {
			break
		}
	}
	return ps
}

type simTunnel struct {
	creator  *simNode
	inbound  *InboundTunnel
	outbound *OutboundTunnel
	hops     int
	long     bool
}

// 100 tunnels across 20 simulated routers, lengths 1 to 7, in and out,
// short and long records, built through each other the way a router
// does (outbound replies through the creator's inbound tunnels, inbound
// requests through its outbound tunnels, zero-hop at first); then data
// of 1 byte to the I2NP maximum through every one of them, each message
// checked at its destination.
func TestSimulatedNetworkBuildsAndCarries100Tunnels(t *testing.T) {
	r := testRand(50)
	rr := rand.New(testRand(51))
	net := newSimNet(t, r, 20)
	ctx := context.Background()

	var tunnels []*simTunnel
	build := func(i int, phase2 bool) (*BuildHandle, *simTunnel) {
		creator := net.order[i%len(net.order)]
		st := &simTunnel{creator: creator, hops: 1 + i%7, long: i%5 == 3}
		cfg := BuildConfig{Hops: net.pickHops(rr, creator, st.hops), Inbound: i%2 == 0, Long: st.long}
		var via *OutboundTunnel
		if cfg.Inbound {
			if phase2 {
				via = ownOutbound(tunnels, creator)
			}
		} else {
			cfg.ReplyGateway, cfg.ReplyTunnel = creator.node.ZeroHopInbound()
			if phase2 {
				if in := ownInbound(tunnels, creator); in != nil {
					cfg.ReplyGateway, cfg.ReplyTunnel = in.Gateway()
				}
			}
		}
		h, err := creator.node.Build(ctx, cfg, via)
		if err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
		return h, st
	}
	finish := func(hs []*BuildHandle, sts []*simTunnel) {
		net.settle()
		for i, h := range hs {
			select {
			case <-h.Done():
			default:
				t.Fatalf("build %d (%d hops) has no outcome", i, sts[i].hops)
			}
			res, err := h.Result()
			if err != nil {
				t.Fatalf("build %d (%d hops, inbound %v, long %v): %v", i, sts[i].hops, h.Build().Inbound(), sts[i].long, err)
			}
			sts[i].inbound, sts[i].outbound = res.Inbound, res.Outbound
			tunnels = append(tunnels, sts[i])
		}
	}
	// Phase 1: 40 tunnels on zero-hop paths.
	var hs []*BuildHandle
	var sts []*simTunnel
	for i := range 40 {
		h, st := build(i, false)
		hs, sts = append(hs, h), append(sts, st)
	}
	finish(hs, sts)
	// Phase 2: 60 more through the tunnels of phase 1.
	hs, sts = nil, nil
	for i := 40; i < 100; i++ {
		h, st := build(i, true)
		hs, sts = append(hs, h), append(sts, st)
	}
	finish(hs, sts)
	if len(tunnels) != 100 {
		t.Fatalf("%d tunnels", len(tunnels))
	}
	transit := 0
	for _, sn := range net.order {
		transit += sn.node.TransitCount()
	}
	hopSum := 0
	for _, st := range tunnels {
		hopSum += st.hops
	}
	if transit != hopSum {
		t.Fatalf("%d transit tunnels for %d hops", transit, hopSum)
	}

	// Data: the k-th outbound tunnel sends into the k-th inbound tunnel
	// (TUNNEL delivery), and to a random router (ROUTER delivery).
	var ins, outs []*simTunnel
	for _, st := range tunnels {
		if st.inbound != nil {
			ins = append(ins, st)
		} else {
			outs = append(outs, st)
		}
	}
	type want struct {
		at     *simNode
		tunnel i2np.TunnelID
		sum    [32]byte
	}
	expect := map[uint32]want{}
	sizes := []int{1, 100, 1000, 5000, 20000, MaxTunnelDeliveryLen - i2np.HeaderLen}
	id := uint32(1 << 20)
	for k := range outs {
		ob, in := outs[k], ins[k%len(ins)]
		gw, gwID := in.inbound.Gateway()
		var blocks []Block
		for j := range 3 {
			size := sizes[(k+j)%len(sizes)]
			m := dataMsg(r, id, size)
			m.Expiration = i2np.ExpirationMillis(time.Now().Add(time.Minute))
			blocks = append(blocks, Block{Delivery: Delivery{Type: DeliveryTunnel, TunnelID: gwID, Hash: gw}, Msg: m})
			expect[id] = want{at: in.creator, tunnel: in.inbound.ID(), sum: sha256.Sum256(m.Payload)}
			id++
		}
		to := net.order[rr.IntN(len(net.order))]
		size := 1 + rr.IntN(3000)
		if k%10 == 0 {
			size = i2np.MaxPayloadLen // the largest I2NP message, by ROUTER delivery
		}
		m := dataMsg(r, id, size)
		m.Expiration = i2np.ExpirationMillis(time.Now().Add(time.Minute))
		blocks = append(blocks, Block{Delivery: Delivery{Type: DeliveryRouter, Hash: to.hop.hash}, Msg: m})
		expect[id] = want{at: to, sum: sha256.Sum256(m.Payload)}
		id++
		if err := ob.creator.node.Send(ctx, ob.outbound, blocks); err != nil {
			t.Fatal(err)
		}
	}
	net.settle()
	got := 0
	for _, sn := range net.order {
		for _, l := range sn.local {
			w, ok := expect[l.m.ID]
			if !ok {
				t.Fatalf("node %s got unexpected %v %d", sn.hop.hash.Short(), l.m.Type, l.m.ID)
			}
			if w.at != sn || w.tunnel != l.tunnel || sha256.Sum256(l.m.Payload) != w.sum {
				t.Fatalf("message %d at the wrong place or altered", l.m.ID)
			}
			delete(expect, l.m.ID)
			got++
		}
	}
	if len(expect) != 0 {
		t.Fatalf("%d messages delivered, %d missing", got, len(expect))
	}
	var st NodeStats
	for _, sn := range net.order {
		s := sn.node.Stats()
		st.TransitAccepted += s.TransitAccepted
		st.BuildsOK += s.BuildsOK
		st.Dropped += s.Dropped
	}
	if st.BuildsOK != 100 || st.TransitAccepted != uint64(hopSum) || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("100 tunnels (%d hops in all) over 20 routers; %d messages delivered", hopSum, got)
}

func ownOutbound(ts []*simTunnel, creator *simNode) *OutboundTunnel {
	for _, st := range ts {
		if st.creator == creator && st.outbound != nil {
			return st.outbound
		}
	}
	return nil
}

func ownInbound(ts []*simTunnel, creator *simNode) *InboundTunnel {
	for _, st := range ts {
		if st.creator == creator && st.inbound != nil {
			return st.inbound
		}
	}
	return nil
}

// A node that refuses transit tunnels makes the build fail with its code,
// and the creator learns it.
func TestSimulatedNetworkRejectingHop(t *testing.T) {
	r := testRand(52)
	net := newSimNet(t, r, 4)
	refuser := net.order[2]
	refuser.node.cfg.Accept = func(*Request) bool { return false }
	creator := net.order[0]
	gw, id := creator.node.ZeroHopInbound()
	h, err := creator.node.Build(context.Background(), BuildConfig{
		Hops: []Peer{net.order[1].hop.peer(), refuser.hop.peer(), net.order[3].hop.peer()}, ReplyGateway: gw, ReplyTunnel: id,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	net.settle()
	res, err := h.Result()
	if !errors.Is(err, ErrRejected) || res == nil || res.Codes[1] != i2np.ReplyRejectBandwidth || res.Codes[0] != 0 || res.Codes[2] != 0 {
		t.Fatalf("result %+v, %v", res, err)
	}
	if refuser.node.TransitCount() != 0 || refuser.node.Stats().TransitRejected != 1 {
		t.Fatal("the refusing node kept a transit tunnel")
	}
	if creator.node.Tags().Len() != 0 {
		t.Fatal("the reply tag was not used")
	}
}

// A build whose reply never comes fails at BuildTimeout and releases its
// reply tag.
func TestNodeBuildTimesOut(t *testing.T) {
	r := testRand(53)
	now := testNow
	sink := senderFunc(func(context.Context, data.Hash, i2np.Message) error { return nil })
	hop := newTestHop(r)
	n, err := NewNode(NodeConfig{Keys: hop.keys, Hash: hop.hash, Sender: sink, Rand: r, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	gw, id := n.ZeroHopInbound()
	h, err := n.Build(context.Background(), BuildConfig{Hops: peersOf(newTestHops(r, 2)), ReplyGateway: gw, ReplyTunnel: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tags().Len() != 1 {
		t.Fatal("reply tag not registered")
	}
	if _, err := h.Result(); !errors.Is(err, ErrState) {
		t.Fatal("pending build has a result")
	}
	now = now.Add(BuildTimeout + time.Second)
	n.Expire()
	<-h.Done()
	if _, err := h.Result(); !errors.Is(err, ErrState) {
		t.Fatalf("timed-out build: %v", err)
	}
	if n.Tags().Len() != 0 || n.Stats().BuildsFailed != 1 {
		t.Fatal("timed-out build kept its tag")
	}
	if _, err := NewNode(NodeConfig{Hash: hop.hash}); !errors.Is(err, ErrConfig) {
		t.Fatal("node without a sender")
	}
}

type senderFunc func(context.Context, data.Hash, i2np.Message) error

func (f senderFunc) Send(ctx context.Context, to data.Hash, m i2np.Message) error {
	return f(ctx, to, m)
}
