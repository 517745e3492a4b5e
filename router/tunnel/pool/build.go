package pool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// buildState is one build's progress; a build leaves the pool's pending
// list when it ends.
//
//	sending ──Node.Build returned a handle──▶ awaiting
//	sending ──Node.Build failed──▶ (ended: failed)
//	awaiting ──the handle is done──▶ (ended: established, rejected, failed)
//	awaiting ──created + BuildTimeout + 1 s, no outcome──▶ (ended: timed out)
type buildState uint8

const (
	buildSending buildState = iota
	buildAwaiting
)

// build is one build in flight.
type build struct {
	dir   direction
	hops  []tunnel.Peer
	long  bool
	state buildState
	h     *tunnel.BuildHandle // awaiting
	// abandon is closed when the build ends, releasing its goroutine.
	abandon chan struct{}
}

// buildEvent reports a build's progress from its goroutine to the loop:
// the outcome of Node.Build (done false), then that the handle is done.
type buildEvent struct {
	b    *build
	h    *tunnel.BuildHandle
	err  error
	done bool
}

// fill starts builds in d until live, suspect and pending tunnels make
// the quantity, within the cap on pending builds and the backoff.
func (p *Pool) fill(ctx context.Context, st *runState, d direction, now time.Time) {
	want := p.dirConfig(d).Quantity
	for {
		fresh, pending := st.count(d)
		if fresh+pending >= want || pending >= p.cfg.MaxPendingBuilds || now.Before(st.nextBuild[d]) {
			return
		}
		if !p.startBuild(ctx, st, d, now) {
			return
		}
	}
}

// buildPathLife is how much life a tunnel needs left to carry a build
// request or reply: the build may take BuildTimeout, and a reply sent
// into an inbound tunnel that expires meanwhile is lost, which showed as
// timed-out builds around every replacement in the i2pd soak.
const buildPathLife = tunnel.BuildTimeout + 15*time.Second

// pick returns a served tunnel of d at random for a build's path,
// preferring those with buildPathLife left, then those not suspect; nil
// when there is none.
func (p *Pool) pick(st *runState, d direction, now time.Time) *entry {
	var tiers [4][]*entry // long-lived and good, long-lived, good, any
	for _, e := range st.tunnels[d] {
		if !served(e.state, e.created, now) {
			continue
		}
		long := e.created.Add(tunnel.Lifetime).Sub(now) >= buildPathLife
		good := e.state != tunnelSuspect
		if long && good {
			tiers[0] = append(tiers[0], e)
		}
		if long {
			tiers[1] = append(tiers[1], e)
		}
		if good {
			tiers[2] = append(tiers[2], e)
		}
		tiers[3] = append(tiers[3], e)
	}
	for _, t := range tiers {
		if len(t) > 0 {
			return t[p.rng.IntN(len(t))]
		}
	}
	return nil
}

// startBuild selects hops and starts one build in d; false when no build
// could be started (the failure is recorded and backs d off).
func (p *Pool) startBuild(ctx context.Context, st *runState, d direction, now time.Time) bool {
	n := p.dirConfig(d).hops(p.rng)
	sel, err := selectHops(p.rng, p.cfg.Peers.Candidates(), p.node.Hash(), p.profiles, st.hopsInUse(d), n, now)
	if err != nil {
		st.stats.SelectFailures++
		st.stats.LastError = err
		if !st.peersShort {
			st.peersShort = true
			p.log.Warn("cannot build tunnel; will retry", "dir", d, "err", err)
		} else {
			p.log.Debug("cannot build tunnel", "dir", d, "err", err)
		}
		p.backoff(st, d, now)
		return false
	}
	if st.peersShort {
		st.peersShort = false
		p.log.Info("enough peers for tunnels again", "dir", d)
	}
	cfg := tunnel.BuildConfig{Hops: sel.hops, Inbound: d == dirIn, Long: sel.long}
	var via *tunnel.OutboundTunnel
	path := "direct"
	if d == dirIn {
		// The request travels through one of our outbound tunnels, so
		// that the gateway does not learn who builds; the first ones
		// can only go direct.
		if e := p.pick(st, dirOut, now); e != nil {
			via, path = e.out, fmt.Sprintf("via outbound %d", e.out.ID())
		}
	} else {
		// The reply comes back through one of our inbound tunnels, or
		// the Node's zero-hop tunnel until we have one.
		if e := p.pick(st, dirIn, now); e != nil {
			cfg.ReplyGateway, cfg.ReplyTunnel = e.in.Gateway()
			path = fmt.Sprintf("reply via inbound %d", e.in.ID())
		} else {
			cfg.ReplyGateway, cfg.ReplyTunnel = p.node.ZeroHopInbound()
			path = "reply via zero-hop"
		}
	}
	b := &build{dir: d, hops: sel.hops, long: sel.long, abandon: make(chan struct{})}
	st.pending = append(st.pending, b)
	st.stats.Builds[n].Attempted++
	p.log.Debug("building tunnel", "dir", d, "hops", hopList(sel.hops), "long", sel.long, "path", path)
	st.wg.Go(func() { p.runBuild(ctx, b, cfg, via) })
	return true
}

// runBuild is a build's goroutine: it sends the request and waits for the
// handle, reporting both to the loop.
func (p *Pool) runBuild(ctx context.Context, b *build, cfg tunnel.BuildConfig, via *tunnel.OutboundTunnel) {
	sctx, cancel := context.WithTimeout(ctx, buildSendTimeout)
	h, err := p.node.Build(sctx, cfg, via)
	cancel()
	if !p.post(ctx, buildEvent{b: b, h: h, err: err}) || err != nil {
		return
	}
	select {
	case <-h.Done():
		p.post(ctx, buildEvent{b: b, h: h, done: true})
	case <-b.abandon:
	case <-ctx.Done():
	}
}

func (p *Pool) post(ctx context.Context, ev buildEvent) bool {
	select {
	case p.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// end removes b from the pending builds.
func (st *runState) end(b *build) bool {
	for i, x := range st.pending {
		if x == b {
			st.pending = append(st.pending[:i], st.pending[i+1:]...)
			close(b.abandon)
			return true
		}
	}
	return false
}

func (st *runState) isPending(b *build) bool {
	for _, x := range st.pending {
		if x == b {
			return true
		}
	}
	return false
}

func (p *Pool) onBuildEvent(ctx context.Context, st *runState, ev buildEvent) {
	b := ev.b
	if !st.isPending(b) {
		return // given up on already
	}
	now := p.cfg.Now()
	switch {
	case !ev.done && ev.err != nil:
		st.end(b)
		c := &st.stats.Builds[len(b.hops)]
		c.Failed++
		p.buildFailed(st, b, now, fmt.Errorf("pool: send %v build: %w", b.dir, ev.err))
	case !ev.done:
		b.state, b.h = buildAwaiting, ev.h
	default:
		st.end(b)
		res, err := b.h.Result()
		p.buildOutcome(ctx, st, b, now, res, err)
	}
}

// expireBuilds gives up builds whose reply is overdue. The Node refuses
// replies after tunnel.BuildTimeout, so after the grace nothing can come;
// the pool does not rely on Node.Expire to learn it.
func (p *Pool) expireBuilds(st *runState, now time.Time) {
	for _, b := range append([]*build(nil), st.pending...) {
		if b.state != buildAwaiting || now.Sub(b.h.Build().Created()) <= tunnel.BuildTimeout+buildGrace {
			continue
		}
		select {
		case <-b.h.Done():
			continue // its outcome is on the way
		default:
		}
		st.end(b)
		c := &st.stats.Builds[len(b.hops)]
		c.Failed++
		c.TimedOut++
		p.blame(now, BuildTimedOut, b.hops)
		p.buildFailed(st, b, now, fmt.Errorf("pool: %v build through %s: no reply within %v", b.dir, hopList(b.hops), tunnel.BuildTimeout))
	}
}

func (p *Pool) buildOutcome(ctx context.Context, st *runState, b *build, now time.Time, res *tunnel.BuildResult, err error) {
	c := &st.stats.Builds[len(b.hops)]
	if err == nil && res != nil && (res.Inbound != nil || res.Outbound != nil) {
		c.OK++
		p.blame(now, BuildAccepted, b.hops)
		st.failures[b.dir], st.nextBuild[b.dir] = 0, time.Time{}
		e := &entry{dir: b.dir, in: res.Inbound, out: res.Outbound, hops: b.hops, state: tunnelLive}
		if e.in != nil {
			e.created = e.in.Created()
		} else {
			e.created = e.out.Created()
		}
		st.tunnels[b.dir] = append(st.tunnels[b.dir], e)
		p.log.Debug("tunnel built", "dir", b.dir, "tunnel", e.id(), "hops", hopList(b.hops), "long", b.long)
		// Test it at once: a tunnel that never worked should not wait
		// for the next round to be found out.
		if other := p.testPartner(st, e, now); other != nil {
			if e.dir == dirOut {
				p.probe(ctx, st, e, other, now)
			} else {
				p.probe(ctx, st, other, e, now)
			}
		}
		return
	}
	c.Failed++
	if err == nil {
		err = fmt.Errorf("pool: %v build gave no tunnel", b.dir)
	}
	if errors.Is(err, tunnel.ErrRejected) && res != nil && len(res.Codes) == len(b.hops) {
		c.Rejected++
		for i, code := range res.Codes {
			o := BuildAccepted
			if code != i2np.ReplyAccept {
				o = BuildRejected
			}
			p.blame(now, o, b.hops[i:i+1])
		}
	} else {
		// Timed out at the Node, or a reply that did not authenticate:
		// no hop can be singled out.
		c.TimedOut++
		p.blame(now, BuildTimedOut, b.hops)
	}
	p.buildFailed(st, b, now, err)
}

// buildFailed records a failed build and backs its direction off.
func (p *Pool) buildFailed(st *runState, b *build, now time.Time, err error) {
	st.stats.LastError = err
	p.log.Debug("tunnel build failed", "dir", b.dir, "hops", hopList(b.hops), "err", err)
	p.backoff(st, b.dir, now)
	if st.failures[b.dir] == 10 {
		p.log.Warn("tunnel builds keep failing", "dir", b.dir, "failures", st.failures[b.dir], "err", err)
	}
}

// backoff delays the next build in d: 2 s after the first failure in a
// row, doubling up to a minute.
func (p *Pool) backoff(st *runState, d direction, now time.Time) {
	st.failures[d]++
	wait := buildBackoffMax
	if k := st.failures[d] - 1; k < 8 {
		wait = min(buildBackoffMin<<k, buildBackoffMax)
	}
	st.nextBuild[d] = now.Add(wait)
}

// blame records o for hops in the profiles and logs new exclusions.
func (p *Pool) blame(now time.Time, o Outcome, hops []tunnel.Peer) {
	hs := make([]data.Hash, len(hops))
	for i, h := range hops {
		hs[i] = h.Hash
	}
	for _, h := range p.profiles.Record(now, o, hs...) {
		p.log.Info("peer excluded from tunnels", "peer", h.Short(), "after", o)
	}
}

// hopList is hops as short hashes, in order: "AbCdEf-GhIjKl".
func hopList(hops []tunnel.Peer) string {
	s := make([]string, len(hops))
	for i, h := range hops {
		s[i] = h.String()
	}
	return strings.Join(s, "-")
}

// hopsInUse counts, per router, the pool's tunnels in d (live or being
// built) it is a hop of.
func (st *runState) hopsInUse(d direction) map[data.Hash]int {
	used := map[data.Hash]int{}
	for _, e := range st.tunnels[d] {
		for _, h := range e.hops {
			used[h.Hash]++
		}
	}
	for _, b := range st.pending {
		if b.dir == d {
			for _, h := range b.hops {
				used[h.Hash]++
			}
		}
	}
	return used
}
