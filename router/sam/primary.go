package sam

import (
	"context"
	"errors"
	"fmt"

	"i2pbridge/router/payload"
	"i2pbridge/router/streaming"
)

// PRIMARY sessions (samv3.html "SAM PRIMARY Sessions (V3.3 and higher)";
// MASTER in SAM 3.2 and in i2pd): the primary session owns the
// destination and its tunnels; SESSION ADD on its control socket makes
// STREAM, DATAGRAM and RAW subsessions that share them, used by their own
// IDs like ordinary sessions. What arrives is routed by protocol and
// to-port:
//
//	streaming (6)  -> the STREAM subsession whose LISTEN_PORT is the stream's port, else the one with LISTEN_PORT 0, else reset
//	datagram (17)  -> the DATAGRAM subsession likewise, else dropped
//	raw (18)       -> the RAW subsession likewise, else dropped
//
// The primary listens for streams only while it has a STREAM subsession,
// so that a destination without one refuses them at once rather than
// resetting them after the handshake.

// primaryRefused are the options a PRIMARY's SESSION CREATE may not carry:
// samv3.html says "Do not set" them, they belong to the subsessions.
var primaryRefused = []string{"PORT", "HOST", "FROM_PORT", "TO_PORT", "PROTOCOL", "LISTEN_PORT", "LISTEN_PROTOCOL", "HEADER"}

// protocolOf is the I2CP protocol a subsession of style st receives.
func protocolOf(st style) uint8 {
	switch st {
	case styleStream:
		return payload.ProtoStreaming
	case styleDatagram:
		return payload.ProtoDatagram
	}
	return rawProtocol
}

// sessionAdd runs SESSION ADD (samv3.html "Creating a Subsession") on a
// primary's control socket:
//
//	-> SESSION ADD STYLE=STREAM|DATAGRAM|RAW ID=<sub> [FROM_PORT=] [TO_PORT=] [LISTEN_PORT=]
//	         [PORT= [HOST=]] [PROTOCOL=] [LISTEN_PROTOCOL=] [HEADER=]
//	<- SESSION STATUS RESULT=OK DESTINATION=<privkeys> ID=<sub> MESSAGE="ADD <sub>"
//
// The answer is the SESSION CREATE one, as samv3.html asks and i2pd 2.45
// sends (DESTINATION: the primary's keys, which the subsession shares),
// with Java I2P's ID and MESSAGE, so that clients written against either
// find what they look for.
func (c *conn) sessionAdd(l Line) {
	p := c.sess
	if p == nil || p.style != stylePrimary {
		c.replyError(sessionStatus, "SESSION ADD is for the control socket of a PRIMARY session (SESSION CREATE STYLE=PRIMARY)")
		return
	}
	sub, err := p.newSubsession(c, l)
	if err != nil {
		c.replyResult(sessionStatus, err)
		return
	}
	if err := c.s.reserveID(sub); err != nil {
		sub.discard()
		if errors.Is(err, errDuplicatedID) {
			c.status(sessionStatus, "DUPLICATED_ID", fmt.Sprintf("a session with ID %q exists", sub.id))
		} else {
			c.replyError(sessionStatus, err.Error())
		}
		return
	}
	if err := p.addSub(sub); err != nil {
		c.s.unregister(sub)
		sub.discard()
		c.replyError(sessionStatus, err.Error())
		return
	}
	sub.log.Info("sam: subsession added", "style", sub.style, "listen_port", sub.listenPort)
	c.status(sessionStatus, "OK", "ADD "+sub.id, Arg{"DESTINATION", p.keys.Base64()}, Arg{"ID", sub.id})
}

// sessionRemove runs SESSION REMOVE (samv3.html "Stopping a Subsession"):
// the subsession closes with its streams, ACCEPTs and FORWARD, and its ID
// is free again. An ID that is not a subsession of this primary is
// INVALID_ID (i2pd 2.45 answers INVALID_KEY, Java I2P_ERROR; INVALID_ID
// is the SESSION CREATE result that says what is wrong).
func (c *conn) sessionRemove(l Line) {
	p := c.sess
	if p == nil || p.style != stylePrimary {
		c.replyError(sessionStatus, "SESSION REMOVE is for the control socket of a PRIMARY session (SESSION CREATE STYLE=PRIMARY)")
		return
	}
	id := l.Value("ID")
	if id == "" {
		c.status(sessionStatus, "INVALID_ID", "ID is missing")
		return
	}
	p.mu.Lock()
	sub := p.subs[id]
	p.mu.Unlock()
	if sub == nil {
		c.status(sessionStatus, "INVALID_ID", fmt.Sprintf("primary session %q has no subsession %q", p.id, id))
		return
	}
	sub.close()
	c.status(sessionStatus, "OK", "REMOVE "+id, Arg{"DESTINATION", p.keys.Base64()}, Arg{"ID", id})
}

// newSubsession checks SESSION ADD's parameters and makes the subsession,
// not yet registered or added to p.
func (p *session) newSubsession(c *conn, l Line) (*session, error) {
	sub := newSessionState(c)
	st, err := parseStyle(l)
	if err != nil {
		return nil, err
	}
	if st == stylePrimary {
		return nil, errors.New("a subsession cannot be PRIMARY: its STYLE is STREAM, DATAGRAM or RAW")
	}
	sub.style = st
	sub.id = l.Value("ID")
	if err := checkID(sub.id); err != nil {
		return nil, err
	}
	if _, ok := l.Get("DESTINATION"); ok {
		return nil, errors.New("SESSION ADD takes no DESTINATION: a subsession uses its primary's")
	}
	sub.primary, sub.keys, sub.hash, sub.client = p, p.keys, p.hash, p.client
	sub.log = c.s.log.With("session", sub.id, "primary", p.id, "dest", p.hash.Short())
	if err := sub.listenOptions(l); err != nil {
		return nil, err
	}
	if err := sub.dataOptions(c, l, true); err != nil {
		return nil, err
	}
	return sub, nil
}

// listenOptions reads LISTEN_PORT (default: FROM_PORT, as samv3.html
// says; i2pd 2.45 listens on FROM_PORT alone) and LISTEN_PROTOCOL, which
// only RAW subsessions take and which must be 18 here.
func (sub *session) listenOptions(l Line) error {
	from, err := parseInt(l, "FROM_PORT", 0, 65535, 0)
	if err != nil {
		return err
	}
	port, err := parseInt(l, "LISTEN_PORT", 0, 65535, from)
	if err != nil {
		return err
	}
	sub.listenPort = uint16(port)
	if _, ok := l.Get("LISTEN_PROTOCOL"); !ok {
		return nil
	}
	if sub.style != styleRaw {
		return errors.New("LISTEN_PROTOCOL is for RAW subsessions")
	}
	proto, err := parseInt(l, "LISTEN_PROTOCOL", 0, 255, rawProtocol)
	if err != nil {
		return err
	}
	if proto != rawProtocol {
		return fmt.Errorf("LISTEN_PROTOCOL=%d is not supported: RAW subsessions receive protocol %d only", proto, rawProtocol)
	}
	return nil
}

// addSub makes sub one of p's subsessions, ready for use, unless another
// receives the same protocol on the same port (samv3.html: "Each
// subsession must have a unique id and a unique listen protocol and
// port").
func (p *session) addSub(sub *session) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != sessReady {
		return fmt.Errorf("primary session %q is %s", p.id, p.state)
	}
	for _, o := range p.subs {
		if o.style == sub.style && o.listenPort == sub.listenPort {
			return fmt.Errorf("subsession %q already listens on port %d for protocol %d (%s); give each its own LISTEN_PORT", o.id, o.listenPort, protocolOf(o.style), o.style)
		}
	}
	if sub.style == styleStream {
		if err := p.listenLocked(); err != nil {
			return fmt.Errorf("listen for streams: %w", err)
		}
	}
	if p.subs == nil {
		p.subs = map[string]*session{}
	}
	p.subs[sub.id] = sub
	sub.mu.Lock()
	sub.state = sessReady
	sub.mu.Unlock()
	return nil
}

// removeSub forgets a closed subsession; with the last STREAM subsession
// gone the primary stops listening, so new streams are refused.
func (p *session) removeSub(sub *session) {
	p.mu.Lock()
	if p.subs[sub.id] == sub {
		delete(p.subs, sub.id)
	}
	var ln *streaming.Listener
	if sub.style == styleStream && p.subFor(styleStream, nil) == nil {
		ln, p.ln = p.ln, nil
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// subFor returns, p.mu held, the subsession of style st that listens on
// *port, else the one listening on port 0; with port nil, any of style
// st.
func (p *session) subFor(st style, port *uint16) *session {
	var fallback *session
	for _, sub := range p.subs {
		switch {
		case sub.style != st:
		case port == nil || sub.listenPort == *port:
			return sub
		case sub.listenPort == 0:
			fallback = sub
		}
	}
	return fallback
}

// route returns the subsession for what arrived with protocol st on port.
func (p *session) route(st style, port uint16) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.subFor(st, &port)
}

// routeStream hands an incoming stream to its STREAM subsession, which
// gives it to a FORWARD or an ACCEPT as an ordinary session does; a
// stream for a port nobody listens on is reset.
func (p *session) routeStream(st *streaming.Conn) {
	local, _ := st.LocalAddr().(streaming.Addr)
	sub := p.route(styleStream, uint16(local.Port))
	if sub == nil {
		p.log.Debug("sam: stream for a port no subsession listens on reset", "port", local.Port)
		st.Close()
		return
	}
	// One goroutine per stream: a subsession whose client is slow to
	// ACCEPT must not hold up the others' streams.
	if !sub.spawn(func() {
		if !sub.handOver(st) {
			st.Close()
		}
	}) {
		st.Close()
	}
}

// routeDatagrams delivers the primary's datagrams to its DATAGRAM and RAW
// subsessions until its destination closes. Only the primary may read
// the destination's datagrams: there is one queue for all.
func (p *session) routeDatagrams() {
	for {
		dg, err := p.client.Dest.ReceiveDatagram(context.Background())
		if err != nil {
			return
		}
		var st style
		switch dg.Protocol {
		case payload.ProtoDatagram:
			st = styleDatagram
		case rawProtocol:
			st = styleRaw
		default:
			p.log.Debug("sam: datagram of another protocol dropped", "protocol", dg.Protocol)
			continue
		}
		sub := p.route(st, dg.DstPort)
		if sub == nil {
			p.log.Debug("sam: datagram for a port no subsession listens on dropped", "protocol", dg.Protocol, "port", dg.DstPort)
			continue
		}
		if err := sub.deliver(dg); err != nil {
			sub.log.Debug("sam: datagram not delivered", "err", err)
		}
	}
}
