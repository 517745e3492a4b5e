package outproxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/proxy/internal/serve"
)

// Type is the tunnel type of the server side.
const Type = config.TypeOutproxy

// Errors of the server side.
var (
	// ErrConfig marks a tunnel definition this package cannot run.
	ErrConfig = errors.New("outproxy: bad tunnel config")
	// ErrForbidden: the target address is loopback, private or otherwise
	// special, and not allowed by the configuration.
	ErrForbidden = errors.New("outproxy: target address not allowed")
	// ErrBadTarget: the request names no usable clearnet target (an .i2p
	// host, a port outside the allowed ones, a relative URL).
	ErrBadTarget = errors.New("outproxy: bad target")
)

// DefaultDialTimeout bounds connecting to a target (or the upstream).
const DefaultDialTimeout = 30 * time.Second

// Config is what the outproxy server tunnel needs.
type Config struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	// Datadir receives <name>.b32; "" skips the file.
	Datadir  string
	Logger   *slog.Logger // nil = discard
	Rand     io.Reader    // key generation; nil = crypto/rand
	Counters *relay.Counters
	// Resolver resolves target names; nil = net.DefaultResolver.
	Resolver *net.Resolver
	// DialTimeout bounds each connection to a target or the upstream; 0
	// means DefaultDialTimeout.
	DialTimeout time.Duration
}

// Server is an outproxy tunnel: it publishes a destination and serves the
// HTTP proxy protocol on the streams that arrive there, forwarding to the
// clearnet directly or through Tunnel.Upstream.
//
// Targets are checked twice when connecting directly: the request's host
// must not be an .i2p name or a disallowed IP literal, and the dialer's
// Control hook refuses a disallowed address after name resolution, for
// the very IP the socket connects to. With an upstream the upstream
// resolves names itself, so the names are resolved here first and every
// address must pass; a CONNECT is then sent for the checked IP (TLS names
// its host inside the tunnel), while a plain request keeps the name (the
// upstream must rebuild Host from it), which leaves a DNS-rebinding window
// that the upstream's own ACLs should close (squid: deny to_localhost
// and private destinations).
//
// Allowed ports are 80, 443 and 1024-65535, as squid's Safe_ports do
// roughly, so the outproxy cannot be pointed at mail or other low-port
// services.
//
// The server adds no header about its client (no Via, no
// X-Forwarded-For). squid, as an upstream, adds both by default; set
// `via off` and `forwarded_for delete` in its configuration.
type Server struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters
	handler  *handler

	mu      sync.Mutex
	session i2pnet.Session
	b32     string
	ln      net.Listener
}

// NewServer checks cfg; nothing is opened until Open.
func NewServer(cfg Config) (*Server, error) {
	t := cfg.Tunnel
	if t.Type != Type {
		return nil, fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, Type)
	}
	if cfg.Network == nil {
		return nil, fmt.Errorf("%w: no network", ErrConfig)
	}
	if t.Name == "" || filepath.Base(t.Name) != t.Name || t.Name == "." || t.Name == ".." {
		return nil, fmt.Errorf("%w: name %q cannot name a file", ErrConfig, t.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Counters == nil {
		cfg.Counters = new(relay.Counters)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	g := Guard{AllowPrivate: t.AllowPrivate}
	for _, c := range t.AllowCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%w: allow_cidrs: %w", ErrConfig, err)
		}
		g.Allow = append(g.Allow, p.Masked())
	}
	if t.Upstream != "" {
		if _, _, err := net.SplitHostPort(t.Upstream); err != nil {
			return nil, fmt.Errorf("%w: upstream: %w", ErrConfig, err)
		}
	}
	log := cfg.Logger.With("tunnel", t.Name)
	s := &Server{cfg: cfg, log: log, counters: cfg.Counters}
	s.handler = newHandler(g, t.Upstream, cfg.Resolver, cfg.DialTimeout, t.IdleTimeout.Duration(), log)
	return s, nil
}

// Open opens the destination and its listener, logs the b32 and writes
// <datadir>/<name>.b32.
func (s *Server) Open(ctx context.Context) error {
	t := s.cfg.Tunnel
	sess, err := serve.OpenSession(ctx, s.cfg.Network, t, s.cfg.Rand, s.log)
	if err != nil {
		return err
	}
	ln, err := sess.Listen()
	if err != nil {
		sess.Close()
		return fmt.Errorf("listen on i2p: %w", err)
	}
	b32 := sess.Addr().Dest.B32()
	if err := serve.WriteB32(s.cfg.Datadir, t.Name, b32); err != nil {
		ln.Close()
		sess.Close()
		return err
	}
	s.mu.Lock()
	s.session, s.b32, s.ln = sess, b32, ln
	s.mu.Unlock()
	via := "direct"
	if t.Upstream != "" {
		via = "upstream " + t.Upstream
	}
	s.log.Info("outproxy up", "b32", b32, "via", via, "allow_private", t.AllowPrivate, "allow_cidrs", len(t.AllowCIDRs))
	return nil
}

// Serve answers proxy requests until ctx ends (nil) or the I2P listener
// fails (the error).
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return fmt.Errorf("outproxy: Serve before Open")
	}
	defer s.handler.transport.CloseIdleConnections()
	return serve.Run(ctx, &countingListener{Listener: ln, counters: s.counters}, s.handler, serve.Options{
		Logger:   s.log,
		Counters: s.counters,
	})
}

// Close closes the listener and the destination; Serve must have returned.
func (s *Server) Close() error {
	s.mu.Lock()
	ln, sess := s.ln, s.session
	s.ln, s.session, s.b32 = nil, nil, ""
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if sess != nil {
		return sess.Close()
	}
	return nil
}

// Address returns the b32 of the open destination ("" when not open).
func (s *Server) Address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b32
}

// ListenAddr is "" for server tunnels.
func (s *Server) ListenAddr() string { return "" }

// countingListener counts the bytes of accepted I2P streams: AToB is read
// from I2P, BToA written to it.
type countingListener struct {
	net.Listener
	counters *relay.Counters
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serve.CountingConn{Conn: c, In: &l.counters.AToB, Out: &l.counters.BToA}, nil
}

// handler serves the HTTP proxy protocol to one outproxy's clients.
type handler struct {
	guard       Guard
	upstream    string // host:port, "" = direct
	resolver    *net.Resolver
	dialTimeout time.Duration
	idle        time.Duration // CONNECT relays; 0 = none
	log         *slog.Logger
	transport   *http.Transport
	rp          *httputil.ReverseProxy
}

func newHandler(g Guard, upstream string, res *net.Resolver, dialTimeout, idle time.Duration, log *slog.Logger) *handler {
	h := &handler{guard: g, upstream: upstream, resolver: res, dialTimeout: dialTimeout, idle: idle, log: log}
	h.transport = &http.Transport{
		DialContext:           g.Dialer(dialTimeout, res).DialContext,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	if upstream != "" {
		// The upstream is the operator's own proxy: reaching it is not
		// subject to the guard (it is typically on 127.0.0.1).
		h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: upstream})
		h.transport.DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	h.rp = &httputil.ReverseProxy{
		// The incoming request is in absolute form: it already names the
		// target. Rewrite (unlike Director) adds no X-Forwarded-For, so
		// nothing about the client is added on the way out.
		Rewrite:      func(*httputil.ProxyRequest) {},
		Transport:    h.transport,
		ErrorHandler: h.proxyError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		h.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Host == "" {
		h.fail(w, r, fmt.Errorf("%w: not a proxy request (absolute-form URL needed)", ErrBadTarget))
		return
	}
	scheme := strings.ToLower(r.URL.Scheme)
	if scheme != "http" && scheme != "https" {
		h.fail(w, r, fmt.Errorf("%w: scheme %q", ErrBadTarget, r.URL.Scheme))
		return
	}
	port := r.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if _, err := h.checkTarget(r.Context(), r.URL.Hostname(), port); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Debug("forwarding", "method", r.Method, "host", r.URL.Hostname(), "peer", peerOf(r))
	h.rp.ServeHTTP(w, r)
}

// connect serves CONNECT: check, dial, answer 200, relay.
func (h *handler) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: CONNECT %q is not host:port", ErrBadTarget, r.Host))
		return
	}
	pinned, err := h.checkTarget(r.Context(), host, port)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.dialTimeout)
	var target net.Conn
	if h.upstream == "" {
		target, err = h.guard.Dialer(h.dialTimeout, h.resolver).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	} else {
		var c net.Conn
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", h.upstream)
		if err == nil {
			target, err = connect(ctx, c, "upstream", net.JoinHostPort(pinned.String(), port))
			if err != nil {
				c.Close()
			}
		}
	}
	cancel()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		target.Close()
		h.log.Debug("CONNECT: hijack failed", "err", err)
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		client.Close()
		target.Close()
		return
	}
	h.log.Debug("tunnel open", "host", host, "port", port, "peer", peerOf(r))
	// rw.Reader may hold bytes the client sent right behind its CONNECT.
	st, err := relay.Run(r.Context(), serve.Hijacked(client, rw), target, relay.Options{IdleTimeout: h.idle})
	h.log.Debug("tunnel closed", "host", host, "up", st.AToB, "down", st.BToA, "err", err)
}

// allowedPort reports whether a target port may be used: the web ports
// and the unprivileged range, never the low ports of mail, DNS, SSH...
func allowedPort(port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil || strconv.Itoa(n) != port {
		return false
	}
	return n == 80 || n == 443 || (n >= 1024 && n <= 65535)
}

// checkTarget refuses what can be refused before connecting. With an
// upstream it resolves host and returns the first address (every one must
// pass the guard); without one it returns the IP of an IP literal, or the
// zero Addr for a name (the dialer checks the resolved address).
func (h *handler) checkTarget(ctx context.Context, host, port string) (netip.Addr, error) {
	if !allowedPort(port) {
		return netip.Addr{}, fmt.Errorf("%w: port %q is not allowed (80, 443 and 1024-65535 are)", ErrBadTarget, port)
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return netip.Addr{}, fmt.Errorf("%w: no host", ErrBadTarget)
	}
	if host == "i2p" || strings.HasSuffix(host, ".i2p") {
		return netip.Addr{}, fmt.Errorf("%w: .i2p hosts are not on the clearnet", ErrBadTarget)
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ip, h.guard.Check(ip)
	}
	if h.upstream == "" {
		return netip.Addr{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.dialTimeout)
	defer cancel()
	ips, err := h.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("outproxy: resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("outproxy: resolve %s: no address", host)
	}
	for _, ip := range ips {
		if err := h.guard.Check(ip); err != nil {
			return netip.Addr{}, err
		}
	}
	return ips[0].Unmap(), nil
}

// proxyError is the ReverseProxy's error handler.
func (h *handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	h.fail(w, r, err)
}

// fail answers with the status that fits err and a one-line reason. The
// client is an eepproxy that shows its own page for the status.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if r.Context().Err() == nil {
		h.log.Debug("request refused or failed", "method", r.Method, "status", status, "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), reason(err))
}

func statusOf(err error) int {
	var ne net.Error
	var re *RefusedError
	switch {
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrBadTarget):
		return http.StatusBadRequest
	case errors.As(err, &re):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// reason is what the client is told: enough to understand the refusal,
// nothing about this host's network.
func reason(err error) string {
	var re *RefusedError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrForbidden):
		return "the target is a local, private or special-purpose address"
	case errors.Is(err, ErrBadTarget):
		return strings.TrimPrefix(err.Error(), ErrBadTarget.Error()+": ")
	case errors.As(err, &re):
		return "upstream proxy answered " + re.Status
	case errors.As(err, &dnsErr):
		return "host not found"
	case statusOf(err) == http.StatusGatewayTimeout:
		return "the target did not answer in time"
	}
	return "the target could not be reached"
}

// peerOf is a log-safe short name of the stream's I2P client: the start
// of its b32 (net/http puts the stream's RemoteAddr, an i2pnet.Addr, in
// r.RemoteAddr), enough to tell streams apart in a debug log.
func peerOf(r *http.Request) string {
	if len(r.RemoteAddr) > 8 {
		return r.RemoteAddr[:8]
	}
	return r.RemoteAddr
}
