package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"i2pbridge/router/data"
	"i2pbridge/router/destination"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
	"i2pbridge/router/tunnel/pool"
)

// Client tunnel defaults when a destination's options give none: three
// hops, as i2pd and Java I2P default to, and two tunnels each way (Java's
// default; i2pd's 5 costs the network more than a bridge needs).
const (
	DefaultClientLength   = 3
	DefaultClientQuantity = 2
)

// ClientConfig configures a local destination (see OpenClient).
type ClientConfig struct {
	// Name is used in logs.
	Name string
	// Keys are the destination's keys (Ed25519 signing).
	Keys data.PrivateKeys
	// Inbound and Outbound shape its tunnel pool; zero fields take the
	// defaults above.
	Inbound, Outbound pool.DirConfig
	// Unpublished keeps its LeaseSet off the floodfills (a client that
	// only dials out; peers learn the LeaseSet from its messages).
	Unpublished bool
}

// Client is a local destination running on the router: its tunnel pool
// and its destination (LeaseSet, ratchet sessions, streams, datagrams).
type Client struct {
	r    *Router
	name string
	Dest *destination.Destination
	Pool *pool.Pool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// ErrNotRunning is returned by OpenClient before Run or after the router
// stopped.
var ErrNotRunning = errors.New("router: not running")

// ErrDuplicateDestination is returned by OpenClient for keys whose
// destination is already open on this router (two owners of one
// destination would split its streams and its ratchet sessions).
var ErrDuplicateDestination = errors.New("router: destination already open")

func withDefaults(d pool.DirConfig) pool.DirConfig {
	if d.Length == 0 {
		d.Length = DefaultClientLength
	}
	if d.Quantity == 0 {
		d.Quantity = DefaultClientQuantity
	}
	return d
}

// OpenClient starts a local destination on the running router. It returns
// at once; Client.Pool.WaitReady tells when it has tunnels, and
// Client.Dest.Publication when its LeaseSet is out. Close it when done;
// the router closes what is left when it stops.
func (r *Router) OpenClient(cfg ClientConfig) (*Client, error) {
	r.mu.Lock()
	running := r.state == stateRunning
	r.mu.Unlock()
	if !running {
		return nil, ErrNotRunning
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Keys.Destination().Hash().Short()
	}
	h := cfg.Keys.Destination().Hash()
	r.clientsMu.Lock()
	for _, c := range r.clients {
		if c.Dest.Hash() == h {
			r.clientsMu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrDuplicateDestination, cfg.Keys.Destination().B32())
		}
	}
	r.clientsMu.Unlock()
	p, err := r.NewPool(name, withDefaults(cfg.Inbound), withDefaults(cfg.Outbound))
	if err != nil {
		return nil, err
	}
	d, err := destination.New(destination.Config{
		Keys:        cfg.Keys,
		Tunnels:     destination.PoolTunnels{Pool: p, Node: r.node},
		Floodfills:  destination.FloodfillsFrom(r.db.RouterInfos),
		Unpublished: cfg.Unpublished,
		Logger:      r.log.With("destination", name),
	})
	if err != nil {
		r.RemovePool(p)
		return nil, fmt.Errorf("router: destination %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{r: r, name: name, Dest: d, Pool: p, cancel: cancel}
	c.wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			r.log.Error("router: client pool stopped", "destination", name, "err", err)
		}
	})
	c.wg.Go(func() {
		if err := d.Run(ctx); err != nil {
			r.log.Error("router: destination stopped", "destination", name, "err", err)
		}
	})
	r.clientsMu.Lock()
	r.clients = append(slices.Clip(r.clients), c)
	r.clientsMu.Unlock()
	r.log.Info("router: destination open", "destination", name, "b32", d.Identity().B32())
	return c, nil
}

// Close stops the destination and its pool and waits for them.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		r := c.r
		r.clientsMu.Lock()
		r.clients = slices.DeleteFunc(slices.Clone(r.clients), func(x *Client) bool { return x == c })
		r.clientsMu.Unlock()
		r.RemovePool(c.Pool)
		c.cancel()
		err = c.Dest.Close()
		c.wg.Wait()
	})
	return err
}

// ClientStatus is one local destination's state, for status displays:
// which routers carry its tunnels is what a user asks when a site is slow.
type ClientStatus struct {
	Name string
	B32  string
	Pool pool.Stats
	// Inbound and Outbound list the hops of each tunnel in use, in path
	// order (an inbound tunnel's gateway first; an outbound tunnel's first
	// hop first); this router, their other end, is not listed.
	Inbound, Outbound [][]data.Hash
}

// clientStatus reports every local destination, in the order opened.
func (r *Router) clientStatus() []ClientStatus {
	r.clientsMu.Lock()
	cs := slices.Clone(r.clients)
	r.clientsMu.Unlock()
	out := make([]ClientStatus, 0, len(cs))
	for _, c := range cs {
		st := ClientStatus{Name: c.name, B32: c.Dest.Identity().B32(), Pool: c.Pool.Stats()}
		for _, t := range c.Pool.Inbound() {
			st.Inbound = append(st.Inbound, hopHashes(t.Hops()))
		}
		for _, t := range c.Pool.Outbound() {
			st.Outbound = append(st.Outbound, hopHashes(t.Hops()))
		}
		out = append(out, st)
	}
	return out
}

func hopHashes(ps []tunnel.Peer) []data.Hash {
	hs := make([]data.Hash, len(ps))
	for i, p := range ps {
		hs[i] = p.Hash
	}
	return hs
}

// closeClients closes every client (the router is stopping).
func (r *Router) closeClients() {
	r.clientsMu.Lock()
	cs := slices.Clone(r.clients)
	r.clientsMu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// clientGarlic hands a Garlic message from one of our inbound tunnels to
// the destination whose tunnel it came through, or else to each until one
// opens it (a reply may come through a tunnel that has just been
// replaced).
func (r *Router) clientGarlic(ctx context.Context, m i2np.Message, via i2np.TunnelID) {
	r.clientsMu.Lock()
	cs := slices.Clone(r.clients)
	r.clientsMu.Unlock()
	for _, c := range cs {
		if c.Dest.Receives(via) {
			if err := c.Dest.HandleGarlic(ctx, m, via); err != nil {
				r.log.Debug("router: destination garlic dropped", "destination", c.Dest.Hash().Short(), "err", err)
			}
			return
		}
	}
	for _, c := range cs {
		err := c.Dest.HandleGarlic(ctx, m, via)
		if !errors.Is(err, destination.ErrNotForUs) {
			if err != nil {
				r.log.Debug("router: destination garlic dropped", "destination", c.Dest.Hash().Short(), "err", err)
			}
			return
		}
	}
	r.log.Debug("router: garlic for no destination of ours", "tunnel", via)
}

// clientDeliveryStatus offers a DeliveryStatus to the destinations (their
// LeaseSet store confirmations).
func (r *Router) clientDeliveryStatus(id uint32) bool {
	r.clientsMu.Lock()
	cs := slices.Clone(r.clients)
	r.clientsMu.Unlock()
	for _, c := range cs {
		if c.Dest.HandleDeliveryStatus(id) {
			return true
		}
	}
	return false
}
