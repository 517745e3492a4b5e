package pool

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

func dirs(length, variance, quantity int) (in, out DirConfig) {
	d := DirConfig{Length: length, Quantity: quantity, Variance: variance}
	return d, d
}

// A pool keeps its quantity of tunnels of the configured length on a
// 20-router network for 25 minutes: tests pass and are all claimed, each
// generation is replaced before it stops carrying traffic, builds go
// through the pool's own tunnels once it has some, and variance keeps
// lengths in bounds.
func TestPoolKeepsTunnelsAndReplacesThemBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		name             string
		length, variance int
		minHops, maxHops int
	}{
		{"length 1", 1, 0, 1, 1},
		{"length 2", 2, 0, 2, 2},
		{"length 3", 3, 0, 3, 3},
		{"length 2 variance 1", 2, 1, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := newSimNet(t, 10+uint64(tc.length), 20, simOptions{expireEvery: 5 * time.Second})
				creator := net.order[0]
				rec := &recordingNode{Node: creator.node}
				in, out := dirs(tc.length, tc.variance, 2)
				p := startPool(t, creator, Config{
					Name: tc.name, Node: rec, Peers: PeersFunc(func() []Candidate { return net.candidates() }),
					Inbound: in, Outbound: out,
				})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := p.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				time.Sleep(5 * time.Second)
				checkHops := func() {
					t.Helper()
					for _, ib := range p.Inbound() {
						if n := len(ib.Hops()); n < tc.minHops || n > tc.maxHops || hasHop(ib.Hops(), creator.hash) {
							t.Fatalf("inbound tunnel with %d hops %v", n, ib.Hops())
						}
					}
					for _, ob := range p.Outbound() {
						if n := len(ob.Hops()); n < tc.minHops || n > tc.maxHops || hasHop(ob.Hops(), creator.hash) {
							t.Fatalf("outbound tunnel with %d hops %v", n, ob.Hops())
						}
					}
				}
				for time.Since(start) < 25*time.Minute {
					now := time.Now()
					ins, outs := p.Inbound(), p.Outbound()
					if len(ins) < 2 || len(outs) < 2 {
						t.Fatalf("at %v: %d inbound, %d outbound tunnels; stats %+v", now.Sub(start), len(ins), len(outs), p.Stats())
					}
					for _, ib := range ins {
						if now.Sub(ib.Created()) >= tunnel.Lifetime {
							t.Fatalf("inbound tunnel %d served at age %v", ib.ID(), now.Sub(ib.Created()))
						}
					}
					checkHops()
					if _, err := p.PickInbound(); err != nil {
						t.Fatal(err)
					}
					if _, err := p.PickOutbound(); err != nil {
						t.Fatal(err)
					}
					checkPickFor(t, p, outs)
					time.Sleep(5 * time.Second)
				}
				st := p.Stats()
				total := st.TotalBuilds()
				// Three generations of 2+2 in 25 minutes (0:00, 9:30, 19:00).
				if total.OK < 12 || total.Failed != 0 || st.Retired < 8 || st.Dropped != 0 {
					t.Fatalf("stats %+v", st)
				}
				for n, c := range st.Builds {
					if c.Attempted > 0 && (n < tc.minHops || n > tc.maxHops) {
						t.Fatalf("%d builds of %d hops", c.Attempted, n)
					}
				}
				// A test round every 15 s, two tests a round, plus one per
				// new tunnel.
				if st.TestsPassed < 150 || st.TestsFailed != 0 {
					t.Fatalf("tests passed %d, failed %d", st.TestsPassed, st.TestsFailed)
				}
				if n := creator.unclaimed.Load(); n != 0 {
					t.Fatalf("%d DeliveryStatus not claimed by the pool", n)
				}
				if p.HandleDeliveryStatus(12345, 1) {
					t.Fatal("a stranger's DeliveryStatus claimed")
				}
				// Once the pool had tunnels, builds went through them:
				// outbound replies to one of its inbound gateways, inbound
				// requests through one of its outbound tunnels; all short.
				var viaOwn, total2 int
				for i, b := range rec.recorded() {
					if b.cfg.Long {
						t.Fatalf("build %d is long", i)
					}
					if i < 4 {
						continue
					}
					total2++
					if b.cfg.Inbound && b.via != nil || !b.cfg.Inbound && b.cfg.ReplyGateway != creator.hash {
						viaOwn++
					}
				}
				if viaOwn != total2 {
					t.Fatalf("%d of %d later builds went through the pool's tunnels", viaOwn, total2)
				}
				t.Logf("25 min: builds %+v, tests passed %d, retired %d; %d later builds through own tunnels", total, st.TestsPassed, st.Retired, total2)
			})
		})
	}
}

// The pool decides by Config.Now: a jump of the injected clock (shared
// with the Nodes) to just past NeedsReplacement makes it build the
// successors at once, and they are up before the old tunnels stop being
// served; the old ones are then retired.
func TestPoolReplacesByInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var offset time.Duration
		now := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return time.Now().Add(offset)
		}
		advance := func(d time.Duration) {
			mu.Lock()
			offset += d
			mu.Unlock()
		}
		net := newSimNet(t, 20, 12, simOptions{now: now})
		creator := net.order[0]
		in, out := dirs(2, 0, 2)
		p := startPool(t, creator, Config{
			Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out, Now: now,
		})
		waitFor(t, time.Minute, "ready pool", func() bool { return p.Stats().Inbound == 2 && p.Stats().Outbound == 2 })
		first := p.Inbound()
		firstOut := p.Outbound()
		created := first[0].Created()
		for _, ib := range first[1:] {
			if ib.Created().Before(created) {
				created = ib.Created()
			}
		}

		// 9:35 of age in one step: every tunnel needs its successor.
		advance(created.Add(tunnel.Lifetime + tunnel.ExpiryGrace - tunnel.ReplaceAhead + 5*time.Second).Sub(now()))
		time.Sleep(3 * time.Second)
		if now().Sub(created) >= tunnel.Lifetime {
			t.Fatal("the test took too long")
		}
		st := p.Stats()
		if st.TotalBuilds().OK != 8 || st.Inbound != 4 || st.Outbound != 4 {
			t.Fatalf("after the jump: %+v", st)
		}
		// Past 10:00: only the successors are served.
		advance(30 * time.Second)
		time.Sleep(2 * time.Second)
		if st := p.Stats(); st.Inbound != 2 || st.Outbound != 2 || st.Retired != 4 {
			t.Fatalf("after Lifetime: %+v", st)
		}
		for _, ib := range p.Inbound() {
			for _, old := range first {
				if ib == old {
					t.Fatal("an expired inbound tunnel is still served")
				}
			}
		}
		for _, ob := range p.Outbound() {
			for _, old := range firstOut {
				if ob == old {
					t.Fatal("an expired outbound tunnel is still served")
				}
			}
		}
	})
}

// A hop that refuses every build gets a bad profile, is excluded, and no
// later build asks it again; the pool then fills up through the others.
func TestPoolAvoidsHopThatRejectsBuilds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 30, 8, simOptions{})
		creator, refuser, other := net.order[0], net.order[1], net.order[2]
		refuser.reject.Store(true)
		// First only the refuser and one other router: every two-hop
		// build needs the refuser.
		peers := &peerSet{}
		peers.set(net.candidates(refuser, other))
		rec := &recordingNode{Node: creator.node}
		in, out := dirs(2, 0, 2)
		p := startPool(t, creator, Config{Node: rec, Peers: peers, Inbound: in, Outbound: out})
		waitFor(t, 5*time.Minute, "exclusion of the refusing hop", func() bool {
			return p.Profiles().Excluded(refuser.hash, time.Now())
		})
		prof := p.Profiles().Get(refuser.hash, time.Now())
		if prof.Rejected < DefaultExcludeAfter-0.5 || prof.Accepted != 0 {
			t.Fatalf("refuser profile %+v", prof)
		}
		if st := p.Stats(); st.TotalBuilds().Rejected == 0 || st.TotalBuilds().OK != 0 {
			t.Fatalf("stats %+v", st)
		}
		// Now the whole network.
		before := len(rec.recorded())
		peers.set(net.candidates())
		waitFor(t, 2*time.Minute, "full pool", func() bool {
			st := p.Stats()
			return st.Inbound == 2 && st.Outbound == 2
		})
		time.Sleep(30 * time.Second) // a test round or two
		builds := rec.recorded()
		if len(builds) == before {
			t.Fatal("no builds after the switch")
		}
		for i, b := range builds[before:] {
			if hasHop(b.cfg.Hops, refuser.hash) {
				t.Fatalf("build %d after the exclusion asks the refuser", before+i)
			}
		}
		if st := p.Stats(); st.TestsPassed == 0 || st.TestsFailed != 0 {
			t.Fatalf("stats %+v", st)
		}
		if !p.Profiles().Excluded(refuser.hash, time.Now()) {
			t.Fatal("exclusion ended early")
		}
		t.Logf("refuser %+v; %d builds before the switch, %d after; stats %+v", prof, before, len(builds)-before, p.Stats())
	})
}

// A hop that loses all TunnelData builds tunnels fine, but they fail
// their tests: after two failures each is dropped and replaced, the hop
// is excluded, and the pool ends up with working tunnels without it.
func TestPoolReplacesTunnelsThroughDroppingHop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 40, 10, simOptions{})
		creator, dropper := net.order[0], net.order[1]
		dropper.dropData.Store(true)
		// First the dropper alone: every one-hop tunnel is through it.
		peers := &peerSet{}
		peers.set(net.candidates(dropper))
		in, out := dirs(1, 0, 2)
		p := startPool(t, creator, Config{Peers: peers, Inbound: in, Outbound: out})
		waitFor(t, 5*time.Minute, "tunnels dropped after failed tests", func() bool {
			return p.Stats().Dropped >= 2 && p.Profiles().Excluded(dropper.hash, time.Now())
		})
		st := p.Stats()
		if st.TotalBuilds().OK == 0 || st.TestsFailed < 2 || st.TestsPassed != 0 {
			t.Fatalf("with the dropper only: %+v", st)
		}
		if prof := p.Profiles().Get(dropper.hash, time.Now()); prof.TestsFailed < 2 {
			t.Fatalf("dropper profile %+v", prof)
		}
		// Now the whole network: the pool must recover without the
		// dropper.
		peers.set(net.candidates())
		passed := st.TestsPassed
		waitFor(t, 5*time.Minute, "recovered pool", func() bool {
			st := p.Stats()
			if st.Inbound != 2 || st.Outbound != 2 || st.TestsPassed < passed+4 {
				return false
			}
			for _, ib := range p.Inbound() {
				if hasHop(ib.Hops(), dropper.hash) {
					return false
				}
			}
			for _, ob := range p.Outbound() {
				if hasHop(ob.Hops(), dropper.hash) {
					return false
				}
			}
			return true
		})
		t.Logf("dropper %+v; stats %+v", p.Profiles().Get(dropper.hash, time.Now()), p.Stats())
	})
}

// Builds that never get a reply are given up by the pool's own clock,
// with nobody calling Node.Expire: counted as timed out, blamed on their
// hops, retried with backoff.
func TestPoolTimesOutBuildsWithoutNodeExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 45, 4, simOptions{})
		creator := net.order[0]
		for _, sn := range net.order[1:] {
			sn.silent.Store(true)
		}
		in, out := dirs(1, 0, 1)
		p := startPool(t, creator, Config{Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out})
		time.Sleep(tunnel.BuildTimeout)
		if st := p.Stats(); st.TotalBuilds().Attempted != 2 || st.TotalBuilds().Failed != 0 || st.PendingInbound != 1 || st.PendingOutbound != 1 {
			t.Fatalf("before the timeout: %+v", st)
		}
		time.Sleep(buildGrace + 2*time.Second)
		st := p.Stats()
		if c := st.TotalBuilds(); c.TimedOut != 2 || c.Failed != 2 {
			t.Fatalf("after the timeout: %+v", st)
		}
		if st.LastError == nil || !strings.Contains(st.LastError.Error(), "no reply within 30s") {
			t.Fatalf("last error %v", st.LastError)
		}
		var blamed float64
		for _, sn := range net.order[1:] {
			blamed += p.Profiles().Get(sn.hash, time.Now()).TimedOut
		}
		if blamed < 1.9 {
			t.Fatalf("%.2f timeouts blamed", blamed)
		}
		if n := creator.node.Stats().BuildsFailed; n != 0 {
			t.Fatalf("the Node failed %d builds: someone called Expire", n)
		}
		// The retries come after the backoff, and time out in turn.
		time.Sleep(tunnel.BuildTimeout + 10*time.Second)
		if c := p.Stats().TotalBuilds(); c.TimedOut < 4 || c.Attempted > c.TimedOut+2 {
			t.Fatalf("retries: %+v", c)
		}
	})
}

// With fewer eligible peers than hops, build attempts fail with
// ErrTooFewPeers, logged once at Warn, and the pool keeps retrying
// without building shorter tunnels or panicking.
func TestPoolWithTooFewPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 50, 4, simOptions{})
		creator := net.order[0]
		cands := net.candidates()
		cands[3].Caps = "KR" // too slow: leaves two eligible peers
		peers := &peerSet{}
		peers.set(cands)
		logs := &logRecorder{}
		in, out := dirs(3, 0, 2)
		p := startPool(t, creator, Config{Peers: peers, Inbound: in, Outbound: out, Logger: slog.New(logs)})
		time.Sleep(3 * time.Minute)
		st := p.Stats()
		if !errors.Is(st.LastError, ErrTooFewPeers) || st.SelectFailures < 6 || st.TotalBuilds().Attempted != 0 {
			t.Fatalf("stats %+v", st)
		}
		if msg := st.LastError.Error(); !strings.Contains(msg, "3 hops wanted, 2 eligible among 4 candidates (1 ineligible") {
			t.Fatalf("error %q", msg)
		}
		if n := logs.count(slog.LevelWarn, "cannot build tunnel; will retry"); n != 1 {
			t.Fatalf("%d warnings", n)
		}
		select {
		case <-p.Ready():
			t.Fatal("ready without tunnels")
		default:
		}
		if _, err := p.PickOutbound(); !errors.Is(err, ErrNoTunnel) {
			t.Fatalf("PickOutbound: %v", err)
		}
		// One more peer and it recovers.
		peers.set(net.candidates())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Hops older than 0.9.51 get VariableTunnelBuild (long records), and the
// tunnels work.
func TestPoolBuildsLongForOldHops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 60, 8, simOptions{})
		net.version = "0.9.50"
		creator := net.order[0]
		rec := &recordingNode{Node: creator.node}
		in, out := dirs(2, 0, 1)
		p := startPool(t, creator, Config{Node: rec, Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		for i, b := range rec.recorded() {
			if !b.cfg.Long {
				t.Fatalf("build %d through 0.9.50 hops is short", i)
			}
		}
		if st := p.Stats(); st.TestsPassed == 0 || st.TestsFailed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Run stops when its context ends and leaves nothing behind (synctest
// fails a test whose goroutines outlive it); a stopped pool serves no
// tunnels, claims no tests and cannot be run again.
func TestPoolRunStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 70, 6, simOptions{})
		creator := net.order[0]
		in, out := dirs(2, 0, 2)
		p, err := New(Config{Node: creator.node, Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out, Rand: testRand(1)})
		if err != nil {
			t.Fatal(err)
		}
		creator.pool.Store(p)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		if err := p.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		// Stop in the middle of things: a test round is in flight.
		time.Sleep(15 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(p.Inbound()) != 0 || len(p.Outbound()) != 0 {
			t.Fatal("a stopped pool serves tunnels")
		}
		if st := p.Stats(); st.Inbound != 0 || st.TestsPassed == 0 {
			t.Fatalf("stats %+v", st)
		}
		if err := p.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Fatalf("second Run: %v", err)
		}
		if err := p.WaitReady(context.Background()); err != nil {
			t.Fatalf("WaitReady after a ready pool stopped: %v", err)
		}
		// A pool stopped before it was ready says so.
		p2, err := New(Config{Node: creator.node, Peers: PeersFunc(func() []Candidate { return nil }), Inbound: in, Outbound: out})
		if err != nil {
			t.Fatal(err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() { done <- p2.Run(ctx2) }()
		time.Sleep(time.Second)
		cancel2()
		if err := p2.WaitReady(context.Background()); !errors.Is(err, ErrStopped) {
			t.Fatalf("WaitReady: %v", err)
		}
		<-done
	})
}

// The same in real time, outside a bubble, with accessors hammered from
// other goroutines: after cancel, the goroutine count is back where it
// was.
func TestPoolRunLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	net := newSimNet(t, 80, 6, simOptions{})
	creator := net.order[0]
	in, out := dirs(1, 0, 2)
	p, err := New(Config{Node: creator.node, Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out, Rand: testRand(2)})
	if err != nil {
		t.Fatal(err)
	}
	creator.pool.Store(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				p.Inbound()
				p.Outbound()
				p.PickInbound()
				p.PickOutbound()
				p.Stats()
				p.HandleDeliveryStatus(1, 1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := p.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	readers.Wait()
	net.stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A DeliveryStatus for a test that comes back through the wrong inbound
// tunnel is claimed but counts as a failure.
func TestHandleDeliveryStatusChecksTunnel(t *testing.T) {
	p, err := New(Config{Node: stubNode{}, Peers: PeersFunc(func() []Candidate { return nil }), Inbound: DirConfig{Length: 1, Quantity: 1}, Outbound: DirConfig{Length: 1, Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.tests[7] = &probe{id: 7, inID: 70}
	p.tests[8] = &probe{id: 8, inID: 80}
	if !p.HandleDeliveryStatus(7, 70) || !p.HandleDeliveryStatus(8, 81) || p.HandleDeliveryStatus(9, 90) {
		t.Fatal("claims")
	}
	if p.tests[7].state != probePassed || p.tests[8].state != probeMisrouted {
		t.Fatalf("states %v %v", p.tests[7].state, p.tests[8].state)
	}
	// A second copy changes nothing.
	p.HandleDeliveryStatus(8, 80)
	if p.tests[8].state != probeMisrouted {
		t.Fatal("verdict changed")
	}
}

// stubNode is a Node for tests that never reach it.
type stubNode struct{ Node }

// checkPickFor: PickOutboundFor steers clear of the avoided tunnel
// while another exists.
func checkPickFor(t *testing.T, p *Pool, outs []*tunnel.OutboundTunnel) {
	t.Helper()
	for _, ob := range outs {
		for range 10 {
			got, err := p.PickOutboundFor(0, ob.ID())
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() == ob.ID() {
				t.Fatalf("PickOutboundFor(0, %d) chose it among %d tunnels", ob.ID(), len(outs))
			}
		}
	}
	if got, err := p.PickOutboundFor(0, 12345); err != nil || got == nil {
		t.Fatalf("PickOutboundFor avoiding an unknown tunnel: %v", err)
	}
	// A flow keeps its tunnel, flows spread over all tunnels, and avoiding
	// a tunnel moves only the flows that were on it.
	if len(outs) < 2 {
		return
	}
	pick := func(flow uint64, avoid i2np.TunnelID) i2np.TunnelID {
		t.Helper()
		got, err := p.PickOutboundFor(flow, avoid)
		if err != nil {
			t.Fatal(err)
		}
		return got.ID()
	}
	used := map[i2np.TunnelID]int{}
	for flow := uint64(1); flow <= 200; flow++ {
		id := pick(flow, 0)
		used[id]++
		if again := pick(flow, 0); again != id {
			t.Fatalf("flow %d took tunnel %d, then %d", flow, id, again)
		}
		other := outs[0].ID()
		if other == id {
			other = outs[1].ID()
		}
		if got := pick(flow, other); got != id {
			t.Fatalf("flow %d moved from %d to %d when %d was avoided", flow, id, got, other)
		}
		if got := pick(flow, id); got == id {
			t.Fatalf("flow %d kept the avoided tunnel %d", flow, id)
		}
	}
	if len(used) != len(outs) {
		t.Fatalf("200 flows used %d of %d tunnels: %v", len(used), len(outs), used)
	}
}

// PeerDown drops the tunnels whose hop next to us is the peer and only
// strikes those with it further along; PeerGone (the router is down)
// drops every tunnel through it.
func TestPoolPeerDownAndPeerGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newSimNet(t, 41, 12, simOptions{})
		in, out := dirs(2, 0, 3)
		p := startPool(t, net.order[0], Config{Peers: PeersFunc(func() []Candidate { return net.candidates() }), Inbound: in, Outbound: out})
		waitFor(t, time.Minute, "three tunnels each way", func() bool {
			st := p.Stats()
			return st.Inbound == 3 && st.Outbound == 3
		})
		// An inbound gateway is a hop away from us.
		far := p.Inbound()[0].Hops()[0].Hash
		next, further := map[i2np.TunnelID]bool{}, map[i2np.TunnelID]bool{}
		for _, ib := range p.Inbound() {
			hs := ib.Hops()
			if hs[len(hs)-1].Hash == far {
				next[ib.ID()] = true
			} else if hasHop(hs, far) {
				further[ib.ID()] = true
			}
		}
		for _, ob := range p.Outbound() {
			hs := ob.Hops()
			if hs[0].Hash == far {
				next[ob.ID()] = true
			} else if hasHop(hs, far) {
				further[ob.ID()] = true
			}
		}
		if len(further) == 0 || !p.HasHop(far) {
			t.Fatalf("no tunnel with %s further along", far.Short())
		}
		live := func() map[i2np.TunnelID]bool {
			m := map[i2np.TunnelID]bool{}
			for _, ib := range p.Inbound() {
				m[ib.ID()] = true
			}
			for _, ob := range p.Outbound() {
				m[ob.ID()] = true
			}
			return m
		}
		p.PeerDown(far)
		synctest.Wait()
		now := live()
		for id := range next {
			if now[id] {
				t.Errorf("PeerDown kept tunnel %d, whose next hop is the peer", id)
			}
		}
		for id := range further {
			if !now[id] {
				t.Errorf("PeerDown dropped tunnel %d, where the peer is further along", id)
			}
		}
		p.PeerGone(far)
		synctest.Wait()
		now = live()
		for id := range further {
			if now[id] {
				t.Errorf("PeerGone kept tunnel %d through the peer", id)
			}
		}
	})
}
