package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
)

// Testnet defaults: a private network id no public router uses, and
// ports on loopback above the usual I2P ones.
const (
	testnetNetID    = 188
	testnetRouters  = 5
	testnetBasePort = 17650
	testnetProxy    = "127.0.0.1:4444"
	// testnetReadyLimit bounds the wait for the demo page to load through
	// the proxy before the command gives up.
	testnetReadyLimit = 5 * time.Minute
)

const testnetAbout = `Start a private I2P network on this machine and browse an eepsite on it: N bundled
routers on 127.0.0.1 (network id 188, so they never meet the public network), one of
which runs an i2pbridge with a demo eepsite (http-server tunnel) and the eepproxy
(http-proxy tunnel). When the demo page loads through the proxy, the command prints
how to browse it, e.g.

    curl -x 127.0.0.1:4444 http://<demo>.b32.i2p/

and runs until SIGINT or SIGTERM. Everything lives in DIR (default: a temporary folder,
removed at exit); 'i2pbridge status -c DIR/bridge/config.yaml' shows the bridge.`

func testnetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return testnet(ctx, args, stdout, stderr)
}

// testnet is the command with its stop signal as ctx, for tests.
func testnet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("testnet", "[-routers N] [-proxy ADDR] [-port PORT] [-dir DIR] [-log-level LEVEL]", testnetAbout, stderr)
	n := flags.Int("routers", testnetRouters, "how many `N` routers (at least 4: 3-hop tunnels need 3 others)")
	proxy := flags.String("proxy", testnetProxy, "`ADDR` the eepproxy listens on")
	port := flags.Int("port", testnetBasePort, "first NTCP2 `PORT`; the routers use PORT to PORT+N-1 on 127.0.0.1")
	dir := flags.String("dir", "", "`DIR` for the routers' and the bridge's files (kept at exit)")
	level := flags.String("log-level", "warn", "log `LEVEL` of the routers and the bridge: debug, info, warn or error")
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "i2pbridge testnet:", err)
		return 1
	}
	if *n < 4 || *n > 50 {
		return fail(fmt.Errorf("-routers %d: want 4 to 50", *n))
	}
	if *port < 1 || *port+*n-1 > 65535 {
		return fail(fmt.Errorf("-port %d: the ports %d..%d must be 1..65535", *port, *port, *port+*n-1))
	}
	logger, err := newLogger(stderr, *level, "text")
	if err != nil {
		return fail(err)
	}
	base := *dir
	if base == "" {
		if base, err = os.MkdirTemp("", "i2pbridge-testnet-"); err != nil {
			return fail(err)
		}
		defer os.RemoveAll(base)
	}
	tn, err := startTestnet(ctx, testnetConfig{dir: base, routers: *n, port: *port, proxy: *proxy, logger: logger})
	if err != nil {
		return fail(err)
	}
	defer tn.stop()

	// The bridge runs as `i2pbridge run` does, on its config file; the
	// banner comes once the demo page loads through the proxy.
	ready := make(chan error, 1)
	go func() { ready <- tn.waitDemo(ctx, testnetReadyLimit) }()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan int, 1)
	go func() {
		runDone <- run(runCtx, []string{"-c", tn.config, "-log-level", *level}, io.Discard, stderr, newNetwork, nil)
	}()
	select {
	case err := <-ready:
		if err != nil {
			stopRun()
			<-runDone
			return fail(err)
		}
		fmt.Fprintf(stdout, `i2pbridge testnet: %d routers on 127.0.0.1:%d-%d (network id %d), ready after %v

  demo eepsite  http://%s/
  eepproxy      %s

  curl -x %s http://%s/

Point a browser's HTTP proxy at %s to browse it. Files: %s
Status: i2pbridge status -c %s
Stop with Ctrl-C.
`, *n, *port, *port+*n-1, testnetNetID, tn.readyAfter().Round(time.Second),
			tn.demoB32, *proxy, *proxy, tn.demoB32, *proxy, base, tn.config)
	case code := <-runDone:
		return code
	case <-ctx.Done():
	}
	<-ctx.Done()
	stopRun()
	return <-runDone
}

type testnetConfig struct {
	dir     string
	routers int
	port    int
	proxy   string
	logger  *slog.Logger
}

// testnetNet is a running testnet: the helper routers, the demo web
// server and the bridge's config file.
type testnetNet struct {
	cfg     testnetConfig
	started time.Time
	config  string // the bridge's config.yaml
	demoB32 string

	routers []*router.Router
	web     *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	ready time.Duration
}

// startTestnet starts routers 1..N-1 (the first two floodfills) seeded
// with router 1's RouterInfo, the demo web server, and writes the bridge's
// config: router 0, embedded, seeded the same way, with the demo eepsite
// and the eepproxy.
func startTestnet(ctx context.Context, c testnetConfig) (*testnetNet, error) {
	tn := &testnetNet{cfg: c, started: time.Now()}
	seed := filepath.Join(c.dir, "seed")
	if err := os.MkdirAll(seed, 0o700); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	for i := 1; i < c.routers; i++ {
		rc := router.Config{
			Datadir:     filepath.Join(c.dir, fmt.Sprintf("router-%d", i)),
			NetID:       testnetNetID,
			NTCP2Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port+i)),
			Floodfill:   i <= 2,
			Logger:      c.logger.With("testnet_router", i),
		}
		if i > 1 {
			rc.SeedDir = seed
		}
		r, err := router.New(rc)
		if err != nil {
			tn.stop()
			return nil, fmt.Errorf("router %d: %w", i, err)
		}
		tn.routers = append(tn.routers, r)
		if i == 1 {
			ri := r.RouterInfo()
			if err := os.WriteFile(filepath.Join(seed, data.RouterInfoFileName(ri.Hash())), ri.Bytes(), 0o644); err != nil {
				tn.stop()
				return nil, err
			}
		}
		tn.wg.Go(func() {
			if err := r.Run(rctx); err != nil {
				c.logger.Error("testnet router stopped", "router", i, "err", err)
			}
		})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tn.stop()
		return nil, fmt.Errorf("demo web server: %w", err)
	}
	tn.web = &http.Server{Handler: demoSite(), ReadHeaderTimeout: 10 * time.Second}
	tn.wg.Go(func() { tn.web.Serve(ln) })

	bdir := filepath.Join(c.dir, "bridge")
	if err := os.MkdirAll(filepath.Join(bdir, "data"), 0o700); err != nil {
		tn.stop()
		return nil, err
	}
	keys := filepath.Join(bdir, "data", "demo.dat")
	if _, err := os.Stat(keys); err == nil {
		pk, err := data.LoadPrivateKeyFile(keys)
		if err != nil {
			tn.stop()
			return nil, err
		}
		tn.demoB32 = pk.Destination().B32()
	} else if tn.demoB32, err = keygen(keys, false); err != nil {
		tn.stop()
		return nil, err
	}
	tn.config = filepath.Join(bdir, "config.yaml")
	// Two-hop tunnels: a handful of routers is enough for them, and the
	// demo comes up faster; a real deployment keeps the default three.
	pools := "    inbound: {length: 2, quantity: 2}\n    outbound: {length: 2, quantity: 2}\n"
	cfg := fmt.Sprintf(`# i2pbridge testnet: the bridge of a private network on 127.0.0.1 (written by i2pbridge testnet)
router:
  backend: embedded
  datadir: ./data
  netid: %d
  ntcp2: {listen: "127.0.0.1:%d"}
  seed_dir: ../seed
tunnels:
  - name: demo
    type: http-server
    target: %s
    keys: demo.dat
%s  - name: eepproxy
    type: http-proxy
    listen: %s
%s`, testnetNetID, c.port, ln.Addr(), pools, c.proxy, pools)
	if err := os.WriteFile(tn.config, []byte(cfg), 0o644); err != nil {
		tn.stop()
		return nil, err
	}
	return tn, nil
}

// waitDemo fetches the demo page through the eepproxy until it loads.
func (tn *testnetNet) waitDemo(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: tn.cfg.proxy}), DisableKeepAlives: true,
	}, Timeout: 30 * time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+tn.demoB32+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), demoMarker) {
				tn.mu.Lock()
				tn.ready = time.Since(tn.started)
				tn.mu.Unlock()
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the demo eepsite did not load through %s within %v: %w", tn.cfg.proxy, limit, last)
			}
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (tn *testnetNet) readyAfter() time.Duration {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.ready
}

// stop stops the helper routers and the web server and waits for them.
func (tn *testnetNet) stop() {
	if tn.web != nil {
		tn.web.Close()
	}
	if tn.cancel != nil {
		tn.cancel()
	}
	for _, r := range tn.routers {
		r.Close()
	}
	tn.wg.Wait()
}

// demoMarker is in the demo page; the readiness probe looks for it.
const demoMarker = "Hello from the i2pbridge testnet"

// demoSite is the demo eepsite: a page that shows what the visitor's
// request looked like when it arrived (the http-server tunnel adds the
// visitor's b32; the eepproxy removed what could identify the browser).
func demoSite() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var hdr strings.Builder
		for k, v := range r.Header {
			fmt.Fprintf(&hdr, "%s: %s\n", k, strings.Join(v, ", "))
		}
		fmt.Fprintf(w, `<!doctype html><title>%s</title>
<h1>%s</h1>
<p>This eepsite is served by an i2pbridge http-server tunnel on a private I2P network of bundled routers.
You reached it as <code>%s</code>.</p>
<p>The request as it arrived here:</p><pre>%s %s
%s</pre>
`, demoMarker, demoMarker, html.EscapeString(r.Header.Get("X-I2P-DestB32")), html.EscapeString(r.Method), html.EscapeString(r.URL.RequestURI()), html.EscapeString(hdr.String()))
	})
	return mux
}
