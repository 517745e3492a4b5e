package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"i2pbridge/bridge/control"
	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/config"
)

// waitFor is how long a test waits for something the program does at once
// on an in-memory network; only a bug makes it expire.
const waitFor = 10 * time.Second

// syncBuffer is a bytes.Buffer the program's goroutines can log into while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// shortDir is a temporary folder with a short path: control sockets live in
// it and unix socket paths are limited to ~104 bytes, which t.TempDir's
// test-named folders can exceed.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ib")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// hookNet wraps the in-memory network to observe and delay the program's
// calls.
type hookNet struct {
	*i2pnettest.Network
	beforeOpen func(ctx context.Context) error // nil = open at once
	closeGate  chan struct{}                   // Close waits for it when non-nil
	closed     atomic.Int32
}

func (h *hookNet) Open(ctx context.Context, cfg i2pnet.SessionConfig) (i2pnet.Session, error) {
	if h.beforeOpen != nil {
		if err := h.beforeOpen(ctx); err != nil {
			return nil, err
		}
	}
	return h.Network.Open(ctx, cfg)
}

func (h *hookNet) Close() error {
	if h.closeGate != nil {
		<-h.closeGate
	}
	h.closed.Add(1)
	return h.Network.Close()
}

// instance is one in-process `i2pbridge run`.
type instance struct {
	t       *testing.T
	cfg     string
	control string
	net     *hookNet
	sigs    chan os.Signal
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan int
}

func startRun(t *testing.T, cfgPath string, hn *hookNet, extraArgs ...string) *instance {
	t.Helper()
	f, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	in := &instance{
		t: t, cfg: cfgPath, control: f.Control, net: hn,
		sigs:   make(chan os.Signal, 4),
		stdout: &syncBuffer{}, stderr: &syncBuffer{},
		done: make(chan int, 1),
	}
	nf := func(_ context.Context, r config.Router, _ *slog.Logger) (i2pnet.Network, error) {
		if r.Backend != "sam" {
			return nil, fmt.Errorf("unexpected backend %q", r.Backend)
		}
		return hn, nil
	}
	args := append([]string{"-c", cfgPath, "-log-level", "debug"}, extraArgs...)
	go func() { in.done <- run(context.Background(), args, in.stdout, in.stderr, nf, in.sigs) }()
	t.Cleanup(func() {
		select {
		case <-in.done:
		default:
			in.sigs <- syscall.SIGTERM
			select {
			case <-in.done:
			case <-time.After(waitFor):
				t.Errorf("run did not stop at the end of the test; log:\n%s", in.stderr)
			}
		}
	})
	return in
}

// status polls the control endpoint until it answers.
func (in *instance) status() control.Status {
	in.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := control.Fetch(ctx, in.control)
		cancel()
		if err == nil {
			return st
		}
		select {
		case code := <-in.done:
			in.done <- code
			in.t.Fatalf("run exited with %d before serving status; log:\n%s", code, in.stderr)
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("status endpoint never answered: %v; log:\n%s", err, in.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus polls until ok accepts the status.
func (in *instance) waitStatus(what string, ok func(control.Status) bool) control.Status {
	in.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		st := in.status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("%s never happened; last status %+v; log:\n%s", what, st, in.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRunning waits until the named tunnel is running (the endpoint
// answers while tunnels are still starting).
func (in *instance) waitRunning(name string) control.Status {
	in.t.Helper()
	return in.waitStatus(name+" running", func(st control.Status) bool {
		t, ok := tunnel(st, name)
		return ok && t.State == "running"
	})
}

func (in *instance) waitLog(substr string) {
	in.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(in.stderr.String(), substr) {
		if time.Now().After(deadline) {
			in.t.Fatalf("log never contained %q; log:\n%s", substr, in.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (in *instance) exitCode() int {
	in.t.Helper()
	select {
	case code := <-in.done:
		in.done <- code // for Cleanup
		return code
	case <-time.After(waitFor):
		in.t.Fatalf("run did not exit; log:\n%s", in.stderr)
		return -1
	}
}

func tunnel(st control.Status, name string) (control.Tunnel, bool) {
	for _, t := range st.Tunnels {
		if t.Name == name {
			return t, true
		}
	}
	return control.Tunnel{}, false
}

// echoServer is a TCP target that echoes lines.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "echo %s\n", s.Text())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// roundTrip sends a line through the tunnel listening at addr.
func roundTrip(t *testing.T, addr, line string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(c, "%s\n", line)
	got, err := bufio.NewReader(c).ReadString('\n')
	if want := "echo " + line + "\n"; err != nil || got != want {
		t.Fatalf("through %s: got %q, %v; want %q", addr, got, err, want)
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// writeConfig writes a config with its datadir and control socket in dir.
func writeConfig(t *testing.T, dir, tunnels string) string {
	t.Helper()
	return writeFile(t, dir, "bridge.yaml", fmt.Sprintf("router:\n  backend: sam\n  datadir: %s\ncontrol: unix:%s\ntunnels:\n%s",
		filepath.Join(dir, "data"), filepath.Join(dir, "c.sock"), tunnels))
}

func serverTunnel(name, target string) string {
	return fmt.Sprintf("  - name: %s\n    type: tcp-server\n    target: %s\n", name, target)
}

func clientTunnel(name, listen, dest string) string {
	return fmt.Sprintf("  - name: %s\n    type: tcp-client\n    listen: %s\n    destination: %s\n", name, listen, dest)
}

func TestRunServesStatusAndStopsOnSIGTERM(t *testing.T) {
	dir := shortDir(t)
	cfg := writeConfig(t, dir, serverTunnel("web", echoServer(t)))
	in := startRun(t, cfg, &hookNet{Network: i2pnettest.New()})

	st := in.waitRunning("web")
	web, _ := tunnel(st, "web")
	if !b32RE.MatchString(web.Address) {
		t.Errorf("web address = %q, want a b32", web.Address)
	}
	if st.Version != version || st.Backend != "sam" || st.Started.IsZero() || st.Uptime == "" {
		t.Errorf("status header = %+v", st)
	}
	in.waitLog("address=" + web.Address)

	// The status command reads the same endpoint.
	code, stdout, stderr := cli(t, "status", "-c", cfg)
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "web tcp-server running "+web.Address+" 0 ") {
		t.Errorf("status table lacks the web row:\n%s", stdout)
	}

	in.sigs <- syscall.SIGTERM
	if code := in.exitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; log:\n%s", code, in.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "c.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	if in.net.closed.Load() != 1 {
		t.Errorf("network closed %d times, want 1", in.net.closed.Load())
	}
	if in.stdout.String() != "" {
		t.Errorf("run wrote to stdout: %q", in.stdout)
	}
}

func TestRunReloadsOnSIGHUP(t *testing.T) {
	dir := shortDir(t)
	target := echoServer(t)
	cfg := writeConfig(t, dir, serverTunnel("web", target))
	in := startRun(t, cfg, &hookNet{Network: i2pnettest.New()})
	st := in.waitRunning("web")
	web, _ := tunnel(st, "web")

	// Valid: a client tunnel to web appears; web keeps running.
	listen := freePort(t)
	writeConfig(t, dir, serverTunnel("web", target)+clientTunnel("shell", listen, web.Address))
	in.sigs <- syscall.SIGHUP
	in.waitRunning("shell")
	in.waitLog("msg=reloaded added=[shell]")
	roundTrip(t, listen, "hello")
	st = in.waitStatus("web counts the stream", func(st control.Status) bool {
		w, _ := tunnel(st, "web")
		return w.TotalConns == 1
	})
	if w, _ := tunnel(st, "web"); w.Address != web.Address || w.Restarts != 0 {
		t.Errorf("web changed across the reload: %+v, was %+v", w, web)
	}

	// Invalid: every error is logged and the running set stays.
	writeFile(t, dir, "bridge.yaml", "tunnels:\n  - name: web\n    type: tcp-server\n  - name: bad name\n    type: tcp-client\n")
	in.sigs <- syscall.SIGHUP
	in.waitLog("reload: config is invalid; the running tunnels are unchanged")
	in.waitLog("tunnels[0].target")
	in.waitLog("tunnels[1].name")
	after := in.status()
	if len(after.Tunnels) != 2 {
		t.Fatalf("after an invalid reload: %d tunnels, want 2: %+v", len(after.Tunnels), after.Tunnels)
	}
	for _, tt := range after.Tunnels {
		if tt.State != "running" {
			t.Errorf("after an invalid reload %s is %s", tt.Name, tt.State)
		}
	}
	roundTrip(t, listen, "still there")

	in.sigs <- syscall.SIGTERM
	if code := in.exitCode(); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if listening(listen) {
		t.Errorf("%s still accepts connections after stop", listen)
	}
}

func TestRunStartFailureLeavesNothingRunning(t *testing.T) {
	dir := shortDir(t)
	// The second tunnel cannot listen: the port is taken.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	first := freePort(t)
	someDest := "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p"
	cfg := writeConfig(t, dir, serverTunnel("web", echoServer(t))+
		clientTunnel("a", first, someDest)+
		clientTunnel("b", busy.Addr().String(), someDest))
	hn := &hookNet{Network: i2pnettest.New()}
	in := startRun(t, cfg, hn)

	if code := in.exitCode(); code != 1 {
		t.Fatalf("exit code = %d, want 1; log:\n%s", code, in.stderr)
	}
	log := in.stderr.String()
	if !strings.Contains(log, "msg=\"start failed\"") || !strings.Contains(log, busy.Addr().String()) {
		t.Errorf("log does not report the failed start and its cause:\n%s", log)
	}
	if listening(first) {
		t.Errorf("tunnel a still listens on %s after the failed start", first)
	}
	if _, err := os.Lstat(filepath.Join(dir, "c.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	if hn.closed.Load() != 1 {
		t.Errorf("network closed %d times, want 1", hn.closed.Load())
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	dir := shortDir(t)
	cfg := writeFile(t, dir, "bad.yaml", "tunnels:\n  - name: web\n    type: tcp-server\n    bogus: 1\n")
	var stdout, stderr bytes.Buffer
	nf := func(context.Context, config.Router, *slog.Logger) (i2pnet.Network, error) {
		t.Error("a backend was created for an invalid config")
		return nil, errors.New("unreachable")
	}
	code := run(context.Background(), []string{"-c", cfg}, &stdout, &stderr, nf, make(chan os.Signal))
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], cfg+":2: tunnels[0].target: ") || !strings.HasPrefix(lines[1], cfg+":4: tunnels[0].bogus: ") {
		t.Errorf("stderr = %q, want the two errors, one per line", stderr.String())
	}
}

func TestRunRefusesSecondInstance(t *testing.T) {
	dir := shortDir(t)
	cfg := writeConfig(t, dir, serverTunnel("web", echoServer(t)))
	first := startRun(t, cfg, &hookNet{Network: i2pnettest.New()})
	first.waitRunning("web")

	second := startRun(t, cfg, &hookNet{Network: i2pnettest.New()})
	if code := second.exitCode(); code != 1 {
		t.Fatalf("second instance exit code = %d, want 1", code)
	}
	if log := second.stderr.String(); !strings.Contains(log, "is another i2pbridge running?") {
		t.Errorf("second instance log does not say why:\n%s", log)
	}
	if second.net.closed.Load() != 0 || second.net.Session("web") != nil {
		t.Error("the second instance touched its network before finding the endpoint taken")
	}
	first.waitRunning("web") // still answers
}

func TestRunStopSignalWhileStarting(t *testing.T) {
	dir := shortDir(t)
	cfg := writeConfig(t, dir, serverTunnel("web", echoServer(t)))
	opening := make(chan struct{})
	hn := &hookNet{Network: i2pnettest.New()}
	// A router that is still building tunnels: Open returns only when
	// cancelled.
	hn.beforeOpen = func(ctx context.Context) error {
		close(opening)
		<-ctx.Done()
		return ctx.Err()
	}
	in := startRun(t, cfg, hn)
	select {
	case <-opening:
	case <-time.After(waitFor):
		t.Fatalf("Open was never called; log:\n%s", in.stderr)
	}
	// The endpoint already answers, showing the tunnel as starting.
	if web, ok := tunnel(in.status(), "web"); !ok || web.State != "starting" {
		t.Errorf("status while starting: web = %+v, want state starting", web)
	}
	in.sigs <- syscall.SIGINT
	if code := in.exitCode(); code != 0 {
		t.Errorf("exit code = %d, want 0; log:\n%s", code, in.stderr)
	}
	in.waitLog("stopped while starting")
	if _, err := os.Lstat(filepath.Join(dir, "c.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
}

func TestRunSecondStopSignalForcesExit(t *testing.T) {
	dir := shortDir(t)
	cfg := writeConfig(t, dir, serverTunnel("web", echoServer(t)))
	gate := make(chan struct{})
	hn := &hookNet{Network: i2pnettest.New(), closeGate: gate}
	t.Cleanup(func() { close(gate) }) // let the abandoned shutdown finish
	in := startRun(t, cfg, hn)
	in.waitRunning("web")

	in.sigs <- syscall.SIGTERM
	in.waitLog("msg=stopping")
	select {
	case code := <-in.done:
		t.Fatalf("run exited with %d while the network's Close was still blocked", code)
	case <-time.After(50 * time.Millisecond):
	}
	in.sigs <- syscall.SIGINT
	if code := in.exitCode(); code != 1 {
		t.Errorf("exit code after a second signal = %d, want 1", code)
	}
	in.waitLog("second stop signal")
}
