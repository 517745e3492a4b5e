package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"i2pbridge/deploy/testnet"
)

// suite is the fixture TestMain sets up for every test.
var suite struct {
	skip     string // prerequisites missing outside CI: every test skips with this
	buildErr error  // go build of ./cmd/i2pbridge failed: tests that run it fail with this
	net      *testnet.Network
	bin      string // the built i2pbridge
	work     string // bridges' config dirs
}

// nameEnv, when set (e.g. to "alice"), gives this run its own namespace
// i2pbt-NAME and run dir /tmp/i2pbridge-NAME, so developers can run parts
// of the suite side by side; runs with the same name wait for each other
// (testnet's run lock).
const nameEnv = "I2PB_INTEROP_NAME"

func runName() (namespace, runDir string) {
	name := os.Getenv(nameEnv)
	if name == "" {
		name = "interop"
	}
	return "i2pbt-" + name, "/tmp/i2pbridge-" + name
}

// suiteStart is when the test binary started, for the -timeout guard.
var suiteStart = time.Now()

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

// testTimeout is go test's -timeout (0 = none).
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	d, err := time.ParseDuration(f.Value.String())
	if err != nil {
		return 0
	}
	return d
}

func runSuite(m *testing.M) int {
	if err := testnet.Prereqs(""); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "interop: CI=true and %v\n", err)
			return 1
		}
		suite.skip = err.Error()
		return m.Run()
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	work, err := os.MkdirTemp("", "i2pbridge-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer func() {
		if testnet.KeepFromEnv() {
			fmt.Fprintln(os.Stderr, "interop: kept", work, "("+testnet.KeepEnv+"=1)")
			return
		}
		os.RemoveAll(work)
	}()
	suite.work = work

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Build while the routers come up: both take tens of seconds.
	var wg sync.WaitGroup
	wg.Go(func() {
		suite.bin = filepath.Join(work, "i2pbridge")
		start := time.Now()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", suite.bin, "i2pbridge/cmd/i2pbridge").CombinedOutput()
		if err != nil {
			suite.buildErr = fmt.Errorf("go build ./cmd/i2pbridge: %w\n%s", err, out)
			return
		}
		logger.Info("built i2pbridge", "took", time.Since(start).Round(time.Millisecond))
	})
	namespace, runDir := runName()
	n, err := testnet.Up(ctx, testnet.Config{
		Namespace:  namespace,
		RunDir:     runDir,
		Debug:      testnet.DebugFromEnv(),
		KeepRunDir: testnet.KeepFromEnv(),
		Logger:     logger,
	})
	wg.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: bringing the i2pd test network up:", err)
		return 1
	}
	suite.net = n
	logger.Info("test network up", "i2pd", testnet.I2PDVersion(""), "bring_up", n.BringUp.Round(time.Millisecond),
		"first_eepsite_fetch", n.FirstFetch.Round(time.Millisecond))

	// ^C or SIGTERM during the tests, or go test's -timeout about to
	// panic: tear down before dying, since the routers would otherwise
	// only get their parent-death SIGKILL and leave the namespace behind.
	done := make(chan struct{})
	guard := make(<-chan time.Time)
	if d := testTimeout(); d > 0 {
		guard = time.After(time.Until(suiteStart.Add(d)) - 30*time.Second)
	}
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "interop: interrupted; tearing the test network down")
		case <-guard:
			fmt.Fprintln(os.Stderr, "interop: go test -timeout is 30s away; tearing the test network down")
		case <-done:
			return
		}
		stopShared()
		_ = n.Down()
		os.Exit(1)
	}()
	code := m.Run()
	close(done)
	stopShared()
	if err := n.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "interop: teardown:", err)
		code = 1
	}
	return code
}

// needNet skips or fails t when the suite could not set up the network.
func needNet(t testing.TB) *testnet.Network {
	t.Helper()
	if suite.skip != "" {
		t.Skip("skipping: " + suite.skip) // set only when CI is not true (TestMain fails the run under CI=true)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if h := suite.net.Health(); h != "" {
				t.Logf("i2pd crashed or stopped: %s", h)
			}
			t.Logf("i2pd logs:\n%s", suite.net.LogTails(30))
		}
	})
	return suite.net
}

// needBinary is needNet plus the built i2pbridge.
func needBinary(t testing.TB) *testnet.Network {
	t.Helper()
	n := needNet(t)
	if suite.buildErr != nil {
		t.Fatal(suite.buildErr)
	}
	return n
}

// bridgeProc is one `i2pbridge run` inside the namespace.
type bridgeProc struct {
	name string
	dir  string // config.yaml, data/, bridge.log
	cfg  string // config.yaml
	log  string // stdout and stderr

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result after done
}

func newBridge(name string) (*bridgeProc, error) {
	dir := filepath.Join(suite.work, name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	return &bridgeProc{name: name, dir: dir, cfg: filepath.Join(dir, "config.yaml"), log: filepath.Join(dir, "bridge.log")}, nil
}

func (b *bridgeProc) writeConfig(yaml string) error {
	return os.WriteFile(b.cfg, []byte(yaml), 0o644)
}

// start runs `i2pbridge run -c config.yaml` inside the namespace.
func (b *bridgeProc) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil && !b.exited() {
		return fmt.Errorf("i2pbridge %s already running", b.name)
	}
	out, err := os.OpenFile(b.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "=== %s start\n", time.Now().Format(time.RFC3339Nano))
	cmd := suite.net.NS.Command(suite.bin, "run", "-c", b.cfg, "-log-level", "debug")
	cmd.Stdout, cmd.Stderr = out, out
	if err := suite.net.NS.Start(cmd); err != nil {
		return fmt.Errorf("start i2pbridge %s: %w", b.name, err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	go func() {
		err := cmd.Wait()
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
		close(done)
	}()
	return nil
}

// exited reports whether the last started process has ended.
func (b *bridgeProc) exited() bool {
	if b.done == nil {
		return true
	}
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *bridgeProc) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.exited()
}

func (b *bridgeProc) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exited() {
		return 0
	}
	return b.cmd.Process.Pid
}

func (b *bridgeProc) signal(sig syscall.Signal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exited() {
		return fmt.Errorf("i2pbridge %s is not running", b.name)
	}
	return b.cmd.Process.Signal(sig)
}

// stop sends SIGTERM and expects a clean exit (status 0) within 20 s.
func (b *bridgeProc) stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		if err := b.waitErr(); err != nil {
			return fmt.Errorf("i2pbridge %s had already exited: %w", b.name, err)
		}
		return nil
	default:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("i2pbridge %s did not exit within 20s of SIGTERM", b.name)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return fmt.Errorf("i2pbridge %s exited after SIGTERM: %w", b.name, b.err)
	}
	return nil
}

func (b *bridgeProc) logTail(lines int) string {
	raw, err := os.ReadFile(b.log)
	if err != nil {
		return err.Error()
	}
	s := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return fmt.Sprintf("--- i2pbridge %s: last %d lines of %s\n%s", b.name, len(s), b.log, strings.Join(s, "\n"))
}

// dumpOnFailure logs the bridges' log tails if t fails.
func dumpOnFailure(t testing.TB, bs ...*bridgeProc) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, b := range bs {
				t.Log(b.logTail(60))
			}
		}
	})
}

// tunnelStatus is the part of `i2pbridge status -json` the tests read
// (names per bridge/control's JSON contract).
type tunnelStatus struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	State     string `json:"state"`
	Address   string `json:"address"`
	Listen    string `json:"listen"`
	Conns     int    `json:"conns"`
	BytesIn   uint64 `json:"bytes_in"`
	BytesOut  uint64 `json:"bytes_out"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
}

// status runs `i2pbridge status -c FILE -json`. The control endpoint is a
// unix socket under datadir, so this needs no namespace.
func (b *bridgeProc) status(ctx context.Context) (map[string]tunnelStatus, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, suite.bin, "status", "-c", b.cfg, "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("i2pbridge status -c %s -json: %w: %s", b.cfg, err, strings.TrimSpace(stderr.String()))
	}
	var doc struct {
		Tunnels []tunnelStatus `json:"tunnels"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("i2pbridge status -json output: %w: %q", err, stdout.String())
	}
	m := make(map[string]tunnelStatus)
	for _, ts := range doc.Tunnels {
		m[ts.Name] = ts
	}
	return m, nil
}

// waitRunning polls status until every named tunnel is "running".
func (b *bridgeProc) waitRunning(ctx context.Context, limit time.Duration, names ...string) (map[string]tunnelStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	for {
		if !b.running() {
			return nil, fmt.Errorf("i2pbridge %s exited (%v) while waiting for tunnels %v to run", b.name, b.waitErr(), names)
		}
		st, err := b.status(ctx)
		if err != nil {
			last = err.Error()
		} else {
			ok := true
			var parts []string
			for _, name := range names {
				ts, found := st[name]
				parts = append(parts, fmt.Sprintf("%s=%s %s", name, ts.State, ts.LastError))
				ok = ok && found && ts.State == "running"
			}
			if ok {
				return st, nil
			}
			last = strings.Join(parts, "; ")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waited %s for tunnels %v of i2pbridge %s to be running; last status: %s", limit, names, b.name, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (b *bridgeProc) waitErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// keygen runs `i2pbridge keygen -o path` and returns the b32 printed on
// its last line.
func keygen(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, suite.bin, "keygen", "-o", path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("i2pbridge keygen -o %s: %w: %s", path, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	b32 := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasSuffix(b32, ".b32.i2p") || len(b32) != 52+len(".b32.i2p") {
		return "", fmt.Errorf("i2pbridge keygen -o %s: last line %q is not a b32 address", path, b32)
	}
	return b32, nil
}

// startEcho serves an echo service inside the namespace (the tcp-server's
// target). It closes the write side when the peer does, so a client can
// tell it got everything back.
func startEcho(t testing.TB) net.Listener {
	ln, err := suite.net.NS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}()
		}
	}()
	return ln
}

// payload returns n deterministic pseudo-random bytes.
func payload(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	r := rand.NewChaCha8(key)
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// echoOnce writes p on c and reads it back within limit.
func echoOnce(c net.Conn, p []byte, limit time.Duration) (ttfb time.Duration, err error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(limit)); err != nil {
		return 0, err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(p); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(p))
	if _, err := io.ReadFull(c, got[:1]); err != nil {
		return 0, fmt.Errorf("read first byte: %w", err)
	}
	ttfb = time.Since(start)
	if _, err := io.ReadFull(c, got[1:]); err != nil {
		return ttfb, fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, p) {
		return ttfb, errors.New("echo differs from what was sent")
	}
	return ttfb, nil
}

// waitEcho connects to a tcp-client tunnel's listener until a 1 KiB probe
// comes back, and returns that open connection. While the far side's
// leaseset is not yet known, the tunnel accepts and then closes the local
// connection; each attempt is bounded, the whole wait by limit.
func waitEcho(ctx context.Context, addr string, limit time.Duration) (c net.Conn, ttfb time.Duration, attempts int, err error) {
	return waitEchoEvery(ctx, addr, limit, 30*time.Second)
}

// waitEchoEvery is waitEcho with each attempt bounded by attempt.
func waitEchoEvery(ctx context.Context, addr string, limit, attempt time.Duration) (c net.Conn, ttfb time.Duration, attempts int, err error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	probe := payload(1, 1024)
	var last error
	for attempts = 1; ; attempts++ {
		c, err := suite.net.NS.DialContext(ctx, "tcp", addr)
		if err == nil {
			ttfb, err = echoOnce(c, probe, attempt)
			if err == nil {
				return c, ttfb, attempts, nil
			}
			c.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, 0, attempts, fmt.Errorf("waited %s for an echo through %s (%d attempts), last: %w", limit, addr, attempts, last)
		case <-time.After(time.Second):
		}
	}
}

// startEepsiteServer serves the testnet eepsite (index page and the
// 20 MiB file) inside the namespace until the test ends, for server
// tunnels to point at.
func startEepsiteServer(t testing.TB, n *testnet.Network) net.Listener {
	t.Helper()
	web, err := n.NS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: testnet.EepsiteHandler(n.Big())}
	go srv.Serve(web)
	t.Cleanup(func() { srv.Close() })
	return web
}
