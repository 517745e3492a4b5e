package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"i2pbridge/bridge"
	"i2pbridge/bridge/control"
	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet"
	"i2pbridge/config"
)

// routerStatusTimeout bounds asking the embedded router for its counts.
const routerStatusTimeout = 2 * time.Second

// netFactory creates the router backend a config names. run takes it as a
// parameter so tests run the whole command on an in-memory network.
type netFactory func(ctx context.Context, r config.Router, logger *slog.Logger) (i2pnet.Network, error)

// newNetwork is the production netFactory.
func newNetwork(ctx context.Context, r config.Router, logger *slog.Logger) (i2pnet.Network, error) {
	switch r.Backend {
	case config.BackendSAM:
		return samnet.New(samnet.Config{Addr: r.SAM, Logger: logger}), nil
	case config.BackendEmbedded:
		return startEmbedded(ctx, routerConfig(r, logger), samServer{tcp: r.SAMServer, udp: r.SAMServerUDP})
	default:
		return nil, fmt.Errorf("router backend %q is not available in this build (use %q or %q)", r.Backend, config.BackendSAM, config.BackendEmbedded)
	}
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Buffered so a signal arriving while run is busy is not lost
	// (signal.Notify drops signals for a full channel).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return run(ctx, args, stdout, stderr, newNetwork, sigs)
}

const runAbout = `Start the tunnels of config FILE on the router it names and serve the status endpoint
(see 'i2pbridge status'). Logs go to stderr. With router backend "embedded" and no
tunnels, run the bundled I2P router alone (keys, router.info and netDb in the datadir).

Signals: SIGHUP reloads FILE (an invalid file is reported and the running tunnels stay as
they are; unchanged tunnels keep their connections; router: settings need a restart).
SIGINT or SIGTERM stops cleanly; a second one exits at once.`

// run is the run command with its environment injected: the backend
// factory and the signal stream (SIGHUP, SIGINT, SIGTERM).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, nf netFactory, signals <-chan os.Signal) int {
	flags := newFlagSet("run", "-c FILE [-log-level LEVEL] [-log-format FORMAT]", runAbout, stderr)
	path := flags.String("c", "", "config `FILE` to run")
	level := flags.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")
	format := flags.String("log-format", "text", "log `FORMAT`: text or json")
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	if code, ok := flags.requireFlag("c", *path); !ok {
		return code
	}
	logger, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "i2pbridge run: %v\n\n", err)
		flags.printUsage(stderr)
		return 2
	}
	f, err := config.Load(*path)
	if err != nil {
		// Plain lines, not log records: the user has to read and fix
		// each one, and editors can jump to "file:line:".
		for _, e := range splitErrors(err) {
			fmt.Fprintln(stderr, e)
		}
		return 1
	}
	logWarnings(logger, f)
	r := &runner{path: *path, logger: logger, signals: signals, cfg: f}
	return r.run(ctx, nf)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

func logWarnings(logger *slog.Logger, f *config.File) {
	for _, w := range f.Warnings() {
		logger.Warn("config warning", "warning", w)
	}
}

// stopReason says why await returned early.
type stopReason int

const (
	keepRunning stopReason = iota
	stopGracefully
	stopNow // a second stop signal: exit without waiting
)

// runner is one `i2pbridge run`: the state its signal loop works on.
type runner struct {
	path    string
	logger  *slog.Logger
	signals <-chan os.Signal
	sup     *bridge.Supervisor
	// cfg is the configuration the running set came from, for noticing
	// changes a reload cannot apply.
	cfg           *config.File
	reloadPending bool // SIGHUP arrived while busy
	stopSignals   int
}

func (r *runner) run(ctx context.Context, nf netFactory) int {
	started := time.Now()
	// The endpoint comes first: if another i2pbridge already runs with
	// this config, we find out before opening any tunnel.
	ln, err := control.Listen(r.cfg.Control)
	if err != nil {
		r.logger.Error("cannot serve the status endpoint", "err", err)
		return 1
	}
	// Key files of server tunnels are created in the datadir on first
	// start; 0700 because they are private keys.
	if err := os.MkdirAll(r.cfg.Router.Datadir, 0o700); err != nil {
		ln.Close()
		r.logger.Error("cannot create the data folder", "err", err)
		return 1
	}
	backend := r.cfg.Router.Backend
	netw, err := nf(ctx, r.cfg.Router, r.logger.With("backend", backend))
	if err != nil {
		ln.Close()
		r.logger.Error("cannot set up the router backend", "err", err)
		return 1
	}
	r.sup = bridge.New(bridge.Config{Network: netw, Logger: r.logger, Rand: rand.Reader})

	// Serve from the start: tunnels can take minutes to build, and
	// `i2pbridge status` shows them as "starting" meanwhile.
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	serveDone := make(chan error, 1)
	go func() {
		serveDone <- control.Serve(serveCtx, ln, func() control.Status {
			st := control.Status{
				Version: version,
				Started: started,
				Uptime:  time.Since(started).Round(time.Second).String(),
				Backend: backend,
				Tunnels: tunnelsOf(r.sup.Status()),
			}
			if rs, ok := netw.(routerStatuser); ok {
				// Bounded: a status request must not hang on a busy
				// transport loop.
				ctx, cancel := context.WithTimeout(serveCtx, routerStatusTimeout)
				rst := rs.routerStatus(ctx)
				cancel()
				st.Router = &rst
			}
			return st
		}, r.logger)
	}()

	r.logger.Info("starting", "version", version, "config", r.path, "backend", backend, "tunnels", len(r.cfg.Tunnels), "control", r.cfg.Control)
	f := r.cfg
	stop, err := r.await(ctx, "starting", func(ctx context.Context) error { return r.sup.Start(ctx, f) })
	switch {
	case stop == stopNow:
		return 1
	case stop == stopGracefully:
		// Start rolled back, or finished just as the signal came;
		// shutdown covers both.
		code := r.shutdown(stopServe, serveDone, netw)
		r.logger.Info("stopped while starting")
		return code
	case err != nil:
		// Start is all or nothing: no tunnel is left, only the
		// endpoint and the backend.
		r.logger.Error("start failed", "err", err)
		if code := r.shutdown(stopServe, serveDone, netw); code != 0 {
			return code
		}
		return 1
	}
	for _, t := range r.sup.Status() {
		logTunnel(r.logger, "tunnel ready", t)
	}
	r.logger.Info("running", "tunnels", len(r.cfg.Tunnels))

	for stop == keepRunning {
		if r.reloadPending {
			stop = r.reload(ctx)
			continue
		}
		select {
		case sig := <-r.signals:
			if sig == syscall.SIGHUP {
				r.reloadPending = true
				continue
			}
			r.stopSignals++
			r.logger.Info("stopping", "signal", sig.String())
			stop = stopGracefully
		case err := <-serveDone:
			// Losing the status endpoint is no reason to drop the
			// tunnels people are using.
			r.logger.Error("status endpoint stopped; tunnels keep running", "err", err)
			serveDone = nil
		case <-ctx.Done():
			r.logger.Info("stopping", "reason", context.Cause(ctx))
			stop = stopGracefully
		}
	}
	if stop == stopNow {
		return 1
	}
	return r.shutdown(stopServe, serveDone, netw)
}

// shutdown stops the endpoint, the tunnels and the backend; a further stop
// signal abandons the wait and exits 1.
func (r *runner) shutdown(stopServe context.CancelFunc, serveDone <-chan error, netw i2pnet.Network) int {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stopServe()
		if serveDone != nil {
			if err := <-serveDone; err != nil {
				r.logger.Warn("status endpoint", "err", err)
			}
		}
		r.sup.Stop()
		if err := netw.Close(); err != nil {
			r.logger.Warn("closing the router backend", "err", err)
		}
	}()
	for {
		select {
		case <-done:
			r.logger.Info("stopped")
			return 0
		case sig := <-r.signals:
			if sig == syscall.SIGHUP {
				continue
			}
			r.logger.Error("second stop signal: exiting without waiting", "signal", sig.String())
			return 1
		}
	}
}

// await runs fn (Start or Reload, which can take minutes while tunnels
// build) and keeps answering signals meanwhile: a stop signal cancels fn's
// ctx and waits for fn to roll back; a second one gives up waiting; SIGHUP
// is remembered for afterwards.
func (r *runner) await(ctx context.Context, doing string, fn func(context.Context) error) (stopReason, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stop := keepRunning
	for {
		select {
		case err := <-done:
			if stop == keepRunning && ctx.Err() != nil {
				// The parent ctx ended: same as a stop signal.
				stop = stopGracefully
			}
			return stop, err
		case sig := <-r.signals:
			if sig == syscall.SIGHUP {
				r.logger.Info("reload requested while "+doing+"; it will follow", "signal", sig.String())
				r.reloadPending = true
				continue
			}
			r.stopSignals++
			if r.stopSignals > 1 {
				r.logger.Error("second stop signal: exiting without waiting", "signal", sig.String())
				return stopNow, errors.New("interrupted")
			}
			r.logger.Info("stopping: cancelling "+doing, "signal", sig.String())
			stop = stopGracefully
			cancel()
		}
	}
}

// reload applies the file as it is now. An invalid file changes nothing;
// the supervisor applies a valid one as a diff.
func (r *runner) reload(ctx context.Context) stopReason {
	r.reloadPending = false
	r.logger.Info("reloading", "config", r.path)
	f, err := config.Load(r.path)
	if err != nil {
		errs := splitErrors(err)
		r.logger.Error("reload: config is invalid; the running tunnels are unchanged", "config", r.path, "errors", len(errs))
		for _, e := range errs {
			r.logger.Error("reload: config error", "err", e.Error())
		}
		return keepRunning
	}
	logWarnings(r.logger, f)
	if f.Control != r.cfg.Control {
		r.logger.Warn("reload: a new control endpoint takes effect on restart", "running", r.cfg.Control, "file", f.Control)
	}
	if !f.Router.Equal(r.cfg.Router) {
		r.logger.Warn("reload: router settings changed; they take effect on restart (the router keeps running as it was started)")
	}
	before := tunnelNames(r.sup.Status())
	stop, err := r.await(ctx, "reloading", func(ctx context.Context) error { return r.sup.Reload(ctx, f) })
	if stop == stopNow {
		return stop
	}
	after := r.sup.Status()
	var added, removed []string
	for _, t := range after {
		if !slices.Contains(before, t.Name) {
			added = append(added, t.Name)
			logTunnel(r.logger, "tunnel ready", t)
		}
	}
	for _, name := range before {
		if !slices.Contains(tunnelNames(after), name) {
			removed = append(removed, name)
		}
	}
	if err != nil {
		r.logger.Error("reload failed", "err", err, "added", added, "removed", removed, "tunnels", len(after))
		return stop
	}
	r.cfg = f
	r.logger.Info("reloaded", "added", added, "removed", removed, "tunnels", len(after))
	return stop
}

func logTunnel(logger *slog.Logger, msg string, t bridge.TunnelStatus) {
	attrs := []any{"name", t.Name, "type", t.Type, "state", t.State}
	if t.Address != "" {
		attrs = append(attrs, "address", t.Address)
	}
	if t.Listen != "" {
		attrs = append(attrs, "listen", t.Listen)
	}
	logger.Info(msg, attrs...)
}

func tunnelNames(ts []bridge.TunnelStatus) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

// tunnelsOf maps the supervisor's view onto the endpoint's wire type.
func tunnelsOf(ts []bridge.TunnelStatus) []control.Tunnel {
	out := make([]control.Tunnel, len(ts))
	for i, t := range ts {
		out[i] = control.Tunnel{
			Name:        t.Name,
			Type:        t.Type,
			State:       t.State,
			Address:     t.Address,
			Listen:      t.Listen,
			Target:      t.Target,
			Destination: t.Destination,
			Conns:       t.Conns,
			TotalConns:  t.TotalConns,
			BytesIn:     t.BytesIn,
			BytesOut:    t.BytesOut,
			Restarts:    t.Restarts,
			LastError:   t.LastError,
			Rejected:    t.Rejected,
			Since:       t.Since,
		}
	}
	return out
}
