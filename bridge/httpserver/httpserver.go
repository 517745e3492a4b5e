// Package httpserver implements the http-server tunnel kind: an eepsite. It
// accepts HTTP/1.1 over I2P streams and serves each request from the web
// server at Tunnel.Target through a reverse proxy.
//
// Per stream:
//
//	I2P stream ──> protect.Guard (allow/deny, rates, stream caps; refusals get a 403/429/503 page)
//	           ──> conn (byte counters, first-line timer, idle watchdog)
//	           ──> net/http server: request line and headers, bounded in time and size
//	           ──> handler: header count/line limits (431), POST limit (429 + Retry-After)
//	           ──> httputil.ReverseProxy: X-I2P-* replaced, hop-by-hop and
//	               X-Forwarded-* dropped ──> target (own keep-alive conns per stream)
//	           <── response headers stripped (Server, X-Powered-By, X-Runtime by default)
//
// Identity headers: any X-I2P* header a client sends is removed (matched
// case-insensitively, so "x-i2p-destb32" cannot slip through), and the
// tunnel adds X-I2P-DestHash (I2P base64 of the caller's destination hash),
// X-I2P-DestB64 (the caller's whole destination in I2P base64) and
// X-I2P-DestB32 (its b32 address), as Java I2P and i2pd do. Forwarded and
// X-Real-IP are removed too: a target that trusts its local proxy must not
// read an address a client made up.
//
// Slowloris guards, Java I2P's values by default: the request line must
// arrive within FirstLineTimeout of the first byte (of the stream for the
// first request), the whole header within HeaderTimeout; header blocks over
// MaxHeaderBytes, more than MaxHeaders fields or a field over MaxHeaderLine
// get 431. Keep-alive holds on the I2P side for KeepAliveTimeout between
// requests, since building a stream costs round trips through tunnels.
//
// Bodies stream in both directions (nothing buffers a whole body), and an
// Upgrade (WebSocket) switches to a raw relay after the target's 101. Each
// I2P stream gets its own connections to the target, so with unique_local
// every target connection comes from the caller's own 127.x.y.z and no
// connection is ever shared by two callers.
package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/protect"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// Type is the tunnel type this package implements.
const Type = "http-server"

// ErrConfig marks a tunnel definition this package cannot run.
var ErrConfig = errors.New("httpserver: bad tunnel config")

// Headers the tunnel sets on every request.
const (
	HeaderDestHash = "X-I2P-DestHash"
	HeaderDestB64  = "X-I2P-DestB64"
	HeaderDestB32  = "X-I2P-DestB32"
)

// Defaults of the request guards (Java I2PTunnelHTTPServer uses the same
// timeouts and sizes).
const (
	DefaultFirstLineTimeout = 15 * time.Second
	DefaultHeaderTimeout    = 30 * time.Second
	DefaultKeepAliveTimeout = 2 * time.Minute
	DefaultMaxHeaderBytes   = 32 << 10
	DefaultMaxHeaders       = 60
	DefaultMaxHeaderLine    = 8 << 10
)

// Refusal reasons this kind counts besides the Guard's.
const (
	// SlowRequest: the request line or header did not arrive in time.
	SlowRequest protect.Reason = "slow_request"
	// HeaderLimit: too many header fields, or too many bytes (431).
	HeaderLimit protect.Reason = "header_limit"
	// PostLimit: max_posts_per_minute used up (429).
	PostLimit protect.Reason = "posts"
)

// targetDialTimeout bounds the TCP dial of the (normally local) target.
const targetDialTimeout = 30 * time.Second

// Config is what an http-server tunnel needs. The zero limits take the
// defaults above.
type Config struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	Datadir string       // receives <name>.b32; "" skips the file
	Logger  *slog.Logger // nil = discard
	Rand    io.Reader    // key generation; nil = crypto/rand
	// Counters receive the tunnel's traffic; nil = private counters.
	Counters *relay.Counters
	// Now is the clock of the rate limits; nil = time.Now.
	Now func() time.Time

	FirstLineTimeout time.Duration
	HeaderTimeout    time.Duration
	KeepAliveTimeout time.Duration
	MaxHeaderBytes   int
	MaxHeaders       int
	MaxHeaderLine    int
}

// Server is an http-server tunnel.
type Server struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters
	guard    *protect.Guard
	ep       *protect.Endpoint
	posts    *protect.Limiter // nil = no POST limit
	strip    []string         // canonical header names
	noDate   bool             // Date is stripped: keep net/http from adding its own
	proxy    *httputil.ReverseProxy

	ln net.Listener // guarded I2P listener, owned by Open/Serve/Close
}

// New checks cfg; nothing is opened until Open.
func New(cfg Config) (*Server, error) {
	t := cfg.Tunnel
	if t.Type != Type {
		return nil, fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, Type)
	}
	if _, _, err := net.SplitHostPort(t.Target); err != nil {
		return nil, fmt.Errorf("%w: target: %w", ErrConfig, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = new(relay.Counters)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.FirstLineTimeout, DefaultFirstLineTimeout}, {&cfg.HeaderTimeout, DefaultHeaderTimeout}, {&cfg.KeepAliveTimeout, DefaultKeepAliveTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		v   *int
		def int
	}{{&cfg.MaxHeaderBytes, DefaultMaxHeaderBytes}, {&cfg.MaxHeaders, DefaultMaxHeaders}, {&cfg.MaxHeaderLine, DefaultMaxHeaderLine}} {
		if *n.v <= 0 {
			*n.v = n.def
		}
	}
	log := cfg.Logger.With("tunnel", t.Name)
	pc := protect.FromTunnel(t)
	pc.Now, pc.Logger = cfg.Now, log
	g, err := protect.New(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Server{cfg: cfg, log: log, counters: cfg.Counters, guard: g}
	s.ep, err = protect.NewEndpoint(protect.EndpointConfig{
		Tunnel: t, Network: cfg.Network, Datadir: cfg.Datadir, Logger: cfg.Logger, Rand: cfg.Rand,
		Guard: g, Refuse: refuse,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if t.MaxPostsPerMinute > 0 {
		if s.posts, err = protect.NewLimiter(t.MaxPostsPerMinute, time.Minute, cfg.Now); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	strip := t.StripResponseHeaders
	if strip == nil { // a Tunnel built in Go without Validate
		strip = config.DefaultStripResponseHeaders
	}
	for _, h := range strip {
		c := http.CanonicalHeaderKey(h)
		s.strip = append(s.strip, c)
		s.noDate = s.noDate || c == "Date"
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      perConnTransport{},
		ModifyResponse: s.modifyResponse,
		ErrorHandler:   s.proxyError,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Open opens the destination and its guarded listener.
func (s *Server) Open(ctx context.Context) error {
	ln, err := s.ep.Open(ctx)
	if err != nil {
		return err
	}
	s.ln = ln
	s.log.Info("http server tunnel up", "b32", s.ep.Address(), "target", s.cfg.Tunnel.Target)
	return nil
}

// Close closes the listener and the destination; Serve must have returned.
func (s *Server) Close() error {
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	return s.ep.Close()
}

// Address is the b32 of the open destination, "" when closed.
func (s *Server) Address() string { return s.ep.Address() }

// ListenAddr is "" for server tunnels.
func (s *Server) ListenAddr() string { return "" }

// Rejected returns the refused streams and requests by reason.
func (s *Server) Rejected() map[string]uint64 { return s.guard.Rejected() }

// Serve answers requests until ctx ends (nil) or the I2P listener fails
// (the error). Every stream it accepted is closed, and every goroutine it
// started has finished, when it returns.
func (s *Server) Serve(ctx context.Context) error {
	tr := &tracker{conns: map[*serverConn]struct{}{}}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.KeepAliveTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if sc, ok := c.(*serverConn); ok && (st == http.StateClosed || st == http.StateHijacked) {
				sc.unref()
			}
		},
	}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err := hs.Serve(&listener{Listener: s.ln, s: s, tr: tr})
	hs.Close()
	tr.closeAll() // hijacked (upgraded) streams are not closed by hs.Close
	tr.wg.Wait()
	if ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("accept: %w", err)
}

// connKey is the context key of the *serverConn a request arrived on.
type connKey struct{}

func connOf(ctx context.Context) *serverConn {
	sc, _ := ctx.Value(connKey{}).(*serverConn)
	return sc
}

// ServeHTTP applies the per-request limits and hands the request to the
// reverse proxy.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sc := connOf(r.Context())
	sc.enterHandler()
	defer sc.leaveHandler()

	if msg := s.headerProblem(r); msg != "" {
		s.guard.Count(HeaderLimit)
		sc.log.Debug("request refused", "reason", string(HeaderLimit), "why", msg)
		w.Header().Set("Connection", "close")
		plain(w, http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large: "+msg+"\n")
		return
	}
	if r.Method == http.MethodPost && s.posts != nil {
		if ok, wait := s.posts.Take(sc.peer.Hash()); !ok {
			s.guard.Count(PostLimit)
			sc.log.Debug("request refused", "reason", string(PostLimit))
			w.Header().Set("Retry-After", retryAfter(wait))
			plain(w, http.StatusTooManyRequests, "429 Too Many Requests: too many POST requests from your destination; try again later\n")
			return
		}
	}
	if s.noDate {
		w.Header()["Date"] = nil // nil value: net/http adds no Date of its own
	}
	// Without this net/http would sniff and add a Content-Type the target
	// did not send; ReverseProxy's copy still adds the target's one.
	w.Header()["Content-Type"] = nil
	s.proxy.ServeHTTP(w, r)
}

// headerProblem checks the header against the count and size limits; ""
// when it is within them. net/http already refused blocks far over
// MaxHeaderBytes; this catches the rest exactly.
func (s *Server) headerProblem(r *http.Request) string {
	fields, size := 0, len(r.Method)+len(r.RequestURI)+len(r.Proto)+4
	for k, vs := range r.Header {
		for _, v := range vs {
			fields++
			line := len(k) + 2 + len(v) + 2
			if line > s.cfg.MaxHeaderLine {
				return fmt.Sprintf("a header field is longer than %d bytes", s.cfg.MaxHeaderLine)
			}
			size += line
		}
	}
	if len(r.Host) > 0 && r.Header.Get("Host") == "" { // net/http moves Host out of Header
		fields++
		size += len("Host: \r\n") + len(r.Host)
	}
	switch {
	case fields > s.cfg.MaxHeaders:
		return fmt.Sprintf("more than %d header fields", s.cfg.MaxHeaders)
	case size > s.cfg.MaxHeaderBytes:
		return fmt.Sprintf("header larger than %d bytes", s.cfg.MaxHeaderBytes)
	}
	return ""
}

// rewrite turns the client's request into the target's.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = s.cfg.Tunnel.Target
	if s.cfg.Tunnel.Host != "" {
		out.Host = s.cfg.Tunnel.Host
	}
	for k := range out.Header {
		if len(k) >= 5 && strings.EqualFold(k[:5], "x-i2p") {
			delete(out.Header, k)
		}
	}
	out.Header.Del("Forwarded")
	out.Header.Del("X-Real-Ip")
	if peer := connOf(pr.In.Context()).peer; !peer.IsZero() {
		out.Header.Set(HeaderDestHash, peer.Hash().Base64())
		out.Header.Set(HeaderDestB64, peer.Base64())
		out.Header.Set(HeaderDestB32, peer.B32())
	}
}

func (s *Server) modifyResponse(resp *http.Response) error {
	for _, h := range s.strip {
		delete(resp.Header, h)
	}
	return nil
}

func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		s.counters.FailedConns.Add(1)
		s.log.Warn("target unreachable", "target", s.cfg.Tunnel.Target, "err", err)
	} else {
		s.log.Debug("target request failed", "err", err)
	}
	w.Header().Set("Connection", "close")
	plain(w, http.StatusBadGateway, "502 Bad Gateway: the site's web server did not answer\n")
}

// plain writes a short text response.
func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// retryAfter renders a wait as Retry-After seconds, rounded up so a client
// that obeys it is admitted.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

// refuse answers a stream the Guard refused with a minimal HTTP response,
// so the user sees why instead of a reset. It reads the request head first
// (clients that see an answer before they asked drop it as unsolicited)
// but never passes anything on.
func refuse(c net.Conn, rej *protect.RejectedError) {
	br := bufio.NewReaderSize(c, 4<<10)
	for read := 0; read < maxRefusedHead; {
		line, err := br.ReadSlice('\n')
		read += len(line)
		if err == nil && (len(line) == 2 && line[0] == '\r' || len(line) == 1) {
			break // the empty line ending the head
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return // gone or too slow: nobody to answer
		}
	}
	code, text := http.StatusForbidden, "403 Forbidden: this site does not accept your destination\n"
	extra := ""
	switch rej.Reason {
	case protect.RateMinute, protect.RateHour:
		code, text = http.StatusTooManyRequests, "429 Too Many Requests: too many connections from your destination; try again later\n"
		extra = "Retry-After: " + retryAfter(rej.RetryAfter) + "\r\n"
	case protect.Streams, protect.StreamsPerDest:
		code, text = http.StatusServiceUnavailable, "503 Service Unavailable: too many open connections; try again later\n"
		extra = "Retry-After: 10\r\n"
	}
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(text), extra, text)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		// Give the client time to read the answer before the close
		// resets the stream: wait for its close (bounded by the
		// listener's deadline and a byte budget).
		io.CopyN(io.Discard, br, maxRefusedHead)
	}
}

// maxRefusedHead bounds what refuse reads of a refused request.
const maxRefusedHead = 64 << 10

// perConnTransport sends each request over the target connections of the
// I2P stream it arrived on.
type perConnTransport struct{}

func (perConnTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sc := connOf(r.Context())
	if sc == nil {
		return nil, errors.New("httpserver: request without its stream")
	}
	t := sc.transport()
	if t == nil {
		return nil, net.ErrClosed
	}
	return t.RoundTrip(r)
}

// listener counts accepted streams and wraps them in serverConns.
type listener struct {
	net.Listener
	s  *Server
	tr *tracker
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.s
	s.counters.Conns.Add(1)
	s.counters.TotalConns.Add(1)
	sc := &serverConn{Conn: c, s: s, tr: l.tr, peer: protect.PeerOf(c), refs: 1}
	sc.log = s.log.With("peer", protect.ShortPeer(c))
	l.tr.add(sc)
	sc.start()
	return sc, nil
}

// tracker knows every live serverConn of one Serve, so Serve can close
// them all (hijacked ones included) and wait for them.
type tracker struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*serverConn]struct{}
}

func (t *tracker) add(sc *serverConn) {
	t.mu.Lock()
	t.conns[sc] = struct{}{}
	t.mu.Unlock()
	t.wg.Add(1)
}

func (t *tracker) done(sc *serverConn) {
	t.mu.Lock()
	delete(t.conns, sc)
	t.mu.Unlock()
	t.wg.Done()
}

func (t *tracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for sc := range t.conns {
		sc.Close()
	}
}

// serverConn is one I2P stream as net/http sees it. It counts bytes,
// enforces the first-line timeout and the idle timeout, notices slow
// headers and 431s written by net/http itself (for the counts), and owns
// the stream's connections to the target.
type serverConn struct {
	net.Conn
	s    *Server
	tr   *tracker
	peer data.Destination
	log  *slog.Logger

	// refs: 1 for net/http's connection goroutine (dropped at
	// StateClosed/StateHijacked) plus one per running handler; the
	// tracker is told when it reaches 0.
	refsMu sync.Mutex
	refs   int

	mu         sync.Mutex
	inHandler  bool        // a handler is running
	handled    bool        // a handler ran since the last request bytes: writes are its response
	reqStarted bool        // bytes of a request arrived since the last handler
	lineSeen   bool        // the current request's line is complete
	firstLine  *time.Timer // running while waiting for a request line
	slowCount  bool        // this stream was already counted slow
	closed     atomic.Bool

	lastActive atomic.Int64 // unix nanoseconds, for the idle watchdog
	idle       *time.Timer

	trOnce sync.Once
	tr2    *http.Transport
}

// start arms the first-line timer (the first request line must arrive
// within FirstLineTimeout of the stream opening) and the idle watchdog.
func (c *serverConn) start() {
	c.mu.Lock()
	c.firstLine = time.AfterFunc(c.s.cfg.FirstLineTimeout, c.tooSlow)
	c.mu.Unlock()
	c.lastActive.Store(time.Now().UnixNano())
	if d := c.s.cfg.Tunnel.IdleTimeout.Duration(); d > 0 {
		c.idle = time.AfterFunc(d, func() { c.checkIdle(d) })
	}
}

func (c *serverConn) checkIdle(d time.Duration) {
	if c.closed.Load() {
		return
	}
	idleFor := time.Since(time.Unix(0, c.lastActive.Load()))
	if idleFor >= d {
		c.log.Debug("stream idle, closing", "after", d)
		c.Close()
		return
	}
	c.idle.Reset(d - idleFor)
}

// tooSlow closes a stream whose request line did not arrive in time.
func (c *serverConn) tooSlow() {
	c.mu.Lock()
	late := !c.lineSeen && !c.inHandler && !c.closed.Load()
	c.mu.Unlock()
	if late {
		c.countSlow()
		c.Close()
	}
}

func (c *serverConn) countSlow() {
	c.mu.Lock()
	first := !c.slowCount
	c.slowCount = true
	c.mu.Unlock()
	if first {
		c.s.guard.Count(SlowRequest)
		c.log.Debug("request refused", "reason", string(SlowRequest))
	}
}

func (c *serverConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.s.counters.AToB.Add(uint64(n))
		c.lastActive.Store(time.Now().UnixNano())
	}
	c.mu.Lock()
	if !c.inHandler {
		if n > 0 {
			c.handled = false
		}
		if n > 0 && !c.reqStarted {
			c.reqStarted = true
			if c.firstLine == nil { // a later request: its line is timed from its first byte
				c.firstLine = time.AfterFunc(c.s.cfg.FirstLineTimeout, c.tooSlow)
			}
		}
		if n > 0 && !c.lineSeen && bytes.IndexByte(p[:n], '\n') >= 0 {
			c.lineSeen = true
			if c.firstLine != nil {
				c.firstLine.Stop()
			}
		}
	}
	slow := err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.inHandler && c.reqStarted
	c.mu.Unlock()
	if slow {
		c.countSlow() // net/http's ReadHeaderTimeout fired mid-request
	}
	return n, err
}

func (c *serverConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	own := !c.inHandler && !c.handled
	c.mu.Unlock()
	if own && bytes.HasPrefix(p, []byte("HTTP/1.1 431 ")) {
		// net/http refused a header over MaxHeaderBytes before any
		// handler ran. (A handler's own response is flushed after it
		// returned, hence handled; the handler counted it.)
		c.s.guard.Count(HeaderLimit)
		c.log.Debug("request refused", "reason", string(HeaderLimit), "why", "header too large")
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.s.counters.BToA.Add(uint64(n))
		c.lastActive.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *serverConn) enterHandler() {
	c.refsMu.Lock()
	c.refs++
	c.refsMu.Unlock()
	c.mu.Lock()
	c.inHandler, c.handled = true, true
	if c.firstLine != nil {
		c.firstLine.Stop()
	}
	c.mu.Unlock()
}

func (c *serverConn) leaveHandler() {
	c.mu.Lock()
	c.inHandler, c.reqStarted, c.lineSeen, c.firstLine = false, false, false, nil
	c.mu.Unlock()
	c.unref()
}

func (c *serverConn) unref() {
	c.refsMu.Lock()
	c.refs--
	last := c.refs == 0
	c.refsMu.Unlock()
	if last {
		c.Close()
		c.tr.done(c)
	}
}

// transport is this stream's client for the target, made on first use;
// nil once the stream is closed.
func (c *serverConn) transport() *http.Transport {
	c.trOnce.Do(func() {
		d := &net.Dialer{Timeout: targetDialTimeout, LocalAddr: c.s.guard.LocalAddr(c.peer.Hash())}
		c.tr2 = &http.Transport{
			Proxy:                 nil, // never an environment proxy: the target is local
			DialContext:           d.DialContext,
			DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       c.s.cfg.KeepAliveTimeout,
			ExpectContinueTimeout: time.Second,
		}
	})
	return c.tr2
}

// Close closes the stream once: its counters, timers and idle target
// connections go with it.
func (c *serverConn) Close() error {
	err := c.Conn.Close()
	if c.closed.Swap(true) {
		return err
	}
	c.s.counters.Conns.Add(-1)
	c.mu.Lock()
	if c.firstLine != nil {
		c.firstLine.Stop()
	}
	c.mu.Unlock()
	if c.idle != nil {
		c.idle.Stop()
	}
	c.trOnce.Do(func() {}) // no transport from now on
	if c.tr2 != nil {
		c.tr2.CloseIdleConnections()
	}
	return err
}
