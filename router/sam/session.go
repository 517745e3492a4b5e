package sam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/destination"
	"i2pbridge/router/payload"
	"i2pbridge/router/streaming"
)

// style is a session's STYLE.
type style uint8

const (
	styleStream style = iota
	styleDatagram
	styleRaw
	// stylePrimary (SAM 3.3; "MASTER" before I2P 0.9.47) owns a
	// destination and carries no data itself: its subsessions do.
	stylePrimary
)

var styleNames = [...]string{styleStream: "STREAM", styleDatagram: "DATAGRAM", styleRaw: "RAW", stylePrimary: "PRIMARY"}

func (s style) String() string { return styleNames[s] }

// parseStyle reads STYLE= of SESSION CREATE and SESSION ADD.
func parseStyle(l Line) (style, error) {
	switch st := l.Value("STYLE"); st {
	case "STREAM":
		return styleStream, nil
	case "DATAGRAM":
		return styleDatagram, nil
	case "RAW":
		return styleRaw, nil
	case "PRIMARY", "MASTER":
		return stylePrimary, nil
	case "":
		return 0, errors.New("STYLE is missing (STREAM, DATAGRAM, RAW or PRIMARY)")
	default:
		return 0, fmt.Errorf("unknown STYLE %q (STREAM, DATAGRAM, RAW or PRIMARY)", st)
	}
}

// takes refuses a command meant for sessions of style st on a session of
// another style (samv3.html "SAM Sessions": a session "cannot carry
// communications of another type"). A PRIMARY session carries none: its
// subsessions do, by their own IDs.
func (sess *session) takes(st style) error {
	switch sess.style {
	case st:
		return nil
	case stylePrimary:
		return fmt.Errorf("session %q is a PRIMARY session, which carries no data itself: use the ID of one of its %s subsessions", sess.id, st)
	}
	return fmt.Errorf("session %q is a %s session, not %s", sess.id, sess.style, st)
}

// sessState is a session's life cycle:
//
//	sessCreating ──tunnels up, LeaseSet confirmed (or PublishWait passed)──▶ sessReady
//	sessCreating ──client hung up, server stopping, no tunnels──▶ sessClosed
//	sessReady ──control socket closed (QUIT, EOF, server stopping)──▶ sessClosed
//
// A subsession of a PRIMARY session (primary.go) has no tunnels to wait
// for:
//
//	sessCreating ──SESSION ADD checked, listen port free──▶ sessReady
//	sessCreating ──listen port taken, primary closing──▶ dropped (it started nothing)
//	sessReady ──SESSION REMOVE, its primary closed──▶ sessClosed
//
// Only a ready session takes STREAM and DATAGRAM commands; a closed one
// has left the server's tables, its destination is closed (unless it is
// a subsession: the primary's destination stays) and every socket it
// served (streams, ACCEPTs, FORWARD) is closed with it. Closing a primary
// closes its subsessions first.
type sessState uint8

const (
	sessCreating sessState = iota
	sessReady
	sessClosed
)

var sessStateNames = [...]string{sessCreating: "being created", sessReady: "ready", sessClosed: "closed"}

func (s sessState) String() string {
	if int(s) < len(sessStateNames) {
		return sessStateNames[s]
	}
	return fmt.Sprintf("sessState(%d)", uint8(s))
}

// rawProtocol is the only I2CP protocol RAW sessions send and receive;
// destination.SendRaw has no other.
const rawProtocol = payload.ProtoRaw

// session is one SAM session: a destination on the router, controlled by
// one socket. A subsession shares its primary's destination and control
// socket.
type session struct {
	s      *Server
	id     string
	style  style
	keys   data.PrivateKeys
	hash   data.Hash
	client *router.Client // nil until opened; a subsession's is its primary's
	ctrl   *conn
	log    *slog.Logger

	// Subsessions (SAM 3.3): the primary they belong to, and the I2P
	// port they receive on (0: every port no other subsession of the
	// same protocol takes).
	primary    *session
	listenPort uint16

	// Defaults from SESSION CREATE (SAM 3.2 I2CP ports).
	fromPort, toPort uint16
	header           bool     // RAW: HEADER=true on forwarded datagrams
	udp              net.Conn // DATAGRAM/RAW: PORT= forwarding, nil: the control socket

	done chan struct{} // closed on entering sessClosed

	mu        sync.Mutex
	state     sessState
	ln        *streaming.Listener // STREAM: open from readiness until a FORWARD ends; PRIMARY: while it has STREAM subsessions
	subs      map[string]*session // PRIMARY: its subsessions by ID
	accepting int                 // STREAM ACCEPTs waiting
	fwd       *forward
	fwdChange chan struct{} // closed and replaced when fwd changes
	acceptq   chan acceptReq
	sends     chan struct{}  // datagram sends in flight (maxSends)
	wg        sync.WaitGroup // every goroutine the session started
}

// acceptReq is a STREAM ACCEPT socket ready for the next stream.
type acceptReq struct{ ch chan *streaming.Conn }

// forward is an active STREAM FORWARD.
type forward struct {
	sess   *session
	addr   string // host:port to connect to
	silent bool
	ports  bool // SAM 3.2+: FROM_PORT/TO_PORT on the destination line
}

func (sess *session) getState() sessState {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.state
}

// spawn runs f on the session's WaitGroup unless the session is closed.
func (sess *session) spawn(f func()) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.state == sessClosed {
		return false
	}
	sess.wg.Go(f)
	return true
}

// close ends the session: off the server's tables, listener and
// destination closed, its goroutines and sockets gone. A primary's
// subsessions end first; a subsession leaves its primary's destination
// open.
func (sess *session) close() {
	sess.mu.Lock()
	if sess.state == sessClosed {
		sess.mu.Unlock()
		return
	}
	sess.state = sessClosed
	close(sess.done)
	ln := sess.ln
	sess.ln = nil
	subs := sess.subs
	sess.subs = nil
	sess.mu.Unlock()
	if sess.primary != nil {
		// First, so that what arrives meanwhile goes to the port-0
		// subsession rather than to this closing one.
		sess.primary.removeSub(sess)
	}
	for _, sub := range subs {
		sub.close()
	}
	sess.s.unregister(sess)
	if ln != nil {
		ln.Close()
	}
	if sess.client != nil && sess.primary == nil {
		sess.client.Close()
	}
	if sess.udp != nil {
		sess.udp.Close()
	}
	sess.wg.Wait()
	sess.log.Info("sam: session closed")
}

// sessionCreate runs SESSION CREATE (samv3.html "Session Creation
// Request") and answers once the destination can be reached: its tunnels
// are up and a floodfill confirmed its LeaseSet, or PublishWait passed.
func (c *conn) sessionCreate(ctx context.Context, l Line) {
	if !c.requireIdle(sessionStatus) {
		return
	}
	fail := func(result, msg string) { c.status(sessionStatus, result, msg) }
	sess, err := c.newSession(l)
	if err != nil {
		c.replyResult(sessionStatus, err)
		return
	}
	switch err := c.s.reserve(sess); {
	case errors.Is(err, errDuplicatedID):
		fail("DUPLICATED_ID", fmt.Sprintf("a session with ID %q exists", sess.id))
		sess.discard()
		return
	case errors.Is(err, errDuplicatedDest):
		fail("DUPLICATED_DEST", "a session with this destination exists")
		sess.discard()
		return
	case err != nil:
		fail("I2P_ERROR", err.Error())
		sess.discard()
		return
	}
	c.sess, c.state = sess, connSession
	start := time.Now()
	wctx, cancel := c.watchCancel(ctx)
	err = sess.open(wctx, l)
	cancel()
	if err != nil {
		if c.clientGone() {
			sess.log.Debug("sam: client left during SESSION CREATE")
			c.state = connClosed
			return // finish closes the session
		}
		fail("I2P_ERROR", err.Error())
		c.sess, c.state = nil, connIdle
		sess.close()
		return
	}
	sess.log.Info("sam: session ready", "style", sess.style, "took", time.Since(start).Round(time.Millisecond))
	sess.log.Debug("sam: session address", "b32", sess.hash.B32())
	switch sess.style {
	case styleStream:
		if err := sess.listen(); err != nil {
			sess.log.Warn("sam: cannot listen for streams", "err", err)
		}
	case stylePrimary:
		// Streams wait for a STREAM subsession (addSub opens the
		// listener); datagrams are routed from the start.
		sess.spawn(sess.routeDatagrams)
	default:
		sess.spawn(sess.receiveDatagrams)
	}
	c.status(sessionStatus, "OK", "", Arg{"DESTINATION", sess.keys.Base64()})
}

// resultError carries a RESULT other than I2P_ERROR.
type resultError struct{ result, msg string }

func (e *resultError) Error() string { return e.result + ": " + e.msg }

// replyResult answers a failed command: the RESULT of a resultError,
// I2P_ERROR for any other error.
func (c *conn) replyResult(verb [2]string, err error) {
	var re *resultError
	if errors.As(err, &re) {
		c.status(verb, re.result, re.msg)
		return
	}
	c.replyError(verb, err.Error())
}

// newSessionState makes a session controlled by c, with nothing checked.
func newSessionState(c *conn) *session {
	return &session{s: c.s, ctrl: c, done: make(chan struct{}), fwdChange: make(chan struct{}), acceptq: make(chan acceptReq), sends: make(chan struct{}, maxSends)}
}

// checkID refuses a missing ID and characters i2pd refuses, which would
// break its web console's links; a nickname is the client's choice
// otherwise.
func checkID(id string) error {
	if id == "" {
		return &resultError{"INVALID_ID", "ID is missing"}
	}
	if strings.ContainsAny(id, `<>"'/`) {
		return &resultError{"INVALID_ID", fmt.Sprintf("ID %q holds one of < > \" ' /", id)}
	}
	return nil
}

// newSession checks SESSION CREATE's parameters and makes the session,
// not yet registered or opened.
func (c *conn) newSession(l Line) (*session, error) {
	sess := newSessionState(c)
	st, err := parseStyle(l)
	if err != nil {
		return nil, err
	}
	sess.style = st
	sess.id = l.Value("ID")
	if err := checkID(sess.id); err != nil {
		return nil, err
	}
	switch dest := l.Value("DESTINATION"); dest {
	case "":
		return nil, &resultError{"INVALID_KEY", "DESTINATION is missing (TRANSIENT or base64 private keys)"}
	case "TRANSIENT":
		if err := checkSignatureType(l); err != nil {
			return nil, err
		}
		if err := checkCryptoType(l); err != nil {
			return nil, err
		}
		keys, err := c.s.generateKeys()
		if err != nil {
			return nil, err
		}
		sess.keys = keys
	default:
		keys, err := data.ParsePrivateKeysBase64(dest)
		if err != nil {
			return nil, &resultError{"INVALID_KEY", err.Error()}
		}
		if t := keys.Destination().SigningType(); t != data.SigTypeEd25519 {
			return nil, fmt.Errorf("private keys of signature type %d are not supported: only EdDSA_SHA512_Ed25519 (7)", t)
		}
		sess.keys = keys
	}
	sess.hash = sess.keys.Destination().Hash()
	sess.log = c.s.log.With("session", sess.id, "dest", sess.hash.Short())
	if sess.style == stylePrimary {
		// samv3.html "Creating a PRIMARY Session": "Do not set" these;
		// they belong to the subsessions. Java I2P refuses them too.
		for _, k := range primaryRefused {
			if _, ok := l.Get(k); ok {
				return nil, fmt.Errorf("%s is not allowed on a PRIMARY session: give it on SESSION ADD", k)
			}
		}
		return sess, nil
	}
	if err := sess.dataOptions(c, l, false); err != nil {
		return nil, err
	}
	return sess, nil
}

// dataOptions reads the options of SESSION CREATE and SESSION ADD that
// say how a STREAM, DATAGRAM or RAW session sends and where it delivers
// datagrams: FROM_PORT, TO_PORT, PROTOCOL, HEADER, PORT and HOST. A
// subsession must forward its datagrams by PORT= (samv3.html "Creating a
// Subsession": required for DATAGRAM and RAW; the control socket is the
// primary's). Nothing is opened unless it returns nil.
func (sess *session) dataOptions(c *conn, l Line, sub bool) error {
	from, err := parseInt(l, "FROM_PORT", 0, 65535, 0)
	if err != nil {
		return err
	}
	to, err := parseInt(l, "TO_PORT", 0, 65535, 0)
	if err != nil {
		return err
	}
	sess.fromPort, sess.toPort = uint16(from), uint16(to)
	if sess.style == styleStream {
		for _, k := range []string{"PORT", "HOST", "PROTOCOL", "HEADER"} {
			if _, ok := l.Get(k); ok {
				return fmt.Errorf("%s is for DATAGRAM and RAW sessions, not STREAM", k)
			}
		}
		return nil
	}
	if sess.style == styleRaw {
		p, err := parseInt(l, "PROTOCOL", 0, 255, rawProtocol)
		if err != nil {
			return err
		}
		if p != rawProtocol {
			return fmt.Errorf("PROTOCOL=%d is not supported: RAW sessions use %d", p, rawProtocol)
		}
		if sess.header, err = parseBool(l, "HEADER", false); err != nil {
			return err
		}
	} else {
		for _, k := range []string{"PROTOCOL", "HEADER"} {
			if _, ok := l.Get(k); ok {
				return fmt.Errorf("%s is for RAW sessions", k)
			}
		}
	}
	port, err := parseInt(l, "PORT", 0, 65535, 0)
	if err != nil {
		return err
	}
	if port == 0 {
		if sub {
			return fmt.Errorf("PORT is required for a %s subsession: its datagrams are forwarded to HOST:PORT", sess.style)
		}
		if _, ok := l.Get("HOST"); ok {
			return errors.New("HOST needs PORT")
		}
		return nil // datagrams arrive on the control socket
	}
	host := l.Value("HOST")
	if host == "" { // samv3.html: the IP of the socket that created the session
		host = remoteIP(c.nc)
	}
	udp, err := net.Dial("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("datagram forwarding to HOST=%s PORT=%d: %w", host, port, err)
	}
	sess.udp = udp
	return nil
}

// remoteIP is the client's IP, where FORWARD and PORT= send by default.
func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return "127.0.0.1"
}

// discard releases what newSession took for a session never registered.
func (sess *session) discard() {
	if sess.udp != nil {
		sess.udp.Close()
	}
}

// open starts the destination and waits until it is ready (see
// sessState). ctx ends it early.
func (sess *session) open(ctx context.Context, l Line) error {
	in, out, err := poolOptions(l)
	if err != nil {
		return err
	}
	unpublished, err := parseBool(l, "i2cp.dontPublishLeaseSet", false)
	if err != nil {
		return err
	}
	name := "sam:" + sess.id
	if n := l.Value("inbound.nickname"); n != "" {
		name = "sam:" + n
	}
	client, err := sess.s.cfg.Router.OpenClient(router.ClientConfig{Name: name, Keys: sess.keys, Inbound: in, Outbound: out, Unpublished: unpublished})
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	sess.mu.Lock()
	if sess.state == sessClosed {
		sess.mu.Unlock()
		client.Close()
		return errors.New("session closed")
	}
	sess.client = client
	sess.mu.Unlock()

	if err := client.Pool.WaitReady(ctx); err != nil {
		return fmt.Errorf("waiting for tunnels: %w", err)
	}
	if !unpublished {
		if err := sess.waitPublished(ctx); err != nil {
			return err
		}
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.state == sessClosed {
		return errors.New("session closed")
	}
	sess.state = sessReady
	return nil
}

// waitPublished polls the LeaseSet's publication (the destination offers
// no notification) until a floodfill confirmed it or PublishWait passed.
func (sess *session) waitPublished(ctx context.Context) error {
	wait := time.NewTimer(sess.s.cfg.PublishWait)
	defer wait.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for sess.client.Dest.Publication().State < destination.PublishConfirmed {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the LeaseSet to be published: %w", ctx.Err())
		case <-wait.C:
			sess.log.Warn("sam: LeaseSet not confirmed yet; answering OK, others may not find the session for a while",
				"waited", sess.s.cfg.PublishWait, "state", sess.client.Dest.Publication().State)
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// listen opens the listener of a new STREAM session at once, so that a
// stream arriving before the client's first ACCEPT waits PendingAccept
// for it rather than being refused (i2pd keeps such streams pending too).
func (sess *session) listen() error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.state != sessReady {
		return nil
	}
	return sess.listenLocked()
}

// listenLocked opens the streaming listener and its dispatcher if they
// are not running. A subsession has none: its primary listens while it
// has STREAM subsessions and hands each its streams.
func (sess *session) listenLocked() error {
	if sess.ln != nil || sess.primary != nil {
		return nil
	}
	ln, err := sess.client.Dest.Listen()
	if err != nil {
		return err
	}
	sess.ln = ln
	sess.wg.Go(func() { sess.dispatch(ln) })
	return nil
}

// startAccept registers a STREAM ACCEPT.
func (sess *session) startAccept() error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	switch {
	case sess.state != sessReady:
		return fmt.Errorf("session %q is %s", sess.id, sess.state)
	case sess.fwd != nil:
		return fmt.Errorf("session %q is forwarding its streams (STREAM FORWARD); ACCEPT is not allowed meanwhile", sess.id)
	}
	if err := sess.listenLocked(); err != nil {
		return err
	}
	sess.accepting++
	return nil
}

func (sess *session) endAccept() {
	sess.mu.Lock()
	sess.accepting--
	sess.mu.Unlock()
}

// startForward makes f receive every incoming stream.
func (sess *session) startForward(f *forward) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	switch {
	case sess.state != sessReady:
		return fmt.Errorf("session %q is %s", sess.id, sess.state)
	case sess.fwd != nil:
		return fmt.Errorf("session %q is already forwarding", sess.id)
	case sess.accepting > 0:
		return fmt.Errorf("session %q has %d STREAM ACCEPT pending; FORWARD is not allowed meanwhile", sess.id, sess.accepting)
	}
	if err := sess.listenLocked(); err != nil {
		return err
	}
	sess.fwd = f
	close(sess.fwdChange)
	sess.fwdChange = make(chan struct{})
	return nil
}

// stopForward ends f (its socket closed): the session stops listening,
// so new streams are refused, as samv3.html says.
func (sess *session) stopForward(f *forward) {
	sess.mu.Lock()
	if sess.fwd != f {
		sess.mu.Unlock()
		return
	}
	sess.fwd = nil
	close(sess.fwdChange)
	sess.fwdChange = make(chan struct{})
	ln := sess.ln
	sess.ln = nil
	sess.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// dispatch hands the streams ln accepts to the FORWARD or, one each, to
// waiting ACCEPT sockets; a stream nobody takes within PendingAccept is
// reset. A primary routes them to its subsessions instead.
func (sess *session) dispatch(ln *streaming.Listener) {
	for {
		st, err := ln.AcceptStream(context.Background())
		if err != nil {
			return // listener closed
		}
		sess.log.Debug("sam: incoming stream", "from", st.RemoteAddr().(streaming.Addr).Dest.Hash().Short())
		if sess.style == stylePrimary {
			sess.routeStream(st)
			continue
		}
		if !sess.handOver(st) {
			st.Close()
		}
	}
}

// handOver gives st to the FORWARD or an ACCEPT; false when nobody took
// it in time.
func (sess *session) handOver(st *streaming.Conn) bool {
	timeout := time.NewTimer(sess.s.cfg.PendingAccept)
	defer timeout.Stop()
	for {
		sess.mu.Lock()
		f, change := sess.fwd, sess.fwdChange
		sess.mu.Unlock()
		if f != nil {
			return sess.spawn(func() { f.serve(st) })
		}
		select {
		case req := <-sess.acceptq:
			req.ch <- st
			return true
		case <-change:
		case <-timeout.C:
			sess.log.Debug("sam: incoming stream not accepted in time", "waited", sess.s.cfg.PendingAccept)
			return false
		case <-sess.done:
			return false
		}
	}
}

// receiveDatagrams delivers the datagrams of a DATAGRAM or RAW session
// until its destination closes.
func (sess *session) receiveDatagrams() {
	want := uint8(payload.ProtoDatagram)
	if sess.style == styleRaw {
		want = rawProtocol
	}
	for {
		dg, err := sess.client.Dest.ReceiveDatagram(context.Background())
		if err != nil {
			return
		}
		if dg.Protocol != want {
			sess.log.Debug("sam: datagram of another protocol dropped", "protocol", dg.Protocol)
			continue
		}
		if err := sess.deliver(dg); err != nil {
			sess.log.Debug("sam: datagram not delivered", "err", err)
		}
	}
}

// deliver writes one datagram to the control socket (samv3.html "SAM
// Repliable Datagrams: Receiving a Datagram", "SAM Anonymous (Raw)
// Datagrams") or the PORT= forwarding address ("Forwarding Raw or
// Repliable Datagrams"). Ports appear for SAM 3.2+ clients.
func (sess *session) deliver(dg destination.Datagram) error {
	ports := sess.ctrl.version.hasPorts()
	portArgs := []Arg{{"FROM_PORT", strconv.Itoa(int(dg.SrcPort))}, {"TO_PORT", strconv.Itoa(int(dg.DstPort))}}
	var head []byte
	var err error
	switch {
	case sess.udp != nil && sess.style == styleDatagram:
		h := dg.From.Base64() + "\n"
		if ports {
			h = dg.From.Base64() + portLine(portArgs)
		}
		head = []byte(h)
	case sess.udp != nil:
		if sess.header {
			head = []byte(portLine(append(portArgs, Arg{"PROTOCOL", strconv.Itoa(int(dg.Protocol))}))[1:])
		}
	case sess.style == styleDatagram:
		args := []Arg{{"DESTINATION", dg.From.Base64()}, {"SIZE", strconv.Itoa(len(dg.Payload))}}
		if ports {
			args = append(args, portArgs...)
		}
		head, err = AppendReply(nil, Line{Verb: "DATAGRAM", Sub: "RECEIVED", Args: args})
	default:
		args := []Arg{{"SIZE", strconv.Itoa(len(dg.Payload))}}
		if ports {
			args = append(args, portArgs...)
			args = append(args, Arg{"PROTOCOL", strconv.Itoa(int(dg.Protocol))})
		}
		head, err = AppendReply(nil, Line{Verb: "RAW", Sub: "RECEIVED", Args: args})
	}
	if err != nil {
		return err
	}
	msg := append(head, dg.Payload...)
	if sess.udp != nil {
		_, err = sess.udp.Write(msg)
		return err
	}
	return sess.ctrl.write(msg)
}

// portLine formats " K=V K=V\n" for the forwarded-datagram headers.
func portLine(args []Arg) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(" " + a.Key + "=" + a.Value)
	}
	b.WriteByte('\n')
	return b.String()
}
