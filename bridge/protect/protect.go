// Package protect is the stream protection every server tunnel kind shares
// (tcp-server, http-server, irc-server), and the I2P endpoint they open.
//
// A Guard decides, per incoming I2P stream, whether the caller may connect:
//
//	stream ──> deny list? ──> allow list? ──> streams open (total, caller) ──> rate (minute, hour) ──> admitted
//	              │              │                 │                               │
//	              └──────────────┴─────────────────┴───────────────────────────────┴──> refused, counted by Reason
//
// Callers are identified by the hash of their destination, so one user
// cannot dodge a limit by dialing a different port. Rates are token buckets
// per caller (max_conns_per_minute is a burst of that many, refilled evenly
// over the minute), read from an injected clock so tests need no sleeping.
// An admitted stream holds its slots until the release function (or, for
// Listener, the conn's Close) gives them back. Per-caller state is kept only
// while it matters (open streams or a bucket not yet full) and swept once a
// minute, so a stream of one-off callers does not grow memory.
//
// Refusals are counted by Reason for the status endpoint; kinds add their own
// reasons (the http-server counts 429s and header limits) with Count.
//
// With unique_local the target is dialed from a loopback address derived from
// the caller's hash (127.b.c.d, see LoopbackFor): Linux routes all of 127/8
// to lo, so the target's logs, bans and per-IP limits see one address per
// I2P user instead of everyone as 127.0.0.1.
//
// Endpoint is the I2P half of a server tunnel: keys, session, the <name>.b32
// file and the guarded listener.
package protect

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

var (
	// ErrConfig marks a protection config that cannot be used.
	ErrConfig = errors.New("protect: bad config")
	// ErrRejected is matched (errors.Is) by every *RejectedError.
	ErrRejected = errors.New("protect: stream refused")
)

// Reason names why a stream or request was refused; it is the key of the
// counts in Guard.Rejected and of the status endpoint's "rejected" map.
type Reason string

// Reasons the Guard decides. Kinds define their own (see Count).
const (
	Denied         Reason = "denied"           // on the deny list
	NotAllowed     Reason = "not_allowed"      // an allow list is set and the caller is not on it
	Streams        Reason = "streams"          // max_streams open on the tunnel
	StreamsPerDest Reason = "streams_per_dest" // max_streams_per_dest open by this caller
	RateMinute     Reason = "rate_minute"      // max_conns_per_minute used up
	RateHour       Reason = "rate_hour"        // max_conns_per_hour used up
)

// RejectedError is a refusal. RetryAfter is set for rate limits: when the
// caller may try again.
type RejectedError struct {
	Reason     Reason
	RetryAfter time.Duration
}

func (e *RejectedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v: %s (retry after %v)", ErrRejected, e.Reason, e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("%v: %s", ErrRejected, e.Reason)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Config is what a Guard enforces. Zero limits mean "no limit".
type Config struct {
	Allow, Deny       []string // b32 addresses or base64 Destinations
	MaxConnsPerMinute int
	MaxConnsPerHour   int
	MaxStreams        int
	MaxStreamsPerDest int
	UniqueLocal       bool
	// Now is the clock of the rate limits; nil = time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil = discard
}

// FromTunnel is the protection a tunnel's YAML asks for.
func FromTunnel(t config.Tunnel) Config {
	p := t.Protect
	return Config{
		Allow: p.Allow, Deny: p.Deny,
		MaxConnsPerMinute: p.MaxConnsPerMinute, MaxConnsPerHour: p.MaxConnsPerHour,
		MaxStreams: p.MaxStreams, MaxStreamsPerDest: p.MaxStreamsPerDest,
		UniqueLocal: p.UniqueLocal,
	}
}

// ParsePeer turns an allow/deny entry (b32 address or base64 Destination)
// into the destination hash it names.
func ParsePeer(s string) (data.Hash, error) {
	if strings.HasSuffix(strings.ToLower(s), data.B32Suffix) {
		return data.ParseB32(s)
	}
	d, err := data.ParseDestinationBase64(s)
	if err != nil {
		return data.Hash{}, err
	}
	return d.Hash(), nil
}

// sweepEvery is how often per-caller state that no longer matters is
// dropped.
const sweepEvery = time.Minute

// Guard enforces one tunnel's Config. It is safe for concurrent use.
type Guard struct {
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	allow map[data.Hash]bool
	deny  map[data.Hash]bool
	// perPeer: some limit needs state per caller.
	perPeer bool

	mu        sync.Mutex
	streams   int
	peers     map[data.Hash]*peerState
	lastSweep time.Time

	rejMu    sync.Mutex
	rejected map[Reason]*atomic.Uint64
}

type peerState struct {
	streams      int
	minute, hour bucket
}

// bucket is a token bucket: capacity n, refilled at n per period. The zero
// value is a full bucket that has not been used.
type bucket struct {
	used   bool
	tokens float64
	at     time.Time
}

// refill brings b up to date at now.
func (b *bucket) refill(now time.Time, n int, per time.Duration) {
	if !b.used {
		b.used, b.tokens, b.at = true, float64(n), now
		return
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(n), b.tokens+float64(n)*el.Seconds()/per.Seconds())
		b.at = now
	}
}

// wait is how long until one token is available (0 if one is).
func (b *bucket) wait(n int, per time.Duration) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / float64(n) * float64(per))
}

// full reports whether b (refilled at now) would be indistinguishable from
// a fresh bucket.
func (b *bucket) full(now time.Time, n int, per time.Duration) bool {
	if !b.used || n == 0 {
		return true
	}
	c := *b
	c.refill(now, n, per)
	return c.tokens >= float64(n)
}

// New checks cfg and returns its Guard.
func New(cfg Config) (*Guard, error) {
	g := &Guard{
		cfg: cfg, now: cfg.Now, log: cfg.Logger,
		allow: map[data.Hash]bool{}, deny: map[data.Hash]bool{},
		peers: map[data.Hash]*peerState{}, rejected: map[Reason]*atomic.Uint64{},
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	for _, l := range []struct {
		name string
		in   []string
		out  map[data.Hash]bool
	}{{"allow", cfg.Allow, g.allow}, {"deny", cfg.Deny, g.deny}} {
		for _, s := range l.in {
			h, err := ParsePeer(s)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrConfig, l.name, err)
			}
			l.out[h] = true
		}
	}
	for _, n := range []int{cfg.MaxConnsPerMinute, cfg.MaxConnsPerHour, cfg.MaxStreams, cfg.MaxStreamsPerDest} {
		if n < 0 {
			return nil, fmt.Errorf("%w: negative limit %d", ErrConfig, n)
		}
	}
	g.perPeer = cfg.MaxConnsPerMinute > 0 || cfg.MaxConnsPerHour > 0 || cfg.MaxStreamsPerDest > 0
	return g, nil
}

// Admit decides on one stream from the destination with hash peer. On
// success the caller must call release exactly once when the stream ends
// (further calls do nothing); on refusal err is a *RejectedError, already
// counted.
func (g *Guard) Admit(peer data.Hash) (release func(), err error) {
	if rej := g.admit(peer); rej != nil {
		g.Count(rej.Reason)
		return nil, rej
	}
	var once sync.Once
	return func() { once.Do(func() { g.release(peer) }) }, nil
}

func (g *Guard) admit(peer data.Hash) *RejectedError {
	switch {
	case g.deny[peer]:
		return &RejectedError{Reason: Denied}
	case len(g.allow) > 0 && !g.allow[peer]:
		return &RejectedError{Reason: NotAllowed}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	if g.cfg.MaxStreams > 0 && g.streams >= g.cfg.MaxStreams {
		return &RejectedError{Reason: Streams}
	}
	var p *peerState
	if g.perPeer {
		p = g.peers[peer]
		if p == nil {
			p = new(peerState)
			g.peers[peer] = p
		}
		if g.cfg.MaxStreamsPerDest > 0 && p.streams >= g.cfg.MaxStreamsPerDest {
			return &RejectedError{Reason: StreamsPerDest}
		}
		// Check both buckets before taking from either, so a stream
		// refused by the hour limit does not cost a minute token.
		if n := g.cfg.MaxConnsPerMinute; n > 0 {
			p.minute.refill(now, n, time.Minute)
			if w := p.minute.wait(n, time.Minute); w > 0 {
				return &RejectedError{Reason: RateMinute, RetryAfter: w}
			}
		}
		if n := g.cfg.MaxConnsPerHour; n > 0 {
			p.hour.refill(now, n, time.Hour)
			if w := p.hour.wait(n, time.Hour); w > 0 {
				return &RejectedError{Reason: RateHour, RetryAfter: w}
			}
		}
		if g.cfg.MaxConnsPerMinute > 0 {
			p.minute.tokens--
		}
		if g.cfg.MaxConnsPerHour > 0 {
			p.hour.tokens--
		}
		p.streams++
	}
	g.streams++
	return nil
}

func (g *Guard) release(peer data.Hash) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streams--
	if p := g.peers[peer]; p != nil {
		p.streams--
	}
}

// sweep drops callers whose state no longer limits anything; g.mu held.
func (g *Guard) sweep(now time.Time) {
	if now.Sub(g.lastSweep) < sweepEvery {
		return
	}
	g.lastSweep = now
	for h, p := range g.peers {
		if p.streams == 0 && p.minute.full(now, g.cfg.MaxConnsPerMinute, time.Minute) && p.hour.full(now, g.cfg.MaxConnsPerHour, time.Hour) {
			delete(g.peers, h)
		}
	}
}

// tracked is the number of callers with state, for tests of the sweep.
func (g *Guard) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.peers)
}

// Count records a refusal decided outside the Guard (a kind's own limit).
func (g *Guard) Count(r Reason) {
	g.rejMu.Lock()
	c := g.rejected[r]
	if c == nil {
		c = new(atomic.Uint64)
		g.rejected[r] = c
	}
	g.rejMu.Unlock()
	c.Add(1)
}

// Rejected returns the refusals so far by reason (a new map; nil when
// there were none, so status output stays empty).
func (g *Guard) Rejected() map[string]uint64 {
	g.rejMu.Lock()
	defer g.rejMu.Unlock()
	if len(g.rejected) == 0 {
		return nil
	}
	m := make(map[string]uint64, len(g.rejected))
	for r, c := range g.rejected {
		m[string(r)] = c.Load()
	}
	return m
}

// Open is the number of streams admitted and not yet released.
func (g *Guard) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.streams
}

// LoopbackFor is the local address unique_local dials from for the
// destination with hash h: 127.b.c.d with b and c the first two bytes of
// the hash and d its third byte mapped into 1..254 (no .0 or .255, which
// some tools read as network and broadcast addresses). b = 0 becomes 1 to
// stay clear of 127.0.0.0/16, where 127.0.0.1 and the local resolvers
// (127.0.0.53) live.
func LoopbackFor(h data.Hash) netip.Addr {
	b := h[0]
	if b == 0 {
		b = 1
	}
	return netip.AddrFrom4([4]byte{127, b, h[1], 1 + h[2]%254})
}

// LocalAddr is the address to dial the target from for a stream from
// peer: its LoopbackFor address with unique_local, else nil (the system
// chooses). The result is meant for net.Dialer.LocalAddr.
func (g *Guard) LocalAddr(peer data.Hash) net.Addr {
	if !g.cfg.UniqueLocal {
		return nil
	}
	return &net.TCPAddr{IP: LoopbackFor(peer).AsSlice()}
}

// PeerOf returns the destination of a stream's caller (the zero value for
// a conn that is not an I2P stream).
func PeerOf(c net.Conn) data.Destination {
	if a, ok := c.RemoteAddr().(i2pnet.Addr); ok {
		return a.Dest
	}
	return data.Destination{}
}

// ShortPeer is the log-safe short name of a stream's caller.
func ShortPeer(c net.Conn) string {
	if d := PeerOf(c); !d.IsZero() {
		return d.Hash().Short()
	}
	return "?"
}

// Limiter is a token bucket per destination, for limits a kind enforces
// on requests rather than streams (the http-server's POST limit). It is
// safe for concurrent use.
type Limiter struct {
	n   int
	per time.Duration
	now func() time.Time

	mu        sync.Mutex
	buckets   map[data.Hash]*bucket
	lastSweep time.Time
}

// NewLimiter allows n events per period per destination (a burst of n,
// refilled evenly); now nil = time.Now. n must be positive.
func NewLimiter(n int, per time.Duration, now func() time.Time) (*Limiter, error) {
	if n <= 0 || per <= 0 {
		return nil, fmt.Errorf("%w: limiter %d per %v", ErrConfig, n, per)
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{n: n, per: per, now: now, buckets: map[data.Hash]*bucket{}}, nil
}

// Take uses one token of peer's bucket. When none is left it reports
// false and how long until one is.
func (l *Limiter) Take(peer data.Hash) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) >= l.per {
		l.lastSweep = now
		for h, b := range l.buckets {
			if b.full(now, l.n, l.per) {
				delete(l.buckets, h)
			}
		}
	}
	b := l.buckets[peer]
	if b == nil {
		b = new(bucket)
		l.buckets[peer] = b
	}
	b.refill(now, l.n, l.per)
	if w := b.wait(l.n, l.per); w > 0 {
		return false, w
	}
	b.tokens--
	return true, 0
}
