package netdb

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// Defaults (i2pd NetDb.cpp, NetDbRequests.cpp and NetDb.hpp unless said
// otherwise).
const (
	// DefaultExploreInterval: i2pd explores every 30 s while it knows
	// fewer than 2500 routers.
	DefaultExploreInterval = 30 * time.Second
	// DefaultPublishInterval: we republish our RouterInfo every 30 minutes,
	// inside the 40 minutes the spec asks for (i2pd NETDB_PUBLISH_INTERVAL
	// is exactly 40), so that our RouterInfo in peers' netDbs never nears
	// the 90-minute limit NTCP2 applies to message 3.
	DefaultPublishInterval = 30 * time.Minute
	// DefaultPublishTimeout is how long we wait for a floodfill's
	// DeliveryStatus before publishing to the next closest (i2pd waits 5
	// s; a first dial may take longer here).
	DefaultPublishTimeout = 10 * time.Second
	// DefaultLookupTimeout: a floodfill that has not answered in 5 s is
	// given up and the next closest asked (NetDbRequests::ManageRequests).
	DefaultLookupTimeout = 5 * time.Second
	// DefaultLookupDeadline: "request is worthless after 1 minute".
	DefaultLookupDeadline = time.Minute
	// DefaultMaxLookupAttempts: i2pd asks at most 7 floodfills.
	DefaultMaxLookupAttempts = 7
	// DefaultMinRouters: below this many routers nothing expires
	// (NETDB_MIN_ROUTERS).
	DefaultMinRouters = 90
	// minFloodfills: below this many floodfills we look for more
	// (NETDB_MIN_FLOODFILLS).
	minFloodfills = 5
	// maxPublishExcluded: after this many floodfills failed to confirm, a
	// publish round starts over (NETDB_MAX_PUBLISH_EXCLUDED_FLOODFILLS).
	maxPublishExcluded = 15
	// floodCount is how many floodfills a floodfill floods to.
	floodCount = 3
	// replyPeers is how many peers a DatabaseSearchReply lists.
	replyPeers = 3
	// maxSearches bounds concurrent searches (referrals spawn more).
	maxSearches = 256
	// refetchAge: a referral to a router whose RouterInfo is older than
	// this is fetched again (i2pd, HandleDatabaseSearchReplyMsg: 1 hour).
	refetchAge = time.Hour
	// unreachableFor is how long a router we failed to reach is not
	// chosen for lookups and publishing.
	unreachableFor = time.Minute
	// expireEvery is how often old entries are swept (i2pd SaveUpdated
	// runs every minute).
	expireEvery = time.Minute
	// tick drives timeouts and schedules.
	tick = time.Second
	// sendTimeout bounds one Sender.Send (which may dial).
	sendTimeout = 30 * time.Second
)

// Sender delivers I2NP messages to routers; *transport.Manager is one.
type Sender interface {
	Send(ctx context.Context, to data.Hash, m i2np.Message) error
}

// Config configures a DB. RouterInfo and Sender are required.
type Config struct {
	// Dir is the netDb directory (i2pd layout); "" keeps RouterInfos in
	// memory only.
	Dir string
	// RouterInfo is ours (SetRouterInfo replaces it); its netId is the
	// network's.
	RouterInfo data.RouterInfo
	// Floodfill enables the floodfill role: store what is published to
	// us, flood it on, answer lookups.
	Floodfill bool
	// Sender sends our lookups, stores and replies.
	Sender Sender
	// Seeds are RouterInfos to start from (bootstrap files), checked and
	// stored like any other.
	Seeds []data.RouterInfo
	// Logger receives events; nil discards them. Routers are logged as
	// short hashes.
	Logger *slog.Logger
	// Timings; zero picks the Default constants. ExploreInterval < 0
	// turns exploration off (i2pd's hidden mode does too); MinRouters < 0
	// lets entries expire however few are left.
	ExploreInterval   time.Duration
	PublishInterval   time.Duration
	PublishTimeout    time.Duration
	LookupTimeout     time.Duration
	LookupDeadline    time.Duration
	MaxLookupAttempts int
	MinRouters        int
}

// DB is the network database of a router: see the package documentation.
type DB struct {
	cfg   Config
	log   *slog.Logger
	disk  disk
	self  data.Hash
	netID int
	start time.Time

	// idx is the RouterInfo table. Only the owner goroutine writes it;
	// the lock lets the transport and status readers look entries up
	// without a round trip through the owner.
	idx struct {
		sync.RWMutex
		ris        map[data.Hash]data.RouterInfo
		floodfills int
		leasesets  int
	}
	lastPublish atomic.Int64 // Unix ms of the last confirmed publish
	publishedTo atomic.Pointer[data.Hash]
	counters    struct {
		acked, answered, flooded atomic.Uint64
	}

	events   chan event
	failures chan data.Hash
	started  chan struct{}
	done     chan struct{}
	runOnce  sync.Once
	running  atomic.Bool
	initial  *state // built by New, handed to Run
}

// event runs on the owner goroutine.
type event func(ctx context.Context, st *state)

// state is owned by the Run goroutine.
type state struct {
	local      data.RouterInfo
	floodfill  bool
	meta       map[data.Hash]*meta
	floodfills map[data.Hash]bool
	leasesets  map[data.Hash]data.LeaseSet2
	searches   map[data.Hash]*search
	pub        publishState
	lastExpl   time.Time
	lastExpire time.Time
	stopping   bool
	wg         *sync.WaitGroup // sends in flight
}

// meta is what the owner knows about a stored router beyond its RouterInfo.
type meta struct {
	floodfill        bool // eligible floodfill
	dialable         bool
	unreachableUntil time.Time
	flooded          data.Date // published time of the version we last flooded
}

// New loads the netDb directory, adds the seeds and returns a DB ready to
// Run. Invalid files in the directory are deleted, as i2pd does.
func New(cfg Config) (*DB, error) {
	if cfg.RouterInfo.IsZero() {
		return nil, fmt.Errorf("%w: no RouterInfo", ErrConfig)
	}
	netID, err := cfg.RouterInfo.NetID()
	if err != nil {
		return nil, fmt.Errorf("%w: our RouterInfo: %w", ErrConfig, err)
	}
	if cfg.Sender == nil {
		return nil, fmt.Errorf("%w: no Sender", ErrConfig)
	}
	if cfg.ExploreInterval == 0 {
		cfg.ExploreInterval = DefaultExploreInterval
	}
	setDefault(&cfg.PublishInterval, DefaultPublishInterval)
	setDefault(&cfg.PublishTimeout, DefaultPublishTimeout)
	setDefault(&cfg.LookupTimeout, DefaultLookupTimeout)
	setDefault(&cfg.LookupDeadline, DefaultLookupDeadline)
	if cfg.MaxLookupAttempts <= 0 {
		cfg.MaxLookupAttempts = DefaultMaxLookupAttempts
	}
	if cfg.MinRouters == 0 {
		cfg.MinRouters = DefaultMinRouters
	}
	db := &DB{
		cfg:      cfg,
		log:      cfg.Logger,
		disk:     disk{dir: cfg.Dir},
		self:     cfg.RouterInfo.Hash(),
		netID:    netID,
		start:    time.Now(),
		events:   make(chan event, 256),
		failures: make(chan data.Hash, 64),
		started:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	db.idx.ris = map[data.Hash]data.RouterInfo{}
	st := db.newState()
	ris, bad, err := db.disk.load()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, path := range bad {
		db.log.Warn("netdb: deleting invalid RouterInfo file", "file", path)
		os.Remove(path)
	}
	loaded := 0
	for _, ri := range ris {
		if err := CheckRouterInfo(ri, netID, now, MaxSeedAge); err != nil {
			db.log.Info("netdb: deleting stale RouterInfo", "router", ri.Hash().Short(), "err", err)
			db.disk.remove(ri.Hash())
			continue
		}
		if db.insert(st, ri, false) {
			loaded++
		}
	}
	seeded := 0
	for _, ri := range cfg.Seeds {
		if err := CheckRouterInfo(ri, netID, now, MaxSeedAge); err != nil {
			db.log.Info("netdb: skipping seed", "router", ri.Hash().Short(), "err", err)
			continue
		}
		if db.insert(st, ri, true) {
			seeded++
		}
	}
	db.initial = st
	db.log.Info("netdb: loaded", "routers", len(db.idx.ris), "floodfills", db.idx.floodfills, "from_disk", loaded, "from_seeds", seeded)
	return db, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func (db *DB) newState() *state {
	return &state{
		local:      db.cfg.RouterInfo,
		floodfill:  db.cfg.Floodfill,
		meta:       map[data.Hash]*meta{},
		floodfills: map[data.Hash]bool{},
		leasesets:  map[data.Hash]data.LeaseSet2{},
		searches:   map[data.Hash]*search{},
	}
}

// Run serves until ctx ends: it handles messages, runs lookups,
// exploration, publishing, the floodfill role and expiry. It returns once
// every goroutine it started is gone. Run may be called once.
func (db *DB) Run(ctx context.Context) error {
	first := false
	db.runOnce.Do(func() { first = true })
	if !first {
		return fmt.Errorf("netdb: Run called twice")
	}
	defer close(db.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	st := db.initial
	db.initial = nil
	st.wg = &wg
	st.lastExpire = time.Now()
	db.running.Store(true)
	close(db.started)
	t := time.NewTicker(tick)
	defer t.Stop()
	db.tick(ctx, st) // explore and publish at once
loop:
	for {
		select {
		case ev := <-db.events:
			ev(ctx, st)
		case h := <-db.failures:
			db.markUnreachable(st, h)
		case <-t.C:
			db.tick(ctx, st)
		case <-ctx.Done():
			break loop
		}
	}
	db.running.Store(false)
	st.stopping = true
	for _, s := range st.searches {
		db.finish(ctx, st, s, data.RouterInfo{}, ErrClosed)
	}
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	for {
		select {
		case ev := <-db.events:
			ev(ctx, st)
		case <-sent:
			return nil
		}
	}
}

// post hands ev to the owner; it waits while the queue is full and gives
// up when Run has returned.
func (db *DB) post(ev event) bool {
	select {
	case <-db.done:
		return false
	default:
	}
	select {
	case db.events <- ev:
		return true
	case <-db.done:
		return false
	}
}

// do runs ev on the owner and waits for it.
func (db *DB) do(ctx context.Context, ev event) error {
	select {
	case <-db.started:
	case <-db.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	ran := make(chan struct{})
	select {
	case db.events <- func(ctx context.Context, st *state) { ev(ctx, st); close(ran) }:
	case <-db.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-db.done:
		return ErrClosed
	}
}

// tick runs the schedules: timeouts of searches and publishing,
// exploration, expiry.
func (db *DB) tick(ctx context.Context, st *state) {
	now := time.Now()
	db.searchTick(ctx, st, now)
	db.publishTick(ctx, st, now)
	if db.cfg.ExploreInterval > 0 && now.Sub(st.lastExpl) >= db.cfg.ExploreInterval {
		st.lastExpl = now
		db.explore(ctx, st, now)
	}
	if now.Sub(st.lastExpire) >= expireEvery {
		st.lastExpire = now
		db.expire(st, now)
	}
}

// send delivers m to to in its own goroutine, so that a dial never stalls
// the owner; onErr, if set, runs on the owner when it fails.
func (db *DB) send(ctx context.Context, st *state, to data.Hash, m i2np.Message, onErr func(ctx context.Context, st *state, err error)) {
	if st.stopping {
		return
	}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		if err := db.cfg.Sender.Send(sctx, to, m); err != nil {
			db.log.Debug("netdb: send failed", "to", to.Short(), "type", m.Type, "err", err)
			if onErr != nil {
				db.post(func(ctx context.Context, st *state) { onErr(ctx, st, err) })
			}
		}
	}()
}

// newMessage wraps body with a random message ID and i2pd's 8-second
// expiration (receivers allow a minute of grace).
func newMessage(body i2np.Body) (i2np.Message, error) {
	return i2np.NewMessage(randomID(), i2np.ExpirationMillis(time.Now().Add(i2np.DefaultExpiration)), body)
}

// randomID returns a nonzero random 32-bit value (message IDs, reply
// tokens: zero means "none" in a DatabaseStore).
func randomID() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}

// Handle takes an I2NP message received from router from (the transport's
// handler): DatabaseStore, DatabaseLookup, DatabaseSearchReply and
// DeliveryStatus are processed, other types ignored. It blocks while the
// queue is full, which slows the sending peer down.
func (db *DB) Handle(from data.Hash, m i2np.Message) {
	switch m.Type {
	case i2np.TypeDatabaseStore, i2np.TypeDatabaseLookup, i2np.TypeDatabaseSearchReply, i2np.TypeDeliveryStatus:
	default:
		return
	}
	if m.IsExpired(time.Now()) {
		db.log.Debug("netdb: dropping expired message", "from", from.Short(), "type", m.Type)
		return
	}
	body, err := m.Body()
	if err != nil {
		db.log.Info("netdb: dropping malformed message", "from", from.Short(), "type", m.Type, "err", err)
		return
	}
	db.post(func(ctx context.Context, st *state) {
		switch b := body.(type) {
		case i2np.DatabaseStore:
			db.handleStore(ctx, st, from, b)
		case i2np.DatabaseLookup:
			db.handleLookup(ctx, st, from, b)
		case i2np.DatabaseSearchReply:
			db.handleSearchReply(ctx, st, from, b)
		case i2np.DeliveryStatus:
			db.handleDeliveryStatus(st, b)
		}
	})
}

// AddRouterInfo offers a RouterInfo learned outside a DatabaseStore (the
// peer of an NTCP2 session, a RouterInfo block); it is checked and stored
// if newer.
func (db *DB) AddRouterInfo(ri data.RouterInfo) {
	db.post(func(ctx context.Context, st *state) {
		if err := CheckRouterInfo(ri, db.netID, time.Now(), MaxAge); err != nil {
			db.log.Debug("netdb: ignoring RouterInfo", "router", ri.Hash().Short(), "err", err)
			return
		}
		db.addRouterInfo(ctx, st, ri)
	})
}

// AddSeeds offers bootstrap RouterInfos fetched while running (a reseed);
// they are checked like the seeds given to New.
func (db *DB) AddSeeds(ris []data.RouterInfo) {
	db.post(func(ctx context.Context, st *state) {
		added := 0
		now := time.Now()
		for _, ri := range ris {
			if err := CheckRouterInfo(ri, db.netID, now, MaxSeedAge); err != nil {
				db.log.Debug("netdb: skipping seed", "router", ri.Hash().Short(), "err", err)
				continue
			}
			if db.addRouterInfo(ctx, st, ri) {
				added++
			}
		}
		db.log.Info("netdb: seeds added", "offered", len(ris), "new", added)
	})
}

// PeerFailed tells the DB that router h could not be reached; it is not
// chosen for a while. It never blocks (the transport's owner calls it).
func (db *DB) PeerFailed(h data.Hash) {
	select {
	case db.failures <- h:
	default:
	}
}

func (db *DB) markUnreachable(st *state, h data.Hash) {
	if m := st.meta[h]; m != nil {
		m.unreachableUntil = time.Now().Add(unreachableFor)
	}
}

// SetRouterInfo replaces our RouterInfo (re-signed, or changed) and
// publishes it at once.
func (db *DB) SetRouterInfo(ri data.RouterInfo) error {
	if ri.Hash() != db.self {
		return fmt.Errorf("%w: RouterInfo of %s, we are %s", ErrConfig, ri.Hash().Short(), db.self.Short())
	}
	if !db.post(func(ctx context.Context, st *state) {
		st.local = ri
		st.floodfill = ri.IsFloodfill()
		st.pub.restart()
		db.publishTick(ctx, st, time.Now())
	}) {
		return ErrClosed
	}
	return nil
}

// RouterInfo returns the stored RouterInfo of h (not our own).
func (db *DB) RouterInfo(h data.Hash) (data.RouterInfo, bool) {
	db.idx.RLock()
	defer db.idx.RUnlock()
	ri, ok := db.idx.ris[h]
	return ri, ok
}

// RouterInfos returns every stored RouterInfo, in no particular order.
func (db *DB) RouterInfos() []data.RouterInfo {
	db.idx.RLock()
	defer db.idx.RUnlock()
	out := make([]data.RouterInfo, 0, len(db.idx.ris))
	for _, ri := range db.idx.ris {
		out = append(out, ri)
	}
	return out
}

// Stats is a snapshot of the DB.
type Stats struct {
	Routers     int // stored RouterInfos, ourselves excluded
	Floodfills  int // of which eligible floodfills
	LeaseSets   int
	Published   time.Time // when a floodfill last confirmed our RouterInfo (zero: never)
	PublishedTo data.Hash // which one
	// Floodfill work since start: stores acknowledged with a
	// DeliveryStatus, lookups answered, DatabaseStores flooded on.
	StoresAcked     uint64
	LookupsAnswered uint64
	Flooded         uint64
}

// Stats returns counts for status displays.
func (db *DB) Stats() Stats {
	db.idx.RLock()
	s := Stats{Routers: len(db.idx.ris), Floodfills: db.idx.floodfills, LeaseSets: db.idx.leasesets}
	db.idx.RUnlock()
	if ms := db.lastPublish.Load(); ms != 0 {
		s.Published = time.UnixMilli(ms)
	}
	if h := db.publishedTo.Load(); h != nil {
		s.PublishedTo = *h
	}
	s.StoresAcked = db.counters.acked.Load()
	s.LookupsAnswered = db.counters.answered.Load()
	s.Flooded = db.counters.flooded.Load()
	return s
}

// insert stores ri if it is new or newer than the stored one, on disk
// too, and reports whether it did. Owner only (or New, before Run).
func (db *DB) insert(st *state, ri data.RouterInfo, write bool) bool {
	h := ri.Hash()
	if h == db.self {
		return false
	}
	db.idx.Lock()
	old, had := db.idx.ris[h]
	if had && ri.Published() <= old.Published() {
		db.idx.Unlock()
		return false
	}
	db.idx.ris[h] = ri
	ff := EligibleFloodfill(ri)
	if st.floodfills[h] != ff {
		if ff {
			db.idx.floodfills++
		} else {
			db.idx.floodfills--
		}
	}
	db.idx.Unlock()
	if ff {
		st.floodfills[h] = true
	} else {
		delete(st.floodfills, h)
	}
	m := st.meta[h]
	if m == nil {
		m = &meta{}
		st.meta[h] = m
	}
	m.floodfill, m.dialable = ff, Dialable(ri)
	if write {
		if err := db.disk.write(ri); err != nil {
			db.log.Warn("netdb: cannot save RouterInfo", "err", err)
		}
	}
	return true
}

// remove forgets h, on disk too.
func (db *DB) remove(st *state, h data.Hash) {
	db.idx.Lock()
	if _, ok := db.idx.ris[h]; ok {
		delete(db.idx.ris, h)
		if st.floodfills[h] {
			db.idx.floodfills--
		}
	}
	db.idx.Unlock()
	delete(st.floodfills, h)
	delete(st.meta, h)
	if err := db.disk.remove(h); err != nil {
		db.log.Warn("netdb: cannot delete RouterInfo", "err", err)
	}
}

// addRouterInfo stores a checked RouterInfo and lets searches waiting for
// it, or for floodfills to ask, go on. It reports whether it was new or
// newer.
func (db *DB) addRouterInfo(ctx context.Context, st *state, ri data.RouterInfo) bool {
	h := ri.Hash()
	wasFF := st.floodfills[h]
	updated := db.insert(st, ri, true)
	if updated {
		db.log.Debug("netdb: RouterInfo stored", "router", h.Short(), "floodfill", st.floodfills[h], "caps", ri.Caps())
	}
	if s := st.searches[h]; s != nil && s.kind == searchRouter {
		if cur, ok := db.RouterInfo(h); ok {
			db.finish(ctx, st, s, cur, nil)
		}
	}
	if updated && st.floodfills[h] && !wasFF {
		db.resumeIdle(ctx, st)
	}
	return updated
}

// expire drops RouterInfos that are too old, as i2pd's SaveUpdated does:
// nothing while MinRouters or fewer are known or in the first 10 minutes
// of uptime; in the first hour MaxAge; then 1 hour for a floodfill and 90
// minutes to 27 hours otherwise (the fewer routers known, the longer).
// Expiry stops when MinRouters would be left. RouterInfos from more than 2
// minutes in the future always go, and so do expired LeaseSets.
func (db *DB) expire(st *state, now time.Time) {
	uptime := now.Sub(db.start)
	minR := db.cfg.MinRouters
	db.idx.RLock()
	total := len(db.idx.ris)
	check := (minR < 0 || total > minR) && uptime > 10*time.Minute
	expiry := MaxAge
	if check && uptime > time.Hour {
		if st.floodfill {
			expiry = FloodfillExpiration
		} else {
			expiry = MinExpiration + (MaxAge-MinExpiration)*time.Duration(max(minR, 0))/time.Duration(max(total, 1))
		}
	}
	type aged struct {
		h   data.Hash
		pub time.Time
	}
	var future []data.Hash
	var old []aged
	for h, ri := range db.idx.ris {
		pub := ri.Published().Time()
		switch {
		case pub.After(now.Add(MaxFuture)):
			future = append(future, h)
		case check && now.Sub(pub) > expiry:
			old = append(old, aged{h, pub})
		}
	}
	db.idx.RUnlock()
	for _, h := range future {
		db.log.Info("netdb: RouterInfo from the future", "router", h.Short())
		db.remove(st, h)
	}
	left := total - len(future)
	sort.Slice(old, func(i, j int) bool { return old[i].pub.Before(old[j].pub) })
	for _, a := range old {
		if minR >= 0 && left <= minR {
			break
		}
		db.log.Debug("netdb: RouterInfo expired", "router", a.h.Short(), "age", now.Sub(a.pub).Round(time.Second))
		db.remove(st, a.h)
		left--
	}
	for k, ls := range st.leasesets {
		if now.After(ls.Expires()) {
			delete(st.leasesets, k)
		}
	}
	db.idx.Lock()
	db.idx.leasesets = len(st.leasesets)
	db.idx.Unlock()
}
