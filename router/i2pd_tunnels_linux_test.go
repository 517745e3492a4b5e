//go:build linux

package router

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/internal/i2pdtest"
	"i2pbridge/router/tunnel/pool"
)

// tunnelSoakEnv sets how long TestInteropTunnelsWithI2pd keeps its pools
// running (a Go duration; default tunnelSoakDefault). `make soak` sets
// 10m for the figure the issue asks for.
const (
	tunnelSoakEnv     = "I2PB_TUNNEL_SOAK"
	tunnelSoakDefault = 45 * time.Second
	// rateSoak: from this soak time on, the build success rate must be
	// 90% or more. The default run (in make test, with every other
	// package's tests and the race detector competing for two cores)
	// makes only 4–6 builds per length, too few for a rate: there each
	// pool must fill and its tests pass, and the rates are reported.
	rateSoak = 5 * time.Minute
)

// TestInteropTunnelsWithI2pd: our router builds its tunnels through i2pd
// 2.45 hops. Five i2pd routers (A and B floodfills, C, D, E not) carry
// transit; ours, O, runs three client-style pools, hops 1, 2 and 3, two
// tunnels each way, and keeps them for the soak time: builds (short
// records, since every i2pd says 0.9.57), replacement before expiry and
// tunnel tests (DeliveryStatus out through one of ours and back in through
// another) all go through i2pd. Checked: at least 90% of the builds of
// each length succeed, tunnel tests pass, every pool keeps its tunnels,
// and no i2pd log reports a protocol problem.
func TestInteropTunnelsWithI2pd(t *testing.T) {
	i2pd := i2pdtest.Require(t, true)
	soak := tunnelSoakDefault
	if v := os.Getenv(tunnelSoakEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", tunnelSoakEnv, v, err)
		}
		soak = d
	}
	i2pdtest.LockFile(t, i2pdLock)
	ctx, cancel := context.WithTimeout(context.Background(), soak+3*time.Minute)
	defer cancel()
	netns := i2pdtest.NewNamespace(t, i2pdNS, "198.19.1.1/24", "198.19.1.2/32", "198.19.1.3/32", "198.19.1.4/32", "198.19.1.5/32", "198.19.1.100/32")
	base := interopDir(t, "i2pb-tunnels-")

	var nodes []*i2pdNode
	var seeds []data.RouterInfo
	for i, name := range []string{"A", "B", "C", "D", "E"} {
		n := &i2pdNode{name: name, floodfill: i < 2, dir: filepath.Join(base, "i2pd-"+name),
			addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 1, byte(i + 1)}), i2pdPort)}
		n.keys, n.static = newKeys(t)
		caps := "OR"
		if n.floodfill {
			caps = "OfR"
		}
		n.seed = seedRI(t, n.keys, n.static, n.addr, caps)
		nodes = append(nodes, n)
		seeds = append(seeds, n.seed)
	}
	seedDir := filepath.Join(base, "seeds")
	for _, ri := range seeds {
		i2pdtest.WriteFile(t, filepath.Join(seedDir, data.RouterInfoFileName(ri.Hash())), ri.Bytes(), 0o644)
	}
	ourLog, logMu, logger := ourLogger(t, base)
	O, err := New(Config{
		Datadir: filepath.Join(base, "ours-O"), NetID: i2pdNetID, NTCP2Listen: "198.19.1.100:12345",
		SeedDir: seedDir, Logger: logger, Net: sourceBound("198.19.1.100"),
		Exploratory: PoolConfig{Off: true}, // only the measured pools build
	})
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]data.RouterInfo(nil), seeds...), O.RouterInfo())
	for _, n := range nodes {
		writeI2pdDir(t, n, all)
		n.start(t, netns, i2pd)
		t.Cleanup(n.stop)
	}
	listening := regexp.MustCompile(`NTCP2: Start listening v4 TCP port`)
	for _, n := range nodes {
		if i2pdtest.WaitFor(ctx, 20*time.Second, func() bool { return i2pdtest.Contains(n.log(), listening) }) < 0 {
			t.Fatalf("i2pd %s did not start listening", n.name)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("=== i2pd %s (%s) tunnel events:\n%s", n.name, n.hash().Short(), i2pdtest.Grep(n.log(), regexp.MustCompile(`Tunnel|Transit|NTCP2: (Session|Termination)`), 60))
			}
			logMu.Lock()
			t.Logf("=== our log:\n%s", i2pdtest.Tail(ourLog.Name(), 200))
			logMu.Unlock()
		}
	})

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		if err := O.Run(runCtx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	type measured struct {
		hops int
		p    *pool.Pool
	}
	var pools []measured
	for hops := 1; hops <= 3; hops++ {
		dir := pool.DirConfig{Length: hops, Quantity: 2}
		p, err := O.NewPool(fmt.Sprintf("%d-hop", hops), dir, dir)
		if err != nil {
			t.Fatal(err)
		}
		pools = append(pools, measured{hops, p})
		wg.Go(func() {
			if err := p.Run(runCtx); err != nil {
				t.Errorf("pool %d hops: %v", hops, err)
			}
		})
	}
	start := time.Now()
	for _, m := range pools {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
		err := m.p.WaitReady(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("pool of %d hops never had a tunnel each way: %v (stats %+v)", m.hops, err, m.p.Stats())
		}
		t.Logf("pool of %d hops ready after %v", m.hops, time.Since(start).Round(time.Millisecond))
	}

	// Keep them running; every 10 s each pool must still have tunnels.
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	short := 0
	for time.Since(start) < soak {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
		for _, m := range pools {
			if st := m.p.Stats(); st.Inbound == 0 || st.Outbound == 0 {
				short++
				t.Logf("%v: pool of %d hops has %d in, %d out (last error %v)", time.Since(start).Round(time.Second), m.hops, st.Inbound, st.Outbound, st.LastError)
			}
		}
	}
	if short > 1 {
		t.Errorf("pools were without a tunnel in one direction at %d of the 10 s checks", short)
	}
	ost := O.Status(ctx)
	t.Logf("after %v: our transit tunnels %d (accepted %d, refused %d); sessions %d", time.Since(start).Round(time.Second), ost.Transit, ost.TransitAccepted, ost.TransitRefused, ost.Sessions)
	for _, m := range pools {
		st := m.p.Stats()
		b := st.Builds[m.hops]
		// Failed includes Rejected and TimedOut; builds still pending at
		// the end are in neither.
		rate := 0.0
		if b.OK+b.Failed > 0 {
			rate = 100 * float64(b.OK) / float64(b.OK+b.Failed)
		}
		t.Logf("%d hops: builds %d attempted, %d ok, %d failed, %d rejected, %d timed out: %.1f%% success; tests %d passed, %d failed; %d retired, %d dropped",
			m.hops, b.Attempted, b.OK, b.Failed, b.Rejected, b.TimedOut, rate, st.TestsPassed, st.TestsFailed, st.Retired, st.Dropped)
		switch {
		case b.OK < 4:
			t.Errorf("%d hops: %d builds succeeded, want the pool's 2 + 2 tunnels at least", m.hops, b.OK)
		case soak >= rateSoak && rate < 90:
			t.Errorf("%d hops: build success %.1f%% over %v, want at least 90%%", m.hops, rate, soak)
		}
		// A test waits 10 s; under make test's load (-race, every package
		// at once on two cores) a 3+3-hop round trip can miss that once.
		// The soak asks for 90% over hundreds of tests.
		limit := st.TestsPassed / 3
		if soak >= rateSoak {
			limit = st.TestsPassed / 10
		}
		if st.TestsPassed == 0 || st.TestsFailed > limit {
			t.Errorf("%d hops: tunnel tests %d passed, %d failed", m.hops, st.TestsPassed, st.TestsFailed)
		}
	}
	for _, n := range nodes {
		if lines := i2pdtest.Grep(n.log(), i2pdProblems, 20); lines != "" {
			t.Errorf("i2pd %s logged protocol problems:\n%s", n.name, lines)
		}
		if lines := i2pdtest.Grep(n.log(), i2pdTunnelProblems, 20); lines != "" {
			t.Errorf("i2pd %s logged tunnel problems:\n%s", n.name, lines)
		}
	}
}

// i2pdTunnelProblems are i2pd log lines that mean a tunnel message or
// build record of ours was malformed.
var i2pdTunnelProblems = regexp.MustCompile(`/(warn|error) - (` +
	`TunnelMessage: (checksum verification failed|zero not found|invalid)|` +
	`Tunnel: (Can't decrypt|Unknown|Invalid)|` +
	`I2NP: (Can't decrypt|Unexpected|ShortTunnelBuild message of|VariableTunnelBuild message of)|` +
	`TransitTunnel: .* (failed|invalid))`)
