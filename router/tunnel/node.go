package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// Sender delivers an I2NP message to a router: the transport manager of
// the real router, an in-memory network in tests.
type Sender interface {
	Send(ctx context.Context, to data.Hash, m i2np.Message) error
}

// NodeConfig configures a Node.
type NodeConfig struct {
	// Keys are our RouterIdentity X25519 keys, Hash our router hash.
	Keys crypto.X25519Keys
	Hash data.Hash
	// Sender carries messages to other routers (required). Messages for
	// our own hash never reach it: the Node handles them itself.
	Sender Sender
	// Tags is the router's reply-tag table, shared with the netDb (nil:
	// the Node makes its own).
	Tags *garlic.TagTable
	// MaxTransit bounds transit tunnels (0: DefaultMaxTransit).
	MaxTransit int
	// Accept is the admission policy for transit tunnels beyond the limit
	// (bandwidth share, "notransit"); nil accepts.
	Accept func(*Request) bool
	// Local receives the messages for the router itself that the Node does
	// not consume: whatever arrives through our inbound tunnels or in
	// router garlic cloves (DeliveryStatus, DatabaseStore, …), and
	// messages of other types given to HandleMessage. tunnel is the
	// inbound tunnel it came through, 0 when it came directly.
	Local func(ctx context.Context, m i2np.Message, tunnel i2np.TunnelID)
	// ClientGarlic receives Garlic messages that come out of our inbound
	// tunnels and do not start with one of the router's reply tags: they
	// are for a local destination (ECIES ratchet), not router garlic, and
	// trying them as Noise N would cost a DH each. Nil: every Garlic is
	// tried as router garlic.
	ClientGarlic func(ctx context.Context, m i2np.Message, tunnel i2np.TunnelID)
	// IVFilterLog2Bits sizes the duplicate filter (0: the default).
	IVFilterLog2Bits int
	// Endpoint sets reassembly limits for OBEP and inbound tunnels.
	Endpoint EndpointConfig
	Hop      HopConfig // RequestMaxAge/RequestMaxFuture; Keys and Hash are taken from above
	Rand     io.Reader
	Now      func() time.Time
	Logger   *slog.Logger
}

// Node is the tunnel side of one router: it plays every hop role for
// others (build requests, transit tunnels), owns our inbound tunnels and
// pending builds, opens router-level garlic, and turns each incoming I2NP
// message into the messages it causes, sent through the Sender. It is
// what the Router wires between the transports and the pools; pools and
// peer selection, which need the netDb, sit above it and call Build.
//
// HandleMessage dispatches by type:
//
//	18 TunnelData          our inbound tunnel (decrypt, reassemble, Local)
//	                       or a transit tunnel (participant, OBEP)
//	19 TunnelGateway       our zero-hop inbound tunnel (Local) or a
//	                       transit IBGW
//	23/25 build request    the reply to a pending inbound build (by
//	                       message ID), else a request for us as a hop
//	24/26 build reply      the reply to a pending outbound build
//	11 Garlic              router garlic: tag first, then N; LOCAL
//	                       cloves are handled as if received directly
//	other                  Local
//
// A Node is safe for concurrent use; it holds its lock only while
// processing, never while sending.
type Node struct {
	cfg NodeConfig
	log *slog.Logger

	mu       sync.Mutex
	hop      *HopHandler
	transit  *TransitTable
	filter   *IVFilter
	rx       *garlic.RouterReceiver
	tags     *garlic.TagTable
	pending  map[uint32]*BuildHandle
	inbound  map[i2np.TunnelID]*InboundTunnel
	zeroHop  i2np.TunnelID
	counters NodeStats
}

// NodeStats counts what a Node did.
type NodeStats struct {
	TransitAccepted, TransitRejected uint64
	BuildsOK, BuildsFailed           uint64
	Dropped                          uint64 // messages dropped with an error
}

// NewNode returns a Node for cfg.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Sender == nil {
		return nil, fmt.Errorf("%w: node without a Sender", ErrConfig)
	}
	if cfg.Hash.IsZero() {
		return nil, fmt.Errorf("%w: node without a router hash", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Endpoint.Logger == nil {
		cfg.Endpoint.Logger = cfg.Logger
	}
	cfg.Rand = randReader(cfg.Rand)
	if cfg.Tags == nil {
		cfg.Tags = garlic.NewTagTable(0)
	}
	filter, err := NewIVFilter(cfg.Rand, cfg.IVFilterLog2Bits, 0)
	if err != nil {
		return nil, err
	}
	transit, err := NewTransitTable(TransitConfig{
		MaxTunnels: cfg.MaxTransit, Filter: filter, Endpoint: cfg.Endpoint, Logger: cfg.Logger, Rand: cfg.Rand,
	})
	if err != nil {
		return nil, err
	}
	zero, err := randomTunnelID(cfg.Rand)
	if err != nil {
		return nil, err
	}
	hc := cfg.Hop
	hc.Keys, hc.Hash = cfg.Keys, cfg.Hash
	return &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		hop:     NewHopHandler(hc),
		transit: transit,
		filter:  filter,
		rx:      garlic.NewRouterReceiver(cfg.Keys, cfg.Tags),
		tags:    cfg.Tags,
		pending: map[uint32]*BuildHandle{},
		inbound: map[i2np.TunnelID]*InboundTunnel{},
		zeroHop: zero,
	}, nil
}

// Hash is our router hash.
func (n *Node) Hash() data.Hash { return n.cfg.Hash }

// Tags is the reply-tag table.
func (n *Node) Tags() *garlic.TagTable { return n.tags }

// ZeroHopInbound is our zero-hop inbound tunnel: a TunnelGateway sent to
// our router with this ID is delivered to us directly, as i2pd's
// ZeroHopsInboundTunnel. Outbound builds made before we have an inbound
// tunnel take their reply through it.
func (n *Node) ZeroHopInbound() (data.Hash, i2np.TunnelID) { return n.cfg.Hash, n.zeroHop }

// Stats returns the counters.
func (n *Node) Stats() NodeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counters
}

// TransitCount returns the number of transit tunnels.
func (n *Node) TransitCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.transit.Len()
}

// BuildHandle follows one build made by Node.Build.
type BuildHandle struct {
	build *PendingBuild
	done  chan struct{}
	res   *BuildResult
	err   error
}

// Build is the pending build.
func (h *BuildHandle) Build() *PendingBuild { return h.build }

// Done is closed when the build is established or failed.
func (h *BuildHandle) Done() <-chan struct{} { return h.done }

// Result returns the outcome once Done is closed.
func (h *BuildHandle) Result() (*BuildResult, error) {
	select {
	case <-h.done:
		return h.res, h.err
	default:
		return nil, fmt.Errorf("%w: build %d still pending", ErrState, h.build.ReplyMsgID())
	}
}

func (h *BuildHandle) finish(res *BuildResult, err error) {
	h.res, h.err = res, err
	close(h.done)
}

// Build starts building cfg. For an inbound tunnel, Creator is set to our
// hash and the request goes through via (an established outbound
// tunnel), or directly to the gateway when via is nil (a zero-hop
// outbound tunnel), Noise-N-wrapped for the gateway in both cases. For an
// outbound tunnel the request goes to the first hop, and the garlic reply
// tag is registered first. An established inbound tunnel is added to the
// Node; an outbound one is only returned.
func (n *Node) Build(ctx context.Context, cfg BuildConfig, via *OutboundTunnel) (*BuildHandle, error) {
	now := n.cfg.Now()
	if cfg.Inbound {
		cfg.Creator = n.cfg.Hash
	}
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	if cfg.Endpoint == (EndpointConfig{}) {
		cfg.Endpoint = n.cfg.Endpoint
	}
	n.mu.Lock()
	b, err := NewBuild(n.cfg.Rand, now, cfg)
	if err != nil {
		n.mu.Unlock()
		return nil, err
	}
	h := &BuildHandle{build: b, done: make(chan struct{})}
	if key, tag, ok := b.GarlicReply(); ok {
		if err := n.tags.Add(tag, key, now.Add(BuildTimeout+time.Minute)); err != nil {
			n.mu.Unlock()
			return nil, fmt.Errorf("tunnel: register build reply tag: %w", err)
		}
	}
	n.pending[b.ReplyMsgID()] = h
	var out []Outgoing
	switch {
	case !cfg.Inbound:
		out = []Outgoing{{To: b.FirstHop().Hash, Msg: b.Request()}}
	case via == nil:
		m, werr := b.WrapRequest(n.cfg.Rand, now, n.cfg.Hash)
		err = werr
		out = []Outgoing{{To: b.FirstHop().Hash, Msg: m}}
	default:
		var m i2np.Message
		if m, err = b.WrapRequest(n.cfg.Rand, now, via.Endpoint()); err == nil {
			var msgs []i2np.Message
			msgs, err = via.Send(n.cfg.Rand, now, []Block{{Delivery: Delivery{Type: DeliveryRouter, Hash: b.FirstHop().Hash}, Msg: m}})
			for _, tm := range msgs {
				out = append(out, Outgoing{To: via.FirstHop(), Msg: tm})
			}
		}
	}
	if err != nil {
		n.dropPendingLocked(b)
		n.mu.Unlock()
		return nil, err
	}
	n.mu.Unlock()
	if err := n.send(ctx, out, 0); err != nil {
		n.mu.Lock()
		n.dropPendingLocked(b)
		n.mu.Unlock()
		return nil, err
	}
	return h, nil
}

func (n *Node) dropPendingLocked(b *PendingBuild) {
	delete(n.pending, b.ReplyMsgID())
	if _, tag, ok := b.GarlicReply(); ok {
		n.tags.Remove(tag)
	}
}

// Send passes blocks through our outbound tunnel t.
func (n *Node) Send(ctx context.Context, t *OutboundTunnel, blocks []Block) error {
	n.mu.Lock()
	msgs, err := t.Send(n.cfg.Rand, n.cfg.Now(), blocks)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	out := make([]Outgoing, len(msgs))
	for i, m := range msgs {
		out[i] = Outgoing{To: t.FirstHop(), Msg: m}
	}
	return n.send(ctx, out, 0)
}

// Inbound returns our inbound tunnel with receive ID id.
func (n *Node) Inbound(id i2np.TunnelID) (*InboundTunnel, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.inbound[id]
	return t, ok
}

// Expire runs the timers: pending builds past BuildTimeout fail, expired
// inbound and transit tunnels go, reply tags and fragments expire.
func (n *Node) Expire() {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, h := range n.pending {
		if h.build.Expire(now) == StateFailed {
			delete(n.pending, id)
			n.dropPendingLocked(h.build)
			n.counters.BuildsFailed++
			h.finish(nil, fmt.Errorf("%w: no reply to build %d within %v", ErrState, id, BuildTimeout))
		}
	}
	for id, t := range n.inbound {
		if t.State(now) == StateExpired {
			delete(n.inbound, id)
			continue
		}
		t.endpoint.Expire(now)
	}
	n.transit.Expire(now)
	n.tags.Expire(now)
}

// maxDepth bounds how deep garlic and self-addressed messages nest.
const maxDepth = 3

// HandleMessage processes one incoming I2NP message (see Node). Errors are
// for logging: the message was dropped.
func (n *Node) HandleMessage(ctx context.Context, m i2np.Message) error {
	return n.handle(ctx, m, 0, 0)
}

// local is a message for the router itself.
type local struct {
	m      i2np.Message
	tunnel i2np.TunnelID
}

func (n *Node) handle(ctx context.Context, m i2np.Message, tunnel i2np.TunnelID, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: messages nested %d deep", ErrMalformed, depth)
	}
	if n.isClientGarlic(m, tunnel) {
		n.cfg.ClientGarlic(ctx, m, tunnel)
		return nil
	}
	n.mu.Lock()
	out, locals, err := n.process(m, tunnel)
	if err != nil {
		n.counters.Dropped++
	}
	n.mu.Unlock()
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("%v %d: %w", m.Type, m.ID, err))
	}
	if err := n.send(ctx, out, depth); err != nil {
		errs = append(errs, err)
	}
	for _, l := range locals {
		if isTunnelType(l.m.Type) {
			if err := n.handle(ctx, l.m, l.tunnel, depth+1); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if n.cfg.Local != nil {
			n.cfg.Local(ctx, l.m, l.tunnel)
		}
	}
	return errors.Join(errs...)
}

// isClientGarlic tells a destination's garlic from router garlic: it came
// through one of our (non-zero-hop) inbound tunnels and its first 8 bytes
// are none of our reply tags (ecies.rst: router replies through tunnels
// are tag-only; New Session messages start with an ephemeral key).
func (n *Node) isClientGarlic(m i2np.Message, tunnel i2np.TunnelID) bool {
	if n.cfg.ClientGarlic == nil || m.Type != i2np.TypeGarlic || tunnel == 0 || tunnel == n.zeroHop {
		return false
	}
	g, _, err := i2np.ParseGarlic(m.Payload)
	if err != nil || len(g.Data) < len(garlic.Tag{}) {
		return false // process reports it
	}
	return !n.tags.Has(garlic.Tag(g.Data[:len(garlic.Tag{})]))
}

// isTunnelType reports the types the Node consumes itself when they come
// out of a tunnel or a garlic clove.
func isTunnelType(t i2np.Type) bool {
	switch t {
	case i2np.TypeGarlic, i2np.TypeShortTunnelBuild, i2np.TypeVariableTunnelBuild,
		i2np.TypeOutboundTunnelBuildReply, i2np.TypeVariableTunnelBuildReply:
		return true
	}
	return false
}

// send delivers out: to the Sender, or back into the Node for our own hash.
func (n *Node) send(ctx context.Context, out []Outgoing, depth int) error {
	var errs []error
	for _, o := range out {
		var err error
		if o.To == n.cfg.Hash {
			err = n.handle(ctx, o.Msg, 0, depth+1)
		} else {
			err = n.cfg.Sender.Send(ctx, o.To, o.Msg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tunnel: send %v to %s: %w", o.Msg.Type, o.To.Short(), err))
		}
	}
	return errors.Join(errs...)
}

// process handles one message under the lock.
func (n *Node) process(m i2np.Message, via i2np.TunnelID) ([]Outgoing, []local, error) {
	now := n.cfg.Now()
	switch m.Type {
	case i2np.TypeTunnelData:
		td, _, err := i2np.ParseTunnelData(m.Payload)
		if err != nil {
			return nil, nil, err
		}
		if t, ok := n.inbound[td.TunnelID]; ok {
			if n.filter.Seen(now, &td.Data) {
				return nil, nil, fmt.Errorf("%w: duplicate TunnelData for inbound tunnel %d", ErrReplay, td.TunnelID)
			}
			got, err := t.Receive(now, &td)
			var ls []local
			for _, d := range got {
				ls = append(ls, local{m: d.Msg, tunnel: td.TunnelID})
			}
			return nil, ls, err
		}
		out, got, err := n.transit.HandleTunnelData(now, &td)
		var ls []local
		for _, d := range got {
			ls = append(ls, local{m: d.Msg})
		}
		return out, ls, err

	case i2np.TypeTunnelGateway:
		tg, _, err := i2np.ParseTunnelGateway(m.Payload)
		if err != nil {
			return nil, nil, err
		}
		if tg.TunnelID == n.zeroHop {
			inner, err := tg.Inner()
			if err != nil {
				return nil, nil, err
			}
			return nil, []local{{m: inner, tunnel: n.zeroHop}}, nil
		}
		out, err := n.transit.HandleTunnelGateway(now, tg)
		return out, nil, err

	case i2np.TypeShortTunnelBuild, i2np.TypeVariableTunnelBuild:
		if h, ok := n.pending[m.ID]; ok && h.build.Inbound() {
			n.finishBuild(now, h, m)
			return nil, nil, nil
		}
		return n.hopRequest(now, m)

	case i2np.TypeOutboundTunnelBuildReply, i2np.TypeVariableTunnelBuildReply:
		h, ok := n.pending[m.ID]
		if !ok || h.build.Inbound() {
			return nil, nil, fmt.Errorf("%w: build reply %d matches no pending outbound build", ErrUnknownTunnel, m.ID)
		}
		n.finishBuild(now, h, m)
		return nil, nil, nil

	case i2np.TypeGarlic:
		g, _, err := i2np.ParseGarlic(m.Payload)
		if err != nil {
			return nil, nil, err
		}
		p, kind, err := n.rx.Open(now, g.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("router garlic (%v): %w", kind, err)
		}
		var ls []local
		for _, c := range p.Cloves {
			if c.Delivery.Type != i2np.DeliveryLocal {
				// i2pd forwards TUNNEL cloves of router garlic through its
				// exploratory pool; nothing in the router protocols sends
				// them, and forwarding for strangers helps nobody.
				n.log.Debug("router garlic clove not for local delivery; dropped", "delivery", c.Delivery.Type, "type", c.Message.Type)
				continue
			}
			ls = append(ls, local{m: c.Message, tunnel: via})
		}
		return nil, ls, nil
	}
	return nil, []local{{m: m, tunnel: via}}, nil
}

func (n *Node) finishBuild(now time.Time, h *BuildHandle, m i2np.Message) {
	delete(n.pending, m.ID)
	res, err := h.build.HandleReply(now, m)
	if err != nil {
		n.counters.BuildsFailed++
		n.log.Debug("tunnel build failed", "build", m.ID, "err", err)
		if _, tag, ok := h.build.GarlicReply(); ok {
			n.tags.Remove(tag)
		}
		h.finish(res, err)
		return
	}
	n.counters.BuildsOK++
	if res.Inbound != nil {
		n.inbound[res.Inbound.ID()] = res.Inbound
	}
	h.finish(res, nil)
}

// hopRequest handles a build request for us as a hop.
func (n *Node) hopRequest(now time.Time, m i2np.Message) ([]Outgoing, []local, error) {
	q, err := n.hop.Open(now, m)
	if err != nil {
		return nil, nil, err
	}
	accept := n.transit.Admit(q) == nil && (n.cfg.Accept == nil || n.cfg.Accept(q))
	out, err := q.Reply(n.cfg.Rand, now, accept)
	if err != nil {
		return nil, nil, err
	}
	if !accept {
		n.counters.TransitRejected++
		return out, nil, nil
	}
	if _, err := n.transit.Add(now, q); err != nil {
		return nil, nil, err
	}
	n.counters.TransitAccepted++
	n.log.Debug("transit tunnel", "role", q.Role, "receive", q.ReceiveID, "next", q.Next.Short(), "nextTunnel", q.NextID)
	return out, nil, nil
}
