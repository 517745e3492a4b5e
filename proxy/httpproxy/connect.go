package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"i2pbridge/bridge/relay"
	"i2pbridge/proxy/internal/serve"
	"i2pbridge/router/naming"
)

// errServerFirstHTTP: the client sent HTTP into a tunnel whose server had
// already spoken. An HTTP server never speaks first, so the policy has no
// request/response exchange to filter; passing the request through
// unfiltered is what the sniffing exists to prevent.
var errServerFirstHTTP = errors.New("httpproxy: HTTP request to a server that spoke first")

// errHTTP2Tunnel: cleartext HTTP/2 inside a CONNECT tunnel; its headers
// are HPACK-compressed and the policy cannot filter them.
var errHTTP2Tunnel = errors.New("httpproxy: cleartext HTTP/2 in a tunnel")

// tunnelInfo is attached to requests that arrived inside a CONNECT tunnel
// carrying plain HTTP.
type tunnelInfo struct {
	route     *route
	authority string // host:port of the CONNECT
	tr        *http.Transport
}

type tunnelKey struct{}

func withTunnel(ctx context.Context, t *tunnelInfo) context.Context {
	return context.WithValue(ctx, tunnelKey{}, t)
}

func tunnelFrom(ctx context.Context) *tunnelInfo {
	t, _ := ctx.Value(tunnelKey{}).(*tunnelInfo)
	return t
}

// serveConnect answers a CONNECT: route and dial first (so failures get a
// real status), then 200 and the tunnel.
func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		writeResponse(w, problemResponse(r, badRequest(fmt.Sprintf("CONNECT needs host:port, not %q.", r.Host))))
		return
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rt, pr := p.routeConnect(r.Context(), host, port)
	if pr != nil {
		writeResponse(w, problemResponse(r, pr))
		return
	}
	authority := net.JoinHostPort(host, port)
	dial := p.tunnelDialer(rt, authority)
	target, err := dial(r.Context())
	if err != nil {
		writeResponse(w, problemResponse(r, p.failure(r.Context(), rt, err)))
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		target.Close()
		p.log.Debug("CONNECT: hijack failed", "err", err)
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		target.Close()
		return
	}
	// rw.Reader holds whatever the browser sent right behind the
	// CONNECT (a TLS ClientHello, often).
	client := serve.Hijacked(conn, rw)
	err = p.tunnel(r.Context(), client, target, rt, authority, dial)
	p.log.Debug("tunnel closed", "route", rt.kind.String(), "err", err)
}

// routeConnect is route for a CONNECT target: no address helpers, no
// local pages.
func (p *Proxy) routeConnect(ctx context.Context, host, port string) (*route, *problem) {
	switch {
	case host == "":
		return nil, badRequest("CONNECT names no host.")
	case host == LocalHost || host == "i2p":
		return nil, badRequest("CONNECT cannot be used with " + host + ".")
	case strings.HasSuffix(host, ".i2p"):
		h, err := naming.ParseHost(host)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("%s is not a valid I2P host name: %v", host, err))
		}
		if h.Reserved {
			return nil, &problem{Status: http.StatusNotFound, Title: "Reserved name", Host: host,
				Message: "This name is reserved for local services and never names a site."}
		}
		rt := &route{kind: routeI2P, host: h.Name, port: port}
		if h.Kind == naming.HostB32 {
			rt.b32 = h.Name
			return rt, nil
		}
		hash, err := p.lookup(ctx, h.Name)
		if err != nil {
			return nil, p.failure(ctx, rt, err)
		}
		rt.b32 = hash.B32()
		return rt, nil
	}
	if pr := p.checkClearnetHost(host, port); pr != nil {
		return nil, pr
	}
	if len(p.cfg.Outproxies) == 0 {
		return nil, noOutproxy(host)
	}
	return &route{kind: routeOutproxy, host: host, port: port}, nil
}

// tunnelDialer returns the function that opens a byte stream to the
// CONNECT target: an I2P stream to the destination, or a CONNECT tunnel
// through an outproxy.
func (p *Proxy) tunnelDialer(rt *route, authority string) func(context.Context) (net.Conn, error) {
	if rt.kind == routeI2P {
		addr := rt.b32 + ":" + rt.port
		return func(ctx context.Context) (net.Conn, error) { return p.dialI2P(ctx, addr) }
	}
	return func(ctx context.Context) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout+p.cfg.ResponseTimeout)
		defer cancel()
		c, _, err := p.pool.DialTunnel(ctx, authority)
		return c, err
	}
}

// sniffResult is what the client sent first into a tunnel.
type sniffResult struct {
	proto  TunnelProtocol
	prefix []byte // every byte read from the client so far
	err    error  // the client's read error, if it ended before a decision
}

// readFirst reads the client until SniffTunnel decides, or the client's
// stream ends or fails.
func readFirst(client io.Reader) sniffResult {
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := client.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if n > 0 {
			if proto := SniffTunnel(buf); proto != TunnelUndecided {
				return sniffResult{proto: proto, prefix: buf}
			}
		}
		if err != nil {
			return sniffResult{proto: TunnelOther, prefix: buf, err: err}
		}
	}
}

// tunnel runs an established CONNECT tunnel. Before any byte goes from
// the browser to the target, the browser's first bytes are classified:
//
//   - plain HTTP/1 (a CONNECT to port 80 by a client that does not know
//     better): served by an HTTP server inside the tunnel, so every
//     request and response passes the same header policy as a normal
//     proxy request (the i2pd #2427 gap);
//   - cleartext HTTP/2: refused (the connection is closed), its headers
//     cannot be filtered;
//   - anything else (TLS, SSH, ...): relayed as it is.
//
// Protocols where the server speaks first (SMTP, POP3) would deadlock a
// sniffer that waits for the client, so the target is watched too: if it
// speaks first, its bytes flow to the browser at once and the browser's
// first bytes are checked on their way; HTTP is then refused, since no
// HTTP server talks first and a target that does may be trying to get the
// request past the filter.
func (p *Proxy) tunnel(ctx context.Context, client net.Conn, target net.Conn, rt *route, authority string, dial func(context.Context) (net.Conn, error)) error {
	pc := newPeekConn(target)
	first := make(chan sniffResult, 1)
	go func() { first <- readFirst(client) }()
	opts := relay.Options{IdleTimeout: p.cfg.IdleTimeout}

	select {
	case res := <-first:
		switch {
		case res.err != nil && len(res.prefix) == 0:
			client.Close()
			pc.Close()
			return nil // the browser gave up before sending anything
		case res.proto == TunnelHTTP1:
			c := &serve.PrefixConn{Conn: client, R: io.MultiReader(bytes.NewReader(res.prefix), client)}
			p.serveTunnelHTTP(ctx, c, pc, rt, authority, dial)
			return nil
		case res.proto == TunnelHTTP2:
			client.Close()
			pc.Close()
			return errHTTP2Tunnel
		}
		var rest io.Reader = client
		if res.err != nil {
			rest = errReader{res.err}
		}
		c := &serve.PrefixConn{Conn: client, R: io.MultiReader(bytes.NewReader(res.prefix), rest)}
		_, err := relay.Run(ctx, c, pc, opts)
		return err
	case <-pc.ready:
		_, err := relay.Run(ctx, &gateConn{Conn: client, first: first}, pc, opts)
		return err
	case <-ctx.Done():
		client.Close()
		pc.Close()
		return ctx.Err()
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// peekConn is a target connection with one goroutine waiting for its
// first byte (ready closes then). Reads go through the same buffer, after
// that wait, so nothing is lost or read twice.
type peekConn struct {
	net.Conn
	br    *bufio.Reader
	ready chan struct{}
}

func newPeekConn(c net.Conn) *peekConn {
	pc := &peekConn{Conn: c, br: bufio.NewReader(c), ready: make(chan struct{})}
	go func() {
		pc.br.Peek(1) // an error stays in br for the first Read
		close(pc.ready)
	}()
	return pc
}

func (c *peekConn) Read(b []byte) (int, error) {
	<-c.ready
	return c.br.Read(b)
}

// CloseWrite half-closes the target when it supports that.
func (c *peekConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// gateConn is the browser's side of a tunnel whose server spoke first:
// its first Read waits for the sniffing of the browser's first bytes and
// refuses HTTP (see tunnel).
type gateConn struct {
	net.Conn
	first <-chan sniffResult
	r     io.Reader
}

func (g *gateConn) Read(b []byte) (int, error) {
	if g.r == nil {
		res := <-g.first
		switch {
		case res.proto == TunnelHTTP1:
			g.r = errReader{errServerFirstHTTP}
		case res.proto == TunnelHTTP2:
			g.r = errReader{errHTTP2Tunnel}
		case res.err != nil:
			g.r = io.MultiReader(bytes.NewReader(res.prefix), errReader{res.err})
		default:
			g.r = io.MultiReader(bytes.NewReader(res.prefix), g.Conn)
		}
	}
	return g.r.Read(b)
}

// CloseWrite half-closes the browser connection when it supports that.
func (g *gateConn) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// serveTunnelHTTP serves the plain HTTP a browser sends inside a CONNECT
// tunnel: an http.Server on that one connection hands each request to the
// proxy, marked with the tunnel, so it gets the same policy and pages as
// any proxied request and goes to the CONNECT target (the first request
// over the stream already opened, later ones over new streams to the same
// target). The Host header the browser sends inside is ignored: the
// tunnel's target is the target.
func (p *Proxy) serveTunnelHTTP(ctx context.Context, client net.Conn, first net.Conn, rt *route, authority string, dial func(context.Context) (net.Conn, error)) {
	var mu sync.Mutex
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			mu.Lock()
			c := first
			first = nil
			mu.Unlock()
			if c != nil {
				return c, nil
			}
			return dial(ctx)
		},
		DisableCompression:    true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: p.cfg.ResponseTimeout,
	}
	defer func() {
		tr.CloseIdleConnections()
		mu.Lock()
		if first != nil {
			first.Close()
		}
		mu.Unlock()
	}()
	tun := &tunnelInfo{route: rt, authority: authority, tr: tr}
	ln := newOneConnListener(client)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Scheme, r.URL.Host, r.Host = "http", authority, authority
		p.gp.ServeHTTP(w, r.WithContext(withTunnel(r.Context(), tun)))
	})
	serve.Run(ctx, ln, h, serve.Options{
		Logger:      p.log,
		IdleTimeout: p.cfg.IdleTimeout,
		OnConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				ln.Close()
			}
		},
	})
}

// onTunnelRequest forwards a request from inside a CONNECT tunnel to the
// tunnel's target.
func (p *Proxy) onTunnelRequest(r *http.Request, ctx *goproxy.ProxyCtx, tun *tunnelInfo) (*http.Request, *http.Response) {
	rt := *tun.route
	return p.forward(r, ctx, &rt, goproxy.RoundTripperFunc(func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		return tun.tr.RoundTrip(r)
	}))
}

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	conns chan net.Conn
	addr  net.Addr
	once  sync.Once
	done  chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), addr: c.LocalAddr(), done: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		// A connection never accepted is still ours to close.
		select {
		case c := <-l.conns:
			c.Close()
		default:
		}
	})
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
