// Package samtest is an in-process SAMv3 bridge for tests: a real TCP
// server on 127.0.0.1 that speaks enough of SAM 3.0–3.3 (HELLO, SESSION
// CREATE STYLE=STREAM, STREAM CONNECT/ACCEPT, NAMING LOOKUP, DEST
// GENERATE, PING/PONG) to run SAM clients against, and that relays
// streams between its own sessions, so two sessions of one Server can talk
// to each other.
//
// It imitates i2pd 2.45 where that matters to a client (SAM.cpp at tag
// 2.45.0): with MaxVersion "3.1" it negotiates like i2pd (MIN=3.0 MAX=3.3
// gets 3.0), treats an unknown command (such as PING) as fatal for the
// socket and its session, and closes every socket of a session when its
// control socket goes. Knobs script the replies a robust client has to
// survive: slow or failing SESSION CREATE, lines split into tiny
// segments, status lines coalesced with stream data, dropped control
// sockets, a restarted bridge, sessions the bridge still holds after the
// client lost them (DUPLICATED_ID/DUPLICATED_DEST), unanswered PINGs.
//
// Misuse by the client that a real bridge would punish (a command written
// before the previous reply; PING, quoted values, ports or a second
// pending STREAM ACCEPT before 3.2) is recorded and returned by
// Violations.
package samtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/router/data"
)

// Config scripts a Server. The zero value is an i2pd-2.45-like bridge.
type Config struct {
	// MaxVersion is the highest SAM version spoken: "3.1" (default)
	// negotiates like i2pd 2.45, "3.2"/"3.3" like Java I2P.
	MaxVersion string
	// CreateDelay delays SESSION STATUS (i2pd waits for its tunnels and
	// checks every 20 s).
	CreateDelay time.Duration
	// SplitWrites writes every reply in pieces of 1–16 bytes with pauses,
	// so a client must reassemble lines.
	SplitWrites bool
	// Coalesce holds the STATUS of a STREAM ACCEPT until a stream arrives
	// and writes it in one segment with the peer line; and writes the
	// STATUS of a STREAM CONNECT together with the first bytes the
	// accepting side sends. A client that reads past a status line into
	// its own buffer must still deliver those bytes.
	Coalesce bool
	// CoalesceWait is how long a coalesced STREAM CONNECT status waits
	// for the accepting side's first bytes. Default 200ms.
	CoalesceWait time.Duration
	// StaleSessionTTL keeps a session registered for this long after its
	// control socket closed (a router that has not noticed yet): SESSION
	// CREATE with its ID or keys gets DUPLICATED_ID / DUPLICATED_DEST.
	StaleSessionTTL time.Duration
	// PendingTimeout is how long an incoming stream waits for a STREAM
	// ACCEPT before it is dropped (i2pd: 10 s). Default 10s.
	PendingTimeout time.Duration
	// LookupTimeout is how long STREAM CONNECT waits for a target
	// destination that is not (yet) registered, like a router looking up
	// a leaseset, before CANT_REACH_PEER. Default 0: answer at once.
	LookupTimeout time.Duration
	// SingleAccept refuses a second pending STREAM ACCEPT on a session
	// with RESULT=ALREADY_ACCEPTING (SAM before 3.2 in old Java I2P).
	SingleAccept bool
	// IgnorePing leaves PINGs unanswered (a wedged bridge).
	IgnorePing bool
}

// Server is a fake SAM bridge. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	maxMinor int

	mu          sync.Mutex
	addr        string
	ln          net.Listener
	closed      bool
	conns       map[*sconn]struct{}
	sessions    map[string]*session
	names       map[string]data.Destination
	failCreates []failure
	connectFail *failure
	violations  []string
	counts      map[string]int

	wg sync.WaitGroup
}

type failure struct{ result, message string }

// session is one SESSION CREATE.
type session struct {
	id         string
	keys       data.PrivateKeys
	ctl        *sconn
	version    int // minor version of the control socket
	options    []samline.Arg
	acceptors  []*acceptor
	sockets    map[*sconn]struct{}
	dead       bool      // control socket gone
	staleUntil time.Time // registered until then although dead
}

// acceptor is a pending STREAM ACCEPT.
type acceptor struct {
	c      *sconn
	held   bool          // STATUS not written yet (Coalesce)
	taken  chan struct{} // closed when a connector owns c
	done   chan struct{} // closed by that connector when the relay ends
	peeked chan struct{} // closed when the client wrote or closed
}

// sconn is one client socket.
type sconn struct {
	net.Conn
	r      *bufio.Reader
	minor  int // negotiated 3.minor
	srv    *Server
	wmu    sync.Mutex
	pongs  chan string
	closed chan struct{}
	once   sync.Once
}

// Close closes the socket and signals closed.
func (c *sconn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// SessionInfo describes a registered session.
type SessionInfo struct {
	ID      string
	Dest    data.Destination
	Options []samline.Arg // as sent, without STYLE, ID and DESTINATION
	Version string        // of its control socket
	Dead    bool          // control socket gone, kept by StaleSessionTTL
}

// NewServer starts a fake bridge on 127.0.0.1 (a free port).
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxVersion == "" {
		cfg.MaxVersion = "3.1"
	}
	minor, ok := minorOf(cfg.MaxVersion)
	if !ok || minor > 3 {
		return nil, fmt.Errorf("samtest: MaxVersion %q not in 3.0–3.3", cfg.MaxVersion)
	}
	if cfg.CoalesceWait <= 0 {
		cfg.CoalesceWait = 200 * time.Millisecond
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = 10 * time.Second
	}
	s := &Server{
		cfg: cfg, maxMinor: minor,
		conns:    make(map[*sconn]struct{}),
		sessions: make(map[string]*session),
		names:    make(map[string]data.Destination),
		counts:   make(map[string]int),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("samtest: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// minorOf parses "3.x" (or "3") into x.
func minorOf(v string) (int, bool) {
	maj, min, ok := strings.Cut(v, ".")
	if maj != "3" {
		return 0, false
	}
	if !ok {
		return 0, true
	}
	n, err := strconv.Atoi(min)
	return n, err == nil && n >= 0
}

// Addr is the bridge's host:port.
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sc := &sconn{Conn: c, r: bufio.NewReader(c), srv: s, pongs: make(chan string, 1), closed: make(chan struct{})}
			s.mu.Lock()
			if s.closed || s.ln != ln {
				s.mu.Unlock()
				_ = c.Close()
				continue
			}
			s.conns[sc] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				s.handle(sc)
			}()
		}
	}()
}

// Stop simulates the router going away: the listener and every socket
// close and all sessions are forgotten. Start brings it back on the same
// address.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	conns := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.sessions = make(map[string]*session)
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// Start listens again on the bridge's address after Stop.
func (s *Server) Start() error {
	s.mu.Lock()
	running, closed := s.ln != nil, s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("samtest: server closed")
	}
	if running {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("samtest: relisten: %w", err)
	}
	s.serve(ln)
	return nil
}

// Close stops the server for good and waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
	s.wg.Wait()
	return nil
}

// DropControl closes the control socket of every live session, as if the
// connection broke; like i2pd, every other socket of those sessions
// closes with it.
func (s *Server) DropControl() {
	s.mu.Lock()
	var ctls []*sconn
	for _, ss := range s.sessions {
		if !ss.dead {
			ctls = append(ctls, ss.ctl)
		}
	}
	s.mu.Unlock()
	for _, c := range ctls {
		_ = c.Close()
	}
}

// DropAccepts closes every pending STREAM ACCEPT socket while leaving the
// control sockets up, as i2pd 2.45 does when it resets the acceptors of a
// destination that is being torn down.
func (s *Server) DropAccepts() {
	s.mu.Lock()
	var cs []*sconn
	for _, ss := range s.sessions {
		for _, a := range ss.acceptors {
			cs = append(cs, a.c)
		}
		ss.acceptors = nil
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// FailCreates makes the next n SESSION CREATEs answer RESULT=result (with
// MESSAGE=message when not empty) and close the socket.
func (s *Server) FailCreates(result, message string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failCreates = append(s.failCreates, failure{result, message})
	}
}

// FailConnects makes every STREAM CONNECT answer RESULT=result; "" clears.
func (s *Server) FailConnects(result, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if result == "" {
		s.connectFail = nil
		return
	}
	s.connectFail = &failure{result, message}
}

// AddName adds a hosts-file entry for NAMING LOOKUP and STREAM CONNECT.
func (s *Server) AddName(name string, d data.Destination) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[strings.ToLower(name)] = d
}

// Sessions lists the registered sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SessionInfo
	for _, ss := range s.sessions {
		out = append(out, SessionInfo{ID: ss.id, Dest: ss.keys.Destination(), Options: ss.options,
			Version: "3." + strconv.Itoa(ss.version), Dead: ss.dead})
	}
	return out
}

// PendingAccepts counts the STREAM ACCEPTs waiting on session id.
func (s *Server) PendingAccepts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[id]; ss != nil {
		return len(ss.acceptors)
	}
	return 0
}

// Count returns how many commands "VERB SUB" (e.g. "SESSION CREATE",
// "STREAM ACCEPT", "PING") the server received.
func (s *Server) Count(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[cmd]
}

// Violations returns the protocol misuse seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// Ping sends "PING <text>" on the control socket of session id and waits
// for the matching PONG (the bridge side of SAM 3.2 keep-alive).
func (s *Server) Ping(ctx context.Context, id string) error {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil || ss.dead {
		return fmt.Errorf("samtest: no live session %q", id)
	}
	text := "srv-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := ss.ctl.write("PING " + text + "\n"); err != nil {
		return err
	}
	select {
	case got := <-ss.ctl.pongs:
		if got != text {
			return fmt.Errorf("samtest: PONG %q, want %q", got, text)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends b, in tiny pieces when SplitWrites is set.
func (c *sconn) write(b string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.srv.cfg.SplitWrites {
		_, err := io.WriteString(c.Conn, b)
		return err
	}
	for i, k := 0, 0; i < len(b); k++ {
		n := min(1+k%16, len(b)-i)
		if _, err := io.WriteString(c.Conn, b[i:i+n]); err != nil {
			return err
		}
		i += n
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

func (c *sconn) reply(format string, args ...any) error {
	return c.write(fmt.Sprintf(format, args...) + "\n")
}

func statusLine(verb string, f failure) string {
	line := verb + " STATUS RESULT=" + f.result
	if f.message != "" {
		line += ` MESSAGE="` + f.message + `"`
	}
	return line
}

func (s *Server) forget(c *sconn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

// handle runs one client socket: HELLO, then commands until the socket
// becomes a stream or closes.
func (s *Server) handle(c *sconn) {
	defer s.forget(c)
	line, err := readLine(c.r)
	if err != nil {
		return
	}
	m, err := samline.Parse(line)
	if err != nil || !m.Is("HELLO", "VERSION") {
		s.violate("first line is not HELLO VERSION: %q", line)
		return
	}
	minor, ok := s.negotiate(m)
	if !ok {
		_ = c.reply("HELLO REPLY RESULT=NOVERSION")
		return
	}
	c.minor = minor
	if err := c.reply("HELLO REPLY RESULT=OK VERSION=3.%d", minor); err != nil {
		return
	}
	var sess *session // set once this is a control socket
	defer func() {
		if sess != nil {
			s.endSession(sess)
		}
	}()
	for {
		line, err := readLine(c.r)
		if err != nil {
			return
		}
		m, err := samline.Parse(line)
		if err != nil {
			s.violate("unparsable command %q", line)
			return
		}
		if c.r.Buffered() > 0 && !m.Is("STREAM", "CONNECT") {
			// i2pd 2.45 reads one segment per command and drops what
			// follows the first line (STREAM CONNECT excepted: bytes
			// after it are the stream's first data).
			s.violate("bytes written after %q before its reply", strings.TrimSpace(line))
		}
		if c.minor < 2 && strings.Contains(line, `"`) {
			s.violate("quoted value before SAM 3.2: %q", strings.TrimSpace(line))
		}
		s.mu.Lock()
		s.counts[strings.TrimSpace(m.Verb+" "+m.Sub)]++
		s.mu.Unlock()
		switch {
		case m.Verb == "PING" || m.Verb == "PONG":
			if c.minor < 2 {
				// i2pd 2.45: "SAM: Unexpected message" → Terminate.
				s.violate("%s before SAM 3.2", m.Verb)
				return
			}
			if m.Verb == "PONG" {
				select {
				case c.pongs <- m.Text:
				default:
				}
				continue
			}
			if s.cfg.IgnorePing {
				continue
			}
			if err := c.write("PONG " + m.Text + "\n"); err != nil {
				return
			}
		case m.Is("SESSION", "CREATE"):
			if sess != nil {
				_ = c.reply(`SESSION STATUS RESULT=I2P_ERROR MESSAGE="session already created"`)
				return
			}
			if sess = s.create(c, m); sess == nil {
				return
			}
		case m.Is("NAMING", "LOOKUP"):
			if err := s.lookup(c, sess, m); err != nil {
				return
			}
		case m.Is("DEST", "GENERATE"):
			k, err := data.GeneratePrivateKeys(rand.Reader)
			if err != nil {
				return
			}
			if err := c.reply("DEST REPLY PUB=%s PRIV=%s", k.Destination().Base64(), k.Base64()); err != nil {
				return
			}
		case m.Is("STREAM", "CONNECT") && sess == nil:
			s.connect(c, m)
			return
		case m.Is("STREAM", "ACCEPT") && sess == nil:
			s.accept(c, m)
			return
		default:
			s.violate("unexpected command %q", strings.TrimSpace(line))
			return
		}
	}
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return line, nil
}

// negotiate picks the version: like i2pd 2.45 when MaxVersion is 3.1
// (MAX if acceptable, else MIN if acceptable, else 3.0 when the range
// spans it), by the spec otherwise (the highest version in range).
func (s *Server) negotiate(m samline.Message) (int, bool) {
	minS, maxS := m.Value("MIN"), m.Value("MAX")
	if s.maxMinor <= 1 {
		acceptable := func(v string) bool { return v == "3.0" || v == "3.1" }
		if maxS == "" {
			maxS = "3.1"
		}
		if minS == "" {
			minS = "3.0"
		}
		switch {
		case acceptable(maxS):
			n, _ := minorOf(maxS)
			return n, true
		case acceptable(minS):
			n, _ := minorOf(minS)
			return n, true
		case minS < "3" && maxS > "3.1":
			return 0, true
		}
		return 0, false
	}
	lo, hi := 0, s.maxMinor
	if minS != "" {
		n, ok := minorOf(minS)
		if !ok {
			return 0, false
		}
		lo = n
	}
	if maxS != "" {
		n, ok := minorOf(maxS)
		if !ok {
			return 0, false
		}
		hi = min(hi, n)
	}
	return hi, lo <= hi
}

// liveOrStale finds a registered session by predicate, purging stale
// ones whose time is up. Call with s.mu held.
func (s *Server) findLocked(match func(*session) bool) *session {
	now := time.Now()
	for id, ss := range s.sessions {
		if ss.dead && now.After(ss.staleUntil) {
			delete(s.sessions, id)
			continue
		}
		if match(ss) {
			return ss
		}
	}
	return nil
}

func (s *Server) create(c *sconn, m samline.Message) *session {
	id, style, dest := m.Value("ID"), m.Value("STYLE"), m.Value("DESTINATION")
	s.mu.Lock()
	var fail *failure
	if len(s.failCreates) > 0 {
		fail = &s.failCreates[0]
		s.failCreates = s.failCreates[1:]
	}
	s.mu.Unlock()
	switch {
	case fail != nil:
		_ = c.write(statusLine("SESSION", *fail) + "\n")
		return nil
	case id == "" || strings.ContainsAny(id, `<>"'/`):
		_ = c.reply("SESSION STATUS RESULT=INVALID_ID")
		return nil
	case style != "STREAM":
		_ = c.reply(`SESSION STATUS RESULT=I2P_ERROR MESSAGE="Unknown STYLE"`)
		return nil
	case dest == "":
		_ = c.reply("SESSION STATUS RESULT=INVALID_KEY")
		return nil
	}
	var keys data.PrivateKeys
	var err error
	if dest == "TRANSIENT" {
		keys, err = data.GeneratePrivateKeys(rand.Reader)
	} else {
		keys, err = data.ParsePrivateKeysBase64(dest)
	}
	if err != nil {
		_ = c.reply("SESSION STATUS RESULT=INVALID_KEY")
		return nil
	}
	var opts []samline.Arg
	for _, a := range m.Args {
		switch a.Key {
		case "ID", "STYLE", "DESTINATION":
		case "FROM_PORT", "TO_PORT":
			if c.minor < 2 {
				s.violate("%s on SESSION CREATE before SAM 3.2", a.Key)
			}
			opts = append(opts, a)
		default:
			opts = append(opts, a)
		}
	}
	h := keys.Destination().Hash()
	s.mu.Lock()
	if s.findLocked(func(o *session) bool { return o.id == id }) != nil {
		s.mu.Unlock()
		_ = c.reply("SESSION STATUS RESULT=DUPLICATED_ID")
		return nil
	}
	if s.findLocked(func(o *session) bool { return o.keys.Destination().Hash() == h }) != nil {
		s.mu.Unlock()
		_ = c.reply("SESSION STATUS RESULT=DUPLICATED_DEST")
		return nil
	}
	sess := &session{id: id, keys: keys, ctl: c, version: c.minor, options: opts, sockets: map[*sconn]struct{}{c: {}}}
	s.sessions[id] = sess
	s.mu.Unlock()
	if s.cfg.CreateDelay > 0 {
		// Like i2pd, the session exists while it waits for tunnels, and
		// the socket is not read meanwhile: a client that gives up is
		// noticed only when the reply is written.
		t := time.NewTimer(s.cfg.CreateDelay)
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
			s.endSession(sess)
			return nil
		}
	}
	if err := c.reply("SESSION STATUS RESULT=OK DESTINATION=%s", keys.Base64()); err != nil {
		s.endSession(sess)
		return nil
	}
	return sess
}

// endSession runs when a control socket ends: the session's sockets all
// close (i2pd SAMSession::CloseStreams); the session is forgotten, or
// kept as stale for StaleSessionTTL.
func (s *Server) endSession(sess *session) {
	s.mu.Lock()
	if sess.dead {
		s.mu.Unlock()
		return
	}
	sess.dead = true
	socks := make([]*sconn, 0, len(sess.sockets))
	for c := range sess.sockets {
		socks = append(socks, c)
	}
	sess.acceptors = nil
	if s.cfg.StaleSessionTTL > 0 {
		sess.staleUntil = time.Now().Add(s.cfg.StaleSessionTTL)
	} else if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	s.mu.Unlock()
	for _, c := range socks {
		_ = c.Close()
	}
}

// liveSession finds a live session by ID and adds c to its sockets.
func (s *Server) joinSession(id string, c *sconn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.dead {
		return nil
	}
	ss.sockets[c] = struct{}{}
	return ss
}

func (s *Server) leaveSession(ss *session, c *sconn) {
	s.mu.Lock()
	delete(ss.sockets, c)
	s.mu.Unlock()
}

// resolve finds the destination a DESTINATION= or NAME= value names:
// base64, b32 of a live session, or a hosts entry.
func (s *Server) resolve(name string) (data.Destination, bool) {
	if d, err := data.ParseDestinationBase64(name); err == nil {
		return d, true
	}
	lower := strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, err := data.ParseB32(lower); err == nil {
		ss := s.findLocked(func(o *session) bool { return !o.dead && o.keys.Destination().Hash() == h })
		if ss == nil {
			return data.Destination{}, false
		}
		return ss.keys.Destination(), true
	}
	d, ok := s.names[lower]
	return d, ok
}

func (s *Server) lookup(c *sconn, sess *session, m samline.Message) error {
	name := m.Value("NAME")
	if name == "ME" {
		if sess == nil {
			return c.reply("NAMING REPLY RESULT=INVALID_KEY NAME=ME")
		}
		return c.reply("NAMING REPLY RESULT=OK NAME=ME VALUE=%s", sess.keys.Destination().Base64())
	}
	d, ok := s.resolve(name)
	if !ok {
		// i2pd answers INVALID_KEY for unknown names and for b32s
		// without a leaseset.
		return c.reply("NAMING REPLY RESULT=INVALID_KEY NAME=%s", name)
	}
	return c.reply("NAMING REPLY RESULT=OK NAME=%s VALUE=%s", name, d.Base64())
}

func (s *Server) connect(c *sconn, m samline.Message) {
	sess := s.joinSession(m.Value("ID"), c)
	if sess == nil {
		_ = c.reply("STREAM STATUS RESULT=INVALID_ID")
		return
	}
	defer s.leaveSession(sess, c)
	for _, k := range []string{"FROM_PORT", "TO_PORT"} {
		if _, ok := m.Get(k); ok && c.minor < 2 {
			s.violate("%s on STREAM CONNECT before SAM 3.2", k)
		}
	}
	fromPort, toPort := m.Value("FROM_PORT"), m.Value("TO_PORT")
	s.mu.Lock()
	fail := s.connectFail
	s.mu.Unlock()
	if fail != nil {
		_ = c.write(statusLine("STREAM", *fail) + "\n")
		return
	}
	name := m.Value("DESTINATION")
	_, b32err := data.ParseB32(strings.ToLower(name))
	var target *session
	for deadline := time.Now().Add(s.cfg.LookupTimeout); ; {
		if d, ok := s.resolve(name); ok {
			h := d.Hash()
			s.mu.Lock()
			target = s.findLocked(func(o *session) bool { return !o.dead && o.keys.Destination().Hash() == h })
			s.mu.Unlock()
		} else if b32err != nil {
			_ = c.reply("STREAM STATUS RESULT=INVALID_KEY")
			return
		}
		if target != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if target == nil {
		_ = c.reply("STREAM STATUS RESULT=CANT_REACH_PEER")
		return
	}
	// i2pd answers OK as soon as it has the leaseset, before the peer
	// accepted; Coalesce delays it to write it with the peer's bytes.
	if !s.cfg.Coalesce {
		if err := c.reply("STREAM STATUS RESULT=OK"); err != nil {
			return
		}
	}
	a := s.takeAcceptor(target)
	if a == nil {
		return // nobody accepted in time: the stream is reset
	}
	defer close(a.done)
	peer := sess.keys.Destination().Base64()
	if a.c.minor >= 2 {
		peer += " FROM_PORT=" + orZero(fromPort) + " TO_PORT=" + orZero(toPort)
	}
	head := ""
	if a.held {
		head = "STREAM STATUS RESULT=OK\n"
	}
	if err := a.c.write(head + peer + "\n"); err != nil {
		_ = a.c.Close()
		return
	}
	if s.cfg.Coalesce {
		// Wait briefly for the accepting side to speak first and send
		// its bytes in the same segment as our STATUS.
		first := ""
		select {
		case <-a.peeked:
			if n := a.c.r.Buffered(); n > 0 {
				b := make([]byte, n)
				_, _ = io.ReadFull(a.c.r, b)
				first = string(b)
			}
		case <-time.After(s.cfg.CoalesceWait):
		}
		if err := c.write("STREAM STATUS RESULT=OK\n" + first); err != nil {
			_ = a.c.Close()
			return
		}
	}
	s.relay(c, a)
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// takeAcceptor waits up to PendingTimeout for a pending ACCEPT on target.
func (s *Server) takeAcceptor(target *session) *acceptor {
	deadline := time.Now().Add(s.cfg.PendingTimeout)
	for {
		s.mu.Lock()
		if target.dead {
			s.mu.Unlock()
			return nil
		}
		if len(target.acceptors) > 0 {
			a := target.acceptors[0]
			target.acceptors = target.acceptors[1:]
			close(a.taken)
			s.mu.Unlock()
			return a
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relay copies both ways between a connector and an acceptor; when either
// side ends, both sockets close (i2pd ends the I2P stream on EOF).
func (s *Server) relay(c *sconn, a *acceptor) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = c.Close()
			_ = a.c.Close()
		})
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer closeBoth()
		<-a.peeked // the peek goroutine must finish before we read a.c
		_, _ = io.Copy(c.Conn, a.c.r)
	}()
	defer closeBoth()
	_, _ = io.Copy(a.c.Conn, c.r)
}

func (s *Server) accept(c *sconn, m samline.Message) {
	sess := s.joinSession(m.Value("ID"), c)
	if sess == nil {
		_ = c.reply("STREAM STATUS RESULT=INVALID_ID")
		return
	}
	s.mu.Lock()
	busy := s.cfg.SingleAccept && len(sess.acceptors) > 0
	concurrent := len(sess.acceptors) > 0 && c.minor < 2
	s.mu.Unlock()
	if concurrent {
		// i2pd 2.45 registers ACCEPTs asynchronously; concurrent ones
		// can be registered twice and a socket then gets two streams.
		s.violate("concurrent STREAM ACCEPT on SAM 3.%d (corrupts streams in i2pd 2.45)", c.minor)
	}
	if busy {
		s.leaveSession(sess, c)
		_ = c.reply("STREAM STATUS RESULT=ALREADY_ACCEPTING")
		return
	}
	a := &acceptor{c: c, held: s.cfg.Coalesce, taken: make(chan struct{}), done: make(chan struct{}), peeked: make(chan struct{})}
	defer s.leaveSession(sess, c)
	if !a.held {
		if err := c.reply("STREAM STATUS RESULT=OK"); err != nil {
			return
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, _ = c.r.Peek(1)
		close(a.peeked)
	}()
	s.mu.Lock()
	if sess.dead {
		s.mu.Unlock()
		return
	}
	sess.acceptors = append(sess.acceptors, a)
	s.mu.Unlock()
	select {
	case <-a.taken:
		<-a.done // the connector relays on c; handle closes it after
		return
	case <-a.peeked:
	}
	// The client wrote or hung up before any stream came.
	s.mu.Lock()
	for i, o := range sess.acceptors {
		if o == a {
			sess.acceptors = append(sess.acceptors[:i], sess.acceptors[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	select {
	case <-a.taken:
		<-a.done
	default:
	}
}
