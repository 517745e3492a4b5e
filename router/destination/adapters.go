package destination

import (
	"context"
	"fmt"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netdb"
	"i2pbridge/router/tunnel"
	"i2pbridge/router/tunnel/pool"
)

// OutboundSender passes blocks through one of our outbound tunnels;
// *tunnel.Node is one.
type OutboundSender interface {
	Send(ctx context.Context, t *tunnel.OutboundTunnel, blocks []tunnel.Block) error
}

var _ OutboundSender = (*tunnel.Node)(nil)

// PoolTunnels is the Tunnels of a destination whose tunnels come from a
// pool.Pool of the router's tunnel Node.
type PoolTunnels struct {
	Pool *pool.Pool
	Node OutboundSender
}

var _ Tunnels = PoolTunnels{}

// Inbound lists the pool's live inbound tunnels; each lease ends at the
// tunnel's creation plus tunnel.Lifetime (i2pd: creation + 660 s − 60 s).
func (p PoolTunnels) Inbound() []InboundTunnel {
	ts := p.Pool.Inbound()
	out := make([]InboundTunnel, 0, len(ts))
	for _, t := range ts {
		gw, gwID := t.Gateway()
		out = append(out, InboundTunnel{ID: t.ID(), Gateway: gw, GatewayID: gwID, End: t.Created().Add(tunnel.Lifetime)})
	}
	return out
}

// Send picks an outbound tunnel (pool.PickOutboundFor) and sends blocks
// through it.
func (p PoolTunnels) Send(ctx context.Context, flow uint64, avoid i2np.TunnelID, blocks []tunnel.Block) (i2np.TunnelID, error) {
	t, err := p.Pool.PickOutboundFor(flow, avoid)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoTunnels, err)
	}
	return t.ID(), p.Node.Send(ctx, t, blocks)
}

// FloodfillsFrom returns the Floodfills among the RouterInfos list gives
// (the netDb's RouterInfos): those i2pd would use (netdb.EligibleFloodfill)
// whose identity has an X25519 key, ordered by netdb.Distance to the
// key's routing key (netdb.RoutingKey), as i2pd's GetClosestFloodfill.
func FloodfillsFrom(list func() []data.RouterInfo) Floodfills { return riFloodfills(list) }

type riFloodfills func() []data.RouterInfo

func (f riFloodfills) ClosestFloodfills(key data.Hash, now time.Time, n int, exclude map[data.Hash]bool) []Floodfill {
	byHash := map[data.Hash]Floodfill{}
	var hs []data.Hash
	for _, ri := range f() {
		h := ri.Hash()
		if exclude[h] || !netdb.EligibleFloodfill(ri) {
			continue
		}
		id := ri.Identity()
		if id.CryptoType() != data.CryptoTypeX25519 {
			continue
		}
		k, err := id.CryptoPublicKey()
		if err != nil || len(k) != 32 {
			continue
		}
		if _, dup := byHash[h]; !dup {
			byHash[h] = Floodfill{Hash: h, Key: [32]byte(k)}
			hs = append(hs, h)
		}
	}
	closest := netdb.Closest(netdb.RoutingKey(key, now), hs, n, nil)
	out := make([]Floodfill, len(closest))
	for i, h := range closest {
		out[i] = byHash[h]
	}
	return out
}
