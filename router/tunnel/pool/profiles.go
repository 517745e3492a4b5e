package pool

import (
	"fmt"
	"math"
	"sync"
	"time"

	"i2pbridge/router/data"
)

// Profile defaults. i2pd keeps per-router counters of tunnel agreements,
// declines and non-replies and calls a router "bad" when declines and
// non-replies dominate (Profiling.cpp IsBad); Java keeps decaying rates.
// These are simpler: decaying counts and one rule.
const (
	// DefaultHalfLife: every count halves in this time, so that a peer's
	// record reflects the last hour or so.
	DefaultHalfLife = 30 * time.Minute
	// DefaultExcludeAfter: a peer whose decayed failures reach this and
	// outweigh its successes is excluded.
	DefaultExcludeAfter = 3
	// DefaultExcludeFor is how long an exclusion lasts; further failures
	// while it lasts extend it.
	DefaultExcludeFor = 10 * time.Minute

	// acceptedWeight discounts an accepted build against a passed test: a
	// hop that accepts and then drops the traffic must not look good.
	acceptedWeight = 0.25
	// forgetBelow: a profile whose counts have all faded under this, and
	// that excludes nothing, is forgotten by Prune.
	forgetBelow = 0.05
)

// Outcome is one observation about a hop.
type Outcome uint8

// Outcomes. A build reply gives each hop's own answer; a build without a
// reply, and a failed tunnel test, cannot say which hop was at fault and
// count against every hop involved.
const (
	BuildAccepted Outcome = iota
	BuildRejected
	BuildTimedOut
	TestPassed
	TestFailed
	numOutcomes
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case BuildAccepted:
		return "build accepted"
	case BuildRejected:
		return "build rejected"
	case BuildTimedOut:
		return "build timed out"
	case TestPassed:
		return "test passed"
	case TestFailed:
		return "test failed"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ProfileConfig tunes Profiles; zero values pick the defaults.
type ProfileConfig struct {
	HalfLife     time.Duration
	ExcludeAfter float64
	ExcludeFor   time.Duration
}

// Profiles records how hops behaved, per router hash, and turns the record
// into selection weights and exclusions. Counts decay exponentially with
// HalfLife. With
//
//	good = 0.25·accepted + testsPassed
//	bad  = rejected + timedOut + testsFailed
//
// a peer's weight is (1 + min(good, 10)/10) / (1 + 2·bad): recent success
// up to doubles its chance, each recent failure cuts it. When a failure
// brings bad to ExcludeAfter or more and bad > good, the peer is excluded
// for ExcludeFor. Profiles is safe for concurrent use; share one among
// the router's pools.
type Profiles struct {
	cfg ProfileConfig

	mu sync.Mutex
	m  map[data.Hash]*profile
}

type profile struct {
	counts   [numOutcomes]float64
	updated  time.Time
	excluded time.Time // until
}

// Profile is a snapshot of one peer's decayed counts.
type Profile struct {
	Accepted, Rejected, TimedOut, TestsPassed, TestsFailed float64
	// ExcludedUntil is the end of the current exclusion (zero: none).
	ExcludedUntil time.Time
}

// NewProfiles returns an empty record.
func NewProfiles(cfg ProfileConfig) *Profiles {
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = DefaultHalfLife
	}
	if cfg.ExcludeAfter <= 0 {
		cfg.ExcludeAfter = DefaultExcludeAfter
	}
	if cfg.ExcludeFor <= 0 {
		cfg.ExcludeFor = DefaultExcludeFor
	}
	return &Profiles{cfg: cfg, m: map[data.Hash]*profile{}}
}

// decay brings p's counts to now.
func (p *Profiles) decay(pr *profile, now time.Time) {
	dt := now.Sub(pr.updated)
	if dt <= 0 {
		return
	}
	f := math.Exp2(-float64(dt) / float64(p.cfg.HalfLife))
	for i := range pr.counts {
		pr.counts[i] *= f
	}
	pr.updated = now
}

func (pr *profile) good() float64 {
	return acceptedWeight*pr.counts[BuildAccepted] + pr.counts[TestPassed]
}

func (pr *profile) bad() float64 {
	return pr.counts[BuildRejected] + pr.counts[BuildTimedOut] + pr.counts[TestFailed]
}

// Record counts o for every hop in hops (each hash once) at now, and
// returns the hops this newly excluded.
func (p *Profiles) Record(now time.Time, o Outcome, hops ...data.Hash) (excluded []data.Hash) {
	if o >= numOutcomes {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, h := range hops {
		if dupBefore(hops, i) {
			continue
		}
		pr := p.m[h]
		if pr == nil {
			pr = &profile{updated: now}
			p.m[h] = pr
		}
		p.decay(pr, now)
		pr.counts[o]++
		if o != BuildAccepted && o != TestPassed {
			if bad := pr.bad(); bad >= p.cfg.ExcludeAfter && bad > pr.good() {
				if !now.Before(pr.excluded) {
					excluded = append(excluded, h)
				}
				pr.excluded = now.Add(p.cfg.ExcludeFor)
			}
		}
	}
	return excluded
}

func dupBefore(hs []data.Hash, i int) bool {
	for _, h := range hs[:i] {
		if h == hs[i] {
			return true
		}
	}
	return false
}

// assess returns h's selection weight and whether it is excluded.
func (p *Profiles) assess(h data.Hash, now time.Time) (weight float64, excluded bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[h]
	if pr == nil {
		return 1, false
	}
	if now.Before(pr.excluded) {
		return 0, true
	}
	p.decay(pr, now)
	return (1 + min(pr.good(), 10)/10) / (1 + 2*pr.bad()), false
}

// Weight is h's selection weight at now (1 for an unknown peer, 0 while
// excluded).
func (p *Profiles) Weight(h data.Hash, now time.Time) float64 {
	w, _ := p.assess(h, now)
	return w
}

// Excluded reports whether h is excluded at now.
func (p *Profiles) Excluded(h data.Hash, now time.Time) bool {
	_, ex := p.assess(h, now)
	return ex
}

// Get returns h's profile at now (zero for an unknown peer).
func (p *Profiles) Get(h data.Hash, now time.Time) Profile {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[h]
	if pr == nil {
		return Profile{}
	}
	p.decay(pr, now)
	out := Profile{
		Accepted: pr.counts[BuildAccepted], Rejected: pr.counts[BuildRejected], TimedOut: pr.counts[BuildTimedOut],
		TestsPassed: pr.counts[TestPassed], TestsFailed: pr.counts[TestFailed],
	}
	if now.Before(pr.excluded) {
		out.ExcludedUntil = pr.excluded
	}
	return out
}

// Len is the number of peers with a profile.
func (p *Profiles) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// Prune forgets the profiles that have faded away, so that the record
// stays as large as the set of peers recently used.
func (p *Profiles) Prune(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h, pr := range p.m {
		if now.Before(pr.excluded) {
			continue
		}
		p.decay(pr, now)
		if pr.good() < forgetBelow && pr.bad() < forgetBelow {
			delete(p.m, h)
		}
	}
}
