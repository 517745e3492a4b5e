package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The state file records what is running, so that `testnet down` (another
// process) and the next Up (after a crash) can stop exactly the processes
// a run started.
const (
	stateFile  = "state.json"
	markerFile = ".i2pbridge-testnet"
)

type state struct {
	Namespace     string        `json:"namespace"`
	Routers       []routerState `json:"routers"`
	Eepsite       *process      `json:"eepsite,omitempty"`
	EepsiteB32    string        `json:"eepsite_b32"`
	EepsiteRouter int           `json:"eepsite_router"`
	Saved         time.Time     `json:"saved"`
}

type routerState struct {
	K       int            `json:"k"`
	Process *process       `json:"process,omitempty"`
	Tunnels []ServerTunnel `json:"tunnels,omitempty"`
}

// saveState writes the state file (best effort: a failure is logged, the
// network still works; only crash clean-up is weaker).
func (n *Network) saveState() {
	n.stateMu.Lock()
	defer n.stateMu.Unlock()
	st := state{
		Namespace:     n.cfg.Namespace,
		Eepsite:       n.eepsiteProc,
		EepsiteB32:    n.EepsiteB32,
		EepsiteRouter: n.EepsiteRouter,
		Saved:         time.Now().UTC(),
	}
	for _, r := range n.Routers {
		r.mu.Lock()
		rs := routerState{K: r.K, Tunnels: append([]ServerTunnel(nil), r.tunnels...)}
		if r.proc.alive() {
			rs.Process = r.proc
		}
		r.mu.Unlock()
		st.Routers = append(st.Routers, rs)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		p := filepath.Join(n.cfg.RunDir, stateFile)
		tmp := p + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		n.log.Warn("testnet: state file not saved", "err", err)
	}
}

func readState(runDir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(runDir, stateFile))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, stateFile), err)
	}
	return &st, nil
}

// Teardown removes whatever a run with cfg's namespace and run dir left:
// it stops the processes in the state file (only if their pid still has
// the recorded start time) and any process still inside the namespace,
// deletes the namespace and removes the run dir. It refuses to remove a
// non-empty run dir that lacks the harness's marker file, so a mistyped
// path cannot wipe unrelated files.
func Teardown(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	lock, err := acquireRunLock(ctx, cfg.RunDir, cfg.LockWait, cfg.Logger)
	if err != nil {
		return err
	}
	defer lock.release()
	return teardown(ctx, cfg, true)
}

func teardown(ctx context.Context, cfg Config, removeDir bool) error {
	var ps []*process
	if st, err := readState(cfg.RunDir); err == nil {
		for _, r := range st.Routers {
			if r.Process != nil {
				ps = append(ps, r.Process)
			}
		}
		if st.Eepsite != nil {
			ps = append(ps, st.Eepsite)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		cfg.Logger.Warn("testnet: unreadable state file; relying on the namespace's pid list", "err", err)
	}
	// Adopted processes are not our children: clear exited so they are
	// polled through /proc.
	for _, p := range ps {
		p.exited = nil
	}
	pids, err := namespacePids(ctx, cfg.Namespace)
	if err != nil {
		return err
	}
	seen := make(map[int]bool)
	for _, p := range ps {
		seen[p.Pid] = true
	}
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		start, _, err := procStat(pid)
		if err != nil {
			continue // already gone
		}
		ps = append(ps, &process{Pid: pid, Start: start})
	}
	var errs []error
	alive := ps[:0]
	for _, p := range ps {
		if p.alive() {
			alive = append(alive, p)
		}
	}
	ps = alive
	if len(ps) > 0 {
		cfg.Logger.Info("testnet: stopping processes of an earlier run", "count", len(ps))
		errs = append(errs, stopProcesses(ps, StopGrace))
	}
	errs = append(errs, deleteNamespace(ctx, cfg.Namespace))
	if removeDir {
		errs = append(errs, removeRunDir(cfg.RunDir))
	}
	return errors.Join(errs...)
}

func removeRunDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			return fmt.Errorf("testnet: refusing to remove %s: not a testnet run dir (no %s)", dir, markerFile)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("testnet: remove run dir: %w", err)
	}
	return nil
}

// Attach rebuilds a Network description from a running detached
// network's state file, for `testnet status`.
func Attach(cfg Config) (*Network, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st, err := readState(cfg.RunDir)
	if err != nil {
		return nil, fmt.Errorf("testnet: no running network at %s (run testnet up): %w", cfg.RunDir, err)
	}
	n := &Network{cfg: cfg, log: cfg.Logger, NS: &Namespace{Name: st.Namespace}, EepsiteB32: st.EepsiteB32, EepsiteRouter: st.EepsiteRouter}
	for _, rs := range st.Routers {
		k := rs.K
		r := &Router{
			K: k, IP: RouterIP(k), NTCP2Port: ntcp2Port(k), ConsolePort: consolePort(k), SAMPort: samPort(k),
			Floodfill: isFloodfill(k, NumRouters), HTTPProxy: k == ProxyRouter,
			Dir: filepath.Join(cfg.RunDir, fmt.Sprintf("router%d", k)),
			ns:  n.NS, i2pd: cfg.I2PD, log: n.log, changed: n.saveState,
			proc: rs.Process, tunnels: rs.Tunnels,
		}
		n.Routers = append(n.Routers, r)
	}
	return n, nil
}
