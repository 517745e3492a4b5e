package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

// state is a tunnel's lifecycle state:
//
//	starting ──Open ok──> running ──Serve fails──> retrying ──backoff──> starting
//	    │                    │                         │
//	    │ Open fails         └────── stop ──────┬──────┘
//	    │ (first start)                         v
//	    └──────────────> failed              stopped
//
// A first Open that fails is reported to Start/Reload (failed); an Open
// that fails on a restart goes back to retrying with a longer backoff.
type state int

const (
	stateStarting state = iota
	stateRunning
	stateRetrying
	stateStopped
	stateFailed
)

func (s state) String() string {
	switch s {
	case stateStarting:
		return "starting"
	case stateRunning:
		return "running"
	case stateRetrying:
		return "retrying"
	case stateStopped:
		return "stopped"
	case stateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Restart backoff: doubling from minBackoff up to maxBackoff, each delay
// jittered by ±jitter so tunnels that failed together (router restart) do
// not retry in lockstep. A tunnel that served for at least maxBackoff
// before failing starts over at minBackoff.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	jitter     = 0.2
)

// backoff returns the delay before restart attempt n (0-based).
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 6 { // 1s<<6 = 64s > maxBackoff
		d = min(minBackoff<<n, maxBackoff)
	}
	f := 1 + jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// runner supervises one tunnel: its single goroutine (loop) owns the
// Tunnel's lifecycle after the first Open; the mutex only guards what
// Status reads.
type runner struct {
	cfg      config.Tunnel
	tun      Tunnel // nil when the constructor failed
	initErr  error  // the constructor's error
	counters *relay.Counters
	log      *slog.Logger

	cancel context.CancelFunc // ends loop; nil until started
	done   chan struct{}      // closed when loop returned

	mu       sync.Mutex
	state    state
	since    time.Time
	lastErr  string
	restarts int
	lastAddr string // b32 after the last successful Open
}

func (r *runner) setState(st state, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st != r.state {
		r.state = st
		r.since = time.Now()
	}
	if err != nil {
		r.lastErr = err.Error()
	}
}

func (r *runner) getState() state {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// open performs the first Open, synchronously for Start and Reload.
func (r *runner) open(ctx context.Context) error {
	if r.tun == nil {
		return r.initErr
	}
	r.setState(stateStarting, nil)
	if err := r.tun.Open(ctx); err != nil {
		r.setState(stateFailed, err)
		return err
	}
	r.opened()
	return nil
}

func (r *runner) opened() {
	addr := r.tun.Address()
	r.mu.Lock()
	r.lastAddr = addr
	r.mu.Unlock()
	r.setState(stateRunning, nil)
}

// start launches the loop on an opened tunnel. It does not inherit the
// Start/Reload ctx: that one bounds the start, the tunnel runs until stop.
func (r *runner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.loop(ctx)
}

// stop ends the loop (closing the tunnel and its connections) and waits for
// it. A runner that never started only records the state.
func (r *runner) stop() {
	if r.cancel == nil {
		if r.getState() != stateFailed {
			r.setState(stateStopped, nil)
		}
		return
	}
	r.cancel()
	<-r.done
}

func (r *runner) loop(ctx context.Context) {
	defer close(r.done)
	defer r.setState(stateStopped, nil)
	attempt := 0
	for {
		served := time.Now()
		err := r.tun.Serve(ctx)
		r.tun.Close()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("tunnel stopped serving")
		}
		if time.Since(served) >= maxBackoff {
			attempt = 0
		}
		for {
			delay := backoff(attempt)
			attempt++
			r.log.Warn("tunnel failed, restarting", "err", err, "in", delay.Round(time.Millisecond))
			r.setState(stateRetrying, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			r.mu.Lock()
			r.restarts++
			r.mu.Unlock()
			r.setState(stateStarting, nil)
			if err = r.tun.Open(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		r.opened()
		r.log.Info("tunnel restarted")
	}
}

func (r *runner) status() TunnelStatus {
	st := TunnelStatus{
		Name:        r.cfg.Name,
		Type:        r.cfg.Type,
		Target:      r.cfg.Target,
		Destination: r.cfg.Destination,
	}
	if r.tun != nil {
		st.Address = r.tun.Address()
		st.Listen = r.tun.ListenAddr()
		st.Rejected = rejectedBy(r.tun)
	}
	c := r.counters
	st.Conns = int(c.Conns.Load())
	st.TotalConns = c.TotalConns.Load()
	st.FailedConns = c.FailedConns.Load()
	st.BytesIn = c.AToB.Load()
	st.BytesOut = c.BToA.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.Address == "" && r.cfg.Keys != "" {
		// A keyed destination keeps its address while it restarts; a
		// transient one will get a new address, so show none.
		st.Address = r.lastAddr
	}
	st.State = r.state.String()
	st.Since = r.since
	st.Restarts = r.restarts
	st.LastError = r.lastErr
	return st
}
