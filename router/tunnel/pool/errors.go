package pool

import "errors"

// Sentinel errors. Functions wrap them with the operation and the numbers
// involved, so errors.Is works and the message says where.
var (
	// ErrConfig reports an invalid Config: a length outside 1 to
	// MaxLength (zero-hop tunnels are refused), a quantity outside 1 to
	// MaxQuantity, a variance beyond ±MaxLength, a missing Node or Peers.
	ErrConfig = errors.New("pool: invalid configuration")
	// ErrTooFewPeers reports a build attempt that found fewer distinct
	// eligible peers than the tunnel needs hops. The attempt fails; the
	// pool retries with backoff, it never builds a shorter tunnel.
	ErrTooFewPeers = errors.New("pool: too few eligible peers")
	// ErrNoTunnel reports that the pool has no live tunnel in the
	// direction asked for (PickInbound, PickOutbound).
	ErrNoTunnel = errors.New("pool: no live tunnel")
	// ErrStopped reports a pool whose Run has returned (WaitReady).
	ErrStopped = errors.New("pool: stopped")
	// ErrRunning reports a second call of Run.
	ErrRunning = errors.New("pool: Run called twice")
)
