package destination

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/streaming"
	"i2pbridge/router/tunnel"
)

// Timings and limits; where i2pd 2.45 has a constant, it is named
// (Destination.h, LeaseSet.h).
const (
	// DefaultLookupTimeout is how long one floodfill may take to answer a
	// LeaseSet lookup before the next closest is asked
	// (LEASESET_REQUEST_TIMEOUT).
	DefaultLookupTimeout = 5 * time.Second
	// DefaultLookupDeadline bounds a whole lookup
	// (MAX_LEASESET_REQUEST_TIMEOUT).
	DefaultLookupDeadline = 40 * time.Second
	// DefaultMaxLookupFloodfills is how many floodfills one lookup asks at
	// most (MAX_NUM_FLOODFILLS_PER_REQUEST).
	DefaultMaxLookupFloodfills = 7
	// DefaultPublishConfirmTimeout is how long a floodfill may take to
	// confirm a store with its DeliveryStatus (PUBLISH_CONFIRMATION_TIMEOUT).
	DefaultPublishConfirmTimeout = 5 * time.Second
	// DefaultPublishVerifyDelay is how long after the confirmation the
	// published LeaseSet is looked up to verify it
	// (PUBLISH_VERIFICATION_TIMEOUT).
	DefaultPublishVerifyDelay = 10 * time.Second
	// DefaultPublishMinInterval is the least time between two stores
	// (PUBLISH_MIN_INTERVAL).
	DefaultPublishMinInterval = 20 * time.Second
	// DefaultReverifyInterval is how often a verified LeaseSet is checked
	// again (PUBLISH_REGULAR_VERIFICATION_INTERNAL).
	DefaultReverifyInterval = 100 * time.Second

	// LeaseEndThreshold: a lease that ends within this is not chosen for
	// sending (LEASE_ENDDATE_THRESHOLD, 51 s): the message could arrive
	// after the tunnel is gone.
	LeaseEndThreshold = 51 * time.Second
	// replyTagLifetime is how long the one-time reply tag of a lookup
	// stays registered: the whole lookup, with room for late replies.
	replyTagLifetime = 2 * time.Minute
	// sendTimeout bounds the sends of background work (publishing,
	// lookups, empty replies), which has no caller's context.
	sendTimeout = 10 * time.Second
	// tick is how often Run's loop wakes up on its own.
	tick = time.Second
	// expireEvery is how often sessions, reply tags and cached LeaseSets
	// are swept (i2pd DESTINATION_CLEANUP_TIMEOUT is 3 minutes).
	expireEvery = time.Minute
	// replyGiveUp: an owed ratchet reply (an NSR, the first ES, an Ack)
	// whose remote LeaseSet stays unknown this long is forgotten.
	replyGiveUp = 30 * time.Second
	// datagramQueue bounds received datagrams not yet taken by
	// ReceiveDatagram; more are dropped.
	datagramQueue = 256
)

// InboundTunnel is one of our inbound tunnels as a LeaseSet sees it.
type InboundTunnel struct {
	// ID is the tunnel ID our router receives the tunnel's messages with
	// (the via of HandleGarlic); 0 when unknown.
	ID i2np.TunnelID
	// Gateway and GatewayID are where others send: the lease.
	Gateway   data.Hash
	GatewayID i2np.TunnelID
	// End is when the tunnel stops carrying new traffic (its creation plus
	// tunnel.Lifetime); the lease ends then.
	End time.Time
}

// Tunnels is what a Destination needs of its tunnel pool and the router's
// tunnel Node. PoolTunnels adapts a *pool.Pool and a *tunnel.Node; tests
// use in-memory fakes.
type Tunnels interface {
	// Inbound returns our live inbound tunnels: the leases of our
	// LeaseSet and the reply tunnels of lookups and stores.
	Inbound() []InboundTunnel
	// Send passes blocks through one of our outbound tunnels other than
	// avoid (when another exists; zero avoids nothing) and returns the one
	// it used: the same one for every message of a nonzero flow while it
	// lasts (pool.Pool.PickOutboundFor). It should not block for long, and
	// fails (ErrNoTunnels, wrapped) when there is no outbound tunnel.
	Send(ctx context.Context, flow uint64, avoid i2np.TunnelID, blocks []tunnel.Block) (i2np.TunnelID, error)
}

// Floodfill is a floodfill router to store at or ask: its hash and the
// X25519 key of its RouterIdentity, which lookups and stores are
// encrypted to (ecies-routers.rst).
type Floodfill struct {
	Hash data.Hash
	Key  [32]byte
}

// Floodfills is the router's view of the floodfills. FloodfillsFrom
// builds one from the netDb's RouterInfos.
type Floodfills interface {
	// ClosestFloodfills returns up to n floodfills closest to key's
	// routing key on the day of now, closest first, leaving out exclude.
	ClosestFloodfills(key data.Hash, now time.Time, n int, exclude map[data.Hash]bool) []Floodfill
}

// Config configures a Destination. Keys, Tunnels and Floodfills are
// required.
type Config struct {
	// Keys are the destination's keys; the signing key must be Ed25519.
	Keys data.PrivateKeys
	// EncryptionKey is the X25519 key pair our LeaseSet2 publishes (crypto
	// type 4) and the ratchet uses. Zero: the key file's own encryption
	// key when the destination is of crypto type 4 and the pair matches,
	// otherwise a fresh key from Rand (like i2pd's transient LeaseSet
	// keys; persist it and pass it here to keep sessions across restarts).
	EncryptionKey crypto.X25519Keys
	// Tunnels are the destination's tunnels.
	Tunnels Tunnels
	// Floodfills picks floodfills for lookups and publishing.
	Floodfills Floodfills
	// Unpublished keeps the LeaseSet off the floodfills (flag bit 1;
	// i2cp.dontPublishLeaseSet): for client-only destinations, which hand
	// it out in their New Session messages only.
	Unpublished bool
	// Streaming configures the streaming Manager; Keys, Conn and Logger
	// are filled in.
	Streaming streaming.Config
	// Logger receives events; nil discards them. Destinations are logged
	// as short hashes, never in full.
	Logger *slog.Logger
	// Rand supplies keys, tags, tokens and message IDs; nil means
	// crypto/rand. It is locked, so any io.Reader will do.
	Rand io.Reader
	// Now is the clock of every decision; nil means time.Now. Waits use
	// the runtime's timers (tests run under testing/synctest).
	Now func() time.Time

	// Timings; zero takes the Default constants.
	LookupTimeout         time.Duration
	LookupDeadline        time.Duration
	MaxLookupFloodfills   int
	PublishConfirmTimeout time.Duration
	PublishVerifyDelay    time.Duration
	PublishMinInterval    time.Duration
	ReverifyInterval      time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Keys.IsZero() {
		return c, fmt.Errorf("%w: no keys", ErrConfig)
	}
	if _, err := c.Keys.Ed25519PrivateKey(); err != nil {
		return c, fmt.Errorf("%w: keys: %w", ErrConfig, err)
	}
	if c.Tunnels == nil {
		return c, fmt.Errorf("%w: no Tunnels", ErrConfig)
	}
	if c.Floodfills == nil {
		return c, fmt.Errorf("%w: no Floodfills", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	} else {
		c.Rand = &lockedReader{r: c.Rand}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	durations := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.LookupTimeout, DefaultLookupTimeout},
		{&c.LookupDeadline, DefaultLookupDeadline},
		{&c.PublishConfirmTimeout, DefaultPublishConfirmTimeout},
		{&c.PublishVerifyDelay, DefaultPublishVerifyDelay},
		{&c.PublishMinInterval, DefaultPublishMinInterval},
		{&c.ReverifyInterval, DefaultReverifyInterval},
	}
	for _, d := range durations {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return c, fmt.Errorf("%w: negative duration %v", ErrConfig, *d.v)
		}
	}
	if c.MaxLookupFloodfills == 0 {
		c.MaxLookupFloodfills = DefaultMaxLookupFloodfills
	}
	if c.MaxLookupFloodfills < 0 {
		return c, fmt.Errorf("%w: MaxLookupFloodfills %d", ErrConfig, c.MaxLookupFloodfills)
	}
	return c, nil
}

// lockedReader serialises reads, so that a test's deterministic (and not
// concurrency-safe) source can serve every goroutine.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return io.ReadFull(l.r, p)
}
