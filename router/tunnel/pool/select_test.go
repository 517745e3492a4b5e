package pool

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/tunnel"
)

var testNow = time.Unix(1_700_000_000, 0)

func TestConfigValidation(t *testing.T) {
	ok := DirConfig{Length: 3, Quantity: 2}
	base := Config{Node: stubNode{}, Peers: PeersFunc(func() []Candidate { return nil }), Inbound: ok, Outbound: ok}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"zero-hop inbound", func(c *Config) { c.Inbound.Length = 0 }, "zero-hop tunnels are not supported"},
		{"zero-hop outbound", func(c *Config) { c.Outbound.Length = 0 }, "outbound length 0"},
		{"too long", func(c *Config) { c.Inbound.Length = 8 }, "inbound length 8, want 1 to 7"},
		{"negative length", func(c *Config) { c.Outbound.Length = -1 }, "outbound length -1"},
		{"no quantity", func(c *Config) { c.Inbound.Quantity = 0 }, "inbound quantity 0"},
		{"too many", func(c *Config) { c.Outbound.Quantity = 17 }, "outbound quantity 17, want 1 to 16"},
		{"variance", func(c *Config) { c.Inbound.Variance = -8 }, "length variance -8"},
		{"max variance", func(c *Config) { c.Inbound.Variance, c.Outbound.Variance = 7, -7 }, ""},
		{"no node", func(c *Config) { c.Node = nil }, "no Node"},
		{"no peers", func(c *Config) { c.Peers = nil }, "no Peers"},
		{"timeout beyond interval", func(c *Config) { c.TestTimeout = 20 * time.Second }, "want 0 < timeout < interval"},
		{"negative pending", func(c *Config) { c.MaxPendingBuilds = -1 }, "max pending builds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mutate(&c)
			p, err := New(c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.cfg.TestInterval != DefaultTestInterval || p.cfg.MaxPendingBuilds != DefaultMaxPendingBuilds || p.profiles == nil {
					t.Fatalf("defaults %+v", p.cfg)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
}

// Java semantics: positive variance adds 0..v, negative adds −v..+v;
// every length in range occurs; results clamp to 1..7.
func TestVarianceStaysWithinBounds(t *testing.T) {
	r, err := newLockedRand(testRand(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		length, variance int
		lo, hi           int
	}{
		{3, 0, 3, 3},
		{2, 2, 2, 4},
		{3, -2, 1, 5},
		{2, -1, 1, 3},
		{6, 3, 6, 7},
		{1, -3, 1, 4},
		{7, -7, 1, 7},
		{7, 7, 7, 7},
	} {
		d := DirConfig{Length: tc.length, Quantity: 1, Variance: tc.variance}
		seen := map[int]int{}
		for range 4000 {
			seen[d.hops(r)]++
		}
		for n := range seen {
			if n < tc.lo || n > tc.hi {
				t.Fatalf("length %d variance %d gave %d hops", tc.length, tc.variance, n)
			}
		}
		for n := tc.lo; n <= tc.hi; n++ {
			if seen[n] == 0 {
				t.Fatalf("length %d variance %d never gave %d hops: %v", tc.length, tc.variance, n, seen)
			}
		}
		// Unclamped values are equally likely: 3 with variance −2 has
		// five outcomes of 800 expected each.
		if tc.length == 3 && tc.variance == -2 {
			for n, k := range seen {
				if k < 650 || k > 950 {
					t.Fatalf("%d hops %d times of 4000: %v", n, k, seen)
				}
			}
		}
	}
}

func TestSupportsShortBuild(t *testing.T) {
	for v, want := range map[string]bool{
		"0.9.51":   true,
		"0.9.57":   true,
		"0.9.100":  true, // numeric, not lexical
		"0.10":     true,
		"1.0":      true,
		"0.9.51.1": true,
		"0.9.50":   false,
		"0.9.5":    false,
		"0.9":      false,
		"0.8.99":   false,
		"":         false,
		"0.9.5x":   false,
		"0.9.-1":   false,
		"banana":   false,
	} {
		if got := SupportsShortBuild(v); got != want {
			t.Errorf("SupportsShortBuild(%q) = %v", v, got)
		}
	}
}

func testCandidate(b byte, version string) Candidate {
	var c Candidate
	c.Peer.Hash[0], c.Peer.Key[0] = b, b
	c.Caps, c.Version, c.Reachable = "LR", version, true
	return c
}

func TestSelectHopsFilters(t *testing.T) {
	r, _ := newLockedRand(testRand(4))
	self := testCandidate(1, "0.9.57")
	good := []Candidate{testCandidate(2, "0.9.57"), testCandidate(3, "0.9.57"), testCandidate(4, "0.9.57")}
	unreachable := testCandidate(5, "0.9.57")
	unreachable.Reachable = false
	capU := testCandidate(6, "0.9.57")
	capU.Caps = "LU"
	capK := testCandidate(7, "0.9.57")
	capK.Caps = "KR"
	noKey := testCandidate(8, "0.9.57")
	noKey.Peer.Key = [32]byte{}
	bad := testCandidate(9, "0.9.57")
	profiles := NewProfiles(ProfileConfig{})
	profiles.Record(testNow, BuildRejected, bad.Peer.Hash, bad.Peer.Hash) // counted once
	profiles.Record(testNow, BuildRejected, bad.Peer.Hash)
	profiles.Record(testNow, BuildRejected, bad.Peer.Hash)
	if !profiles.Excluded(bad.Peer.Hash, testNow) {
		t.Fatal("three rejections do not exclude")
	}
	cands := append([]Candidate{self, good[0], good[0], unreachable, capU, capK, noKey, bad}, good[1:]...)
	for range 200 {
		s, err := selectHops(r, cands, self.Peer.Hash, profiles, nil, 3, testNow)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[data.Hash]bool{}
		for _, h := range s.hops {
			if h.Hash[0] < 2 || h.Hash[0] > 4 || seen[h.Hash] {
				t.Fatalf("hops %v", s.hops)
			}
			seen[h.Hash] = true
		}
		if s.long {
			t.Fatal("long build for 0.9.57 hops")
		}
	}
	_, err := selectHops(r, cands, self.Peer.Hash, profiles, nil, 4, testNow)
	if !errors.Is(err, ErrTooFewPeers) || !strings.Contains(err.Error(), "4 hops wanted, 3 eligible among 10 candidates (4 ineligible, 1 excluded by their profiles)") {
		t.Fatalf("err = %v", err)
	}
	if _, err := selectHops(r, nil, self.Peer.Hash, profiles, nil, 1, testNow); !errors.Is(err, ErrTooFewPeers) {
		t.Fatalf("no candidates: %v", err)
	}
	// One old hop makes the build long.
	old := []Candidate{testCandidate(2, "0.9.57"), testCandidate(3, "0.9.50")}
	if s, err := selectHops(r, old, self.Peer.Hash, profiles, nil, 2, testNow); err != nil || !s.long {
		t.Fatalf("selection %+v, %v", s, err)
	}
}

// Peers with failures are picked less, peers with passed tests more.
func TestSelectHopsPrefersGoodProfiles(t *testing.T) {
	r, _ := newLockedRand(testRand(5))
	profiles := NewProfiles(ProfileConfig{})
	failed, fine, proven := testCandidate(2, "0.9.57"), testCandidate(3, "0.9.57"), testCandidate(4, "0.9.57")
	profiles.Record(testNow, TestFailed, failed.Peer.Hash)
	for range 10 {
		profiles.Record(testNow, TestPassed, proven.Peer.Hash)
	}
	count := map[byte]int{}
	for range 6000 {
		s, err := selectHops(r, []Candidate{failed, fine, proven}, data.Hash{}, profiles, nil, 1, testNow)
		if err != nil {
			t.Fatal(err)
		}
		count[s.hops[0].Hash[0]]++
	}
	// Weights 1/3, 1 and 2: shares 1/10, 3/10, 6/10.
	for b, want := range map[byte]float64{2: 0.1, 3: 0.3, 4: 0.6} {
		if got := float64(count[b]) / 6000; math.Abs(got-want) > 0.03 {
			t.Fatalf("peer %d chosen %.3f of the time, want %.2f (%v)", b, got, want, count)
		}
	}
}

// A peer already in the pool's tunnels counts for 1/(1+k)² of its weight.
func TestSelectHopsSpreadsOverPeers(t *testing.T) {
	r, _ := newLockedRand(testRand(6))
	profiles := NewProfiles(ProfileConfig{})
	a, b, c := testCandidate(2, "0.9.57"), testCandidate(3, "0.9.57"), testCandidate(4, "0.9.57")
	used := map[data.Hash]int{a.Peer.Hash: 1, b.Peer.Hash: 2}
	count := map[byte]int{}
	for range 6000 {
		s, err := selectHops(r, []Candidate{a, b, c}, data.Hash{}, profiles, used, 1, testNow)
		if err != nil {
			t.Fatal(err)
		}
		count[s.hops[0].Hash[0]]++
	}
	// Weights 1/4, 1/9 and 1: shares 9/49, 4/49, 36/49.
	for id, want := range map[byte]float64{2: 9.0 / 49, 3: 4.0 / 49, 4: 36.0 / 49} {
		if got := float64(count[id]) / 6000; math.Abs(got-want) > 0.03 {
			t.Fatalf("peer %d chosen %.3f of the time, want %.3f (%v)", id, got, want, count)
		}
	}
}

func TestProfilesDecayAndExclusion(t *testing.T) {
	p := NewProfiles(ProfileConfig{HalfLife: 10 * time.Minute, ExcludeAfter: 3, ExcludeFor: 5 * time.Minute})
	var h, other data.Hash
	h[0], other[0] = 1, 2
	if w := p.Weight(h, testNow); w != 1 {
		t.Fatalf("unknown peer weight %v", w)
	}
	// Successes protect against a few failures: bad must outweigh good.
	for range 4 {
		p.Record(testNow, TestPassed, other)
	}
	for i := range 3 {
		if ex := p.Record(testNow, TestFailed, other); len(ex) != 0 {
			t.Fatalf("failure %d excluded a peer with more successes", i)
		}
	}
	if ex := p.Record(testNow, TestFailed, other); len(ex) != 0 {
		t.Fatal("excluded at bad == good")
	}
	if ex := p.Record(testNow, TestFailed, other); len(ex) != 1 || ex[0] != other {
		t.Fatalf("bad 5 > good 4 not excluded: %v", ex)
	}

	p.Record(testNow, BuildTimedOut, h)
	p.Record(testNow, BuildRejected, h)
	if p.Excluded(h, testNow) {
		t.Fatal("excluded after two failures")
	}
	if ex := p.Record(testNow, TestFailed, h); len(ex) != 1 {
		t.Fatal("not excluded after three")
	}
	if ex := p.Record(testNow.Add(time.Minute), TestFailed, h); len(ex) != 0 {
		t.Fatal("an exclusion reported twice")
	}
	got := p.Get(h, testNow.Add(time.Minute))
	if !got.ExcludedUntil.Equal(testNow.Add(6*time.Minute)) || got.TestsFailed < 1.9 {
		t.Fatalf("profile %+v: further failures must extend the exclusion", got)
	}
	if p.Weight(h, testNow.Add(5*time.Minute)) != 0 {
		t.Fatal("excluded peer has weight")
	}
	// After the exclusion, decayed counts; one half-life halves them.
	later := testNow.Add(10 * time.Minute)
	got = p.Get(h, later)
	if !got.ExcludedUntil.IsZero() || math.Abs(got.Rejected-0.5) > 0.01 || math.Abs(got.TimedOut-0.5) > 0.01 {
		t.Fatalf("after a half-life: %+v", got)
	}
	if w := p.Weight(h, later); w <= 0 || w >= 1 {
		t.Fatalf("weight %v after failures", w)
	}
	// Prune forgets what has faded and keeps exclusions.
	if p.Len() != 2 {
		t.Fatalf("%d profiles", p.Len())
	}
	q := NewProfiles(ProfileConfig{HalfLife: time.Minute, ExcludeFor: time.Hour})
	q.Record(testNow, TestPassed, other)
	q.Record(testNow, BuildRejected, h, h, h) // once
	q.Record(testNow, BuildRejected, h)
	q.Record(testNow, BuildRejected, h)
	q.Prune(testNow.Add(30 * time.Minute))
	if q.Len() != 1 || !q.Excluded(h, testNow.Add(30*time.Minute)) {
		t.Fatalf("prune kept %d", q.Len())
	}
	q.Prune(testNow.Add(2 * time.Hour))
	if q.Len() != 0 {
		t.Fatal("prune kept a faded, no longer excluded peer")
	}
	if p.Record(testNow, numOutcomes, other) != nil || p.Len() != 2 {
		t.Fatal("unknown outcome recorded")
	}
}

func TestCandidateOf(t *testing.T) {
	r := testRand(6)
	keys, err := data.GenerateRouterKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := data.NewMapping(map[string]string{"caps": "LR", "netId": "2", "router.version": "0.9.57"})
	if err != nil {
		t.Fatal(err)
	}
	published, err := data.NewNTCP2Address(data.NTCP2Address{AddrPort: netip.MustParseAddrPort("192.0.2.1:12345"), StaticKey: [32]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	unpublished, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: [32]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		addrs []data.RouterAddress
		reach bool
	}{
		{"published NTCP2", []data.RouterAddress{unpublished, published}, true},
		{"unpublished NTCP2", []data.RouterAddress{unpublished}, false},
		{"no address", nil, false},
	} {
		ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{Published: testNow, Addresses: tc.addrs, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		c, err := CandidateOf(ri)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tunnel.PeerOf(ri.Identity())
		if c.Peer != want || c.Caps != "LR" || c.Version != "0.9.57" || c.Reachable != tc.reach || Eligible(c) != tc.reach {
			t.Fatalf("%s: %+v", tc.name, c)
		}
		// FromRouterInfos converts the same way, and again when the
		// RouterInfo is republished.
		peers := FromRouterInfos(func() []data.RouterInfo { return []data.RouterInfo{ri} })
		for range 2 {
			if cs := peers.Candidates(); len(cs) != 1 || cs[0] != c {
				t.Fatalf("%s: FromRouterInfos gave %+v", tc.name, cs)
			}
		}
	}
	ris := []data.RouterInfo{}
	peers := FromRouterInfos(func() []data.RouterInfo { return ris })
	for i, addrs := range [][]data.RouterAddress{nil, {published}} {
		ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{Published: testNow.Add(time.Duration(i) * time.Hour), Addresses: addrs, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		ris = []data.RouterInfo{ri}
		if cs := peers.Candidates(); len(cs) != 1 || cs[0].Reachable != (i == 1) {
			t.Fatalf("republished RouterInfo %d: %+v", i, cs)
		}
	}
	ris = nil
	if cs := peers.Candidates(); len(cs) != 0 || len(peers.(*riPeers).cache) != 0 {
		t.Fatal("a router no longer listed is still offered or cached")
	}
}
