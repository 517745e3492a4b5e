// Package router wires the router core together: identity keys in the data
// directory, our RouterInfo, the NTCP2 transport manager and the network
// database. It is the part of i2pbridge that plays i2pd's libi2pd
// (RouterContext + Transports + NetDb); the bridge and proxies sit above it.
//
// # Data directory (file names as i2pd's, so a datadir is portable)
//
//	router.keys    RouterIdentity + X25519 private key + Ed25519 seed (0600)
//	ntcp2.keys     NTCP2 static key pair and IV, 80 bytes (0600)
//	router.info    our current signed RouterInfo
//	netDb/         known RouterInfos, r<c>/routerInfo-<hash>.dat
//
// # Life cycle
//
// New loads or creates the keys, binds the NTCP2 listener, builds and signs
// our RouterInfo and loads the netDb with the seeds. Run starts the
// transport and the netDb, re-signs the RouterInfo every RefreshInterval
// (peers refuse one older than 90 minutes in an NTCP2 handshake, and the
// netDb publishes it at once when it changes) and stops everything when its
// context ends. Close stops a running Run, or releases what New took.
package router

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netdb"
	"i2pbridge/router/netx"
	"i2pbridge/router/ntcp2"
	"i2pbridge/router/transport"
	"i2pbridge/router/tunnel"
	"i2pbridge/router/tunnel/pool"
)

// Version is the I2P API version we publish as router.version: i2pd 2.45
// implements 0.9.57, and we implement nothing newer.
const Version = "0.9.57"

// DefaultNetID is the public I2P network.
const DefaultNetID = 2

// DefaultRefreshInterval is how often our RouterInfo is re-signed with a
// new published time (and so republished).
const DefaultRefreshInterval = 30 * time.Minute

// ReseedThreshold: with fewer known routers than this, a router reseeds
// (i2pd's reseed.threshold default).
const ReseedThreshold = 25

// minFloodfills: with fewer known floodfills, a router reseeds too (i2pd
// NETDB_MIN_FLOODFILLS).
const minFloodfills = 5

// reseedTimeout bounds one reseed download.
const reseedTimeout = time.Minute

// DefaultBandwidth is the bandwidth cap letter we publish. We claim the
// lowest class peers still use ('L', 12–48 KB/s) until bandwidth limits
// exist, so that i2pd does not prefer a new router of unknown capacity as
// a tunnel hop; operators raise it with router.bandwidth.
const DefaultBandwidth = "L"

// Sentinel errors.
var (
	ErrConfig  = errors.New("router: invalid configuration")
	ErrClosed  = errors.New("router: closed")
	ErrRunning = errors.New("router: already running")
)

// Config configures a Router. Datadir is required.
type Config struct {
	// Datadir holds the keys, router.info and the netDb; created 0700.
	Datadir string
	// NetID is the network: 2 (the default) is the public I2P network;
	// test networks use others (i2pd's netid).
	NetID int
	// NTCP2Listen is the local address to accept NTCP2 on ("IP:port",
	// port 0 picks one). Empty: no inbound connections, and the NTCP2
	// address we publish has no host (we are firewalled, cap U).
	NTCP2Listen string
	// NTCP2Host is the IP published in our NTCP2 address; empty means the
	// listen address's IP, which must then be specific.
	NTCP2Host string
	// Floodfill enables the floodfill role and publishes cap f.
	Floodfill bool
	// SeedDir is a directory of RouterInfo files to start from (an i2pd
	// netDb, or any tree of routerInfo-*.dat / router.info files).
	SeedDir string
	// ReseedFiles are su3, zip or single RouterInfo files to start from.
	ReseedFiles []string
	// ReseedCertDir holds the reseed signers' certificates (*.crt) that
	// su3 files are checked against; empty tries i2pd's locations.
	ReseedCertDir string
	// InsecureReseed accepts su3 files without checking their signature:
	// only for private test networks (i2pd's reseed.verify=false). It
	// does not apply to ReseedURLs, which are always verified.
	InsecureReseed bool
	// ReseedURLs are reseed servers ("https://host/path/") to fetch a
	// signed i2pseeds.su3 from when we know fewer than ReseedThreshold
	// routers or fewer than 5 floodfills; tried in random order until one
	// works.
	ReseedURLs []string
	// HTTPClient fetches from ReseedURLs (default http.DefaultClient).
	HTTPClient *http.Client
	// Bandwidth is the cap letter published (K, L, M, N, O, P or X;
	// default DefaultBandwidth).
	Bandwidth string
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// Net is the network for NTCP2 (default: the host's TCP).
	Net netx.Network
	// MaxTransit bounds the tunnels of others we carry as a hop: 0 means
	// tunnel.DefaultMaxTransit (i2pd's 2500), negative carries none
	// (every request is refused with code 30, i2pd's notransit).
	MaxTransit int
	// Exploratory shapes the exploratory tunnel pool, the router's own
	// tunnels (netDb traffic, builds of client tunnels); zero fields take
	// i2pd's defaults: 2 hops, 3 tunnels each way, no variance.
	Exploratory PoolConfig
	// Clock is the time used in NTCP2 handshakes (default time.Now); tests
	// skew it to check that peers with a wrong clock are refused.
	Clock func() time.Time
	// Tuning overrides timings, mostly for tests; zero values keep the
	// defaults.
	Tuning Tuning
}

// PoolConfig shapes a tunnel pool, each direction alike.
type PoolConfig struct {
	Length, Quantity, Variance int
	// Off runs no pool (a router that only carries others' tunnels).
	Off bool
}

// Exploratory pool defaults (i2pd's exploratory.inbound/outbound.length
// and .quantity).
const (
	DefaultExploratoryLength   = 2
	DefaultExploratoryQuantity = 3
)

// Tuning holds timings that tests shorten.
type Tuning struct {
	RefreshInterval time.Duration
	ExploreInterval time.Duration
	PublishInterval time.Duration
	// MinRouters is netdb.Config.MinRouters.
	MinRouters int
}

// Router is a running I2P router core.
type Router struct {
	cfg    Config
	log    *slog.Logger
	keys   data.RouterKeys
	static ntcp2.StaticKey
	addr   netip.AddrPort // published NTCP2 address; zero when firewalled
	ln     net.Listener
	tr     *transport.Manager
	db     *netdb.DB
	node   *tunnel.Node
	// profiles rank peers for every pool; explore is the exploratory pool
	// (nil when Off).
	profiles *pool.Profiles
	explore  *pool.Pool
	poolsMu  sync.Mutex
	pools    []*pool.Pool // every pool whose tunnel tests come back to us
	// lastSession is when connectPeers last saw a session with a router.
	peersMu     sync.Mutex
	lastSession map[data.Hash]time.Time
	// clients are the local destinations (OpenClient).
	clientsMu sync.Mutex
	clients   []*Client
	// tunnelIn queues tunnel and garlic messages from the transport's
	// reader goroutines for the tunnel workers: handling one may send, and
	// a send may wait for a dial, which must not stall a session's reader.
	// One queue per worker: the messages of one tunnel all go to the same
	// worker (tunnelShard), so they are handled in the order they came.
	tunnelIn []chan i2np.Message
	nextIn   atomic.Uint32 // round robin for messages of no tunnel
	dropped  atomic.Uint64 // tunnel messages dropped because a queue was full
	// lost queues peers whose last session the peer ended, for
	// probeLost.
	lost chan data.Hash

	mu      sync.Mutex
	ri      data.RouterInfo
	state   runState
	cancel  context.CancelFunc
	stopped chan struct{}
}

// runState is the Router's one state variable:
//
//	created ──Run──▶ running ──ctx done / Close──▶ closed
//	created ──Close──▶ closed
type runState int

const (
	stateCreated runState = iota
	stateRunning
	stateClosed
)

// New prepares a router: see the package documentation.
func New(cfg Config) (*Router, error) {
	if cfg.Datadir == "" {
		return nil, fmt.Errorf("%w: no datadir", ErrConfig)
	}
	if cfg.NetID == 0 {
		cfg.NetID = DefaultNetID
	}
	if cfg.NetID < 0 || cfg.NetID > 255 {
		return nil, fmt.Errorf("%w: netid %d", ErrConfig, cfg.NetID)
	}
	if cfg.Bandwidth == "" {
		cfg.Bandwidth = DefaultBandwidth
	}
	if len(cfg.Bandwidth) != 1 || !containsByte("KLMNOPX", cfg.Bandwidth[0]) {
		return nil, fmt.Errorf("%w: bandwidth class %q", ErrConfig, cfg.Bandwidth)
	}
	if cfg.Tuning.RefreshInterval <= 0 {
		cfg.Tuning.RefreshInterval = DefaultRefreshInterval
	}
	hostNet := cfg.Net == nil
	if hostNet {
		cfg.Net = &netx.TCP{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Datadir, 0o700); err != nil {
		return nil, fmt.Errorf("router: datadir: %w", err)
	}
	keys, created, err := loadOrCreateRouterKeys(cfg.Datadir)
	if err != nil {
		return nil, err
	}
	static, err := loadOrCreateStaticKey(cfg.Datadir)
	if err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, keys: keys, static: static, log: log.With("router", keys.Hash().Short())}
	if created {
		r.log.Info("router: created a new identity", "datadir", cfg.Datadir)
	}
	seeds, err := r.loadSeeds()
	if err != nil {
		return nil, err
	}
	if cfg.NTCP2Listen != "" {
		if err := r.listen(); err != nil {
			return nil, err
		}
	} else if cfg.Floodfill {
		return nil, fmt.Errorf("%w: a floodfill must accept connections (set ntcp2 listen)", ErrConfig)
	}
	fail := func(err error) (*Router, error) {
		if r.ln != nil {
			r.ln.Close()
		}
		return nil, err
	}
	dialNet := cfg.Net
	if la, ok := r.listenIP(); ok && hostNet {
		// Dial from the address we listen on, as i2pd does with
		// address4: peers then see connections come from the address
		// they know us by, and on a host with several addresses the
		// choice is not left to the routing table.
		dialNet = &netx.TCP{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: la.AsSlice()}}}
	}
	ri, err := r.buildRouterInfo(time.Now())
	if err != nil {
		return fail(err)
	}
	r.ri = ri
	if err := r.saveRouterInfo(ri); err != nil {
		return fail(err)
	}
	r.tr, err = transport.New(transport.Config{
		RouterInfo:   ri,
		Static:       static,
		Listener:     r.ln,
		Net:          dialNet,
		Logger:       r.log,
		Resolve:      func(h data.Hash) (data.RouterInfo, bool) { return r.db.RouterInfo(h) },
		Handler:      r.handle,
		OnRouterInfo: func(ri data.RouterInfo) { r.db.AddRouterInfo(ri) },
		OnPeerFailed: func(h data.Hash, _ error) { r.peerFailed(h) },
		OnSessionLost: func(h data.Hash) {
			select {
			case r.lost <- h:
			default: // probes are a shortcut; tunnel tests catch the rest
			}
		},
		Now: cfg.Clock,
	})
	if err != nil {
		return fail(err)
	}
	r.db, err = netdb.New(netdb.Config{
		Dir:             filepath.Join(cfg.Datadir, NetDbDir),
		RouterInfo:      ri,
		Floodfill:       cfg.Floodfill,
		Sender:          selfSender{r},
		Seeds:           seeds,
		Logger:          r.log,
		ExploreInterval: cfg.Tuning.ExploreInterval,
		PublishInterval: cfg.Tuning.PublishInterval,
		MinRouters:      cfg.Tuning.MinRouters,
	})
	if err != nil {
		return fail(err)
	}
	accept := func(*tunnel.Request) bool { return true }
	if cfg.MaxTransit < 0 {
		accept = func(*tunnel.Request) bool { return false }
	}
	r.node, err = tunnel.NewNode(tunnel.NodeConfig{
		Keys:       crypto.X25519KeysFromPrivate([32]byte(keys.X25519PrivateKey())),
		Hash:       keys.Hash(),
		Sender:     lookupSender{r},
		MaxTransit: max(cfg.MaxTransit, 0),
		Accept:     accept,
		Local:      r.local,
		ClientGarlic: func(ctx context.Context, m i2np.Message, via i2np.TunnelID) {
			r.clientGarlic(ctx, m, via)
		},
		Logger: r.log,
	})
	if err != nil {
		return fail(err)
	}
	r.tunnelIn = make([]chan i2np.Message, tunnelWorkers)
	for i := range r.tunnelIn {
		// Each as deep as one shared queue was: the traffic of a busy
		// inbound tunnel all lands in one.
		r.tunnelIn[i] = make(chan i2np.Message, tunnelQueue)
	}
	r.lost = make(chan data.Hash, 64)
	r.lastSession = map[data.Hash]time.Time{}
	r.profiles = pool.NewProfiles(pool.ProfileConfig{})
	if ec := cfg.Exploratory; !ec.Off {
		if ec.Length == 0 {
			ec.Length = DefaultExploratoryLength
		}
		if ec.Quantity == 0 {
			ec.Quantity = DefaultExploratoryQuantity
		}
		dir := pool.DirConfig{Length: ec.Length, Quantity: ec.Quantity, Variance: ec.Variance}
		r.explore, err = pool.New(pool.Config{
			Name: "exploratory", Node: r.node, Peers: pool.FromRouterInfos(r.db.RouterInfos), Profiles: r.profiles,
			Inbound: dir, Outbound: dir, Logger: r.log,
		})
		if err != nil {
			return fail(fmt.Errorf("%w: exploratory pool: %w", ErrConfig, err))
		}
		r.pools = append(r.pools, r.explore)
	}
	if st := r.db.Stats(); st.Routers == 0 {
		r.log.Warn("router: no routers known; give a seed directory or reseed files")
	}
	return r, nil
}

func containsByte(s string, c byte) bool {
	for i := range len(s) {
		if s[i] == c {
			return true
		}
	}
	return false
}

// listen binds the NTCP2 listener and decides the published address.
func (r *Router) listen() error {
	ln, err := r.cfg.Net.Listen(context.Background(), "tcp", r.cfg.NTCP2Listen)
	if err != nil {
		return fmt.Errorf("router: ntcp2 listen: %w", err)
	}
	la, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		ln.Close()
		return fmt.Errorf("router: ntcp2 listen: unexpected address %v", ln.Addr())
	}
	local := la.AddrPort()
	host := local.Addr().Unmap()
	if r.cfg.NTCP2Host != "" {
		host, err = netip.ParseAddr(r.cfg.NTCP2Host)
		if err != nil {
			ln.Close()
			return fmt.Errorf("%w: ntcp2 host %q is not an IP address", ErrConfig, r.cfg.NTCP2Host)
		}
	}
	if host.IsUnspecified() {
		ln.Close()
		return fmt.Errorf("%w: listening on %v; set the published ntcp2 host", ErrConfig, local)
	}
	r.ln = ln
	r.addr = netip.AddrPortFrom(host, local.Port())
	return nil
}

// listenIP is the specific IP the NTCP2 listener is bound to, if any; not
// a loopback address, from which no other host could be reached.
func (r *Router) listenIP() (netip.Addr, bool) {
	if r.ln == nil {
		return netip.Addr{}, false
	}
	la, ok := r.ln.Addr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	a := la.AddrPort().Addr().Unmap()
	return a, a.IsValid() && !a.IsUnspecified() && !a.IsLoopback()
}

// loadSeeds reads SeedDir and ReseedFiles. A path that cannot be read is an
// error; bad entries inside are logged and skipped.
func (r *Router) loadSeeds() ([]data.RouterInfo, error) {
	var seeds []data.RouterInfo
	if r.cfg.SeedDir != "" {
		if _, err := os.Stat(r.cfg.SeedDir); err != nil {
			return nil, fmt.Errorf("router: seed dir: %w", err)
		}
		ris, err := netdb.LoadSeedDir(r.cfg.SeedDir)
		if err != nil {
			r.log.Warn("router: some seed files were skipped", "err", err)
		}
		seeds = append(seeds, ris...)
	}
	if len(r.cfg.ReseedFiles) == 0 {
		return seeds, nil
	}
	var signers netdb.ReseedSigners
	if !r.cfg.InsecureReseed {
		var err error
		signers, err = r.reseedSigners()
		if err != nil {
			return nil, err
		}
	}
	for _, f := range r.cfg.ReseedFiles {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("router: reseed file: %w", err)
		}
		ris, err := netdb.ReadReseedFile(f, signers)
		if err != nil && len(ris) == 0 {
			return nil, err
		}
		if err != nil {
			r.log.Warn("router: some reseed entries were skipped", "file", f, "err", err)
		}
		seeds = append(seeds, ris...)
	}
	return seeds, nil
}

// reseedCertDirs are where i2pd packages keep reseed certificates.
var reseedCertDirs = []string{"/usr/share/i2pd/certificates/reseed", "/var/lib/i2pd/certificates/reseed"}

func (r *Router) reseedSigners() (netdb.ReseedSigners, error) {
	dirs := reseedCertDirs
	if r.cfg.ReseedCertDir != "" {
		dirs = []string{r.cfg.ReseedCertDir}
	}
	var errs []error
	for _, d := range dirs {
		s, err := netdb.LoadReseedSigners(d)
		if len(s) > 0 {
			if err != nil {
				r.log.Warn("router: some reseed certificates were skipped", "err", err)
			}
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: no reseed certificates to check su3 files with: %w", ErrConfig, errors.Join(errs...))
}

// caps returns our caps option: bandwidth class, f for a floodfill, R when
// reachable (a published address) or U when not (i2pd
// RouterContext::UpdateCaps writes them in this order).
func (r *Router) caps() string {
	c := r.cfg.Bandwidth
	if r.cfg.Floodfill {
		c += "f"
	}
	if r.addr.IsValid() {
		return c + "R"
	}
	return c + "U"
}

// buildRouterInfo signs a RouterInfo published at t: one NTCP2 address
// (cost 3 when published, 14 when not, i2pd's values) and the options i2pd
// requires (caps, netId, router.version).
func (r *Router) buildRouterInfo(t time.Time) (data.RouterInfo, error) {
	n := data.NTCP2Address{StaticKey: r.static.Public, IV: r.static.IV, AddrPort: r.addr}
	if !r.addr.IsValid() {
		n = data.NTCP2Address{StaticKey: r.static.Public, Caps: "4"}
	}
	addr, err := data.NewNTCP2Address(n)
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("router: our NTCP2 address: %w", err)
	}
	opts, err := data.NewMapping(map[string]string{
		data.OptionCaps:          r.caps(),
		data.OptionNetID:         fmt.Sprint(r.cfg.NetID),
		data.OptionRouterVersion: Version,
	})
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("router: our options: %w", err)
	}
	ri, err := data.BuildRouterInfo(r.keys, data.RouterInfoParams{Published: t, Addresses: []data.RouterAddress{addr}, Options: opts})
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("router: sign our RouterInfo: %w", err)
	}
	return ri, nil
}

func (r *Router) saveRouterInfo(ri data.RouterInfo) error {
	return writeFileAtomic(filepath.Join(r.cfg.Datadir, RouterInfoFile), ri.Bytes(), 0o644)
}

// Tunnel message handling: the queues between the transport's readers and
// the workers, and how many workers there are. Eight workers let a few
// sends wait for dials or RouterInfo lookups while the rest keep other
// tunnels moving; each worker's queue holds a burst of ~2 MB of
// TunnelData.
const (
	tunnelQueue   = 2048
	tunnelWorkers = 8
	// tunnelSendTimeout bounds the sends one message causes.
	tunnelSendTimeout = 15 * time.Second
	// minPeers is how many NTCP2 sessions the router keeps open at least,
	// dialling known routers when it has fewer: a router with a handful
	// of sessions is easy to observe and slow to build tunnels, and in a
	// small network it should simply be connected to everyone.
	minPeers = 10
	// peersEvery is how often the session count is checked.
	peersEvery = 20 * time.Second
	// redialAfter: a router we held a session with is not dialled again
	// for the session count until this long after that session ended. It
	// ended because one side had nothing to say; if it needs us it dials,
	// and re-dialling every idle peer at once would only churn sessions.
	redialAfter = 10 * time.Minute
	// expireEvery runs the tunnel timers (build timeouts, tunnel and
	// fragment expiry); i2pd's tunnel manager ticks once a second.
	expireEvery = time.Second
)

// tunnelShard picks the worker queue for m. TunnelData and TunnelGateway
// go by tunnel ID: with workers taking one tunnel's messages side by side,
// a stream's packets left our inbound endpoint out of order, and the
// streams took every reordering for a loss (two of our own routers moved
// 0.7 MiB/s where i2pd, which never fast-retransmits, moved 13). Builds
// and garlic take turns.
func (r *Router) tunnelShard(m i2np.Message) int {
	switch m.Type {
	case i2np.TypeTunnelData, i2np.TypeTunnelGateway:
		if len(m.Payload) >= 4 {
			id := binary.BigEndian.Uint32(m.Payload)
			return int(id % tunnelWorkers)
		}
	}
	return int(r.nextIn.Add(1) % tunnelWorkers)
}

// handle routes an I2NP message from the transport: netDb messages to the
// netDb, tunnel builds, tunnel data and garlic to the tunnel workers.
func (r *Router) handle(from data.Hash, m i2np.Message) {
	switch m.Type {
	case i2np.TypeTunnelData, i2np.TypeTunnelGateway, i2np.TypeGarlic,
		i2np.TypeVariableTunnelBuild, i2np.TypeVariableTunnelBuildReply,
		i2np.TypeShortTunnelBuild, i2np.TypeOutboundTunnelBuildReply,
		i2np.TypeTunnelBuild, i2np.TypeTunnelBuildReply:
		select {
		case r.tunnelIn[r.tunnelShard(m)] <- m:
		default:
			if n := r.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8, …
				r.log.Warn("router: tunnel queue full, dropping messages", "dropped", n)
			}
		}
	default:
		r.db.Handle(from, m)
	}
}

// selfSender is the netDb's way out: the transport, except that a message
// for our own hash (a lookup reply into a tunnel whose gateway we are)
// goes to our tunnel side as if it had arrived.
type selfSender struct{ r *Router }

func (s selfSender) Send(ctx context.Context, to data.Hash, m i2np.Message) error {
	if to == s.r.Hash() {
		s.r.handle(to, m)
		return nil
	}
	return s.r.tr.Send(ctx, to, m)
}

// lookupSender is the tunnel Node's way out: the transport, but a router
// whose RouterInfo we lack is looked up through the floodfills first, as a
// hop must forward to whatever next hop the tunnel's creator named (i2pd
// queues the message and looks the router up too).
type lookupSender struct{ r *Router }

func (s lookupSender) Send(ctx context.Context, to data.Hash, m i2np.Message) error {
	err := s.r.tr.Send(ctx, to, m)
	if !errors.Is(err, transport.ErrUnknownPeer) {
		return err
	}
	if _, lerr := s.r.db.LookupRouterInfo(ctx, to); lerr != nil {
		return fmt.Errorf("%w (lookup: %w)", err, lerr)
	}
	return s.r.tr.Send(ctx, to, m)
}

// local receives what the tunnel Node does not consume: messages that came
// through our inbound tunnels or in router garlic (DeliveryStatus for our
// publishes, DatabaseStore replies to lookups, …).
func (r *Router) local(_ context.Context, m i2np.Message, via i2np.TunnelID) {
	if m.Type == i2np.TypeDeliveryStatus {
		// A pool's tunnel test, or else a publish confirmation.
		if body, err := m.Body(); err == nil {
			if ds, ok := body.(i2np.DeliveryStatus); ok {
				r.poolsMu.Lock()
				pools := r.pools
				r.poolsMu.Unlock()
				for _, p := range pools {
					if p.HandleDeliveryStatus(ds.MessageID, via) {
						return
					}
				}
				if r.clientDeliveryStatus(ds.MessageID) {
					return
				}
			}
		}
	}
	r.db.Handle(data.Hash{}, m)
}

// tunnelWorker handles queued tunnel messages until ctx ends.
func (r *Router) tunnelWorker(ctx context.Context, in <-chan i2np.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-in:
			mctx, cancel := context.WithTimeout(ctx, tunnelSendTimeout)
			if err := r.node.HandleMessage(mctx, m); err != nil {
				r.log.Debug("router: tunnel message dropped", "type", m.Type, "err", err)
			}
			cancel()
		}
	}
}

// every calls f every d until ctx ends: the router's timers (RouterInfo
// refresh, session count, tunnel expiry).
func every(ctx context.Context, d time.Duration, f func(now time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}

// connectPeers dials random reachable routers we have no session with
// until minPeers sessions are open or the candidates run out, three at a
// time. Failures are the transport's to record (bans, netDb).
func (r *Router) connectPeers(ctx context.Context) {
	st := r.tr.Stats(ctx)
	need := minPeers - st.Sessions
	if need <= 0 {
		return
	}
	now := time.Now()
	have := map[data.Hash]bool{r.Hash(): true}
	r.peersMu.Lock()
	for _, p := range st.Peers {
		have[p.Hash] = true
		r.lastSession[p.Hash] = now
	}
	var cands []data.Hash
	for _, ri := range r.db.RouterInfos() {
		h := ri.Hash()
		if last, ok := r.lastSession[h]; ok && now.Sub(last) < redialAfter {
			continue
		}
		if c, err := pool.CandidateOf(ri); err == nil && c.Reachable && !have[h] {
			cands = append(cands, h)
		}
	}
	for h, last := range r.lastSession {
		if now.Sub(last) >= redialAfter {
			delete(r.lastSession, h)
		}
	}
	r.peersMu.Unlock()
	mrand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	cands = cands[:min(need, len(cands))]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for _, h := range cands {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := r.tr.Connect(cctx, h); err != nil {
				r.log.Debug("router: could not connect to a peer", "peer", h.Short(), "err", err)
			}
		})
	}
	wg.Wait()
}

// Run runs the router until ctx ends or Close is called. It returns nil on
// a normal stop.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	switch r.state {
	case stateRunning:
		r.mu.Unlock()
		return ErrRunning
	case stateClosed:
		r.mu.Unlock()
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	r.state, r.cancel, r.stopped = stateRunning, cancel, make(chan struct{})
	stopped := r.stopped
	r.mu.Unlock()
	defer close(stopped)
	defer cancel()

	r.log.Info("router: starting", "ntcp2", r.addr, "caps", r.caps(), "netid", r.cfg.NetID, "known", r.db.Stats().Routers)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, run := range []func(context.Context) error{r.tr.Run, r.db.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	for _, in := range r.tunnelIn {
		wg.Go(func() { r.tunnelWorker(ctx, in) })
	}
	wg.Go(func() { every(ctx, expireEvery, func(time.Time) { r.node.Expire() }) })
	wg.Go(func() { r.probeLost(ctx) })
	// Keep at least minPeers sessions open.
	wg.Go(func() { every(ctx, peersEvery, func(time.Time) { r.connectPeers(ctx) }) })
	if r.explore != nil {
		wg.Go(func() {
			if err := r.explore.Run(ctx); err != nil {
				r.log.Error("router: exploratory pool stopped", "err", err)
			}
		})
	}
	if len(r.cfg.ReseedURLs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.reseed(ctx)
		}()
	}
	every(ctx, r.cfg.Tuning.RefreshInterval, func(now time.Time) {
		if err := r.refresh(now); err != nil {
			r.log.Error("router: cannot refresh our RouterInfo", "err", err)
		}
	})
	r.closeClients()
	wg.Wait()
	r.closeClients() // any opened while the rest stopped
	r.mu.Lock()
	r.state = stateClosed
	r.mu.Unlock()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	r.log.Info("router: stopped")
	return errors.Join(all...)
}

// reseed fetches RouterInfos from the reseed servers when the netDb is too
// small, trying them in random order until one gives some.
func (r *Router) reseed(ctx context.Context) {
	if st := r.db.Stats(); st.Routers >= ReseedThreshold && st.Floodfills >= minFloodfills {
		return
	}
	signers, err := r.reseedSigners()
	if err != nil {
		r.log.Error("router: cannot reseed", "err", err)
		return
	}
	for _, i := range mrand.Perm(len(r.cfg.ReseedURLs)) {
		u := r.cfg.ReseedURLs[i]
		fctx, cancel := context.WithTimeout(ctx, reseedTimeout)
		ris, err := netdb.FetchReseed(fctx, r.cfg.HTTPClient, u, r.cfg.NetID, signers)
		cancel()
		if err != nil {
			r.log.Warn("router: reseed failed", "url", u, "err", err)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		r.log.Info("router: reseeded", "url", u, "routers", len(ris))
		r.db.AddSeeds(ris)
		return
	}
	r.log.Error("router: every reseed server failed")
}

// refresh re-signs our RouterInfo and hands it to the transport (new
// sessions) and the netDb (which publishes it).
func (r *Router) refresh(now time.Time) error {
	ri, err := r.buildRouterInfo(now)
	if err != nil {
		return err
	}
	if err := r.saveRouterInfo(ri); err != nil {
		return err
	}
	r.mu.Lock()
	r.ri = ri
	r.mu.Unlock()
	if err := r.tr.SetRouterInfo(ri); err != nil {
		return err
	}
	return r.db.SetRouterInfo(ri)
}

// Close stops the router and waits until it has stopped. Closing a router
// that never ran releases its listener.
func (r *Router) Close() error {
	r.mu.Lock()
	switch r.state {
	case stateCreated:
		r.state = stateClosed
		r.mu.Unlock()
		if r.ln != nil {
			return r.ln.Close()
		}
		return nil
	case stateRunning:
		cancel, stopped := r.cancel, r.stopped
		r.mu.Unlock()
		cancel()
		<-stopped
		return nil
	}
	r.mu.Unlock()
	return nil
}

// Running reports whether Run is running (OpenClient works).
func (r *Router) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == stateRunning
}

// Hash is our router hash.
func (r *Router) Hash() data.Hash { return r.keys.Hash() }

// RouterInfo is our current signed RouterInfo.
func (r *Router) RouterInfo() data.RouterInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ri
}

// NetDB gives access to the network database (lookups, stored entries).
func (r *Router) NetDB() *netdb.DB { return r.db }

// Transport gives access to the transport manager.
func (r *Router) Transport() *transport.Manager { return r.tr }

// Tunnels gives access to the tunnel side (transit tunnels, builds).
func (r *Router) Tunnels() *tunnel.Node { return r.node }

// NewPool makes a tunnel pool on this router (client tunnels of a
// destination, or a test's) with the router's peer profiles; the caller
// runs it (Run) and gives it back with RemovePool when done. Its tunnel
// tests are routed to it.
func (r *Router) NewPool(name string, in, out pool.DirConfig) (*pool.Pool, error) {
	p, err := pool.New(pool.Config{
		Name: name, Node: r.node, Peers: pool.FromRouterInfos(r.db.RouterInfos), Profiles: r.profiles,
		Inbound: in, Outbound: out, Logger: r.log,
	})
	if err != nil {
		return nil, err
	}
	r.poolsMu.Lock()
	r.pools = append(slices.Clip(r.pools), p)
	r.poolsMu.Unlock()
	return p, nil
}

// RemovePool forgets a pool made by NewPool.
func (r *Router) RemovePool(p *pool.Pool) {
	r.poolsMu.Lock()
	defer r.poolsMu.Unlock()
	r.pools = slices.DeleteFunc(slices.Clone(r.pools), func(q *pool.Pool) bool { return q == p })
}

// peerFailed runs when the transport could not reach h: the netDb stops
// asking it, and every pool drops the tunnels that need us to reach it
// (pool.PeerDown). It runs on the transport's owner goroutine: nothing
// here may block.
func (r *Router) peerFailed(h data.Hash) {
	r.db.PeerFailed(h)
	// As a build it did not answer: selection weighs it down at once.
	r.profiles.Record(time.Now(), pool.BuildTimedOut, h)
	for _, p := range r.allPools() {
		p.PeerDown(h)
	}
}

// allPools returns the exploratory pool (when on) and every client pool.
func (r *Router) allPools() []*pool.Pool {
	r.poolsMu.Lock()
	ps := slices.Clone(r.pools)
	r.poolsMu.Unlock()
	if r.explore != nil {
		ps = append(ps, r.explore)
	}
	return ps
}

// probeDialTimeout bounds the dial of probeLost: a live router answers in
// a round trip, a killed one refuses at once.
const probeDialTimeout = 10 * time.Second

// probeLost dials again each peer whose session the peer ended while it
// is a hop of one of our tunnels. A router that was killed or crashed
// closes its sessions first; our tunnels through it are dead from that
// moment, yet nothing else tells for up to a minute (the next tunnel
// test), and meanwhile our LeaseSet sends the remote streams into them.
// The dial fails at once when the router is gone: a router that ended
// its session and now refuses us is down, and every tunnel through it is
// dropped (pool.PeerGone), the far hops too, whose leases would otherwise
// stay in our LeaseSet. A router that only closed an idle session gets a
// new one.
func (r *Router) probeLost(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-r.lost:
			if !r.tunnelsUse(h) {
				continue
			}
			wg.Go(func() {
				dctx, cancel := context.WithTimeout(ctx, probeDialTimeout)
				defer cancel()
				err := r.tr.Connect(dctx, h)
				r.log.Debug("router: probed a tunnel hop whose session ended", "peer", h.Short(), "err", err)
				if err != nil && ctx.Err() == nil {
					r.hopGone(h)
				}
			})
		}
	}
}

// hopGone drops every tunnel through h (pool.PeerGone).
func (r *Router) hopGone(h data.Hash) {
	for _, p := range r.allPools() {
		p.PeerGone(h)
	}
}

// tunnelsUse reports whether h is a hop of a tunnel of any of our pools.
func (r *Router) tunnelsUse(h data.Hash) bool {
	return slices.ContainsFunc(r.allPools(), func(p *pool.Pool) bool { return p.HasHop(h) })
}

// Exploratory is the exploratory tunnel pool (nil when turned off).
func (r *Router) Exploratory() *pool.Pool { return r.explore }

// Status is a snapshot for status displays.
type Status struct {
	Hash       data.Hash
	NTCP2      netip.AddrPort // published address; zero when firewalled
	Caps       string
	Floodfill  bool
	Routers    int // known routers, ourselves excluded
	Floodfills int // of which floodfills
	LeaseSets  int
	Sessions   int // open NTCP2 sessions
	Inbound    int
	Outbound   int
	Published  time.Time // last confirmed publish of our RouterInfo
	// Peers are the routers we hold sessions with, sorted by hash.
	Peers []Peer
	// InboundTotal and OutboundTotal count sessions established since
	// start, dialled by the peer and by us.
	InboundTotal, OutboundTotal uint64
	// ClockSkew counts NTCP2 handshakes refused because a clock was off by
	// more than 60 s (see transport.Stats).
	ClockSkew uint64
	// Transit tunnels we carry, and build requests accepted and refused.
	Transit                         int
	TransitAccepted, TransitRefused uint64
	// TunnelDropped counts tunnel messages dropped on a full queue.
	TunnelDropped uint64
	// Exploratory is the exploratory pool's state (zero when off).
	Exploratory pool.Stats
	// Clients are the local destinations (OpenClient) and their tunnels.
	Clients []ClientStatus
}

// Peer is one router we hold NTCP2 sessions with.
type Peer struct {
	Hash     data.Hash
	Inbound  int // sessions it dialled
	Outbound int // sessions we dialled
}

// Status returns counts of known routers, floodfills and sessions.
func (r *Router) Status(ctx context.Context) Status {
	ds := r.db.Stats()
	ts := r.tr.Stats(ctx)
	ns := r.node.Stats()
	st := Status{
		Hash: r.Hash(), NTCP2: r.addr, Caps: r.caps(), Floodfill: r.cfg.Floodfill,
		Routers: ds.Routers, Floodfills: ds.Floodfills, LeaseSets: ds.LeaseSets,
		Sessions: ts.Sessions, Inbound: ts.Inbound, Outbound: ts.Outbound,
		Published: ds.Published, ClockSkew: ts.ClockSkew,
		InboundTotal: ts.InboundTotal, OutboundTotal: ts.OutboundTotal,
		Transit: r.node.TransitCount(), TransitAccepted: ns.TransitAccepted, TransitRefused: ns.TransitRejected,
		TunnelDropped: r.dropped.Load(),
	}
	if r.explore != nil {
		st.Exploratory = r.explore.Stats()
	}
	st.Clients = r.clientStatus()
	for _, p := range ts.Peers {
		st.Peers = append(st.Peers, Peer{Hash: p.Hash, Inbound: p.Inbound, Outbound: p.Outbound})
	}
	return st
}
