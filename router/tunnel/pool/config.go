package pool

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// Limits and defaults. Where i2pd 2.45 has a constant, the name is given
// (TunnelPool.h, Tunnel.h).
const (
	// MinLength is the shortest tunnel a pool builds. Zero-hop tunnels
	// (i2pd's length 0) are refused: a zero-hop outbound tunnel makes us
	// our own endpoint, which every recipient can see, and the Node's
	// zero-hop inbound tunnel exists only to receive the first build
	// replies.
	MinLength = 1
	// MaxLength is the longest tunnel: an inbound build needs a record per
	// hop plus the originator's fake, and a build message holds
	// tunnel.MaxRecords (8). Outbound tunnels keep the same limit, as the
	// I2CP option inbound/outbound.length does.
	MaxLength = tunnel.MaxRecords - 1
	// MaxQuantity bounds tunnels per direction
	// (TUNNEL_POOL_MAX_INBOUND_TUNNELS_QUANTITY, …_OUTBOUND_…).
	MaxQuantity = 16
	// DefaultTestInterval is how often every tunnel is tested: i2pd tests
	// on each management pass, every 10 to 15 s
	// (TUNNEL_POOL_MANAGE_INTERVAL).
	DefaultTestInterval = 15 * time.Second
	// DefaultTestTimeout is how long a test message may take to come back.
	// i2pd declares a test failed on the next management pass, 10 to 15 s
	// after it was sent.
	DefaultTestTimeout = 10 * time.Second
	// DefaultMaxPendingBuilds caps the builds in flight per direction
	// (TUNNEL_POOL_MAX_NUM_BUILD_REQUESTS).
	DefaultMaxPendingBuilds = 3

	// tick is how often the maintenance loop wakes up on its own; build
	// and test outcomes wake it at once.
	tick = time.Second
	// buildBackoffMin and buildBackoffMax bound the wait before the next
	// build in a direction after consecutive failures: the wait doubles
	// with each failure and resets on success.
	buildBackoffMin = 2 * time.Second
	buildBackoffMax = time.Minute
	// buildSendTimeout bounds Node.Build, which sends the request (and may
	// make the transport dial the first hop).
	buildSendTimeout = tunnel.BuildTimeout
	// buildGrace is added to tunnel.BuildTimeout before the pool gives a
	// build up without an outcome from the Node: by then the Node refuses
	// any reply, so no tunnel can be established behind the pool's back.
	buildGrace = time.Second
	// pruneEvery is how often the pool forgets faded profiles.
	pruneEvery = time.Minute
)

// Node is what a Pool needs of the router's tunnel side; *tunnel.Node is
// one. Build and Send are called from the pool's own goroutines, never
// with a pool lock held.
type Node interface {
	// Hash is our router hash, never chosen as a hop.
	Hash() data.Hash
	// Build starts a build (see tunnel.Node.Build).
	Build(ctx context.Context, cfg tunnel.BuildConfig, via *tunnel.OutboundTunnel) (*tunnel.BuildHandle, error)
	// ZeroHopInbound is the gateway and tunnel ID that outbound build
	// replies go to while the pool has no inbound tunnel.
	ZeroHopInbound() (data.Hash, i2np.TunnelID)
	// Send passes blocks through one of our outbound tunnels.
	Send(ctx context.Context, t *tunnel.OutboundTunnel, blocks []tunnel.Block) error
}

var _ Node = (*tunnel.Node)(nil)

// DirConfig sizes one direction of a pool, like the I2CP options
// inbound.length, inbound.quantity and inbound.lengthVariance.
type DirConfig struct {
	// Length is the number of hops, MinLength to MaxLength.
	Length int
	// Quantity is how many tunnels to keep, 1 to MaxQuantity.
	Quantity int
	// Variance randomises each tunnel's length, with Java I2P's semantics
	// (TunnelPeerSelector.getLength): a positive variance v adds 0 to v
	// hops, a negative variance −v adds −v to +v hops, each value equally
	// likely. (i2pd differs: it subtracts 0 to v for a negative one.) The
	// result is clamped to MinLength..MaxLength. |Variance| ≤ MaxLength.
	Variance int
}

func (d DirConfig) check(dir string) error {
	switch {
	case d.Length < MinLength || d.Length > MaxLength:
		if d.Length == 0 {
			return fmt.Errorf("%w: %s length 0: zero-hop tunnels are not supported, use %d to %d hops", ErrConfig, dir, MinLength, MaxLength)
		}
		return fmt.Errorf("%w: %s length %d, want %d to %d hops", ErrConfig, dir, d.Length, MinLength, MaxLength)
	case d.Quantity < 1 || d.Quantity > MaxQuantity:
		return fmt.Errorf("%w: %s quantity %d, want 1 to %d tunnels", ErrConfig, dir, d.Quantity, MaxQuantity)
	case d.Variance < -MaxLength || d.Variance > MaxLength:
		return fmt.Errorf("%w: %s length variance %d, want -%d to %d", ErrConfig, dir, d.Variance, MaxLength, MaxLength)
	}
	return nil
}

// hops draws one tunnel's length (see Variance).
func (d DirConfig) hops(r *lockedRand) int {
	n := d.Length
	switch v := d.Variance; {
	case v > 0:
		n += r.IntN(v + 1)
	case v < 0:
		n += r.IntN(-2*v+1) + v
	}
	return min(max(n, MinLength), MaxLength)
}

// Config configures a Pool. Node, Peers, Inbound and Outbound are
// required.
type Config struct {
	// Name tells pools apart in logs ("exploratory", a destination's
	// short hash).
	Name string
	// Node builds and carries the tunnels; Peers offers the hops.
	Node  Node
	Peers Peers
	// Profiles is the peer record used for selection. Share one among the
	// router's pools so that a peer that fails one pool is avoided by all;
	// nil gives the pool its own (NewProfiles(ProfileConfig{})).
	Profiles *Profiles
	// Inbound and Outbound size the two directions.
	Inbound, Outbound DirConfig
	// TestInterval and TestTimeout time the tunnel tests (0: the
	// defaults); TestTimeout must be shorter than TestInterval.
	TestInterval, TestTimeout time.Duration
	// MaxPendingBuilds caps builds in flight per direction (0: the
	// default).
	MaxPendingBuilds int
	// Logger receives events; nil discards them. Peers are logged as
	// short hashes, tunnels by ID.
	Logger *slog.Logger
	// Rand seeds the pool's random choices: tunnel lengths, peers, the
	// tunnels to use, test message IDs (nil: crypto/rand). It is read
	// once, by New.
	Rand io.Reader
	// Now is the clock for every decision: build and test timeouts, tunnel
	// ages, profiles (nil: time.Now). It must be safe for concurrent use.
	// The loop's wake-ups use the runtime's timers; tests run under
	// testing/synctest, where both are the same fake clock.
	Now func() time.Time
}

// withDefaults fills in the zero values and validates cfg.
func (c Config) withDefaults() (Config, error) {
	if c.Node == nil {
		return c, fmt.Errorf("%w: no Node", ErrConfig)
	}
	if c.Peers == nil {
		return c, fmt.Errorf("%w: no Peers", ErrConfig)
	}
	if err := c.Inbound.check("inbound"); err != nil {
		return c, err
	}
	if err := c.Outbound.check("outbound"); err != nil {
		return c, err
	}
	if c.TestInterval == 0 {
		c.TestInterval = DefaultTestInterval
	}
	if c.TestTimeout == 0 {
		c.TestTimeout = DefaultTestTimeout
	}
	if c.TestInterval < 0 || c.TestTimeout < 0 || c.TestTimeout >= c.TestInterval {
		return c, fmt.Errorf("%w: test interval %v, timeout %v: want 0 < timeout < interval", ErrConfig, c.TestInterval, c.TestTimeout)
	}
	if c.MaxPendingBuilds == 0 {
		c.MaxPendingBuilds = DefaultMaxPendingBuilds
	}
	if c.MaxPendingBuilds < 0 {
		return c, fmt.Errorf("%w: max pending builds %d", ErrConfig, c.MaxPendingBuilds)
	}
	if c.Profiles == nil {
		c.Profiles = NewProfiles(ProfileConfig{})
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
