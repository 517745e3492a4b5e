// Package bridge is the tunnel supervisor: it turns the tunnels of a
// config.File into running tunnels on an i2pnet.Network and keeps them
// running.
//
// Tunnel types map to constructors through an explicit map (DefaultKinds;
// no init() registration). Start opens every tunnel, all or nothing: the
// first failure stops the ones already open. Afterwards each tunnel has one
// goroutine that owns it: when the tunnel breaks (its accept loop fails) it
// is closed and re-opened with exponential, jittered backoff (1 s … 60 s),
// and its state and last error show in Status. Reload diffs the new file
// against the running tunnels by name: unchanged tunnels are not touched
// (their open connections carry on), removed ones stop, changed ones
// restart, new ones start. Stop stops everything and waits for every
// goroutine.
//
// Start, Reload and Stop are serialised; Status never waits for them.
package bridge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

var (
	// ErrRouterChanged: Reload got different router settings, which only
	// a restart applies. The tunnel changes were applied regardless.
	ErrRouterChanged = errors.New("bridge: router settings changed: restart i2pbridge to apply")
	// ErrUnknownType: no constructor for a tunnel's type.
	ErrUnknownType = errors.New("bridge: unknown tunnel type")
	// ErrStarted: Start called twice.
	ErrStarted = errors.New("bridge: already started")
	// ErrStopped: Start or Reload after Stop.
	ErrStopped = errors.New("bridge: supervisor stopped")
	// ErrDuplicateName: two tunnels of one file share a name.
	ErrDuplicateName = errors.New("bridge: duplicate tunnel name")
)

// Config configures a Supervisor.
type Config struct {
	Network i2pnet.Network // the backend (samnet now, the bundled router later)
	Logger  *slog.Logger   // nil = discard
	Rand    io.Reader      // key generation; nil = crypto/rand
	// Kinds maps tunnel types to constructors; nil = DefaultKinds().
	Kinds map[string]Constructor
}

// TunnelStatus is a snapshot of one tunnel for the status endpoint.
type TunnelStatus struct {
	Name, Type  string
	State       string    // "starting", "running", "retrying", "stopped", "failed"
	Address     string    // our destination's b32 (server tunnels; clients too, transient included)
	Listen      string    // client tunnels: the bound local address
	Target      string    // server tunnels
	Destination string    // client tunnels
	Conns       int       // open connections now
	TotalConns  uint64    // connections accepted so far
	FailedConns uint64    // of those, closed because the other side could not be reached
	BytesIn     uint64    // from I2P
	BytesOut    uint64    // to I2P
	Restarts    int       // restart attempts after failures
	LastError   string    // "" when none
	Since       time.Time // when State last changed

	// Rejected (server tunnels): streams and requests refused by
	// protection, by reason ("denied", "rate_minute", ...); nil when none.
	Rejected map[string]uint64
}

// Supervisor runs the tunnels of a config file.
type Supervisor struct {
	net   i2pnet.Network
	log   *slog.Logger
	rand  io.Reader
	kinds map[string]Constructor

	// opMu serialises Start, Reload and Stop, which may block for as
	// long as the backend takes to open sessions.
	opMu    sync.Mutex
	started bool
	stopped bool
	router  config.Router // settings of the first Start; Reload only compares

	// stateMu guards tunnels, which Status reads without waiting for
	// opMu.
	stateMu sync.Mutex
	tunnels []*runner // in file order
}

// New returns a Supervisor that has not started anything.
func New(cfg Config) *Supervisor {
	s := &Supervisor{net: cfg.Network, log: cfg.Logger, rand: cfg.Rand, kinds: cfg.Kinds}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.kinds == nil {
		s.kinds = DefaultKinds()
	}
	return s
}

// Start starts every tunnel of f, all or nothing: on the first failure
// everything already started is stopped and the error names the tunnel
// (`tunnels[1] "ssh-out": listen tcp 127.0.0.1:2222: bind: address already
// in use`). ctx bounds the start only; tunnels run until Stop.
func (s *Supervisor) Start(ctx context.Context, f *config.File) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	switch {
	case s.stopped:
		return ErrStopped
	case s.started:
		return ErrStarted
	}
	if err := checkNames(f); err != nil {
		return err
	}
	s.router = f.Router
	runners := make([]*runner, len(f.Tunnels))
	for i, t := range f.Tunnels {
		runners[i] = s.newRunner(t)
	}
	s.setTunnels(runners) // Status shows them as starting meanwhile
	for i, err := range openAll(ctx, runners, true) {
		if err != nil {
			stopAll(runners)
			s.setTunnels(nil)
			return tunnelError(i, f.Tunnels[i].Name, err)
		}
	}
	for _, r := range runners {
		r.start()
	}
	s.started = true
	s.log.Info("tunnels started", "count", len(runners))
	return nil
}

// Reload applies the difference to f: unchanged tunnels keep running and
// keep their open connections, removed ones stop, changed ones restart, new
// ones start. Tunnels that failed to start earlier count as changed.
//
// If a new or changed tunnel fails to start, the others are applied anyway
// and the error is returned (joined, one per tunnel); a changed tunnel
// whose new version fails goes back to its old version when that still
// opens, with the failure as its LastError. Router-level changes (backend,
// sam, datadir) are reported as ErrRouterChanged while the tunnel diff is
// still applied. Before Start, Reload starts f's tunnels without
// all-or-nothing.
func (s *Supervisor) Reload(ctx context.Context, f *config.File) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if err := checkNames(f); err != nil {
		return err
	}
	var errs []error
	if !s.started {
		s.router = f.Router
		s.started = true
	} else if !f.Router.Equal(s.router) {
		errs = append(errs, ErrRouterChanged)
	}

	s.stateMu.Lock()
	old := make(map[string]*runner, len(s.tunnels))
	for _, r := range s.tunnels {
		old[r.cfg.Name] = r
	}
	s.stateMu.Unlock()

	// Decide per tunnel; stop removed and changed ones first, so a
	// changed tunnel can take over a port a removed one held.
	next := make([]*runner, len(f.Tunnels))
	var toStop, toOpen []*runner
	// fallback: new runner -> the config of the version it replaces,
	// when that version was working.
	fallback := make(map[*runner]config.Tunnel)
	for i, t := range f.Tunnels {
		o := old[t.Name]
		delete(old, t.Name)
		failed := o != nil && o.getState() == stateFailed
		if o != nil && !failed && o.cfg.Equal(t) {
			next[i] = o
			continue
		}
		r := s.newRunner(t)
		next[i] = r
		toOpen = append(toOpen, r)
		if o != nil {
			toStop = append(toStop, o)
			if !failed {
				fallback[r] = o.cfg
			}
		}
	}
	for _, o := range old {
		toStop = append(toStop, o)
	}
	stopAll(toStop)
	for _, o := range toStop {
		s.log.Info("tunnel stopped", "tunnel", o.cfg.Name)
	}

	openErrs := openAll(ctx, toOpen, false)
	for i, r := range toOpen {
		idx := indexOf(next, r)
		err := openErrs[i]
		if err == nil {
			r.start()
			s.log.Info("tunnel started", "tunnel", r.cfg.Name)
			continue
		}
		errs = append(errs, tunnelError(idx, r.cfg.Name, err))
		if prev, ok := fallback[r]; ok {
			// Fall back to the version that ran before the reload.
			back := s.newRunner(prev)
			if back.open(ctx) == nil {
				back.setState(stateRunning, fmt.Errorf("reload: %w", err))
				back.start()
				next[idx] = back
				s.log.Warn("changed tunnel failed to start, kept the old version", "tunnel", r.cfg.Name, "err", err)
				continue
			}
		}
		s.log.Warn("tunnel failed to start", "tunnel", r.cfg.Name, "err", err)
	}
	s.setTunnels(next)
	return errors.Join(errs...)
}

// Stop stops all tunnels, closes their connections and waits for their
// goroutines. Status keeps reporting them as stopped; Start and Reload fail
// afterwards.
func (s *Supervisor) Stop() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.stateMu.Lock()
	runners := s.tunnels
	s.stateMu.Unlock()
	stopAll(runners)
	s.log.Info("tunnels stopped", "count", len(runners))
}

// Status returns a snapshot of every tunnel in file order.
func (s *Supervisor) Status() []TunnelStatus {
	s.stateMu.Lock()
	runners := s.tunnels
	s.stateMu.Unlock()
	out := make([]TunnelStatus, len(runners))
	for i, r := range runners {
		out[i] = r.status()
	}
	return out
}

func (s *Supervisor) setTunnels(rs []*runner) {
	s.stateMu.Lock()
	s.tunnels = rs
	s.stateMu.Unlock()
}

// newRunner builds a tunnel through its constructor. A constructor error
// yields a runner in state failed that Start/Reload report.
func (s *Supervisor) newRunner(t config.Tunnel) *runner {
	log := s.log.With("tunnel", t.Name)
	r := &runner{cfg: t, counters: new(relay.Counters), log: log, state: stateStarting, since: time.Now()}
	ctor, ok := s.kinds[t.Type]
	if !ok {
		r.initErr = fmt.Errorf("%w %q", ErrUnknownType, t.Type)
		r.setState(stateFailed, r.initErr)
		return r
	}
	tun, err := ctor(Params{
		Tunnel:   t,
		Network:  s.net,
		Datadir:  s.router.Datadir,
		Logger:   s.log,
		Rand:     s.rand,
		Counters: r.counters,
	})
	if err != nil {
		r.initErr = err
		r.setState(stateFailed, err)
		return r
	}
	r.tun = tun
	return r
}

// openAll opens the runners concurrently (sessions take seconds each on a
// real router) and returns one error slot per runner. With cancelOnError (Start, which rolls everything back anyway)
// the first failure cancels the other opens, and only that first error is
// kept: the others would just report the cancellation.
func openAll(ctx context.Context, rs []*runner, cancelOnError bool) []error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(rs))
	failed := false
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			err := r.open(ctx)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !failed || !cancelOnError {
				errs[i] = err
			}
			failed = true
			if cancelOnError {
				cancel()
			}
		})
	}
	wg.Wait()
	return errs
}

// stopAll stops runners concurrently and closes opened-but-not-started
// tunnels (a Start that rolls back).
func stopAll(rs []*runner) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if r.cancel == nil && r.tun != nil && r.getState() == stateRunning {
				r.tun.Close()
			}
			r.stop()
		})
	}
	wg.Wait()
}

func checkNames(f *config.File) error {
	seen := make(map[string]int, len(f.Tunnels))
	for i, t := range f.Tunnels {
		if j, dup := seen[t.Name]; dup {
			return fmt.Errorf("tunnels[%d] %q: %w with tunnels[%d]", i, t.Name, ErrDuplicateName, j)
		}
		seen[t.Name] = i
	}
	return nil
}

func tunnelError(i int, name string, err error) error {
	return fmt.Errorf("tunnels[%d] %q: %w", i, name, err)
}

func indexOf(rs []*runner, r *runner) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}
