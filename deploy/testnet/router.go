package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Router is one i2pd process of the network, numbered K from 1. Its
// addresses and ports follow from K; see the package doc.
type Router struct {
	K           int
	IP          string // 198.18.0.K, published NTCP2 address
	NTCP2Port   int
	ConsolePort int // web console on the namespace's 127.0.0.1
	SAMPort     int // 0 when SAM is off
	Floodfill   bool
	HTTPProxy   bool   // runs the HTTP proxy at HTTPProxyAddr
	Dir         string // datadir: i2pd.conf, tunnels.conf, keys, netDb, i2pd.log

	ns      *Namespace
	i2pd    string
	log     *slog.Logger
	changed func() // persists pids after a start or stop

	mu      sync.Mutex
	proc    *process
	tunnels []ServerTunnel
}

// StopGrace is how long Stop waits after SIGTERM before SIGKILL. i2pd
// stops in about 2 s on SIGTERM.
const StopGrace = 15 * time.Second

// SAMAddr is the router's SAM bridge, reachable inside the namespace.
func (r *Router) SAMAddr() string { return "127.0.0.1:" + strconv.Itoa(r.SAMPort) }

// ConsoleAddr is the router's web console, reachable inside the namespace.
func (r *Router) ConsoleAddr() string { return "127.0.0.1:" + strconv.Itoa(r.ConsolePort) }

// LogPath is i2pd's own log file.
func (r *Router) LogPath() string { return filepath.Join(r.Dir, "i2pd.log") }

// Pid is the running i2pd's pid, 0 when stopped.
func (r *Router) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.proc.alive() {
		return 0
	}
	return r.proc.Pid
}

// Running reports whether this router's i2pd process is alive.
func (r *Router) Running() bool { return r.Pid() != 0 }

// Health is "" while i2pd runs, else what happened to it, e.g. "router 1
// (pid 123) is not running: signal: segmentation fault". Tests use it to
// tell an i2pd crash from a failure of the code under test.
func (r *Router) Health() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.proc
	switch {
	case p == nil:
		return fmt.Sprintf("router %d was never started", r.K)
	case p.alive():
		return ""
	case p.exited != nil:
		return fmt.Sprintf("router %d (pid %d) is not running: %v", r.K, p.Pid, p.err)
	default:
		return fmt.Sprintf("router %d (pid %d) is not running", r.K, p.Pid)
	}
}

func (r *Router) writeConfig(spec routerSpec) error {
	if err := os.MkdirAll(filepath.Join(r.Dir, "tunnels.d"), 0o700); err != nil {
		return fmt.Errorf("router %d: %w", r.K, err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "i2pd.conf"), []byte(i2pdConf(spec)), 0o644); err != nil {
		return fmt.Errorf("router %d: write i2pd.conf: %w", r.K, err)
	}
	// A local hosts.txt marks the address book as loaded and an empty
	// subscriptions.txt (it takes precedence over the config) leaves it
	// with no subscription, so i2pd never starts a download. An empty
	// addressbook.subscriptions in i2pd.conf alone is not enough: 2.45.1
	// turns it into one subscription with an empty URL and aborts
	// (std::out_of_range) when its 3-minute timer fires.
	for name, text := range map[string]string{
		"hosts.txt":         "# i2pbridge testnet: no names; use .b32.i2p addresses\n",
		"subscriptions.txt": "# i2pbridge testnet: no subscriptions\n",
	} {
		if err := os.WriteFile(filepath.Join(r.Dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("router %d: write %s: %w", r.K, name, err)
		}
	}
	return r.writeTunnels()
}

// writeTunnels writes tunnels.conf from r.tunnels; r.mu held or not yet
// shared.
func (r *Router) writeTunnels() error {
	if err := os.WriteFile(filepath.Join(r.Dir, "tunnels.conf"), []byte(tunnelsConf(r.tunnels)), 0o644); err != nil {
		return fmt.Errorf("router %d: write tunnels.conf: %w", r.K, err)
	}
	return nil
}

// AddServerTunnel adds an i2pd `type = http` server tunnel to this
// router's tunnels.conf. It takes effect on Reload (i2pd rereads
// tunnels.conf on SIGHUP) or the next Start. A relative t.Keys is resolved
// by i2pd against the datadir.
func (r *Router) AddServerTunnel(t ServerTunnel) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, have := range r.tunnels {
		if have.Name == t.Name {
			return fmt.Errorf("router %d: tunnel %q already configured", r.K, t.Name)
		}
	}
	r.tunnels = append(r.tunnels, t)
	return r.writeTunnels()
}

// Start starts i2pd and waits until its web console answers, which means
// the router has loaded its netDb and opened its client ports (SAM, proxy).
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.proc.alive() {
		r.mu.Unlock()
		return fmt.Errorf("router %d: already running (pid %d)", r.K, r.proc.Pid)
	}
	out, err := os.OpenFile(filepath.Join(r.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("router %d: %w", r.K, err)
	}
	cmd := r.ns.Command(r.i2pd,
		"--datadir="+r.Dir,
		"--conf="+filepath.Join(r.Dir, "i2pd.conf"),
		"--tunconf="+filepath.Join(r.Dir, "tunnels.conf"),
		"--tunnelsdir="+filepath.Join(r.Dir, "tunnels.d"),
		"--certsdir="+filepath.Join(r.Dir, "certificates"),
		"--pidfile="+filepath.Join(r.Dir, "i2pd.pid"),
	)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess(r.ns, cmd)
	out.Close() // the child has its own copy
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("router %d: %w", r.K, err)
	}
	r.proc = p
	r.mu.Unlock()
	r.changed()
	r.log.Info("i2pd started", "router", r.K, "pid", p.Pid)

	if err := r.waitConsole(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("router %d: %w\n%s", r.K, err, r.LogTail(20))
	}
	return nil
}

// waitConsole polls the web console until it answers or the process dies.
func (r *Router) waitConsole(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{
		Transport: &http.Transport{DialContext: r.ns.DialContext, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	url := "http://" + r.ConsoleAddr() + "/"
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if !r.Running() {
			return fmt.Errorf("i2pd exited during start-up (see %s)", r.LogPath())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("web console %s did not answer within %s: %w", url, limit, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops i2pd with SIGTERM (SIGKILL after StopGrace).
func (r *Router) Stop() error {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if !p.alive() {
		return nil
	}
	err := stopProcesses([]*process{p}, StopGrace)
	r.changed()
	r.log.Info("i2pd stopped", "router", r.K, "pid", p.Pid)
	if err != nil {
		return fmt.Errorf("router %d: stop: %w", r.K, err)
	}
	return nil
}

// Kill ends i2pd with SIGKILL, as a crash would, and waits for it.
func (r *Router) Kill() error {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if err := p.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("router %d: %w", r.K, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.wait(ctx)
	r.changed()
	r.log.Info("i2pd killed", "router", r.K, "pid", p.Pid)
	if err != nil {
		return fmt.Errorf("router %d: kill: %w", r.K, err)
	}
	return nil
}

// Restart stops (SIGTERM) and starts i2pd again.
func (r *Router) Restart(ctx context.Context) error {
	if err := r.Stop(); err != nil {
		return err
	}
	return r.Start(ctx)
}

// Reload sends SIGHUP: i2pd rereads tunnels.conf and starts new tunnels.
func (r *Router) Reload() error {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if !p.alive() {
		return fmt.Errorf("router %d: reload: not running", r.K)
	}
	if err := p.signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("router %d: reload: %w", r.K, err)
	}
	return nil
}

// LogTail returns the last n lines of i2pd's log, headed by its path, for
// error messages.
func (r *Router) LogTail(n int) string {
	b, err := os.ReadFile(r.LogPath())
	if err != nil {
		return fmt.Sprintf("--- router %d: %v", r.K, err)
	}
	return fmt.Sprintf("--- router %d: last %d lines of %s\n%s", r.K, n, r.LogPath(), tail(b, n))
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		j := bytes.LastIndexByte(b[:i], '\n')
		if j < 0 {
			i = 0
			break
		}
		i = j
	}
	return string(bytes.TrimLeft(b[i:], "\n"))
}

// routerInfo reads the router's own router.info.
func (r *Router) routerInfo() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, "router.info"))
	if err != nil {
		return nil, fmt.Errorf("router %d: %w", r.K, err)
	}
	return b, nil
}

// waitRouterInfo waits until i2pd has written router.info with its
// identity, after its first start.
func (r *Router) waitRouterInfo(ctx context.Context) error {
	for {
		b, err := r.routerInfo()
		if err == nil {
			if _, err = identHash(b); err == nil {
				return nil
			}
		}
		if !r.Running() {
			return fmt.Errorf("router %d: i2pd exited before writing router.info: %w", r.K, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("router %d: no router.info: %w", r.K, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
