// Package pool keeps a set of I2P tunnels built, tested and fresh on top
// of package tunnel: the exploratory pool of the router and the pool of
// each local destination, like i2pd's TunnelPool and Java's TunnelPool.
//
// A Pool wants Inbound.Quantity inbound and Outbound.Quantity outbound
// tunnels of Length hops (± Variance). Its loop, Run, builds what is
// missing through peers chosen from Peers (the netDb) with Profiles,
// tests what it has, and replaces each tunnel before it stops carrying
// traffic. Destinations take tunnels with PickOutbound, PickInbound and
// Inbound (for LeaseSets) once Ready is closed.
//
// # Message flow
//
// Outbound build, reply through one of our inbound tunnels (the Node's
// zero-hop tunnel until the pool has one):
//
//	us --STBM--> hop 1 --> … --> OBEP --reply--> our inbound tunnel --> us
//
// Inbound build, request through one of our outbound tunnels (sent
// directly to the gateway until the pool has one):
//
//	us --our outbound tunnel--> IBGW --> … --> last hop --reply--> us
//
// A build is ShortTunnelBuild unless a hop's router.version is below
// 0.9.51 (SupportsShortBuild), then VariableTunnelBuild (BuildConfig.Long).
//
// Tunnel test (every TestInterval, and at once for a new tunnel): a
// DeliveryStatus with a random message ID goes out through an outbound
// tunnel, whose endpoint delivers it (TUNNEL instructions) to the gateway
// of one of our inbound tunnels; it must come back through that tunnel
// within TestTimeout:
//
//	us --TunnelData--> … OBEP --TunnelGateway--> IBGW --> … --> us
//	Node.Local(DeliveryStatus, inbound ID) → Pool.HandleDeliveryStatus
//
// A failed test counts against both tunnels and every hop of both; a
// tunnel that fails two tests in a row is dropped and replaced (i2pd
// TunnelPool::TestTunnels).
//
// # Life of a tunnel
//
//	0:00   build sent
//	≤0:31  established, or given up (tunnel.BuildTimeout + 1 s; the pool
//	       keeps this timer itself and does not wait for Node.Expire)
//	9:30   NeedsReplacement (i2pd TUNNEL_RECREATION_THRESHOLD): the
//	       successor is built; the tunnel is still handed out
//	10:00  tunnel.Lifetime: no longer handed out, removed from the pool;
//	       the Node delivers what is in flight on an inbound tunnel until
//	       11:00
//
// Failed builds are retried after 2 s, doubling to a minute while they
// keep failing; at most MaxPendingBuilds are in flight per direction.
//
// # Peer selection
//
// Candidates qualify when Eligible (reachable: a published NTCP2 address
// and no U cap; not bandwidth class K), are not our router and are not
// excluded by Profiles. Hops are drawn without replacement, weighted by
// their profiles: recent accepted builds and passed tests raise a peer's
// weight, rejections, build timeouts and failed tests lower it, and a
// peer whose failures pile up is excluded for a while. Fewer distinct
// candidates than hops fails the attempt with ErrTooFewPeers (logged once
// at Warn until selection succeeds again); no shorter tunnel is built.
//
// # Wiring (the router)
//
//   - New(Config{Node: node, Peers: FromRouterInfos(db.RouterInfos),
//     Profiles: shared, …}) and go Run(ctx); one Profiles for all pools.
//   - In the Node's Local callback, give each DeliveryStatus to the pools
//     first: parse the body (i2np.ParseDeliveryStatus) and call
//     HandleDeliveryStatus(body.MessageID, tunnel) on each pool until one
//     returns true; only otherwise pass it on (netDb publish tokens).
//   - Keep calling Node.Expire every few seconds: it removes expired
//     inbound and transit tunnels, reply tags and stale builds. The pool's
//     own timers do not depend on it.
package pool
