package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the people's entry (`testnet up`); tests pick their own
// namespace and run dir so a developer's running network is not torn down
// by a test run.
const (
	DefaultNamespace = "i2pb"
	DefaultRunDir    = "/tmp/i2pbridge-testnet"
	// NumRouters is the network's size: routers 1 and 2 carry SAM for the
	// tests' server/client pair, 3 the HTTP proxy, 4 the eepsite; 3 and
	// 5 are the floodfills (see isFloodfill).
	NumRouters = 5
	// DefaultEepsiteTimeout bounds the wait for the first eepsite fetch
	// (measured median 17 s, worst seen 41 s).
	DefaultEepsiteTimeout = 3 * time.Minute
	// DebugEnv set to 1 runs i2pd with loglevel=debug.
	DebugEnv = "I2PB_TESTNET_DEBUG"
	// KeepEnv set to 1 keeps the run dir (logs, netDbs, keys) after
	// Down, for a post-mortem; the next Up removes it.
	KeepEnv = "I2PB_TESTNET_KEEP"
)

// Config describes a network to bring up.
type Config struct {
	Namespace  string // default DefaultNamespace
	RunDir     string // absolute; removed and re-created by Up; default DefaultRunDir
	Debug      bool   // i2pd loglevel=debug instead of info
	KeepRunDir bool   // Down leaves the run dir in place
	I2PD       string // i2pd binary; default "i2pd" from PATH

	// Detach lets every process outlive this one (testnet up): no
	// parent-death signal, a session of their own, and the eepsite served
	// by EepsiteCommand instead of in-process.
	Detach bool
	// EepsiteCommand (Detach only) is a program run inside the namespace
	// that serves EepsiteHandler at EepsiteAddr until SIGTERM.
	EepsiteCommand []string

	EepsiteTimeout time.Duration // default DefaultEepsiteTimeout
	// LockWait bounds the wait for another run using the same run dir
	// (see runLock); default 10 min.
	LockWait time.Duration
	Logger   *slog.Logger // nil: discard
}

// DebugFromEnv reports whether DebugEnv asks for debug logs.
func DebugFromEnv() bool { return os.Getenv(DebugEnv) == "1" }

// KeepFromEnv reports whether KeepEnv asks to keep the run dir.
func KeepFromEnv() bool { return os.Getenv(KeepEnv) == "1" }

func (c *Config) defaults() error {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir
	}
	if c.I2PD == "" {
		c.I2PD = "i2pd"
	}
	if c.LockWait == 0 {
		c.LockWait = lockWaitDefault
	}
	if c.EepsiteTimeout == 0 {
		c.EepsiteTimeout = DefaultEepsiteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if !filepath.IsAbs(c.RunDir) || filepath.Clean(c.RunDir) == "/" {
		return fmt.Errorf("testnet: run dir %q must be an absolute path below /", c.RunDir)
	}
	if c.Detach && len(c.EepsiteCommand) == 0 {
		return errors.New("testnet: Detach needs EepsiteCommand")
	}
	return nil
}

// Network is a running private network of i2pd routers.
type Network struct {
	cfg     Config
	log     *slog.Logger
	NS      *Namespace
	Routers []*Router // Routers[k-1] is router k

	// EepsiteB32 is the eepsite's address, from the keys file i2pd made.
	EepsiteB32 string
	// EepsiteRouter is the router hosting the eepsite's server tunnel.
	EepsiteRouter int

	// BringUp is the time from the first start of i2pd to all routers
	// answering after the introduction restart; FirstFetch the time from
	// then to the first successful eepsite fetch through the proxy.
	BringUp, FirstFetch time.Duration

	lock        *runLock     // held until Down; released at once for Detach
	eepsiteSrv  *http.Server // in-process eepsite
	eepsiteProc *process     // detached eepsite
	stateMu     sync.Mutex
}

// Router returns router k (1-based).
func (n *Network) Router(k int) *Router { return n.Routers[k-1] }

// Big returns the eepsite's large file, for comparing downloads.
func (n *Network) Big() []byte { return BigFile() }

// Prereqs reports what is missing to run a network here: root, ip(8)
// and i2pd. Tests fail with it under CI and skip with it elsewhere.
func Prereqs(i2pd string) error {
	if i2pd == "" {
		i2pd = "i2pd"
	}
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("not root (network namespaces need root)"))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		errs = append(errs, fmt.Errorf("no ip(8): %w", err))
	}
	if _, err := exec.LookPath(i2pd); err != nil {
		errs = append(errs, fmt.Errorf("no i2pd: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testnet prerequisites (as root: apt-get install -y i2pd iproute2): %w", err)
	}
	return nil
}

// I2PDVersion returns the first line of `i2pd --version`.
func I2PDVersion(i2pd string) string {
	if i2pd == "" {
		i2pd = "i2pd"
	}
	out, err := exec.Command(i2pd, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// Up brings a network up: it removes what a crashed earlier run with the
// same namespace and run dir left behind, creates the namespace, starts
// the eepsite's web server, starts every router once to make its keys and
// router.info, stops them, copies every router.info into every other
// router's netDb, starts them all again and waits until the eepsite
// answers through the HTTP proxy. On any failure (or ctx ending) it tears
// everything down again and returns an error that carries the tails of
// the i2pd logs.
func Up(ctx context.Context, cfg Config) (*Network, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := Prereqs(cfg.I2PD); err != nil {
		return nil, err
	}
	lock, err := acquireRunLock(ctx, cfg.RunDir, cfg.LockWait, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if err := teardown(ctx, cfg, true); err != nil {
		lock.release()
		return nil, fmt.Errorf("testnet: removing an earlier run: %w", err)
	}
	n := &Network{cfg: cfg, log: cfg.Logger, NS: &Namespace{Name: cfg.Namespace}, lock: lock}
	if !cfg.Detach {
		n.NS.spawner = newSpawner()
	}
	if err := n.up(ctx); err != nil {
		tails := n.LogTails(25)
		if derr := n.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w", derr))
		}
		return nil, fmt.Errorf("%w\n%s", err, tails)
	}
	if cfg.Detach {
		// The network outlives this process; `testnet down` takes the
		// lock itself.
		lock.release()
		n.lock = nil
	}
	return n, nil
}

func (n *Network) up(ctx context.Context) error {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.RunDir, markerFile), []byte("i2pbridge deploy/testnet run dir; removed by testnet down\n"), 0o644); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	var addrs []string
	for k := 1; k <= NumRouters; k++ {
		addrs = append(addrs, RouterIP(k)+"/24")
	}
	n.log.Info("creating network namespace", "ns", cfg.Namespace, "routers", NumRouters)
	if err := createNamespace(ctx, cfg.Namespace, addrs); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	n.EepsiteRouter = EepsiteRouter
	for k := 1; k <= NumRouters; k++ {
		r := &Router{
			K:           k,
			IP:          RouterIP(k),
			NTCP2Port:   ntcp2Port(k),
			ConsolePort: consolePort(k),
			SAMPort:     samPort(k),
			Floodfill:   isFloodfill(k, NumRouters),
			HTTPProxy:   k == ProxyRouter,
			Dir:         filepath.Join(cfg.RunDir, fmt.Sprintf("router%d", k)),
			ns:          n.NS,
			i2pd:        cfg.I2PD,
			log:         n.log,
			changed:     n.saveState,
		}
		if k == n.EepsiteRouter {
			host, port := splitHostPort(EepsiteAddr)
			r.tunnels = []ServerTunnel{{Name: EepsiteTunnel, Keys: EepsiteTunnel + ".dat", Host: host, Port: port}}
		}
		spec := routerSpec{K: k, Dir: r.Dir, Floodfill: r.Floodfill, SAM: true, HTTPProxy: r.HTTPProxy, Debug: cfg.Debug}
		if err := r.writeConfig(spec); err != nil {
			return err
		}
		n.Routers = append(n.Routers, r)
	}
	n.saveState()
	if err := n.startEepsite(); err != nil {
		return err
	}

	start := time.Now()
	if err := n.introduce(ctx); err != nil {
		return err
	}
	if err := n.eachRouter(func(r *Router) error { return r.Start(ctx) }); err != nil {
		return err
	}
	n.BringUp = time.Since(start)
	n.log.Info("routers up", "took", n.BringUp.Round(time.Millisecond))

	keys, err := os.ReadFile(filepath.Join(n.Router(n.EepsiteRouter).Dir, EepsiteTunnel+".dat"))
	if err != nil {
		return fmt.Errorf("testnet: eepsite keys: %w", err)
	}
	if n.EepsiteB32, err = B32FromKeys(keys); err != nil {
		return fmt.Errorf("testnet: eepsite keys: %w", err)
	}
	n.saveState()

	start = time.Now()
	wctx, cancel := context.WithTimeout(ctx, n.cfg.EepsiteTimeout)
	defer cancel()
	if err := n.WaitFetch(wctx, "http://"+n.EepsiteB32+"/", IndexMarker); err != nil {
		return fmt.Errorf("testnet: eepsite %s never answered through the HTTP proxy %s (router %d) within %s: %w",
			n.EepsiteB32, HTTPProxyAddr, ProxyRouter, n.cfg.EepsiteTimeout, err)
	}
	n.FirstFetch = time.Since(start)
	n.log.Info("eepsite answers through the proxy", "b32", n.EepsiteB32, "took", n.FirstFetch.Round(time.Millisecond))
	return nil
}

// introduce starts each router once so that i2pd writes its keys and
// router.info, stops them all, then copies every router.info into every
// other router's netDb. i2pd reads those files at its next start; it
// checks their content, not their names.
func (n *Network) introduce(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := n.eachRouter(func(r *Router) error {
		if err := r.Start(ictx); err != nil {
			return err
		}
		return r.waitRouterInfo(ictx)
	})
	if serr := n.stopRouters(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("testnet: first start: %w", err)
	}
	for _, from := range n.Routers {
		ri, err := from.routerInfo()
		if err != nil {
			return err
		}
		h, err := identHash(ri)
		if err != nil {
			return fmt.Errorf("router %d: router.info: %w", from.K, err)
		}
		for _, to := range n.Routers {
			if to == from {
				continue
			}
			dst := filepath.Join(to.Dir, "netDb", netDbName(h))
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return fmt.Errorf("testnet: %w", err)
			}
			if err := os.WriteFile(dst, ri, 0o644); err != nil {
				return fmt.Errorf("testnet: %w", err)
			}
		}
	}
	n.log.Info("routers introduced", "routers", len(n.Routers))
	return nil
}

// eachRouter runs f for every router in parallel.
func (n *Network) eachRouter(f func(*Router) error) error {
	errs := make([]error, len(n.Routers))
	var wg sync.WaitGroup
	for i, r := range n.Routers {
		wg.Go(func() { errs[i] = f(r) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopRouters sends SIGTERM to all routers at once.
func (n *Network) stopRouters() error {
	return n.eachRouter(func(r *Router) error { return r.Stop() })
}

func (n *Network) startEepsite() error {
	if n.cfg.Detach {
		out, err := os.OpenFile(filepath.Join(n.cfg.RunDir, "eepsite.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
		defer out.Close()
		cmd := n.NS.Command(n.cfg.EepsiteCommand[0], n.cfg.EepsiteCommand[1:]...)
		cmd.Stdout, cmd.Stderr = out, out
		p, err := startProcess(n.NS, cmd)
		if err != nil {
			return fmt.Errorf("testnet: eepsite server: %w", err)
		}
		n.stateMu.Lock()
		n.eepsiteProc = p
		n.stateMu.Unlock()
		n.saveState()
		// Wait until it accepts connections, so i2pd's first request
		// does not hit a closed port.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			c, err := n.NS.DialContext(ctx, "tcp", EepsiteAddr)
			if err == nil {
				c.Close()
				return nil
			}
			if !p.alive() || ctx.Err() != nil {
				return fmt.Errorf("testnet: eepsite server %v did not listen on %s: %w",
					n.cfg.EepsiteCommand, EepsiteAddr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ln, err := n.NS.Listen("tcp", EepsiteAddr)
	if err != nil {
		return fmt.Errorf("testnet: eepsite server: %w", err)
	}
	n.eepsiteSrv = &http.Server{Handler: EepsiteHandler(BigFile()), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := n.eepsiteSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("eepsite server", "err", err)
		}
	}()
	return nil
}

// ProxyClient is an HTTP client that goes through the i2pd HTTP proxy,
// from inside the namespace.
func (n *Network) ProxyClient(timeout time.Duration) *http.Client {
	proxy := &url.URL{Scheme: "http", Host: HTTPProxyAddr}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(proxy),
			DialContext:       n.NS.DialContext,
			DisableKeepAlives: true, // i2pd's proxy closes after each response anyway
		},
		Timeout: timeout,
	}
}

// Fetch GETs url through the HTTP proxy and returns status and body.
func (n *Network) Fetch(ctx context.Context, rawURL string, timeout time.Duration) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	resp, err := n.ProxyClient(timeout).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("fetch %s: body: %w", rawURL, err)
	}
	return resp.StatusCode, body, nil
}

// WaitFetch fetches url through the proxy until it answers 200 with a
// body containing want, or ctx ends. The error names the last failure.
// i2pd's proxy answers quickly with an error page while the leaseset is
// not yet found, so each attempt is short and retried.
func (n *Network) WaitFetch(ctx context.Context, rawURL, want string) error {
	var last error
	for attempt := 1; ; attempt++ {
		status, body, err := n.Fetch(ctx, rawURL, 30*time.Second)
		switch {
		case err != nil:
			last = err
		case status != http.StatusOK:
			last = fmt.Errorf("fetch %s: status %d: %s", rawURL, status, summary(body))
		case !strings.Contains(string(body), want):
			last = fmt.Errorf("fetch %s: body lacks %q: %s", rawURL, want, summary(body))
		default:
			return nil
		}
		n.log.Debug("fetch not yet", "attempt", attempt, "err", last)
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %d attempts: %w", attempt, last)
		case <-time.After(time.Second):
		}
	}
}

// summary shortens an error page to its text for error messages.
func summary(b []byte) string {
	s := strings.Join(strings.Fields(stripTags(string(b))), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Health lists the routers that are not running and why ("" when all
// are up).
func (n *Network) Health() string {
	var bad []string
	for _, r := range n.Routers {
		if h := r.Health(); h != "" {
			bad = append(bad, h)
		}
	}
	return strings.Join(bad, "; ")
}

// LogTails returns the last lines of every router's log.
func (n *Network) LogTails(lines int) string {
	var parts []string
	for _, r := range n.Routers {
		parts = append(parts, r.LogTail(lines))
	}
	return strings.Join(parts, "\n")
}

// Down stops every process (SIGTERM, SIGKILL after a grace period),
// deletes the namespace and removes the run dir. It is safe to call on a
// partly built network.
func (n *Network) Down() error {
	var errs []error
	var ps []*process
	for _, r := range n.Routers {
		r.mu.Lock()
		if r.proc != nil {
			ps = append(ps, r.proc)
		}
		r.mu.Unlock()
	}
	n.stateMu.Lock()
	if n.eepsiteProc != nil {
		ps = append(ps, n.eepsiteProc)
	}
	n.stateMu.Unlock()
	errs = append(errs, stopProcesses(ps, StopGrace))
	if n.eepsiteSrv != nil {
		errs = append(errs, n.eepsiteSrv.Close())
	}
	errs = append(errs, teardown(context.Background(), n.cfg, !n.cfg.KeepRunDir))
	if n.cfg.KeepRunDir {
		n.log.Info("run dir kept", "dir", n.cfg.RunDir)
	}
	if n.NS.spawner != nil {
		n.NS.spawner.close()
	}
	n.lock.release()
	n.log.Info("network down", "ns", n.cfg.Namespace)
	return errors.Join(errs...)
}

// splitHostPort splits one of the package's address constants.
func splitHostPort(hp string) (string, int) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		panic(err) // a broken constant, caught by every test
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		panic(err)
	}
	return host, p
}

// Describe is a human summary of how to reach things, printed by
// `testnet up` and `testnet status`.
func (n *Network) Describe() string {
	var b strings.Builder
	ns := n.cfg.Namespace
	fmt.Fprintf(&b, "%d i2pd routers (%s) in network namespace %s, run dir %s\n",
		len(n.Routers), I2PDVersion(n.cfg.I2PD), ns, n.cfg.RunDir)
	for _, r := range n.Routers {
		role := ""
		if r.Floodfill {
			role += " floodfill"
		}
		if r.HTTPProxy {
			role += " http-proxy=" + HTTPProxyAddr
		}
		if r.K == n.EepsiteRouter {
			role += " eepsite"
		}
		fmt.Fprintf(&b, "  router %d  pid %-7d ntcp2 %s:%d  console %s  sam %s %s\n",
			r.K, r.Pid(), r.IP, r.NTCP2Port, r.ConsoleAddr(), r.SAMAddr(), role)
	}
	fmt.Fprintf(&b, "eepsite: http://%s/ (web server %s inside the namespace)\n", n.EepsiteB32, EepsiteAddr)
	fmt.Fprintf(&b, "try:\n")
	fmt.Fprintf(&b, "  ip netns exec %s curl -x %s http://%s/\n", ns, HTTPProxyAddr, n.EepsiteB32)
	fmt.Fprintf(&b, "  ip netns exec %s curl -o /dev/null -w '%%{speed_download} B/s\\n' -x %s http://%s%s\n", ns, HTTPProxyAddr, n.EepsiteB32, BigPath)
	fmt.Fprintf(&b, "  ip netns exec %s curl -s http://%s/ | less   # router 1 console\n", ns, n.Router(1).ConsoleAddr())
	fmt.Fprintf(&b, "  ip netns exec %s i2pbridge run -c FILE     # with router: {backend: sam, sam: %s}\n", ns, n.Router(1).SAMAddr())
	fmt.Fprintf(&b, "logs: %s/router*/i2pd.log (loglevel debug: %s=1)\n", n.cfg.RunDir, DebugEnv)
	return b.String()
}

// TB is the part of testing.TB that RequirePrereqs uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// RequirePrereqs fails t when CI=true and Prereqs reports something
// missing (CI must run these tests), and skips it elsewhere.
func RequirePrereqs(t TB) {
	t.Helper()
	if err := Prereqs(""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %v", err)
		}
		t.Skipf("skipping (not CI): %v", err) // CI=true failed above
	}
}
