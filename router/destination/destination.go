package destination

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
	"i2pbridge/router/streaming"
	"i2pbridge/router/tunnel"
)

// Destination is one local I2P destination: see the package
// documentation. Its methods are safe for concurrent use.
type Destination struct {
	cfg     Config
	log     *slog.Logger
	keys    data.PrivateKeys
	dest    data.Destination
	hash    data.Hash
	static  crypto.X25519Keys
	now     func() time.Time
	rand    io.Reader
	keyring *garlic.Keyring
	replies *garlic.TagTable // one-time reply tags of our lookups
	stream  *streaming.Manager

	datagrams chan Datagram
	wake      chan struct{} // capacity 1: Run's loop has something to do
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // lookups, verifications and other background sends

	mu      sync.Mutex
	state   runState
	cancel  context.CancelFunc
	stopped chan struct{}
	local   *localLeaseSet
	pub     publication
	remotes map[data.Hash]*remote
	byKey   map[[32]byte]data.Hash // remote static key → destination hash, from stored LeaseSets
	lookups map[data.Hash]*lookup
	// asyncLookups: when a streaming packet last started a lookup.
	asyncLookups map[data.Hash]time.Time
	// inbound: our inbound tunnels' receive IDs as last seen, with their
	// ends, for Receives.
	inbound  map[i2np.TunnelID]time.Time
	owed     map[*garlic.Session]owedReply
	stats    Stats
	lastTidy time.Time
	// lsChanged is when refreshLeaseSet last made a new LeaseSet,
	// lsAnnounced when announceLeaseSet last had the streams ACK.
	lsChanged, lsAnnounced time.Time
}

// runState is the Destination's life cycle:
//
//	created ──Run──▶ running ──ctx done / Close──▶ closed
//	created ──Close──▶ closed
type runState uint8

const (
	stateCreated runState = iota
	stateRunning
	stateClosed
)

// owedReply is a session that owes the remote a message (NeedsReply).
type owedReply struct {
	remote [32]byte
	since  time.Time
}

// Stats counts what a Destination did.
type Stats struct {
	// Garlic messages by ratchet form.
	SentNS, SentNSR, SentES             uint64
	ReceivedNS, ReceivedNSR, ReceivedES uint64
	// ReceivedReplies are tag-only lookup replies.
	ReceivedReplies uint64
	// Dropped counts cloves and payloads dropped as malformed or
	// unexpected.
	Dropped uint64
	// Lookups of remote LeaseSets started on the network, and those that
	// found nothing (the verifications of our own are not counted).
	Lookups, LookupsFailed uint64
	// Stores sent to floodfills, confirmed by DeliveryStatus, verified by
	// a lookup.
	Stores, Confirmed, Verified uint64
	// RemoteLeaseSets is the number of cached remote LeaseSets.
	RemoteLeaseSets int
	// PathSwitches counts SwitchPath calls that found the remote.
	PathSwitches uint64
}

// New checks cfg and returns a Destination. It starts nothing: Run
// publishes and maintains the LeaseSet, while Send, lookups and
// HandleGarlic work without it.
func New(cfg Config) (*Destination, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Destination{
		cfg:          cfg,
		keys:         cfg.Keys,
		dest:         cfg.Keys.Destination(),
		hash:         cfg.Keys.Destination().Hash(),
		now:          cfg.Now,
		rand:         cfg.Rand,
		replies:      garlic.NewTagTable(0),
		datagrams:    make(chan Datagram, datagramQueue),
		wake:         make(chan struct{}, 1),
		closing:      make(chan struct{}),
		remotes:      map[data.Hash]*remote{},
		byKey:        map[[32]byte]data.Hash{},
		lookups:      map[data.Hash]*lookup{},
		asyncLookups: map[data.Hash]time.Time{},
		inbound:      map[i2np.TunnelID]time.Time{},
		owed:         map[*garlic.Session]owedReply{},
	}
	d.log = cfg.Logger.With("dest", d.hash.Short())
	if d.static, err = encryptionKey(cfg); err != nil {
		return nil, err
	}
	d.keyring, err = garlic.NewKeyring(garlic.KeyringConfig{Static: d.static, Rand: d.rand, ReplyTags: d.replies})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	sc := cfg.Streaming
	sc.Keys, sc.Conn = cfg.Keys, packetConn{d}
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	if d.stream, err = streaming.NewManager(sc); err != nil {
		return nil, fmt.Errorf("%w: streaming: %w", ErrConfig, err)
	}
	return d, nil
}

// encryptionKey picks the LeaseSet's X25519 key (see Config.EncryptionKey).
func encryptionKey(cfg Config) (crypto.X25519Keys, error) {
	if k := cfg.EncryptionKey; k != (crypto.X25519Keys{}) {
		if crypto.X25519Public(k.Private) != k.Public {
			return k, fmt.Errorf("%w: encryption key: public key does not match the private key", ErrConfig)
		}
		return k, nil
	}
	dest := cfg.Keys.Destination()
	if dest.CryptoType() == data.CryptoTypeX25519 {
		priv := cfg.Keys.EncryptionPrivateKey()
		pub, err := dest.CryptoPublicKey()
		if err == nil && len(priv) == 32 && len(pub) == 32 {
			k := crypto.X25519KeysFromPrivate([32]byte(priv))
			if bytes.Equal(k.Public[:], pub) {
				return k, nil
			}
		}
	}
	k, err := crypto.GenerateX25519(cfg.Rand)
	if err != nil {
		return k, fmt.Errorf("destination: encryption key: %w", err)
	}
	return k, nil
}

// Identity returns our public destination.
func (d *Destination) Identity() data.Destination { return d.dest }

// Hash returns our destination hash, the LeaseSet's netDb key.
func (d *Destination) Hash() data.Hash { return d.hash }

// EncryptionKey returns the X25519 key pair the LeaseSet publishes, to
// persist it (see Config.EncryptionKey).
func (d *Destination) EncryptionKey() crypto.X25519Keys { return d.static }

// Stream returns the streaming Manager: Dial, Listen, Ping.
func (d *Destination) Stream() *streaming.Manager { return d.stream }

// Keyring returns the ratchet keyring, for inspection.
func (d *Destination) Keyring() *garlic.Keyring { return d.keyring }

// Stats returns the counters.
func (d *Destination) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.RemoteLeaseSets = len(d.remotes)
	return s
}

// LeaseSet returns our current LeaseSet2, if there is one yet.
func (d *Destination) LeaseSet() (data.LeaseSet2, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.local == nil {
		return data.LeaseSet2{}, false
	}
	return d.local.ls, true
}

// Receives reports whether via is the receive ID of one of our inbound
// tunnels (still delivering, up to tunnel.ExpiryGrace after its end), so
// that the router can hand a Garlic message to its owner instead of
// trying every destination's keyring.
func (d *Destination) Receives(via i2np.TunnelID) bool {
	if via == 0 {
		return false
	}
	now := d.now()
	d.mu.Lock()
	end, ok := d.inbound[via]
	d.mu.Unlock()
	if ok {
		return now.Before(end.Add(tunnel.ExpiryGrace))
	}
	for _, t := range d.cfg.Tunnels.Inbound() {
		if t.ID == via {
			return true
		}
	}
	return false
}

// noteInboundLocked remembers the receive IDs of ts and forgets those
// past their grace.
func (d *Destination) noteInboundLocked(now time.Time, ts []InboundTunnel) {
	for _, t := range ts {
		if t.ID != 0 {
			d.inbound[t.ID] = t.End
		}
	}
	for id, end := range d.inbound {
		if now.After(end.Add(tunnel.ExpiryGrace)) {
			delete(d.inbound, id)
		}
	}
}

// Run maintains the destination until ctx ends or Close is called: it
// builds our LeaseSet from the inbound tunnels and rebuilds it when they
// change, publishes and verifies it, sends the replies the ratchet owes,
// and expires sessions, tags and cached LeaseSets. It returns nil on a
// normal stop; the destination is closed afterwards.
func (d *Destination) Run(ctx context.Context) error {
	d.mu.Lock()
	switch d.state {
	case stateRunning:
		d.mu.Unlock()
		return ErrRunning
	case stateClosed:
		d.mu.Unlock()
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.state, d.cancel, d.stopped = stateRunning, cancel, make(chan struct{})
	stopped := d.stopped
	d.mu.Unlock()
	defer close(stopped)
	defer d.shutdown()

	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		d.maintain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-d.closing:
			return nil
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Close stops Run (and waits for it), resets every stream, ends pending
// lookups and waits for background work.
func (d *Destination) Close() error {
	d.mu.Lock()
	st, cancel, stopped := d.state, d.cancel, d.stopped
	d.state = stateClosed
	d.mu.Unlock()
	if st == stateRunning {
		cancel()
		<-stopped
		return nil
	}
	d.shutdown()
	return nil
}

// shutdown releases everything; it runs once, at the end of Run or in
// Close.
func (d *Destination) shutdown() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.state = stateClosed
		d.mu.Unlock()
		close(d.closing)
		d.stream.Close()
		d.wg.Wait()
	})
}

// isClosed reports whether Close has begun.
func (d *Destination) isClosed() bool {
	select {
	case <-d.closing:
		return true
	default:
		return false
	}
}

// signal wakes Run's loop.
func (d *Destination) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// spawn runs f in the background, tracked for Close. It refuses (false)
// once Close has begun.
func (d *Destination) spawn(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spawnLocked(f)
}

// spawnLocked is spawn with d.mu held.
func (d *Destination) spawnLocked(f func()) bool {
	if d.state == stateClosed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// Announcing a new LeaseSet: peers of open streams may be sending to a
// lease that is gone (a dead hop dropped its tunnel), so every stream
// sends an ACK at once, which carries the new LeaseSet, instead of
// waiting for our next data (i2pd: Stream::SendUpdatedLeaseSet). While a
// session has not acknowledged it (the ACK may find no outbound tunnel
// while the pool rebuilds), again every LeaseSetConfirmTimeout, for up to
// announceFor.
const announceFor = 2 * time.Minute

func (d *Destination) announceLeaseSet(now time.Time) {
	d.mu.Lock()
	first := d.lsAnnounced.Before(d.lsChanged)
	again := !first && !d.lsChanged.IsZero() && now.Sub(d.lsChanged) < announceFor &&
		now.Sub(d.lsAnnounced) >= garlic.LeaseSetConfirmTimeout
	d.mu.Unlock()
	if !first && !(again && d.keyring.LeaseSetUnconfirmed() > 0) {
		return
	}
	d.mu.Lock()
	d.lsAnnounced = now
	d.mu.Unlock()
	d.stream.AckAll()
}

// maintain is one pass of Run's loop.
func (d *Destination) maintain(ctx context.Context) {
	now := d.now()
	if changed, err := d.refreshLeaseSet(now); err != nil {
		d.log.Warn("cannot build our LeaseSet", "err", err)
	} else if changed {
		d.mu.Lock()
		d.lsChanged = now
		d.mu.Unlock()
	}
	d.announceLeaseSet(now)
	d.publishStep(ctx, now)
	d.sendOwedReplies(ctx, now)
	d.mu.Lock()
	tidy := now.Sub(d.lastTidy) >= expireEvery
	if tidy {
		d.lastTidy = now
		d.expireRemotesLocked(now)
	}
	d.mu.Unlock()
	if tidy {
		d.keyring.Expire(now)
		d.replies.Expire(now)
	}
}

// randomUint32 returns a random nonzero value (message IDs, reply tokens).
func (d *Destination) randomUint32() (uint32, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(d.rand, b[:]); err != nil {
			return 0, fmt.Errorf("destination: random: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v, nil
		}
	}
}

// randomIntN returns a random int in [0, n) for n > 0.
func (d *Destination) randomIntN(n int) int {
	v, err := d.randomUint32()
	if err != nil {
		return 0
	}
	return int(v % uint32(n))
}

// newMessage wraps body with a random ID, expiring i2np.DefaultExpiration
// after now.
func (d *Destination) newMessage(now time.Time, body i2np.Body) (i2np.Message, error) {
	id, err := d.randomUint32()
	if err != nil {
		return i2np.Message{}, err
	}
	return i2np.NewMessage(id, i2np.ExpirationMillis(now.Add(i2np.DefaultExpiration)), body)
}
