package samnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/router/data"
)

// state of a Session. Transitions (all under Session.mu):
//
//	connecting ──SESSION STATUS OK──> up ──control socket lost──> reconnecting
//	     │                            ^                               │
//	     │                            └──────SESSION STATUS OK────────┘
//	     └──Open fails──> closed <──Close── (any state)
type state int

const (
	stateConnecting state = iota
	stateUp
	stateReconnecting
	stateClosed
)

func (s state) String() string {
	switch s {
	case stateConnecting:
		return "connecting"
	case stateUp:
		return "up"
	case stateReconnecting:
		return "reconnecting"
	case stateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// reservedOptions are SESSION CREATE keys samnet sets itself.
var reservedOptions = map[string]bool{"STYLE": true, "ID": true, "DESTINATION": true}

// maxDuplicatedID bounds immediate retries with a fresh ID after
// DUPLICATED_ID before backing off.
const maxDuplicatedID = 3

// Session is one SAM STREAM session: a local destination on the router,
// kept alive across control-socket losses and router restarts.
type Session struct {
	n    *Network
	log  *slog.Logger
	name string
	// keys and addr change only when a transient session is re-created
	// (rekey); read them through ident.
	keys      data.PrivateKeys
	addr      i2pnet.Addr
	transient bool
	opts      []samline.Arg
	idBase    string

	cancel context.CancelFunc // ends the watcher and any reconnect
	done   chan struct{}      // closed by Close
	wg     sync.WaitGroup

	mu       sync.Mutex
	state    state
	lastErr  error
	upCh     chan struct{} // closed while state == stateUp
	cur      link          // valid while state == stateUp
	seq      int           // session IDs used so far
	listener *listener
	closers  map[io.Closer]struct{} // sockets to close with the session

	closeOnce sync.Once
}

var _ i2pnet.Session = (*Session)(nil)

// link is one incarnation of the router-side session.
type link struct {
	ctl *control
	v   version
	id  string
}

func newSession(n *Network, cfg i2pnet.SessionConfig) (*Session, error) {
	var keys data.PrivateKeys
	if cfg.Keys != nil {
		keys = *cfg.Keys
		if keys.IsZero() {
			return nil, errors.New("samnet: SessionConfig.Keys is set but empty")
		}
	} else {
		// Transient destinations are generated here rather than by the
		// router (DESTINATION=TRANSIENT), so that the keys are known to
		// us. They are replaced at every reconnect (see rekey). The keys
		// are Ed25519 + X25519 (crypto type 4), which i2pd 2.45 accepts
		// over SAM.
		var err error
		if keys, err = data.GeneratePrivateKeys(n.cfg.Rand); err != nil {
			return nil, fmt.Errorf("samnet: transient keys: %w", err)
		}
	}
	opts := make([]samline.Arg, 0, len(cfg.Options))
	for k, v := range cfg.Options {
		if reservedOptions[strings.ToUpper(k)] {
			return nil, fmt.Errorf("samnet: option %q is set by samnet", k)
		}
		opts = append(opts, samline.Arg{Key: k, Value: v})
	}
	sort.Slice(opts, func(i, j int) bool { return opts[i].Key < opts[j].Key })
	// Refuse options no SAM version can carry now rather than at every
	// reconnect; values that need quotes are checked per version.
	if _, err := (samline.Message{Verb: "SESSION", Sub: "CREATE", Args: opts}).Append(nil, true); err != nil {
		return nil, fmt.Errorf("samnet: options: %w", err)
	}
	suffix, err := n.randomHex(4)
	if err != nil {
		return nil, err
	}
	s := &Session{
		n:         n,
		name:      cfg.Name,
		keys:      keys,
		addr:      i2pnet.Addr{Dest: keys.Destination()},
		transient: cfg.Keys == nil,
		opts:      opts,
		idBase:    sessionIDBase(cfg.Name) + "-" + suffix,
		done:      make(chan struct{}),
		upCh:      make(chan struct{}),
		closers:   make(map[io.Closer]struct{}),
	}
	s.log = n.log.With("session", cfg.Name, "dest", s.addr.Dest.Hash().Short())
	return s, nil
}

// sessionIDBase keeps the characters every bridge accepts in an ID: no
// whitespace (SAM), none of <>"'/ (i2pd's IsAcceptableSessionName).
func sessionIDBase(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 32 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "samnet"
	}
	return b.String()
}

// nextID returns a session ID never used before by this Session, so a
// router that still holds our previous session (it has not noticed the
// old control socket die) does not answer DUPLICATED_ID.
func (s *Session) nextID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s-%d", s.idBase, s.seq)
}

// open is the first creation, bounded by ctx; failure is final.
func (s *Session) open(ctx context.Context) error {
	// The watcher's context lives until Close; it is created first so
	// that a Close racing with Open always finds something to cancel.
	life, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		cancel()
		return i2pnet.ErrClosed
	}
	s.cancel = cancel
	s.mu.Unlock()
	var err error
	for range maxDuplicatedID {
		var l link
		l, err = s.create(ctx)
		if err == nil {
			if !s.spawn(func() { s.watch(life, l) }) {
				l.ctl.close()
				return i2pnet.ErrClosed
			}
			return nil
		}
		var re *ReplyError
		if !errors.As(err, &re) || re.Result != ResultDuplicatedID {
			break
		}
	}
	if errors.Is(err, i2pnet.ErrClosed) {
		return i2pnet.ErrClosed
	}
	return fmt.Errorf("samnet: open session %q: %w", s.name, err)
}

// create runs HELLO + SESSION CREATE on a new control socket and, on
// success, publishes the link (state up). A suspiciously fast answer from
// an old router (see Config.StaleAnswer) is retried once after StaleWait.
func (s *Session) create(ctx context.Context) (link, error) {
	l, stale, err := s.createOnce(ctx, true)
	if !stale {
		return l, err
	}
	s.log.Warn("sam: router answered SESSION CREATE at once, likely with the destination of a session closed moments ago (i2pd keeps it 5 s, then deletes it); creating the session again",
		"wait", s.n.cfg.StaleWait)
	if !sleepCtx(ctx, s.n.cfg.StaleWait) {
		return link{}, ctx.Err()
	}
	l, _, err = s.createOnce(ctx, false)
	return l, err
}

func (s *Session) createOnce(ctx context.Context, guard bool) (link, bool, error) {
	l, err := s.createLink(ctx, guard)
	if errors.Is(err, errStaleDestination) {
		return link{}, true, nil
	}
	return l, false, err
}

// errStaleDestination: SESSION CREATE answered faster than a new
// destination can be ready (Config.StaleAnswer).
var errStaleDestination = errors.New("samnet: stale destination")

func (s *Session) createLink(ctx context.Context, guard bool) (link, error) {
	keys, _ := s.ident()
	c, v, err := s.n.negotiate(ctx)
	if err != nil {
		return link{}, err
	}
	id := s.nextID()
	args := append([]samline.Arg{
		{Key: "STYLE", Value: "STREAM"},
		{Key: "ID", Value: id},
		{Key: "DESTINATION", Value: keys.Base64()},
	}, s.opts...)
	cmd := samline.Message{Verb: "SESSION", Sub: "CREATE", Args: args}
	if _, err := cmd.Append(nil, v.hasQuoting()); err != nil {
		_ = c.Close()
		return link{}, fmt.Errorf("samnet: options for SAM %s: %w", v, err)
	}
	ct := newControl(c, v, s.log)
	if !s.track(c) {
		_ = c.Close()
		return link{}, i2pnet.ErrClosed
	}
	defer s.untrack(c)
	if !s.spawn(ct.run) {
		ct.close()
		return link{}, i2pnet.ErrClosed
	}
	s.log.Debug("sam: SESSION CREATE", "id", id, "version", v)
	start := time.Now()
	m, err := ct.roundTrip(ctx, cmd, 0)
	if err == nil {
		err = expect(m, "SESSION", "STATUS")
	}
	if err == nil {
		err = replyErr("SESSION CREATE", m)
	}
	if err == nil {
		err = s.checkDestination(m.Value("DESTINATION"))
	}
	if err == nil && guard && !v.hasPing() && time.Since(start) < s.n.cfg.StaleAnswer {
		err = errStaleDestination
	}
	if err != nil {
		ct.close()
		if errors.Is(err, errStaleDestination) {
			return link{}, err
		}
		select {
		case <-s.done:
			return link{}, i2pnet.ErrClosed
		default:
		}
		return link{}, ctxErr(ctx, err)
	}
	l := link{ctl: ct, v: v, id: id}
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		ct.close()
		return link{}, i2pnet.ErrClosed
	}
	s.state, s.cur, s.lastErr = stateUp, l, nil
	close(s.upCh)
	s.mu.Unlock()
	s.log.Info("sam session up", "id", id, "version", v, "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// checkDestination compares the destination in SESSION STATUS with ours.
// Only the leading Destination is parsed: the private-key part is ours
// anyway, and a router may encode it its own way.
func (s *Session) checkDestination(priv string) error {
	b, err := data.Base64Decode(priv)
	if err != nil {
		return fmt.Errorf("%w: SESSION STATUS DESTINATION: %w", ErrProtocol, err)
	}
	d, _, err := data.ParseDestination(b)
	if err != nil {
		return fmt.Errorf("%w: SESSION STATUS DESTINATION: %w", ErrProtocol, err)
	}
	_, addr := s.ident()
	if d.Hash() != addr.Dest.Hash() {
		return fmt.Errorf("%w: sent %s, got %s", ErrKeysMismatch, addr.Dest.B32(), d.B32())
	}
	return nil
}

// watch owns the session's lifetime after Open: it waits for the control
// socket to die and re-creates the session with backoff until Close.
func (s *Session) watch(ctx context.Context, l link) {
	b := backoff{min: s.n.cfg.MinBackoff, max: s.n.cfg.MaxBackoff}
	for {
		upAt := time.Now()
		kaCtx, kaCancel := context.WithCancel(ctx)
		if l.v.hasPing() && s.n.cfg.KeepAlive > 0 {
			ctl := l.ctl // l changes on the next round
			s.spawn(func() { ctl.keepAlive(kaCtx, s.n.cfg.KeepAlive, s.n.cfg.KeepAliveTimeout) })
		}
		select {
		case <-ctx.Done():
			kaCancel()
			l.ctl.close()
			return
		case <-l.ctl.dead:
		}
		kaCancel()
		cause := l.ctl.lost()
		s.mu.Lock()
		if s.state == stateClosed {
			s.mu.Unlock()
			return
		}
		s.state, s.lastErr, s.upCh = stateReconnecting, cause, make(chan struct{})
		s.mu.Unlock()
		s.log.Warn("sam session lost, reconnecting", "err", cause)
		// A session that stayed up for a while is re-created at once and
		// starts over at the shortest delay; one that flaps (a bridge
		// that accepts and drops it) waits and keeps backing off.
		if time.Since(upAt) > s.n.cfg.MaxBackoff {
			b.reset()
		} else if !sleepCtx(ctx, b.next()) {
			return
		}
		s.rekey()
		var ok bool
		if l, ok = s.reconnect(ctx, &b); !ok {
			return
		}
	}
}

// reconnect re-creates the session until it succeeds or ctx ends, backing
// off between failed attempts (DUPLICATED_ID is retried at once with the
// next ID, a few times).
func (s *Session) reconnect(ctx context.Context, b *backoff) (link, bool) {
	dup := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, s.n.cfg.CreateTimeout)
		l, err := s.create(cctx)
		cancel()
		if err == nil {
			return l, true
		}
		if ctx.Err() != nil {
			return link{}, false
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		var re *ReplyError
		if errors.As(err, &re) && re.Result == ResultDuplicatedID && dup < maxDuplicatedID {
			// The router still holds the old ID; a new ID is enough.
			dup++
			continue
		}
		dup = 0
		d := b.next()
		s.log.Warn("sam session re-create failed", "err", err, "retry_in", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return link{}, false
		}
	}
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// State reports "connecting", "up", "reconnecting" or "closed", and the
// error that caused the last loss or failed the last attempt (nil while
// up).
func (s *Session) State() (state string, lastErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.String(), s.lastErr
}

// current returns the link in use (zero while not up).
func (s *Session) current() link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Addr is this session's destination.
func (s *Session) Addr() i2pnet.Addr {
	_, a := s.ident()
	return a
}

// ident returns the current keys and address.
func (s *Session) ident() (data.PrivateKeys, i2pnet.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, s.addr
}

// rekey gives a transient session a new destination before it is
// re-created. Peers' routers keep state bound to the old one: i2pd 2.45
// refuses a new ECIES session from a static key it saw in the last 120 s
// and keeps sending on the old session and leaseset for minutes, so a
// transient client that came back under the same keys could not reach
// anyone for minutes after its router restarted. A transient address is
// known to nobody, so a new one costs nothing.
func (s *Session) rekey() {
	if !s.transient {
		return
	}
	keys, err := data.GeneratePrivateKeys(s.n.cfg.Rand)
	if err != nil {
		s.log.Warn("sam: new transient keys failed; keeping the old ones", "err", err)
		return
	}
	s.mu.Lock()
	s.keys, s.addr = keys, i2pnet.Addr{Dest: keys.Destination()}
	s.mu.Unlock()
	s.log.Info("sam: transient session gets a new destination", "dest", keys.Destination().Hash().Short())
}

// waitUp returns the current link, waiting while the session is being
// re-created. It fails only with ctx or when the session is closed.
func (s *Session) waitUp(ctx context.Context) (link, error) {
	for {
		s.mu.Lock()
		st, l, ch := s.state, s.cur, s.upCh
		s.mu.Unlock()
		switch st {
		case stateUp:
			return l, nil
		case stateClosed:
			return link{}, i2pnet.ErrClosed
		}
		select {
		case <-ch:
		case <-s.done:
			return link{}, i2pnet.ErrClosed
		case <-ctx.Done():
			return link{}, fmt.Errorf("samnet: waiting for session %q: %w", s.name, ctx.Err())
		}
	}
}

// stale reports whether an operation that failed on l should be retried
// on a newer link. When a stream socket fails right as the router goes
// away, the control reader may not have noticed yet, so it waits briefly
// for the verdict.
func (s *Session) stale(ctx context.Context, l link) bool {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-l.ctl.dead:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// spawn runs f in a goroutine that Close waits for; false (f not run)
// once the session is closed, so no goroutine starts after Close's Wait.
func (s *Session) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// track registers a socket to be closed by Close; false if already closed.
func (s *Session) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return false
	}
	s.closers[c] = struct{}{}
	return true
}

func (s *Session) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.closers, c)
	s.mu.Unlock()
}

// Close ends the session: the control socket (the router then drops the
// destination), the listener and every open stream. It waits for the
// session's goroutines.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.state = stateClosed
		close(s.done)
		cancel, ctl, l := s.cancel, s.cur.ctl, s.listener
		closers := make([]io.Closer, 0, len(s.closers))
		for c := range s.closers {
			closers = append(closers, c)
		}
		s.closers = map[io.Closer]struct{}{}
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		if ctl != nil {
			ctl.close()
		}
		if l != nil {
			_ = l.Close()
		}
		for _, c := range closers {
			_ = c.Close()
		}
		s.wg.Wait()
		s.n.forget(s)
		s.log.Info("sam session closed")
	})
	return nil
}

// backoff is jittered exponential backoff: each delay is uniformly drawn
// from [d/2, d) where d doubles from min up to max.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	if d > b.max {
		d = b.max
	}
	b.n++
	half := d / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.n = 0 }

// closedErr is the error of a listener or session operation after Close.
func closedErr(op string, addr net.Addr) error {
	return &net.OpError{Op: op, Net: "i2p", Addr: addr, Err: net.ErrClosed}
}
