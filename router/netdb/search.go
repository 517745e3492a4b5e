package netdb

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// searchKind says what a search looks for.
type searchKind int

const (
	// searchRouter looks a RouterInfo up: DatabaseLookup of type RI to
	// the closest floodfills in turn, following DatabaseSearchReply
	// referrals, until one answers with a DatabaseStore.
	searchRouter searchKind = iota
	// searchExplore asks one floodfill for routers near a random key
	// (lookup type exploratory); the reply is a DatabaseSearchReply whose
	// peers we then fetch (network-database.html §"Exploration").
	searchExplore
)

func (k searchKind) String() string {
	if k == searchExplore {
		return "explore"
	}
	return "router"
}

// search is one lookup in progress, keyed by the searched hash: replies
// (DatabaseStore, DatabaseSearchReply) carry the key, not a message ID.
//
//	asking ──DSRM / timeout / send error──▶ asking the next closest floodfill
//	asking ──nobody left to ask──▶ idle (retried each tick and whenever a floodfill is learned)
//	any ──DSM / RouterInfo learned──▶ done (waiters get it)
//	any ──attempts or deadline exhausted──▶ done (ErrNotFound)
//	explore: one attempt; done on its DSRM or timeout
type search struct {
	key      data.Hash
	kind     searchKind
	via      data.Hash          // ask first (the floodfill that referred us here)
	asked    map[data.Hash]bool // floodfills asked; sent as the exclusion list
	current  data.Hash          // whom we wait for
	sentAt   time.Time
	started  time.Time
	attempts int
	idle     bool
	waiters  []func(ctx context.Context, st *state, ri data.RouterInfo, err error)
}

// lookup starts (or joins) a search; done runs on the owner when it ends.
func (db *DB) lookup(ctx context.Context, st *state, key data.Hash, kind searchKind, via data.Hash, done func(ctx context.Context, st *state, ri data.RouterInfo, err error)) {
	if s := st.searches[key]; s != nil {
		if done != nil {
			s.waiters = append(s.waiters, done)
		}
		return
	}
	if len(st.searches) >= maxSearches || st.stopping {
		if done != nil {
			done(ctx, st, data.RouterInfo{}, fmt.Errorf("netdb: lookup %s: too many searches", key.Short()))
		}
		return
	}
	s := &search{key: key, kind: kind, via: via, asked: map[data.Hash]bool{}, started: time.Now()}
	if done != nil {
		s.waiters = append(s.waiters, done)
	}
	st.searches[key] = s
	db.step(ctx, st, s)
}

// step asks the next floodfill, or ends the search.
func (db *DB) step(ctx context.Context, st *state, s *search) {
	now := time.Now()
	if s.kind == searchExplore && s.attempts > 0 {
		db.finish(ctx, st, s, data.RouterInfo{}, nil)
		return
	}
	if s.attempts >= db.cfg.MaxLookupAttempts || now.Sub(s.started) >= db.cfg.LookupDeadline {
		db.finish(ctx, st, s, data.RouterInfo{}, fmt.Errorf("netdb: lookup %s: %w after %d floodfills", s.key.Short(), ErrNotFound, s.attempts))
		return
	}
	target, ok := data.Hash{}, false
	if !s.via.IsZero() && !s.asked[s.via] && s.via != db.self {
		if _, known := db.RouterInfo(s.via); known {
			target, ok = s.via, true
		}
	}
	if !ok {
		target, ok = db.closestFloodfill(st, s.key, s.asked, now)
	}
	if !ok {
		if s.kind == searchExplore {
			db.finish(ctx, st, s, data.RouterInfo{}, nil)
			return
		}
		// Wait for referrals still being fetched to name a floodfill we
		// have not asked; with none in flight there is nobody left.
		if !db.fetching(st, s) {
			err := fmt.Errorf("netdb: lookup %s: %w after %d floodfills", s.key.Short(), ErrNotFound, s.attempts)
			if s.attempts == 0 {
				err = fmt.Errorf("netdb: lookup %s: %w", s.key.Short(), ErrNoPeers)
			}
			db.finish(ctx, st, s, data.RouterInfo{}, err)
			return
		}
		s.idle = true
		return
	}
	s.idle = false
	s.asked[target] = true
	s.current, s.sentAt = target, now
	s.attempts++
	flags := uint8(i2np.LookupRouterInfo)
	exclude := make([]data.Hash, 0, len(s.asked)+1)
	for h := range s.asked {
		exclude = append(exclude, h)
	}
	if s.kind == searchExplore {
		flags = i2np.LookupExploratory
		// Tell the floodfill whom we know already, closest first, so its
		// three answers are all news (Java's exploration does the same);
		// and ourselves, so we are not handed our own hash.
		exclude = append(exclude, db.self)
		exclude = append(exclude, db.knownNonFloodfills(st, s.key, i2np.MaxExcludedPeers-len(exclude))...)
	}
	m, err := newMessage(i2np.DatabaseLookup{Key: s.key, From: db.self, Flags: flags, Exclude: exclude})
	if err != nil {
		db.finish(ctx, st, s, data.RouterInfo{}, err)
		return
	}
	db.log.Debug("netdb: lookup", "kind", s.kind, "key", s.key.Short(), "floodfill", target.Short(), "attempt", s.attempts)
	db.send(ctx, st, target, m, func(ctx context.Context, st *state, err error) {
		if st.searches[s.key] == s && s.current == target {
			db.step(ctx, st, s)
		}
	})
}

// fetching reports whether some other search is still waiting for an
// answer (a referral being fetched may yet name a floodfill for s).
func (db *DB) fetching(st *state, s *search) bool {
	for _, o := range st.searches {
		if o != s && !o.idle && o.kind == searchRouter {
			return true
		}
	}
	return false
}

// finish ends s and tells its waiters.
func (db *DB) finish(ctx context.Context, st *state, s *search, ri data.RouterInfo, err error) {
	if st.searches[s.key] == s {
		delete(st.searches, s.key)
	}
	if err != nil {
		db.log.Debug("netdb: lookup ended", "kind", s.kind, "key", s.key.Short(), "err", err)
	}
	for _, w := range s.waiters {
		w(ctx, st, ri, err)
	}
	s.waiters = nil
}

// searchTick moves on from floodfills that did not answer in time and
// retries idle searches.
func (db *DB) searchTick(ctx context.Context, st *state, now time.Time) {
	for _, s := range st.searches {
		switch {
		case s.idle:
			db.step(ctx, st, s)
		case now.Sub(s.sentAt) >= db.cfg.LookupTimeout:
			db.log.Debug("netdb: lookup timed out", "key", s.key.Short(), "floodfill", s.current.Short())
			db.step(ctx, st, s)
		}
	}
}

// resumeIdle retries searches that had nobody to ask, after a floodfill
// was learned.
func (db *DB) resumeIdle(ctx context.Context, st *state) {
	for _, s := range st.searches {
		if s.idle {
			db.step(ctx, st, s)
		}
	}
}

// handleSearchReply follows a DatabaseSearchReply: the peers it names that
// we do not know (or know only from an old RouterInfo) are fetched from the
// floodfill that named them; the search it answers moves on to the next
// floodfill (or ends, for exploration).
func (db *DB) handleSearchReply(ctx context.Context, st *state, from data.Hash, r i2np.DatabaseSearchReply) {
	now := time.Now()
	for _, p := range r.Peers {
		if p == db.self || p.IsZero() {
			continue
		}
		if ri, ok := db.RouterInfo(p); ok && now.Sub(ri.Published().Time()) < refetchAge {
			continue
		}
		db.lookup(ctx, st, p, searchRouter, from, nil)
	}
	s := st.searches[r.Key]
	if s == nil || !s.asked[from] {
		return
	}
	db.log.Debug("netdb: search reply", "kind", s.kind, "key", r.Key.Short(), "from", from.Short(), "peers", len(r.Peers))
	if s.current == from {
		db.step(ctx, st, s)
	}
}

// closestFloodfill picks the eligible floodfill closest to key's routing
// key that we can dial and have not excluded; unreachable ones only when
// nobody else is left (i2pd makes routers reachable again when too few
// remain).
func (db *DB) closestFloodfill(st *state, key data.Hash, exclude map[data.Hash]bool, now time.Time) (data.Hash, bool) {
	rk := RoutingKey(key, now)
	var best, fallback data.Hash
	haveBest, haveFallback := false, false
	for h := range st.floodfills {
		m := st.meta[h]
		if exclude[h] || h == db.self || m == nil || !m.dialable {
			continue
		}
		if now.Before(m.unreachableUntil) {
			if !haveFallback || Closer(rk, h, fallback) {
				fallback, haveFallback = h, true
			}
			continue
		}
		if !haveBest || Closer(rk, h, best) {
			best, haveBest = h, true
		}
	}
	if haveBest {
		return best, true
	}
	return fallback, haveFallback
}

// knownNonFloodfills returns up to n known non-floodfill routers closest to
// key.
func (db *DB) knownNonFloodfills(st *state, key data.Hash, n int) []data.Hash {
	if n <= 0 {
		return nil
	}
	var hs []data.Hash
	for h, m := range st.meta {
		if !m.floodfill {
			hs = append(hs, h)
		}
	}
	return Closest(RoutingKey(key, time.Now()), hs, n, nil)
}

// explore starts exploratory searches from random keys: as many as i2pd
// (800 / known routers, 1 to 9). Exploratory replies name non-floodfills
// only, so while fewer than 5 floodfills are known it also looks up three
// random keys as RouterInfos: each search reply names the floodfills closer
// to the key than the one that answered, and a floodfill we do not know is
// closer than a given one for half of all keys.
func (db *DB) explore(ctx context.Context, st *state, now time.Time) {
	if len(st.floodfills) == 0 {
		return
	}
	known := len(st.meta)
	n := min(max(800/max(known, 1), 1), 9)
	for range n {
		var k data.Hash
		rand.Read(k[:])
		db.lookup(ctx, st, k, searchExplore, data.Hash{}, nil)
	}
	if len(st.floodfills) < minFloodfills {
		for range 3 {
			var k data.Hash
			rand.Read(k[:])
			db.lookup(ctx, st, k, searchRouter, data.Hash{}, nil)
		}
	}
}

// LookupRouterInfo returns the RouterInfo of h: the stored one, or one
// looked up through the floodfills.
func (db *DB) LookupRouterInfo(ctx context.Context, h data.Hash) (data.RouterInfo, error) {
	if ri, ok := db.RouterInfo(h); ok {
		return ri, nil
	}
	type result struct {
		ri  data.RouterInfo
		err error
	}
	res := make(chan result, 1)
	if err := db.do(ctx, func(ctx context.Context, st *state) {
		db.lookup(ctx, st, h, searchRouter, data.Hash{}, func(_ context.Context, _ *state, ri data.RouterInfo, err error) {
			res <- result{ri, err}
		})
	}); err != nil {
		return data.RouterInfo{}, fmt.Errorf("netdb: lookup %s: %w", h.Short(), err)
	}
	select {
	case r := <-res:
		return r.ri, r.err
	case <-ctx.Done():
		return data.RouterInfo{}, fmt.Errorf("netdb: lookup %s: %w", h.Short(), ctx.Err())
	}
}
