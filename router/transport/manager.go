package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netx"
	"i2pbridge/router/ntcp2"
)

// Defaults.
const (
	// DefaultMaxSessions bounds open sessions plus dials in progress.
	DefaultMaxSessions = 512
	// DefaultDialTimeout bounds a dial with its handshake.
	DefaultDialTimeout = 15 * time.Second
	// DefaultBanDuration is the first ban of a peer that failed.
	DefaultBanDuration = 30 * time.Second
	// DefaultMaxBanDuration caps the doubling bans.
	DefaultMaxBanDuration = 30 * time.Minute
	// maxSessionsPerPeer bounds simultaneous sessions with one peer (two
	// appear when both sides dial at once; more would be abuse).
	maxSessionsPerPeer = 2
	// sweepInterval is how often forgotten peers are swept from the table.
	sweepInterval = time.Minute
)

// Sentinel errors.
var (
	ErrBanned       = errors.New("transport: peer is banned")
	ErrUnknownPeer  = errors.New("transport: no RouterInfo for peer")
	ErrSessionLimit = errors.New("transport: session limit reached")
	ErrSelf         = errors.New("transport: message to ourselves")
	ErrClosed       = errors.New("transport: manager not running")
	ErrConfig       = errors.New("transport: invalid configuration")
)

// Config configures a Manager. RouterInfo and Static are required.
type Config struct {
	// RouterInfo is our signed RouterInfo; SetRouterInfo replaces it.
	// Its NTCP2 address must publish Static (see ntcp2.Config).
	RouterInfo data.RouterInfo
	// Static is our NTCP2 static key and IV.
	Static ntcp2.StaticKey
	// Listener, when set, accepts inbound connections; the Manager owns it
	// and closes it when Run returns.
	Listener net.Listener
	// Net dials peers (default: the host's TCP).
	Net netx.Network
	// Logger receives events; nil discards them. Peers appear as short
	// hashes, addresses only at debug level.
	Logger *slog.Logger
	// Resolve finds the RouterInfo of a peer to dial (the netDb).
	Resolve func(data.Hash) (data.RouterInfo, bool)
	// Handler receives every I2NP message from every session, on that
	// session's reader goroutine: it should enqueue and return.
	Handler func(from data.Hash, m i2np.Message)
	// OnRouterInfo receives the RouterInfo of every peer that connects to
	// us (from NTCP2 message 3) and every verified RouterInfo block; same
	// goroutine rules as Handler.
	OnRouterInfo func(ri data.RouterInfo)
	// OnPeerFailed is told about peers we could not dial or whose session
	// failed on a protocol error; it runs on the owner goroutine and must
	// not block or call back into the Manager.
	OnPeerFailed func(peer data.Hash, err error)
	// OnSessionLost is told when the last session with a peer ended and
	// we did not end it (the peer closed it, or the connection broke):
	// the peer may be gone. Same rules as OnPeerFailed.
	OnSessionLost func(peer data.Hash)
	// MaxSessions, DialTimeout, BanDuration, MaxBanDuration: see the
	// Default constants.
	MaxSessions    int
	DialTimeout    time.Duration
	BanDuration    time.Duration
	MaxBanDuration time.Duration
	// IdleTimeout is passed to sessions (ntcp2.DefaultIdleTimeout when 0).
	IdleTimeout time.Duration
	// Now is the clock for handshakes (default time.Now).
	Now func() time.Time
}

// Manager is the transport manager; see the package documentation.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	net     netx.Network
	replay  *ntcp2.ReplayCache
	sessCfg atomic.Pointer[ntcp2.Config] // for new sessions; swapped by SetRouterInfo
	self    data.Hash

	gates sync.Map // *ntcp2.Session → *gate

	reqs   chan func(*state) // to the owner
	skewed atomic.Uint64     // handshakes refused for clock skew, both ways
	// established counts sessions set up since start: [0] they dialled,
	// [1] we dialled.
	established [2]atomic.Uint64
	running     atomic.Bool
	done        chan struct{} // closed when Run returns
	started     chan struct{} // closed when Run starts
	runOnce     sync.Once
}

// New checks cfg and returns a Manager; Run starts it.
func New(cfg Config) (*Manager, error) {
	if cfg.RouterInfo.IsZero() {
		return nil, fmt.Errorf("%w: no RouterInfo", ErrConfig)
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(data.Hash) (data.RouterInfo, bool) { return data.RouterInfo{}, false }
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.BanDuration <= 0 {
		cfg.BanDuration = DefaultBanDuration
	}
	if cfg.MaxBanDuration < cfg.BanDuration {
		cfg.MaxBanDuration = max(DefaultMaxBanDuration, cfg.BanDuration)
	}
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		net:     cfg.Net,
		replay:  ntcp2.NewReplayCache(0, 0),
		self:    cfg.RouterInfo.Hash(),
		reqs:    make(chan func(*state)),
		done:    make(chan struct{}),
		started: make(chan struct{}),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.net == nil {
		m.net = &netx.TCP{}
	}
	if err := m.SetRouterInfo(cfg.RouterInfo); err != nil {
		return nil, err
	}
	return m, nil
}

// SetRouterInfo replaces our RouterInfo for sessions established from now
// on (a re-signed or changed one); it must keep our identity.
func (m *Manager) SetRouterInfo(ri data.RouterInfo) error {
	if ri.Hash() != m.self {
		return fmt.Errorf("%w: RouterInfo of %s, we are %s", ErrConfig, ri.Hash().Short(), m.self.Short())
	}
	c := &ntcp2.Config{
		RouterInfo:   ri,
		Static:       m.cfg.Static,
		Logger:       m.log,
		Now:          m.cfg.Now,
		IdleTimeout:  m.cfg.IdleTimeout,
		Replay:       m.replay,
		OnI2NP:       m.onI2NP,
		OnRouterInfo: m.onRouterInfoBlock,
	}
	m.sessCfg.Store(c)
	return nil
}

// Hash is our router hash.
func (m *Manager) Hash() data.Hash { return m.self }

// gate holds a new session's messages until the owner has decided to keep
// it: a session's reader starts with the handshake, before we know whether
// the peer is banned or over a limit, and nothing from a refused session
// may reach the handler.
type gate struct {
	decided chan struct{}
	keep    bool
}

func (m *Manager) gateOf(s *ntcp2.Session) *gate {
	g, _ := m.gates.LoadOrStore(s, &gate{decided: make(chan struct{})})
	return g.(*gate)
}

// admitted waits for the owner's decision on s.
func (m *Manager) admitted(s *ntcp2.Session) bool {
	g := m.gateOf(s)
	<-g.decided
	return g.keep
}

// decide records the owner's decision on s and releases its reader.
func (m *Manager) decide(s *ntcp2.Session, keep bool) {
	g := m.gateOf(s)
	g.keep = keep
	close(g.decided)
}

// forget drops s's gate once s and its reader are gone (a reader that
// found no gate would make a new one and wait forever).
func (m *Manager) forget(s *ntcp2.Session) {
	<-s.Done()
	m.gates.Delete(s)
}

func (m *Manager) onI2NP(s *ntcp2.Session, msg ntcp2.I2NPMessage) {
	if m.cfg.Handler == nil || !m.admitted(s) {
		return
	}
	m.cfg.Handler(s.PeerHash(), i2np.Message{
		Type:       i2np.Type(msg.Type),
		ID:         msg.ID,
		Expiration: uint64(msg.Expiration) * 1000,
		Payload:    msg.Body,
	})
}

func (m *Manager) onRouterInfoBlock(s *ntcp2.Session, ri data.RouterInfo, _ bool) {
	if m.cfg.OnRouterInfo != nil && ri.Hash() != m.self && m.admitted(s) {
		m.cfg.OnRouterInfo(ri)
	}
}

// state is the owner's: the peer table.
type state struct {
	peers    map[data.Hash]*peer
	sessions int // open sessions, all peers
	dials    int // dials in progress
	toDial   []queuedDial
	wg       *sync.WaitGroup // Run's; for session watchers
}

// queuedDial is a dial a request decided on, for startDials to launch.
type queuedDial struct {
	hash data.Hash
	ri   data.RouterInfo
	d    *dialing
}

type peer struct {
	sessions    []*ntcp2.Session // open, oldest first
	dial        *dialing
	fails       int
	bannedUntil time.Time
}

// dialing is one dial in progress; done closes when sess or err is set.
type dialing struct {
	done chan struct{}
	sess *ntcp2.Session
	err  error
}

// do runs f on the owner goroutine and waits for it.
func (m *Manager) do(ctx context.Context, f func(*state)) error {
	select {
	case <-m.started:
	case <-m.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	ran := make(chan struct{})
	select {
	case m.reqs <- func(s *state) { f(s); close(ran) }:
	case <-m.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ran
	return nil
}

// post hands f to the owner without waiting; it gives up when the owner is
// gone (Run has returned).
func (m *Manager) post(f func(*state)) {
	select {
	case m.reqs <- f:
	case <-m.done:
	}
}

// Run serves until ctx ends: it owns the peer table, accepts inbound
// sessions on Config.Listener and carries out Sends. When ctx ends it closes
// every session with Termination reason 3 (shutdown), closes the listener
// and returns once all its goroutines are gone. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	first := false
	m.runOnce.Do(func() { first = true })
	if !first {
		return fmt.Errorf("transport: Run called twice")
	}
	defer close(m.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	st := &state{peers: map[data.Hash]*peer{}, wg: &wg}
	if m.cfg.Listener != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.acceptLoop(ctx, &wg)
		}()
	}
	m.running.Store(true)
	close(m.started)
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
loop:
	for {
		select {
		case f := <-m.reqs:
			f(st)
			m.startDials(ctx, st, &wg)
		case <-sweep.C:
			m.sweep(st)
		case <-ctx.Done():
			break loop
		}
	}
	m.running.Store(false)
	if m.cfg.Listener != nil {
		m.cfg.Listener.Close()
	}
	// Close every session; watchers and dials post their results, which
	// the owner keeps serving until all goroutines are gone.
	var all []*ntcp2.Session
	for _, p := range st.peers {
		all = append(all, p.sessions...)
	}
	var cwg sync.WaitGroup
	for _, s := range all {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			s.CloseWithReason(ntcp2.ReasonShutdown)
		}()
	}
	allDone := make(chan struct{})
	go func() { cwg.Wait(); wg.Wait(); close(allDone) }()
	for {
		select {
		case f := <-m.reqs:
			f(st) // no new sessions: the closures check running
		case <-allDone:
			return nil
		}
	}
}

// startDials launches the dials that requests queued in st.toDial. Kept out
// of request closures so that those need neither the WaitGroup nor the
// context.
func (m *Manager) startDials(ctx context.Context, st *state, wg *sync.WaitGroup) {
	for _, q := range st.toDial {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.dial(ctx, q.hash, q.ri, q.d)
		}()
	}
	st.toDial = st.toDial[:0]
}

// dial runs one outbound handshake and reports to the owner.
func (m *Manager) dial(ctx context.Context, h data.Hash, ri data.RouterInfo, d *dialing) {
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	start := time.Now()
	s, err := ntcp2.Dial(dctx, m.net, *m.sessCfg.Load(), ri)
	keep := false
	// do, not post: this goroutine holds the WaitGroup while the owner
	// registers the session's watcher.
	m.do(context.Background(), func(st *state) {
		p := st.peer(h)
		st.dials--
		p.dial = nil
		defer close(d.done)
		switch {
		case err != nil:
			d.err = fmt.Errorf("transport: dial %s: %w", h.Short(), err)
			m.noteSkew(err, h.Short())
			m.failed(st, h, p, d.err)
		case !m.running.Load():
			d.err = ErrClosed
		default:
			m.log.Debug("transport: outbound session up", "peer", h.Short(), "took", time.Since(start).Round(time.Millisecond))
			d.sess = s
			p.fails = 0
			m.addSession(st, p, s)
			keep = true
		}
	})
	if err == nil && !keep {
		m.decide(s, false)
		s.CloseWithReason(ntcp2.ReasonShutdown)
		m.forget(s)
	}
}

// noteSkew counts and reports a handshake refused for clock skew. It is a
// warning, not debug noise: one peer with a wrong clock is its problem,
// but many mean ours is wrong, and every handshake will fail until the
// system clock is fixed (NTCP2 allows ±60 s).
func (m *Manager) noteSkew(err error, peer string) {
	if !errors.Is(err, ntcp2.ErrClockSkew) {
		return
	}
	n := m.skewed.Add(1)
	m.log.Warn("transport: handshake refused for clock skew; if this repeats with many peers, check this machine's clock",
		"peer", peer, "err", err, "count", n)
}

// failed records a failure of peer h and bans it.
func (m *Manager) failed(st *state, h data.Hash, p *peer, err error) {
	p.fails++
	ban := m.cfg.BanDuration << min(p.fails-1, 16)
	if ban > m.cfg.MaxBanDuration || ban <= 0 {
		ban = m.cfg.MaxBanDuration
	}
	p.bannedUntil = time.Now().Add(ban)
	// The error may carry the peer's address: debug level only.
	m.log.Info("transport: peer failed, banned", "peer", h.Short(), "for", ban, "failures", p.fails)
	m.log.Debug("transport: peer failure", "peer", h.Short(), "err", err)
	if m.cfg.OnPeerFailed != nil {
		m.cfg.OnPeerFailed(h, err)
	}
}

// addSession registers an established session and watches for its end.
func (m *Manager) addSession(st *state, p *peer, s *ntcp2.Session) {
	if s.Initiator() {
		m.established[1].Add(1)
	} else {
		m.established[0].Add(1)
	}
	p.sessions = append(p.sessions, s)
	st.sessions++
	m.decide(s, true)
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		defer m.forget(s)
		<-s.Done()
		m.post(func(st *state) { m.removeSession(st, s) })
	}()
}

func (m *Manager) removeSession(st *state, s *ntcp2.Session) {
	h := s.PeerHash()
	p := st.peers[h]
	if p == nil {
		return
	}
	for i, x := range p.sessions {
		if x == s {
			p.sessions = append(p.sessions[:i], p.sessions[i+1:]...)
			st.sessions--
			break
		}
	}
	m.log.Debug("transport: session down", "peer", h.Short(), "err", s.Err())
	// A session we ended because the peer broke the protocol counts as a
	// failure (i2pd drops such peers as well); a normal end does not.
	var te *ntcp2.TerminationError
	ours := errors.As(s.Err(), &te) && !te.Remote
	if ours && te.Err != nil {
		m.failed(st, h, p, s.Err())
	}
	if !ours && len(p.sessions) == 0 && m.cfg.OnSessionLost != nil {
		m.cfg.OnSessionLost(h)
	}
}

func (st *state) peer(h data.Hash) *peer {
	p := st.peers[h]
	if p == nil {
		p = &peer{}
		st.peers[h] = p
	}
	return p
}

// sweep forgets peers with nothing left to remember. A peer that failed is
// remembered for MaxBanDuration after its ban, so that the next failure
// doubles the ban instead of starting over.
func (m *Manager) sweep(st *state) {
	now := time.Now()
	for h, p := range st.peers {
		if len(p.sessions) == 0 && p.dial == nil && now.After(p.bannedUntil.Add(m.cfg.MaxBanDuration)) {
			delete(st.peers, h)
		}
	}
}

func (p *peer) banned(now time.Time) bool { return now.Before(p.bannedUntil) }

// openSession returns p's oldest open session, or nil.
func (p *peer) openSession() *ntcp2.Session {
	for _, s := range p.sessions {
		if s.State() == "open" {
			return s
		}
	}
	return nil
}

// session returns an open session with h, dialling if needed.
func (m *Manager) session(ctx context.Context, h data.Hash) (*ntcp2.Session, error) {
	if h == m.self {
		return nil, ErrSelf
	}
	var (
		s   *ntcp2.Session
		d   *dialing
		err error
	)
	if e := m.do(ctx, func(st *state) {
		if !m.running.Load() {
			err = ErrClosed
			return
		}
		p := st.peers[h]
		if p != nil {
			if s = p.openSession(); s != nil {
				return
			}
			if p.dial != nil {
				d = p.dial
				return
			}
			if p.banned(time.Now()) {
				err = fmt.Errorf("transport: send to %s: %w", h.Short(), ErrBanned)
				return
			}
		}
		if st.sessions+st.dials >= m.cfg.MaxSessions {
			err = fmt.Errorf("transport: send to %s: %w (%d)", h.Short(), ErrSessionLimit, m.cfg.MaxSessions)
			return
		}
		ri, ok := m.cfg.Resolve(h)
		if !ok {
			err = fmt.Errorf("transport: send to %s: %w", h.Short(), ErrUnknownPeer)
			return
		}
		d = &dialing{done: make(chan struct{})}
		st.peer(h).dial = d
		st.dials++
		st.toDial = append(st.toDial, queuedDial{h, ri, d})
	}); e != nil {
		return nil, fmt.Errorf("transport: send to %s: %w", h.Short(), e)
	}
	if err != nil || s != nil {
		return s, err
	}
	select {
	case <-d.done:
		if d.err != nil {
			return nil, d.err
		}
		return d.sess, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: send to %s: waiting for dial: %w", h.Short(), ctx.Err())
	case <-m.done:
		return nil, ErrClosed
	}
}

// Connect makes sure a session with h is open, dialling h's published
// NTCP2 address when there is none, and returns once it is up.
func (m *Manager) Connect(ctx context.Context, h data.Hash) error {
	_, err := m.session(ctx, h)
	return err
}

// Send delivers m to peer h over an open session, dialling h's published
// NTCP2 address first when there is none. It returns once the message is
// queued on the session; delivery itself is not confirmed (I2NP has its
// own acknowledgements, DeliveryStatus).
func (m *Manager) Send(ctx context.Context, h data.Hash, msg i2np.Message) error {
	sh, err := msg.ShortHeader()
	if err != nil {
		return fmt.Errorf("transport: send to %s: %w", h.Short(), err)
	}
	s, err := m.session(ctx, h)
	if err != nil {
		return err
	}
	return s.Send(ctx, ntcp2.I2NPMessage{Type: uint8(sh.Type), ID: sh.ID, Expiration: sh.Expiration, Body: msg.Payload})
}

// Ban refuses peer h for d: open sessions with it are closed with
// Termination reason 17, dials and inbound sessions are refused.
func (m *Manager) Ban(ctx context.Context, h data.Hash, d time.Duration) error {
	var open []*ntcp2.Session
	err := m.do(ctx, func(st *state) {
		p := st.peer(h)
		p.bannedUntil = time.Now().Add(d)
		open = append(open, p.sessions...)
	})
	for _, s := range open {
		s.CloseWithReason(ntcp2.ReasonBanned)
	}
	return err
}

// Connected reports whether an open session with h exists.
func (m *Manager) Connected(ctx context.Context, h data.Hash) bool {
	ok := false
	if !m.running.Load() {
		return false
	}
	m.do(ctx, func(st *state) {
		if p := st.peers[h]; p != nil {
			ok = p.openSession() != nil
		}
	})
	return ok
}

// PeerStatus describes one peer with open sessions.
type PeerStatus struct {
	Hash     data.Hash
	Inbound  int // sessions the peer dialled
	Outbound int // sessions we dialled
}

// Stats summarises the table.
type Stats struct {
	Sessions int
	Inbound  int
	Outbound int
	Dials    int
	Banned   int
	// ClockSkew counts handshakes refused because the clocks differ by
	// more than ntcp2.MaxClockSkew, dialed or accepted, since start.
	ClockSkew uint64
	// InboundTotal and OutboundTotal count the sessions established since
	// start that the peer dialled and that we dialled.
	InboundTotal, OutboundTotal uint64
	Peers                       []PeerStatus // sorted by hash
}

// Stats returns a snapshot of the table (zero when not running).
func (m *Manager) Stats(ctx context.Context) Stats {
	var out Stats
	if !m.running.Load() {
		return out
	}
	out.ClockSkew = m.skewed.Load()
	out.InboundTotal, out.OutboundTotal = m.established[0].Load(), m.established[1].Load()
	m.do(ctx, func(st *state) {
		now := time.Now()
		out.Sessions, out.Dials = st.sessions, st.dials
		for h, p := range st.peers {
			if p.banned(now) {
				out.Banned++
			}
			if len(p.sessions) == 0 {
				continue
			}
			ps := PeerStatus{Hash: h}
			for _, s := range p.sessions {
				if s.Initiator() {
					ps.Outbound++
				} else {
					ps.Inbound++
				}
			}
			out.Inbound += ps.Inbound
			out.Outbound += ps.Outbound
			out.Peers = append(out.Peers, ps)
		}
	})
	sort.Slice(out.Peers, func(i, j int) bool {
		return string(out.Peers[i].Hash[:]) < string(out.Peers[j].Hash[:])
	})
	return out
}

// acceptLoop takes inbound connections and runs their handshakes, at most
// ntcp2.DefaultMaxPendingHandshakes at once.
func (m *Manager) acceptLoop(ctx context.Context, wg *sync.WaitGroup) {
	sem := make(chan struct{}, ntcp2.DefaultMaxPendingHandshakes)
	var backoff time.Duration
	for {
		conn, err := m.cfg.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off up to 1 s, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("transport: accept failed, retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return
			}
		}
		backoff = 0
		select {
		case sem <- struct{}{}:
		default:
			m.log.Warn("transport: too many pending handshakes, dropping connection")
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m.accept(ctx, conn)
		}()
	}
}

// accept runs Bob's handshake and registers the session.
func (m *Manager) accept(ctx context.Context, conn net.Conn) {
	s, err := ntcp2.Server(ctx, conn, *m.sessCfg.Load())
	if err != nil {
		m.log.Debug("transport: inbound handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		m.noteSkew(err, "inbound")
		return
	}
	h := s.PeerHash()
	refuse := ntcp2.ReasonShutdown
	kept := false
	// do, not post: this goroutine holds the WaitGroup while the owner
	// registers the session's watcher.
	m.do(context.Background(), func(st *state) {
		p := st.peer(h)
		switch {
		case !m.running.Load():
		case p.banned(time.Now()):
			refuse = ntcp2.ReasonBanned
		case st.sessions+st.dials >= m.cfg.MaxSessions || len(p.sessions) >= maxSessionsPerPeer:
			refuse = ntcp2.ReasonNormal
		default:
			m.log.Debug("transport: inbound session up", "peer", h.Short())
			m.addSession(st, p, s)
			kept = true
		}
	})
	if !kept {
		m.log.Debug("transport: refusing inbound session", "peer", h.Short(), "reason", refuse)
		m.decide(s, false)
		s.CloseWithReason(refuse)
		m.forget(s)
		return
	}
	if m.cfg.OnRouterInfo != nil {
		m.cfg.OnRouterInfo(s.Peer())
	}
}
