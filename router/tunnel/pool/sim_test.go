package pool

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// simNet is an in-memory network of tunnel.Nodes, after the one in
// router/tunnel's node_test.go: Send queues a message in the target's
// unbounded mailbox and one goroutine per node hands its messages to
// Node.HandleMessage in order. Tests run it inside a testing/synctest
// bubble, so that ten minutes of tunnel life pass in milliseconds and
// every goroutine must be gone when the test ends.
//
// A node can misbehave: reject refuses every transit tunnel
// (NodeConfig.Accept), dropData loses every TunnelData it would receive
// or send, silent loses everything sent to it.
type simNet struct {
	t       testing.TB
	nodes   map[data.Hash]*simNode
	order   []*simNode
	stopped sync.WaitGroup
	quit    chan struct{}
	// version is the router.version the candidates advertise.
	version string

	nodeErrs atomic.Int64 // messages a Node dropped with an error
}

type simNode struct {
	net  *simNet
	keys crypto.X25519Keys
	hash data.Hash
	node *tunnel.Node

	reject   atomic.Bool
	dropData atomic.Bool
	silent   atomic.Bool
	// pool receives the DeliveryStatus messages, as the router's Local
	// callback will route them.
	pool      atomic.Pointer[Pool]
	unclaimed atomic.Int64 // DeliveryStatus no pool claimed

	mu   sync.Mutex
	box  []i2np.Message
	wake chan struct{}
}

// simOptions tune a simNet.
type simOptions struct {
	// expireEvery, when set, calls Node.Expire on every node that often,
	// as the router does.
	expireEvery time.Duration
	// now is the nodes' clock (nil: time.Now, the bubble's fake clock).
	now func() time.Time
}

func newSimNet(t testing.TB, seed uint64, n int, o simOptions) *simNet {
	r := testRand(seed)
	s := &simNet{t: t, nodes: map[data.Hash]*simNode{}, quit: make(chan struct{}), version: "0.9.57"}
	for range n {
		keys, err := crypto.GenerateX25519(r)
		if err != nil {
			t.Fatal(err)
		}
		sn := &simNode{net: s, keys: keys, wake: make(chan struct{}, 1)}
		r.Read(sn.hash[:])
		var nodeSeed [32]byte
		r.Read(nodeSeed[:])
		node, err := tunnel.NewNode(tunnel.NodeConfig{
			Keys: keys, Hash: sn.hash, Sender: simSender{sn},
			Accept:           func(*tunnel.Request) bool { return !sn.reject.Load() },
			Local:            sn.local,
			IVFilterLog2Bits: 20,
			Rand:             rand.NewChaCha8(nodeSeed),
			Now:              o.now,
		})
		if err != nil {
			t.Fatal(err)
		}
		sn.node = node
		s.nodes[sn.hash] = sn
		s.order = append(s.order, sn)
		s.stopped.Go(sn.run)
	}
	if o.expireEvery > 0 {
		s.stopped.Go(func() {
			tk := time.NewTicker(o.expireEvery)
			defer tk.Stop()
			for {
				select {
				case <-tk.C:
					for _, sn := range s.order {
						sn.node.Expire()
					}
				case <-s.quit:
					return
				}
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (s *simNet) stop() {
	select {
	case <-s.quit:
		return
	default:
	}
	close(s.quit)
	s.stopped.Wait()
}

// simSender is one node's Sender: it knows the sender, so that a
// dropping node loses what it sends as well as what it receives.
type simSender struct{ from *simNode }

func (ss simSender) Send(_ context.Context, to data.Hash, m i2np.Message) error {
	s := ss.from.net
	sn, ok := s.nodes[to]
	if !ok {
		return fmt.Errorf("no router %s", to.Short())
	}
	if sn.silent.Load() || m.Type == i2np.TypeTunnelData && (ss.from.dropData.Load() || sn.dropData.Load()) {
		return nil // lost on the way, as far as anyone can tell
	}
	// Messages are copied on the wire: nobody may share a payload.
	m.Payload = append([]byte(nil), m.Payload...)
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
	for {
		sn.mu.Lock()
		box := sn.box
		sn.box = nil
		sn.mu.Unlock()
		for _, m := range box {
			if err := sn.node.HandleMessage(context.Background(), m); err != nil {
				// Late build replies, messages for dropped tunnels: the
				// network is allowed to be messy; the tests check the
				// pool's view.
				sn.net.nodeErrs.Add(1)
			}
		}
		if len(box) > 0 {
			continue
		}
		select {
		case <-sn.wake:
		case <-sn.net.quit:
			return
		}
	}
}

// local is the Node's Local callback, routing DeliveryStatus to the pool
// the way the router will.
func (sn *simNode) local(_ context.Context, m i2np.Message, via i2np.TunnelID) {
	if m.Type != i2np.TypeDeliveryStatus {
		return
	}
	ds, _, err := i2np.ParseDeliveryStatus(m.Payload)
	if err != nil {
		sn.net.t.Errorf("bad DeliveryStatus: %v", err)
		return
	}
	if p := sn.pool.Load(); p != nil && p.HandleDeliveryStatus(ds.MessageID, via) {
		return
	}
	sn.unclaimed.Add(1)
}

func (sn *simNode) candidate(version string) Candidate {
	return Candidate{Peer: tunnel.Peer{Hash: sn.hash, Key: sn.keys.Public}, Caps: "LR", Version: version, Reachable: true}
}

// peerSet is a Peers whose candidates a test can change.
type peerSet struct {
	mu    sync.Mutex
	cands []Candidate
}

func (ps *peerSet) Candidates() []Candidate {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.cands)
}

func (ps *peerSet) set(c []Candidate) {
	ps.mu.Lock()
	ps.cands = c
	ps.mu.Unlock()
}

// candidates returns every node of the network, the creator included (the
// pool must leave itself out).
func (s *simNet) candidates(nodes ...*simNode) []Candidate {
	if len(nodes) == 0 {
		nodes = s.order
	}
	var cs []Candidate
	for _, sn := range nodes {
		cs = append(cs, sn.candidate(s.version))
	}
	return cs
}

// recordingNode is a Node that remembers every build it was asked for.
type recordingNode struct {
	Node
	mu     sync.Mutex
	builds []recordedBuild
}

type recordedBuild struct {
	cfg tunnel.BuildConfig
	via *tunnel.OutboundTunnel
}

func (r *recordingNode) Build(ctx context.Context, cfg tunnel.BuildConfig, via *tunnel.OutboundTunnel) (*tunnel.BuildHandle, error) {
	r.mu.Lock()
	r.builds = append(r.builds, recordedBuild{cfg: cfg, via: via})
	r.mu.Unlock()
	return r.Node.Build(ctx, cfg, via)
}

func (r *recordingNode) recorded() []recordedBuild {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.builds)
}

func hasHop(hops []tunnel.Peer, h data.Hash) bool {
	return slices.ContainsFunc(hops, func(p tunnel.Peer) bool { return p.Hash == h })
}

// testRand is a deterministic randomness source.
func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// startPool makes cfg's pool for creator, routes creator's DeliveryStatus
// to it and runs it until the test ends; it fails the test if Run
// returns an error.
func startPool(t testing.TB, creator *simNode, cfg Config) *Pool {
	t.Helper()
	if cfg.Node == nil {
		cfg.Node = creator.node
	}
	if cfg.Rand == nil {
		cfg.Rand = testRand(1000)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	creator.pool.Store(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// waitFor sleeps in steps of 1 s (fake time in a bubble) until cond holds,
// failing after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
		time.Sleep(time.Second)
	}
}

// logRecorder is a slog.Handler that keeps the records, to count warnings.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}
