package outproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"i2pbridge/proxy/internal/serve"
)

// Errors of the client side.
var (
	// ErrNoOutproxy: a request needs an outproxy and none is configured.
	ErrNoOutproxy = errors.New("outproxy: no outproxy configured")
	// ErrAllFailed: every configured outproxy failed to connect.
	ErrAllFailed = errors.New("outproxy: no outproxy reachable")
	// ErrRefused: an outproxy answered a CONNECT with something other
	// than 200; see *RefusedError.
	ErrRefused = errors.New("outproxy: tunnel refused")
)

// DialError reports that the outproxy Name could not be reached; the pool
// has marked it down.
type DialError struct {
	Name string
	Err  error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("outproxy: dial %s: %v", short(e.Name), e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// RefusedError is an outproxy's non-200 answer to CONNECT. It matches
// ErrRefused.
type RefusedError struct {
	Name       string
	StatusCode int
	Status     string // e.g. "403 Forbidden"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outproxy: %s refused the tunnel: %s", short(e.Name), e.Status)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// short shortens an outproxy name for messages: a base64 destination is
// 500+ characters.
func short(name string) string {
	if len(name) > 32 {
		return name[:12] + "…"
	}
	return name
}

// Defaults of PoolConfig.
const (
	DefaultCooldown  = 2 * time.Minute
	DefaultMaxSticky = 4096
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Names are the outproxies' I2P addresses, as the Dial function
	// takes them. Empty is allowed: every Pick then fails with
	// ErrNoOutproxy.
	Names []string
	// Dial opens a stream to one outproxy (normally Session.Dial).
	Dial func(ctx context.Context, name string) (net.Conn, error)
	// Cooldown is how long a failed outproxy is skipped; 0 means
	// DefaultCooldown.
	Cooldown time.Duration
	// MaxSticky bounds the remembered host → outproxy choices; 0 means
	// DefaultMaxSticky.
	MaxSticky int
	Logger    *slog.Logger     // nil = discard
	Now       func() time.Time // nil = time.Now
}

// Pool chooses outproxies: for each target host the same outproxy while it
// works (sticky, so a site sees one exit address per visit, as zzz asked
// for in i2pd #1830), a random working one for a new host, and another
// one when the chosen one fails (failover). A failed outproxy is skipped
// for Cooldown; when all are down, the one that failed longest ago is
// tried, so a recovered network is noticed without waiting.
//
// A Pool is safe for concurrent use.
type Pool struct {
	cfg PoolConfig
	log *slog.Logger

	mu     sync.Mutex
	sticky map[string]string    // host → name
	down   map[string]time.Time // name → down until
}

// NewPool checks cfg.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if len(cfg.Names) > 0 && cfg.Dial == nil {
		return nil, errors.New("outproxy: pool has names but no Dial function")
	}
	seen := map[string]bool{}
	for _, n := range cfg.Names {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("outproxy: empty or repeated outproxy name %q", short(n))
		}
		seen[n] = true
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.MaxSticky <= 0 {
		cfg.MaxSticky = DefaultMaxSticky
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Names = append([]string(nil), cfg.Names...)
	return &Pool{cfg: cfg, log: cfg.Logger, sticky: map[string]string{}, down: map[string]time.Time{}}, nil
}

// Names returns the configured outproxies.
func (p *Pool) Names() []string { return append([]string(nil), p.cfg.Names...) }

// Pick returns the outproxy for host (a host name or IP, no port; letter
// case does not matter) and remembers it: the sticky choice while it is
// up, else a random one among those up, else the one down the longest.
func (p *Pool) Pick(host string) (string, error) {
	if len(p.cfg.Names) == 0 {
		return "", ErrNoOutproxy
	}
	host = strings.ToLower(host)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	if name, ok := p.sticky[host]; ok && !p.isDownLocked(name, now) {
		return name, nil
	}
	var up []string
	for _, n := range p.cfg.Names {
		if !p.isDownLocked(n, now) {
			up = append(up, n)
		}
	}
	var name string
	if len(up) > 0 {
		name = up[rand.IntN(len(up))]
	} else {
		name = p.cfg.Names[0]
		for _, n := range p.cfg.Names[1:] {
			if p.down[n].Before(p.down[name]) {
				name = n
			}
		}
	}
	if _, ok := p.sticky[host]; !ok && len(p.sticky) >= p.cfg.MaxSticky {
		// Forget an arbitrary choice: the cost is that one host may
		// switch outproxy, never a wrong route.
		for h := range p.sticky {
			delete(p.sticky, h)
			break
		}
	}
	p.sticky[host] = name
	return name, nil
}

func (p *Pool) isDownLocked(name string, now time.Time) bool {
	until, ok := p.down[name]
	return ok && now.Before(until)
}

// Down reports whether name is being skipped after a failure.
func (p *Pool) Down(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isDownLocked(name, p.cfg.Now())
}

// DialName opens a stream to the outproxy name. A failure (other than ctx
// ending) marks it down and is returned as a *DialError.
func (p *Pool) DialName(ctx context.Context, name string) (net.Conn, error) {
	c, err := p.cfg.Dial(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		p.mu.Lock()
		p.down[name] = p.cfg.Now().Add(p.cfg.Cooldown)
		p.mu.Unlock()
		p.log.Warn("outproxy unreachable, failing over", "outproxy", short(name), "err", err)
		return nil, &DialError{Name: name, Err: err}
	}
	p.mu.Lock()
	delete(p.down, name)
	p.mu.Unlock()
	return c, nil
}

// Dial opens a stream to the outproxy for host, failing over to the
// others (each at most once) when one cannot be reached. It returns the
// outproxy used; all failing is ErrAllFailed wrapping the last error.
func (p *Pool) Dial(ctx context.Context, host string) (net.Conn, string, error) {
	var last error
	for range p.cfg.Names {
		name, err := p.Pick(host)
		if err != nil {
			return nil, "", err
		}
		c, err := p.DialName(ctx, name)
		if err == nil {
			return c, name, nil
		}
		if ctx.Err() != nil {
			return nil, "", err
		}
		last = err
	}
	if last == nil {
		return nil, "", ErrNoOutproxy
	}
	return nil, "", fmt.Errorf("%w: %w", ErrAllFailed, last)
}

// DialTunnel opens a byte stream to authority (host:port) through an
// outproxy: Dial with failover, then CONNECT. An outproxy that answers
// with anything but 200 is a *RefusedError and no failover happens (the
// outproxy works; the target is the problem).
func (p *Pool) DialTunnel(ctx context.Context, authority string) (net.Conn, string, error) {
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		return nil, "", fmt.Errorf("outproxy: tunnel to %q: %w", authority, err)
	}
	c, name, err := p.Dial(ctx, host)
	if err != nil {
		return nil, "", err
	}
	tc, err := connect(ctx, c, name, authority)
	if err != nil {
		c.Close()
		return nil, name, err
	}
	return tc, name, nil
}

// connect sends CONNECT authority on c and reads the answer; on 200 it
// returns c with any bytes read past the answer still readable.
func connect(ctx context.Context, c net.Conn, name, authority string) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, fmt.Errorf("outproxy: CONNECT via %s: %w", short(name), ctxErr(ctx, err))
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("outproxy: CONNECT via %s: %w", short(name), ctxErr(ctx, err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &RefusedError{Name: name, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if !stop() {
		return nil, ctx.Err()
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() == 0 {
		return c, nil
	}
	// br reads straight from c once its buffer is drained.
	return &serve.PrefixConn{Conn: c, R: br}, nil
}

// ctxErr prefers the ctx's error over the I/O error its deadline caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
