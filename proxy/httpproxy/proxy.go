package httpproxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/proxy/internal/serve"
	"i2pbridge/proxy/outproxy"
	"i2pbridge/router/data"
	"i2pbridge/router/naming"
)

// OutproxyUserAgent is the User-Agent of requests that leave through an
// outproxy: there MYOB would single the user out, so they carry the most
// common desktop browser string, as Java I2P and i2pd do (a Firefox ESR on
// Windows).
const OutproxyUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"

// Defaults of Config.
const (
	// DefaultDialTimeout bounds a name lookup and the opening of a
	// stream: a leaseset lookup plus the streaming handshake through two
	// tunnels takes seconds, a minute and more on a busy router.
	DefaultDialTimeout = 90 * time.Second
	// DefaultResponseTimeout bounds the wait for a response header once
	// the request is sent.
	DefaultResponseTimeout = 3 * time.Minute
)

// ErrConfig reports an unusable Config or tunnel definition.
var ErrConfig = errors.New("httpproxy: bad config")

// errTimeout marks a dial or lookup that ran out of time (as opposed to
// the browser going away).
var errTimeout = errors.New("httpproxy: timed out")

// Config configures a Proxy.
type Config struct {
	// Session is the local destination requests into I2P leave from.
	Session i2pnet.Session
	// Books is the address book; nil means names are resolved by the
	// router only (Session.Resolve) and helpers can only be used once.
	Books *naming.Books
	// LocalBook says Books has a writable local book, so helpers can be
	// saved.
	LocalBook bool
	// Jump are jump-service URL prefixes for the unknown-host page.
	Jump []string
	// Outproxies are the I2P addresses of HTTP outproxies for hosts
	// outside I2P; none means such requests get an error page.
	Outproxies []string
	// OutproxyCooldown is how long a failed outproxy is skipped; 0 means
	// outproxy.DefaultCooldown.
	OutproxyCooldown time.Duration
	// Listen is the proxy's own bound address, to refuse requests that
	// would loop back into it.
	Listen string
	// DialTimeout and ResponseTimeout: 0 means the defaults.
	DialTimeout, ResponseTimeout time.Duration
	// IdleTimeout closes a CONNECT tunnel without traffic this long; 0
	// means never.
	IdleTimeout time.Duration
	Logger      *slog.Logger    // nil = discard
	Rand        io.Reader       // the helper-form secret; nil = crypto/rand
	Counters    *relay.Counters // I2P bytes and failed dials; nil = private
	// OnSessionLost is called when the session turns out to be closed
	// underneath the proxy (i2pnet.ErrClosed), so the owner can re-open
	// it. May be nil.
	OnSessionLost func(error)
}

// Proxy is the eepproxy's HTTP handler: an HTTP proxy (absolute-form
// requests and CONNECT) that routes .i2p hosts into I2P and every other
// host to an outproxy. See the package documentation.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters
	gp       *goproxy.ProxyHttpServer
	pool     *outproxy.Pool
	secret   [32]byte // keys helperToken
	i2pTr    *http.Transport
	outTr    *http.Transport
	// outHosts maps the placeholder proxy hosts outTr sees to outproxy
	// names (a base64 destination is no URL host).
	outHosts   map[string]string
	outByName  map[string]string
	listenPort string

	// once: session-only address helpers the user accepted ("continue
	// without saving"). Searched before the books, since only the user
	// puts entries here.
	onceMu sync.Mutex
	once   map[string]data.Hash
}

// maxOnce bounds the session-only helpers.
const maxOnce = 1024

// New builds a Proxy; it opens nothing.
func New(cfg Config) (*Proxy, error) {
	if cfg.Session == nil {
		return nil, fmt.Errorf("%w: no session", ErrConfig)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
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
	for _, j := range cfg.Jump {
		if u, err := url.Parse(j); err != nil || u.Scheme != "http" {
			return nil, fmt.Errorf("%w: jump URL %q", ErrConfig, j)
		}
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, counters: cfg.Counters, once: map[string]data.Hash{}}
	if _, err := io.ReadFull(cfg.Rand, p.secret[:]); err != nil {
		return nil, fmt.Errorf("httpproxy: helper secret: %w", err)
	}
	if cfg.Listen != "" {
		if _, port, err := net.SplitHostPort(cfg.Listen); err == nil {
			p.listenPort = port
		}
	}
	pool, err := outproxy.NewPool(outproxy.PoolConfig{
		Names:    cfg.Outproxies,
		Dial:     p.dialI2P,
		Cooldown: cfg.OutproxyCooldown,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p.pool = pool
	p.outHosts = map[string]string{}
	p.outByName = map[string]string{}
	for i, n := range cfg.Outproxies {
		h := "outproxy-" + strconv.Itoa(i) + ".invalid"
		p.outHosts[h] = n
		p.outByName[n] = h
	}

	p.i2pTr = &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return p.dialI2P(ctx, addr)
		},
		DisableCompression:    true, // the browser's Accept-Encoding passes as it is
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseTimeout,
	}
	p.outTr = &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			name, err := p.pool.Pick(r.URL.Hostname())
			if err != nil {
				return nil, err
			}
			return &url.URL{Scheme: "http", Host: p.outByName[name]}, nil
		},
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			name, ok := p.outHosts[host]
			if !ok {
				// Only outproxies are ever dialed: never the
				// clearnet directly.
				return nil, fmt.Errorf("httpproxy: refusing direct connection to %q", addr)
			}
			return p.pool.DialName(ctx, name)
		},
		DisableCompression:    true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseTimeout,
	}

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = printfLogger{cfg.Logger}
	gp.KeepAcceptEncoding = true // ScrubRequest decides about headers
	// Every request gets a RoundTripper from onRequest; this transport
	// only catches a request that did not, and it can reach nothing.
	gp.Tr = &http.Transport{
		Proxy: nil,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("httpproxy: unrouted request")
		},
	}
	gp.ConnectDial = nil
	gp.NonproxyHandler = http.HandlerFunc(p.nonProxy)
	gp.OnRequest().DoFunc(p.onRequest)
	gp.OnResponse().DoFunc(p.onResponse)
	p.gp = gp
	return p, nil
}

// printfLogger feeds goproxy's Printf logging to slog at debug level.
type printfLogger struct{ l *slog.Logger }

func (l printfLogger) Printf(format string, v ...any) {
	l.l.Debug("goproxy: " + fmt.Sprintf(format, v...))
}

// Close drops idle connections to eepsites and outproxies.
func (p *Proxy) Close() {
	p.i2pTr.CloseIdleConnections()
	p.outTr.CloseIdleConnections()
}

// ServeHTTP serves one proxy request. CONNECT is handled here rather than
// by goproxy: its hijack callback loses bytes the browser sent right
// behind the CONNECT, and the tunnel needs the sniffing described in the
// package documentation.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.serveConnect(w, r)
		return
	}
	p.gp.ServeHTTP(w, r)
}

// nonProxy answers requests sent to the proxy as if it were a web server.
func (p *Proxy) nonProxy(w http.ResponseWriter, r *http.Request) {
	writeResponse(w, problemResponse(r, &problem{
		Status:  http.StatusBadRequest,
		Title:   "This is an HTTP proxy",
		Message: "i2pbridge's HTTP proxy forwards requests for .i2p sites. Set it as your browser's HTTP proxy instead of opening its address directly.",
	}))
}

// onRequest routes a request: it answers it itself (error pages, helper
// pages, redirects), or scrubs it and picks the RoundTripper.
func (p *Proxy) onRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	if tun := tunnelFrom(r.Context()); tun != nil {
		return p.onTunnelRequest(r, ctx, tun)
	}
	rt, resp := p.route(r)
	if resp != nil {
		return r, resp
	}
	return p.forward(r, ctx, rt, goproxy.RoundTripperFunc(p.roundTripperFor(rt)))
}

// forward applies the header policy and hands the request to rt's
// transport.
func (p *Proxy) forward(r *http.Request, ctx *goproxy.ProxyCtx, rt *route, tr goproxy.RoundTripper) (*http.Request, *http.Response) {
	opts := RequestOptions{}
	if rt.kind == routeOutproxy {
		opts.UserAgent = OutproxyUserAgent
	}
	if err := ScrubRequest(r, opts); err != nil {
		return r, problemResponse(r, badRequest(err.Error()))
	}
	if rt.kind == routeI2P {
		// The site sees its b32, never the name the user's book has for
		// it (a petname can identify the user).
		h := rt.b32
		if rt.port != defaultPort(r.URL.Scheme) {
			h += ":" + rt.port
		}
		r.URL.Host, r.Host = h, h
	}
	ctx.UserData = rt
	ctx.RoundTripper = tr
	p.log.Debug("request", "method", r.Method, "route", rt.kind.String())
	return r, nil
}

func (p *Proxy) roundTripperFor(rt *route) func(*http.Request, *goproxy.ProxyCtx) (*http.Response, error) {
	if rt.kind == routeOutproxy {
		return p.outproxyRoundTrip
	}
	return func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) { return p.i2pTr.RoundTrip(r) }
}

// outproxyRoundTrip sends r through an outproxy, retrying with another
// one while the chosen one cannot be reached. Retrying is safe: when the
// dial fails the transport has not read any of the body yet.
func (p *Proxy) outproxyRoundTrip(r *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
	var body *retryBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &retryBody{ReadCloser: r.Body}
		r.Body = body
	}
	var last error
	for range max(1, len(p.cfg.Outproxies)) {
		resp, err := p.outTr.RoundTrip(r)
		var de *outproxy.DialError
		if err == nil || !errors.As(err, &de) || r.Context().Err() != nil || (body != nil && body.used.Load()) {
			return resp, err
		}
		last = err
	}
	return nil, fmt.Errorf("%w: %w", outproxy.ErrAllFailed, last)
}

// retryBody keeps a request body open across transport attempts (the
// transport closes the body on a failed attempt) and records whether it
// was read.
type retryBody struct {
	io.ReadCloser
	used atomic.Bool
}

func (b *retryBody) Read(p []byte) (int, error) {
	b.used.Store(true)
	return b.ReadCloser.Read(p)
}

// Close does nothing: net/http closes the real body when the handler
// returns.
func (b *retryBody) Close() error { return nil }

// onResponse scrubs responses from sites and turns transport errors into
// error pages. Pages of our own (no route in UserData) pass as they are.
func (p *Proxy) onResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	rt, _ := ctx.UserData.(*route)
	if rt == nil {
		return resp
	}
	if resp == nil {
		pr := p.failure(ctx.Req.Context(), rt, ctx.Error)
		return problemResponse(ctx.Req, pr)
	}
	ScrubResponse(resp)
	return resp
}

// dialI2P opens a stream to address ("x.b32.i2p:80", a name or base64),
// bounded by DialTimeout, counting its bytes.
func (p *Proxy) dialI2P(ctx context.Context, address string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	c, err := p.cfg.Session.Dial(dctx, address)
	if err != nil {
		err = p.sessionErr(ctx, dctx, err)
		if ctx.Err() == nil {
			p.counters.FailedConns.Add(1)
		}
		return nil, err
	}
	return &serve.CountingConn{Conn: c, In: &p.counters.AToB, Out: &p.counters.BToA}, nil
}

// resolve looks a name up with the router, bounded by DialTimeout.
func (p *Proxy) resolve(ctx context.Context, name string) (data.Destination, error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	d, err := p.cfg.Session.Resolve(dctx, name)
	if err != nil {
		return data.Destination{}, p.sessionErr(ctx, dctx, err)
	}
	return d, nil
}

// sessionErr classifies a session error: our own deadline becomes
// errTimeout, a closed session is reported to OnSessionLost.
func (p *Proxy) sessionErr(ctx, dctx context.Context, err error) error {
	if ctx.Err() == nil && dctx.Err() != nil {
		return fmt.Errorf("%w: %w", errTimeout, err)
	}
	if errors.Is(err, i2pnet.ErrClosed) && ctx.Err() == nil && p.cfg.OnSessionLost != nil {
		p.cfg.OnSessionLost(err)
	}
	return err
}
