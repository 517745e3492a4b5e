package pool

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/tunnel"
)

// Candidate is a router that may become a hop: what selection needs from
// its RouterInfo.
type Candidate struct {
	Peer tunnel.Peer
	// Caps is the RouterInfo's caps option, e.g. "XfR".
	Caps string
	// Version is router.version, e.g. "0.9.57".
	Version string
	// Reachable reports a published NTCP2 address (host, port and IV): a
	// router we can dial. The zero value is false, and such candidates
	// are never chosen.
	Reachable bool
}

// Peers offers the routers to build tunnels through: the router's netDb.
// Candidates is called for every build attempt, from the pool's loop; it
// must be safe for concurrent use, and should be cheap (cache the
// conversion from RouterInfos).
type Peers interface {
	Candidates() []Candidate
}

// PeersFunc adapts a function to Peers.
type PeersFunc func() []Candidate

// Candidates calls f.
func (f PeersFunc) Candidates() []Candidate { return f() }

// CandidateOf returns the Candidate for ri. Only X25519 routers can be
// hops (tunnel.PeerOf); Reachable is set when ri has a published NTCP2
// address, the only transport this router speaks.
func CandidateOf(ri data.RouterInfo) (Candidate, error) {
	p, err := tunnel.PeerOf(ri.Identity())
	if err != nil {
		return Candidate{}, fmt.Errorf("pool: candidate: %w", err)
	}
	c := Candidate{Peer: p, Caps: ri.Caps(), Version: ri.RouterVersion()}
	for _, a := range ri.Addresses() {
		if n, err := a.NTCP2(); err == nil && n.Published() {
			c.Reachable = true
			break
		}
	}
	return c, nil
}

// FromRouterInfos returns Peers over a list of RouterInfos, such as
// netdb.DB.RouterInfos. Conversions are cached by router hash and
// publication date, so a build costs one pass over the list; routers that
// cannot be hops (not X25519) are left out.
func FromRouterInfos(list func() []data.RouterInfo) Peers {
	return &riPeers{list: list, cache: map[data.Hash]riCandidate{}}
}

type riPeers struct {
	list func() []data.RouterInfo

	mu    sync.Mutex
	cache map[data.Hash]riCandidate
}

type riCandidate struct {
	published data.Date
	c         Candidate
	ok        bool
}

func (p *riPeers) Candidates() []Candidate {
	ris := p.list()
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[data.Hash]riCandidate, len(ris))
	out := make([]Candidate, 0, len(ris))
	for _, ri := range ris {
		h := ri.Hash()
		rc, hit := p.cache[h]
		if !hit || rc.published != ri.Published() {
			c, err := CandidateOf(ri)
			rc = riCandidate{published: ri.Published(), c: c, ok: err == nil}
		}
		next[h] = rc
		if rc.ok {
			out = append(out, rc.c)
		}
	}
	// Only routers still listed stay cached.
	p.cache = next
	return out
}

// Caps letters that disqualify a hop (network-database.html
// §"RouterInfo"): U is unreachable, K the lowest bandwidth class (under
// 12 KBps). i2pd 2.45 picks client-pool hops among the high-bandwidth
// classes (GetHighBandwidthRandomRouter) and exploratory hops among all;
// this pool refuses only K, whose routers would make every tunnel through
// them slow, and leaves the rest to the profiles.
const (
	capUnreachable = data.CapUnreachable
	capBandwidthK  = 'K'
)

// Eligible reports whether c may be a hop at all, before profiles: it
// must be reachable (Reachable, no U cap), not in bandwidth class K, and
// have a hash and key.
func Eligible(c Candidate) bool {
	return c.Reachable &&
		!strings.ContainsRune(c.Caps, capUnreachable) &&
		!strings.ContainsRune(c.Caps, capBandwidthK) &&
		!c.Peer.Hash.IsZero() && c.Peer.Key != [32]byte{}
}

// shortBuildVersion is the first router version that takes
// ShortTunnelBuild messages (i2pd NETDB_MIN_SHORT_TUNNEL_BUILD_VERSION,
// proposal 157).
var shortBuildVersion = []int{0, 9, 51}

// SupportsShortBuild reports whether a router.version value is at least
// 0.9.51, comparing the dot-separated numbers numerically ("0.9.100" is
// newer than "0.9.51"). A missing or non-numeric version is taken as too
// old: a long build costs a few hundred bytes, a short build to an old
// router costs the tunnel.
func SupportsShortBuild(version string) bool {
	if version == "" {
		return false
	}
	parts := strings.Split(version, ".")
	for i := range max(len(parts), len(shortBuildVersion)) {
		have, want := 0, 0
		if i < len(parts) {
			n, err := strconv.Atoi(parts[i])
			if err != nil || n < 0 {
				return false
			}
			have = n
		}
		if i < len(shortBuildVersion) {
			want = shortBuildVersion[i]
		}
		if have != want {
			return have > want
		}
	}
	return true
}

// selection is the outcome of choosing a tunnel's hops.
type selection struct {
	hops []tunnel.Peer
	// long is set when a hop is older than 0.9.51 (BuildConfig.Long).
	long bool
}

// selectHops picks n distinct hops among the eligible candidates other
// than self and the peers profiles excludes, at random, each weighted by
// its profile, without replacement. Fewer eligible candidates than n is
// ErrTooFewPeers: the attempt fails, no shorter tunnel is built.
//
// A peer already in used (hops of the pool's other tunnels in the same
// direction, live or being built) counts for 1/(1+k)² of its weight when
// it is in k of them. Profiles favour the peers that served well, and
// without this a pool on a small network put all its tunnels through the
// same two routers: one of them going away then took every tunnel (and
// every lease) at once.
func selectHops(r *lockedRand, cands []Candidate, self data.Hash, profiles *Profiles, used map[data.Hash]int, n int, now time.Time) (selection, error) {
	type option struct {
		c      Candidate
		weight float64
	}
	seen := make(map[data.Hash]bool, len(cands))
	var opts []option
	var total float64
	ineligible, excluded := 0, 0
	for _, c := range cands {
		h := c.Peer.Hash
		if h == self || seen[h] {
			continue
		}
		seen[h] = true
		if !Eligible(c) {
			ineligible++
			continue
		}
		w, out := profiles.assess(h, now)
		if out {
			excluded++
			continue
		}
		if k := used[h]; k > 0 {
			w /= float64((1 + k) * (1 + k))
		}
		opts = append(opts, option{c, w})
		total += w
	}
	if len(opts) < n {
		return selection{}, fmt.Errorf("%w: %d hops wanted, %d eligible among %d candidates (%d ineligible, %d excluded by their profiles)",
			ErrTooFewPeers, n, len(opts), len(cands), ineligible, excluded)
	}
	var s selection
	for range n {
		x := r.Float64() * total
		i := 0
		for ; i < len(opts)-1; i++ {
			if x < opts[i].weight {
				break
			}
			x -= opts[i].weight
		}
		c := opts[i].c
		s.hops = append(s.hops, c.Peer)
		if !SupportsShortBuild(c.Version) {
			s.long = true
		}
		total -= opts[i].weight
		opts[i] = opts[len(opts)-1]
		opts = opts[:len(opts)-1]
	}
	return s, nil
}

// lockedRand is the pool's source of non-secret random choices: a ChaCha8
// generator seeded once from Config.Rand, behind a lock because accessors
// pick tunnels from any goroutine.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(src io.Reader) (*lockedRand, error) {
	var seed [32]byte
	if _, err := io.ReadFull(src, seed[:]); err != nil {
		return nil, fmt.Errorf("pool: random source: %w", err)
	}
	return &lockedRand{r: rand.New(rand.NewChaCha8(seed))}, nil
}

func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

func (l *lockedRand) Uint32() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint32()
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) Shuffle(n int, swap func(i, j int)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Shuffle(n, swap)
}
