package pool

import (
	"context"
	"fmt"
	"time"

	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// probeState is one tunnel test's progress:
//
//	pending ──DeliveryStatus through the expected inbound tunnel──▶ passed
//	pending ──DeliveryStatus through another tunnel──▶ misrouted
//	pending ──Node.Send failed──▶ unsent
//	pending ──TestTimeout──▶ lost
//
// Every state but pending is final; the loop then applies the verdict.
// Misrouted and lost count against both tunnels, unsent against the
// outbound tunnel only (as the onDrop handler of later i2pd versions does).
type probeState uint8

const (
	probePending probeState = iota
	probePassed
	probeMisrouted
	probeUnsent
	probeLost
)

func (s probeState) String() string {
	switch s {
	case probePending:
		return "pending"
	case probePassed:
		return "passed"
	case probeMisrouted:
		return "misrouted"
	case probeUnsent:
		return "unsent"
	case probeLost:
		return "lost"
	}
	return fmt.Sprintf("probeState(%d)", uint8(s))
}

// probe is one tunnel test. id, in, out, inID and sent are fixed at
// creation; state, rtt and err are guarded by Pool.mu.
type probe struct {
	id      uint32
	out, in *entry
	inID    i2np.TunnelID
	sent    time.Time
	state   probeState
	rtt     time.Duration
	err     error
}

// wake makes the loop run a pass soon; it never blocks.
func (p *Pool) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

// testable returns d's tunnels that tests are for: live and suspect;
// idle only, or all of them.
func (st *runState) testable(d direction, idleOnly bool) []*entry {
	var es []*entry
	for _, e := range st.tunnels[d] {
		if (e.state == tunnelLive || e.state == tunnelSuspect) && (!idleOnly || e.probes == 0) {
			es = append(es, e)
		}
	}
	return es
}

// testPartner returns a tunnel of the other direction to test e with.
func (p *Pool) testPartner(st *runState, e *entry, now time.Time) *entry {
	other := dirIn
	if e.dir == dirIn {
		other = dirOut
	}
	cands := st.testable(other, false)
	if len(cands) == 0 {
		return nil
	}
	return cands[p.rng.IntN(len(cands))]
}

// testRound pairs the idle live and suspect tunnels at random, an
// outbound with an inbound one, as i2pd's TestTunnels does; when one
// side has more, the rest are paired with random tunnels of the other,
// so that every tunnel is tested every round.
func (p *Pool) testRound(ctx context.Context, st *runState, now time.Time) {
	outs, ins := st.testable(dirOut, true), st.testable(dirIn, true)
	p.rng.Shuffle(len(outs), func(i, j int) { outs[i], outs[j] = outs[j], outs[i] })
	p.rng.Shuffle(len(ins), func(i, j int) { ins[i], ins[j] = ins[j], ins[i] })
	allOuts, allIns := st.testable(dirOut, false), st.testable(dirIn, false)
	if len(allOuts) == 0 || len(allIns) == 0 {
		return
	}
	for i := range max(len(outs), len(ins)) {
		var o, in *entry
		if i < len(outs) {
			o = outs[i]
		} else {
			o = allOuts[p.rng.IntN(len(allOuts))]
		}
		if i < len(ins) {
			in = ins[i]
		} else {
			in = allIns[p.rng.IntN(len(allIns))]
		}
		p.probe(ctx, st, o, in, now)
	}
}

// probe sends one test: a DeliveryStatus with a fresh ID through out,
// delivered by its endpoint to in's gateway (TUNNEL delivery), expected
// back at our router through in.
func (p *Pool) probe(ctx context.Context, st *runState, out, in *entry, now time.Time) {
	body := i2np.DeliveryStatus{Timestamp: uint64(now.UnixMilli())}
	p.mu.Lock()
	for body.MessageID == 0 || p.tests[body.MessageID] != nil {
		body.MessageID = p.rng.Uint32()
	}
	p.mu.Unlock()
	msg, err := i2np.NewMessage(p.rng.Uint32(), i2np.ExpirationMillis(now.Add(p.cfg.TestTimeout)), body)
	if err != nil {
		p.log.Error("tunnel test message", "err", err)
		return
	}
	gw, gwID := in.in.Gateway()
	pr := &probe{id: body.MessageID, out: out, in: in, inID: in.in.ID(), sent: now}
	out.probes++
	in.probes++
	p.mu.Lock()
	p.tests[pr.id] = pr
	p.mu.Unlock()
	blocks := []tunnel.Block{{Delivery: tunnel.Delivery{Type: tunnel.DeliveryTunnel, TunnelID: gwID, Hash: gw}, Msg: msg}}
	ob := out.out
	st.wg.Go(func() {
		if err := p.node.Send(ctx, ob, blocks); err != nil {
			p.mu.Lock()
			if pr.state == probePending {
				pr.state, pr.err = probeUnsent, err
			}
			p.mu.Unlock()
			p.wake()
		}
	})
}

// HandleDeliveryStatus takes a DeliveryStatus that reached our router:
// msgID is its body's message ID, via the inbound tunnel it came through
// (the tunnel argument of the Node's Local callback). It reports whether
// the message was one of this pool's tests; if so, the router should
// consume it. Safe for concurrent use; it never blocks on the loop.
func (p *Pool) HandleDeliveryStatus(msgID uint32, via i2np.TunnelID) bool {
	p.mu.Lock()
	pr, ok := p.tests[msgID]
	if ok && pr.state == probePending {
		if via == pr.inID {
			pr.state, pr.rtt = probePassed, p.cfg.Now().Sub(pr.sent)
		} else {
			pr.state = probeMisrouted
		}
	}
	p.mu.Unlock()
	if ok {
		p.wake()
	}
	return ok
}

// collectTests takes the finished and overdue tests and applies their
// verdicts.
func (p *Pool) collectTests(st *runState, now time.Time) {
	var done []*probe
	p.mu.Lock()
	for id, pr := range p.tests {
		if pr.state == probePending && now.Sub(pr.sent) > p.cfg.TestTimeout {
			pr.state = probeLost
		}
		if pr.state != probePending {
			done = append(done, pr)
			delete(p.tests, id)
		}
	}
	p.mu.Unlock()
	for _, pr := range done {
		p.verdict(st, pr, now)
	}
}

func (p *Pool) verdict(st *runState, pr *probe, now time.Time) {
	pr.out.probes--
	pr.in.probes--
	hops := append(append([]tunnel.Peer(nil), pr.out.hops...), pr.in.hops...)
	switch pr.state {
	case probePassed:
		st.stats.TestsPassed++
		for _, e := range []*entry{pr.out, pr.in} {
			if e.state == tunnelSuspect {
				e.state = tunnelLive
			}
		}
		p.blame(now, TestPassed, hops)
		p.log.Debug("tunnel test passed", "outbound", pr.out.id(), "inbound", pr.in.id(), "rtt", pr.rtt)
	case probeUnsent:
		st.stats.TestsFailed++
		p.strike(st, pr.out)
		p.blame(now, TestFailed, pr.out.hops)
		p.log.Debug("tunnel test not sent", "outbound", pr.out.id(), "err", pr.err)
	default:
		st.stats.TestsFailed++
		p.strike(st, pr.out)
		p.strike(st, pr.in)
		p.blame(now, TestFailed, hops)
		p.log.Debug("tunnel test failed", "outbound", pr.out.id(), "inbound", pr.in.id(), "state", pr.state)
	}
}

// strike counts a failed test against e: the second in a row drops it.
func (p *Pool) strike(st *runState, e *entry) {
	switch e.state {
	case tunnelLive:
		e.state = tunnelSuspect
	case tunnelSuspect:
		e.state = tunnelGone
		st.stats.Dropped++
		st.sweep(e.dir)
		p.log.Info("tunnel dropped after failing two tests", "dir", e.dir, "tunnel", e.id(), "hops", hopList(e.hops))
	}
}
