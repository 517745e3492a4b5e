package ntcp2

import (
	"sync"
	"time"
)

// Replay cache defaults. The spec asks Bob to remember handshake values for
// at least 2×D, D being the allowed clock skew (ntcp2.rst §"1)
// SessionRequest", notes); a request older than D is refused by the
// timestamp check anyway, so 2×D plus a margin covers every replay that
// could still pass it.
const (
	DefaultReplayTTL     = 2*MaxClockSkew + 30*time.Second
	DefaultReplayEntries = 1 << 16
)

// ReplayCache is a time-bounded set of ephemeral keys, shared by all
// handshakes of a listener (ntcp2.rst: "Bob must maintain a local cache of
// previously-used handshake values and reject duplicates"). Entries expire
// after the TTL, oldest first. When the cache is full the oldest entry is
// dropped early: a replayed message 1 cannot complete a handshake (message
// 3 needs Alice's ephemeral private key), so under a flood losing an old
// entry costs at most one wasted DH, while refusing new peers would be a
// denial of service. Safe for concurrent use.
type ReplayCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[[32]byte]time.Time
	order []replayEntry // insertion order; order[head:] is live
	head  int
}

type replayEntry struct {
	key [32]byte
	at  time.Time
}

// NewReplayCache returns a cache that keeps keys for ttl, at most max of
// them. Zero values pick DefaultReplayTTL and DefaultReplayEntries.
func NewReplayCache(ttl time.Duration, max int) *ReplayCache {
	if ttl <= 0 {
		ttl = DefaultReplayTTL
	}
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &ReplayCache{ttl: ttl, max: max, seen: make(map[[32]byte]time.Time)}
}

// Add records key as seen at now and reports whether it was new. A key seen
// within the TTL is a replay: Add returns false and keeps the first sighting.
func (c *ReplayCache) Add(key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.seen[key]; ok {
		return false
	}
	if len(c.seen) >= c.max {
		c.dropOldest()
	}
	c.seen[key] = now
	c.order = append(c.order, replayEntry{key: key, at: now})
	return true
}

// Len returns the number of live entries.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *ReplayCache) expire(now time.Time) {
	for c.head < len(c.order) && now.Sub(c.order[c.head].at) >= c.ttl {
		c.dropOldest()
	}
	// Reclaim the dead prefix once it is at least half the slice.
	if c.head > 0 && c.head*2 >= len(c.order) {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order = c.order[:n]
		c.head = 0
	}
}

func (c *ReplayCache) dropOldest() {
	e := c.order[c.head]
	c.order[c.head] = replayEntry{}
	c.head++
	delete(c.seen, e.key)
}
