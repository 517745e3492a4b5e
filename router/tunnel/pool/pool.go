package pool

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// direction is inbound or outbound.
type direction uint8

const (
	dirIn direction = iota
	dirOut
)

var directions = [...]direction{dirIn, dirOut}

func (d direction) String() string {
	if d == dirIn {
		return "inbound"
	}
	return "outbound"
}

// poolState is the pool's life cycle:
//
//	idle ──Run──▶ running ──ctx done──▶ stopped
//
// A stopped pool serves no tunnels and answers no tests; Run may not be
// called again.
type poolState uint8

const (
	poolIdle poolState = iota
	poolRunning
	poolStopped
)

func (s poolState) String() string {
	switch s {
	case poolIdle:
		return "idle"
	case poolRunning:
		return "running"
	case poolStopped:
		return "stopped"
	}
	return fmt.Sprintf("poolState(%d)", uint8(s))
}

// tunnelState is the pool's view of one of its established tunnels; the
// tunnel's own tunnel.State keeps counting its age underneath.
//
//	live ──test failed──▶ suspect ──test passed──▶ live
//	suspect ──test failed──▶ gone (dropped; a successor is built)
//	live ──NeedsReplacement (age 9:30)──▶ retiring
//	suspect ──NeedsReplacement──▶ gone (retired early)
//	retiring ──age ≥ tunnel.Lifetime (10:00)──▶ gone (retired)
//
// A retiring tunnel is still handed out but no longer counts towards the
// quantity, so its successor is built, and it is no longer tested: a
// verdict would come too late to matter. For the same reason a suspect
// tunnel is not kept for its last 30 s. Gone is final; the Node keeps an
// inbound tunnel delivering what is in flight until its own expiry.
type tunnelState uint8

const (
	tunnelLive tunnelState = iota
	tunnelSuspect
	tunnelRetiring
	tunnelGone
)

func (s tunnelState) String() string {
	switch s {
	case tunnelLive:
		return "live"
	case tunnelSuspect:
		return "suspect"
	case tunnelRetiring:
		return "retiring"
	case tunnelGone:
		return "gone"
	}
	return fmt.Sprintf("tunnelState(%d)", uint8(s))
}

// entry is one of the pool's tunnels; only the loop touches it.
type entry struct {
	dir     direction
	in      *tunnel.InboundTunnel
	out     *tunnel.OutboundTunnel
	hops    []tunnel.Peer
	created time.Time
	state   tunnelState
	probes  int // tests in flight
}

func (e *entry) id() i2np.TunnelID {
	if e.in != nil {
		return e.in.ID()
	}
	return e.out.ID()
}

func (e *entry) needsReplacement(now time.Time) bool {
	if e.in != nil {
		return e.in.NeedsReplacement(now)
	}
	return e.out.NeedsReplacement(now)
}

// served reports whether the tunnel may carry new traffic: not gone and
// younger than tunnel.Lifetime, after which it is Expiring.
func served(state tunnelState, created, now time.Time) bool {
	return state != tunnelGone && now.Sub(created) < tunnel.Lifetime
}

// view is an entry as the accessors see it.
type view struct {
	in      *tunnel.InboundTunnel
	out     *tunnel.OutboundTunnel
	created time.Time
	state   tunnelState
}

// snapshot is what the loop publishes for other goroutines.
type snapshot struct {
	in, out []view
	stats   Stats
}

// Pool keeps Quantity inbound and Quantity outbound tunnels through
// peers of its choice, tests them and replaces them; see the package
// documentation. One goroutine, Run's, owns the tunnels, builds and
// schedules; HandleDeliveryStatus and the accessors may be called from
// any goroutine and only read a published snapshot or signal the loop.
type Pool struct {
	cfg      Config
	log      *slog.Logger
	node     Node
	profiles *Profiles
	rng      *lockedRand

	events chan buildEvent // build goroutines → loop
	wakeCh chan struct{}   // test verdicts → loop
	down   chan peerReport // PeerDown, PeerGone → loop
	ready  chan struct{}   // closed once by the loop
	done   chan struct{}   // closed when Run returns

	mu    sync.Mutex
	state poolState
	tests map[uint32]*probe
	snap  snapshot
}

// New returns a Pool for cfg; Run starts it.
func New(cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rng, err := newLockedRand(cfg.Rand)
	if err != nil {
		return nil, err
	}
	return &Pool{
		cfg:      cfg,
		log:      cfg.Logger.With("pool", cfg.Name),
		node:     cfg.Node,
		profiles: cfg.Profiles,
		rng:      rng,
		events:   make(chan buildEvent, 2*2*cfg.MaxPendingBuilds), // two events per build, two directions
		wakeCh:   make(chan struct{}, 1),
		down:     make(chan peerReport, 16),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		tests:    map[uint32]*probe{},
	}, nil
}

// Profiles is the peer record the pool selects with.
func (p *Pool) Profiles() *Profiles { return p.profiles }

// runState is everything the loop owns.
type runState struct {
	wg        *sync.WaitGroup
	tunnels   [2][]*entry
	pending   []*build
	failures  [2]int // consecutive failed attempts per direction
	nextBuild [2]time.Time
	nextTest  time.Time
	lastPrune time.Time
	// peersShort is set while build attempts find too few peers, so that
	// only the first is logged at Warn.
	peersShort bool
	stats      Stats
	ready      bool
}

// Run keeps the pool until ctx ends, then returns nil once every
// goroutine it started is gone. The loop wakes every second and whenever
// a build or test finishes; each pass (maintain) expires builds, applies
// test verdicts, retires old tunnels, starts a test round when one is due
// and starts builds where tunnels are missing. Run may be called once.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.state != poolIdle {
		s := p.state
		p.mu.Unlock()
		return fmt.Errorf("%w: pool %q is %v", ErrRunning, p.cfg.Name, s)
	}
	p.state = poolRunning
	p.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	st := &runState{wg: &wg}
	defer func() {
		// Goroutines leave on ctx; only then may the pool forget.
		cancel()
		wg.Wait()
		p.mu.Lock()
		p.state = poolStopped
		stats := p.snap.stats
		stats.Inbound, stats.Outbound, stats.PendingInbound, stats.PendingOutbound = 0, 0, 0, 0
		p.snap = snapshot{stats: stats}
		clear(p.tests)
		p.mu.Unlock()
		close(p.done)
		p.log.Debug("pool stopped")
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	p.log.Debug("pool running", "inbound", p.cfg.Inbound, "outbound", p.cfg.Outbound)
	p.maintain(ctx, st)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-p.events:
			p.onBuildEvent(ctx, st, ev)
			p.maintain(ctx, st)
		case <-p.wakeCh:
			p.maintain(ctx, st)
		case rep := <-p.down:
			p.onPeerDown(st, rep)
			p.maintain(ctx, st)
		case <-t.C:
			p.maintain(ctx, st)
		}
	}
}

// PeerDown tells the pool that this router cannot reach peer h (a dial
// failed: the router is gone or refuses us). A tunnel whose hop next to
// us is h carries nothing any more and is dropped at once, to be
// replaced, instead of after two failed tests 30 s or more later (time in
// which its lease or its place in a stream's path loses every message); a
// tunnel with h further along gets a strike, as a failed test would give.
// Safe from any goroutine; it never blocks (when many reports queue up,
// the tunnel tests still notice).
func (p *Pool) PeerDown(h data.Hash) { p.report(peerReport{h: h}) }

// PeerGone tells the pool that router h is down: it closed its session
// with us and now refuses connections (a killed or restarting router).
// Every tunnel through it is dropped at once, wherever h is in it; the
// hops around it would learn that only by losing what they forward.
func (p *Pool) PeerGone(h data.Hash) { p.report(peerReport{h: h, gone: true}) }

// peerReport is a PeerDown or PeerGone for the loop.
type peerReport struct {
	h    data.Hash
	gone bool
}

func (p *Pool) report(rep peerReport) {
	select {
	case p.down <- rep:
	default:
	}
}

func (p *Pool) onPeerDown(st *runState, rep peerReport) {
	h := rep.h
	for _, d := range directions {
		for _, e := range slices.Clone(st.tunnels[d]) {
			if (e.state != tunnelLive && e.state != tunnelSuspect) || !hasHash(e.hops, h) {
				continue
			}
			next := e.hops[0].Hash // an outbound tunnel's first hop
			if d == dirIn {
				next = e.hops[len(e.hops)-1].Hash // an inbound tunnel's last hop
			}
			if next != h && !rep.gone {
				p.strike(st, e)
				continue
			}
			e.state = tunnelGone
			st.stats.Dropped++
			st.sweep(e.dir)
			if rep.gone {
				p.log.Info("tunnel dropped: a hop is down", "dir", e.dir, "tunnel", e.id(), "hops", hopList(e.hops), "down", h.Short())
			} else {
				p.log.Info("tunnel dropped: its next hop is unreachable", "dir", e.dir, "tunnel", e.id(), "hops", hopList(e.hops))
			}
		}
	}
}

func hasHash(hops []tunnel.Peer, h data.Hash) bool {
	return slices.ContainsFunc(hops, func(p tunnel.Peer) bool { return p.Hash == h })
}

// maintain is one pass of the loop.
func (p *Pool) maintain(ctx context.Context, st *runState) {
	now := p.cfg.Now()
	p.expireBuilds(st, now)
	p.collectTests(st, now)
	p.age(st, now)
	if !now.Before(st.nextTest) {
		st.nextTest = now.Add(p.cfg.TestInterval)
		p.testRound(ctx, st, now)
	}
	for _, d := range directions {
		p.fill(ctx, st, d, now)
	}
	if now.Sub(st.lastPrune) >= pruneEvery {
		st.lastPrune = now
		p.profiles.Prune(now)
	}
	p.publish(st, now)
}

func (p *Pool) dirConfig(d direction) DirConfig {
	if d == dirIn {
		return p.cfg.Inbound
	}
	return p.cfg.Outbound
}

// count returns the tunnels of d that count towards the quantity (live
// and suspect) and the builds of d in flight.
func (st *runState) count(d direction) (fresh, pending int) {
	for _, e := range st.tunnels[d] {
		if e.state == tunnelLive || e.state == tunnelSuspect {
			fresh++
		}
	}
	for _, b := range st.pending {
		if b.dir == d {
			pending++
		}
	}
	return fresh, pending
}

// age moves tunnels along with time: retiring when their successor is
// due, gone at tunnel.Lifetime.
func (p *Pool) age(st *runState, now time.Time) {
	for _, d := range directions {
		for _, e := range st.tunnels[d] {
			switch {
			case now.Sub(e.created) >= tunnel.Lifetime,
				e.state == tunnelSuspect && e.needsReplacement(now):
				e.state = tunnelGone
				st.stats.Retired++
				p.log.Debug("tunnel retired", "dir", d, "tunnel", e.id())
			case e.state == tunnelLive && e.needsReplacement(now):
				e.state = tunnelRetiring
				p.log.Debug("tunnel retiring; building its successor", "dir", d, "tunnel", e.id())
			}
		}
		st.sweep(d)
	}
}

// sweep drops the gone tunnels of d.
func (st *runState) sweep(d direction) {
	keep := st.tunnels[d][:0]
	for _, e := range st.tunnels[d] {
		if e.state != tunnelGone {
			keep = append(keep, e)
		}
	}
	clear(st.tunnels[d][len(keep):])
	st.tunnels[d] = keep
}

// publish copies what the accessors show, and signals readiness.
func (p *Pool) publish(st *runState, now time.Time) {
	var snap snapshot
	for _, e := range st.tunnels[dirIn] {
		if served(e.state, e.created, now) {
			snap.in = append(snap.in, view{in: e.in, created: e.created, state: e.state})
		}
	}
	for _, e := range st.tunnels[dirOut] {
		if served(e.state, e.created, now) {
			snap.out = append(snap.out, view{out: e.out, created: e.created, state: e.state})
		}
	}
	snap.stats = st.stats
	snap.stats.Inbound, snap.stats.Outbound = len(snap.in), len(snap.out)
	_, snap.stats.PendingInbound = st.count(dirIn)
	_, snap.stats.PendingOutbound = st.count(dirOut)
	p.mu.Lock()
	p.snap = snap
	p.mu.Unlock()
	if !st.ready && len(snap.in) > 0 && len(snap.out) > 0 {
		st.ready = true
		close(p.ready)
		p.log.Info("pool ready", "inbound", len(snap.in), "outbound", len(snap.out))
	}
}

// live returns the views of a direction still served at now.
func live(vs []view, now time.Time) []view {
	var out []view
	for _, v := range vs {
		if served(v.state, v.created, now) {
			out = append(out, v)
		}
	}
	return out
}

// Inbound returns the established inbound tunnels younger than
// tunnel.Lifetime: those to publish in a LeaseSet (each lease ending at
// Created + tunnel.Lifetime).
func (p *Pool) Inbound() []*tunnel.InboundTunnel {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []*tunnel.InboundTunnel
	for _, v := range live(p.snap.in, now) {
		ts = append(ts, v.in)
	}
	return ts
}

// Outbound returns the established outbound tunnels younger than
// tunnel.Lifetime.
func (p *Pool) Outbound() []*tunnel.OutboundTunnel {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []*tunnel.OutboundTunnel
	for _, v := range live(p.snap.out, now) {
		ts = append(ts, v.out)
	}
	return ts
}

// pickView chooses at random among vs, preferring tunnels whose last test
// did not fail.
func (p *Pool) pickView(vs []view) (view, bool) {
	good := passing(vs)
	if len(good) == 0 {
		return view{}, false
	}
	return good[p.rng.IntN(len(good))], true
}

// passing returns the views whose last test did not fail, or all of them
// when every one did.
func passing(vs []view) []view {
	var good []view
	for _, v := range vs {
		if v.state != tunnelSuspect {
			good = append(good, v)
		}
	}
	if len(good) == 0 {
		return vs
	}
	return good
}

// PickInbound returns one of the live inbound tunnels at random
// (ErrNoTunnel when there is none), preferring those whose last test did
// not fail.
func (p *Pool) PickInbound() (*tunnel.InboundTunnel, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	v, ok := p.pickView(live(p.snap.in, now))
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: pool %q has no inbound tunnel", ErrNoTunnel, p.cfg.Name)
	}
	return v.in, nil
}

// HasHop reports whether h is a hop of one of the pool's live tunnels.
func (p *Pool) HasHop(h data.Hash) bool {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range live(p.snap.in, now) {
		if hasHash(v.in.Hops(), h) {
			return true
		}
	}
	for _, v := range live(p.snap.out, now) {
		if hasHash(v.out.Hops(), h) {
			return true
		}
	}
	return false
}

// PickOutbound returns one of the live outbound tunnels at random
// (ErrNoTunnel when there is none), preferring those whose last test did
// not fail.
func (p *Pool) PickOutbound() (*tunnel.OutboundTunnel, error) { return p.PickOutboundFor(0, 0) }

// PickOutboundFor is PickOutbound leaving out the tunnel avoid while
// another exists (a caller moving messages away from a tunnel that failed
// them; zero avoids nothing), for the messages of one flow (a
// stream): every message of a nonzero flow takes the same tunnel while
// the tunnel set allows, chosen by rendezvous hashing of the flow and the
// tunnel IDs, so that
//   - one stream's packets are not reordered by tunnels of different
//     delays: the peer's streaming takes a reordered packet for a lost one,
//     halving its window, and a bulk stream spread over three tunnels
//     crawled at a tenth of its speed;
//   - many streams still spread over all tunnels (one tunnel carrying a
//     hundred streams overloaded its hops);
//   - a tunnel that appears or goes moves only the flows that pick it or
//     picked it.
//
// Flow zero picks at random.
func (p *Pool) PickOutboundFor(flow uint64, avoid i2np.TunnelID) (*tunnel.OutboundTunnel, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	vs := live(p.snap.out, now)
	if avoid != 0 && len(vs) > 1 {
		vs = slices.DeleteFunc(vs, func(v view) bool { return v.out.ID() == avoid })
	}
	var (
		v  view
		ok bool
	)
	if flow == 0 {
		v, ok = p.pickView(vs)
	} else {
		v, ok = pickFlow(vs, flow)
	}
	if !ok {
		return nil, fmt.Errorf("%w: pool %q has no outbound tunnel", ErrNoTunnel, p.cfg.Name)
	}
	return v.out, nil
}

// pickFlow is pickView's rendezvous-hashing twin: of the tunnels whose
// last test did not fail (all of them when every one did), the one whose
// ID scores highest with flow.
func pickFlow(vs []view, flow uint64) (view, bool) {
	best, found := view{}, false
	var top uint64
	key := mix64(flow)
	for _, v := range passing(vs) {
		if sc := mix64(key + uint64(v.out.ID())); !found || sc > top {
			best, top, found = v, sc, true
		}
	}
	return best, found
}

// mix64 is the splitmix64 finalizer: every input bit moves every output
// bit, which rendezvous hashing needs of its scores.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Stats returns the counters as of the loop's last pass.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap.stats
}

// Ready is closed once the pool first has an inbound and an outbound
// tunnel; destinations wait for it before publishing a LeaseSet. It stays
// closed: Inbound and Outbound tell what there is now.
func (p *Pool) Ready() <-chan struct{} { return p.ready }

// WaitReady waits for Ready, the end of ctx (its error) or the end of Run
// (ErrStopped).
func (p *Pool) WaitReady(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		select {
		case <-p.ready:
			return nil
		default:
		}
		return fmt.Errorf("%w: pool %q stopped before it was ready", ErrStopped, p.cfg.Name)
	case <-ctx.Done():
		return fmt.Errorf("pool %q: waiting for tunnels: %w", p.cfg.Name, ctx.Err())
	}
}
