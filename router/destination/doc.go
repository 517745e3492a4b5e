// Package destination is a local I2P client destination on our router:
// its keys and LeaseSet2, its tunnels, its ECIES-X25519-AEAD-Ratchet
// sessions (a garlic.Keyring), its view of remote LeaseSets, and the
// demultiplexing of I2CP payloads by protocol (6 streaming, 17 repliable
// datagram, 18 raw datagram). It plays i2pd's LeaseSetDestination and
// ClientDestination (libi2pd/Destination.cpp, 2.45.1).
//
// Specifications (i2p/i2p.www, i2p2www/spec): ecies.rst (the ratchet and
// its cloves), i2np.rst §"DatabaseStore", §"DatabaseLookup", §"Reply
// Encryption", common-structures.rst §"LeaseSet2", i2cp.rst §"Payload",
// datagrams.rst, ecies-routers.rst (garlic to a floodfill's router key).
//
// # Message flow
//
// Publish (i2pd LeaseSetDestination::Publish): a DatabaseStore of our
// LeaseSet2 with a random reply token and one of our inbound tunnels as
// reply tunnel, Noise-N-wrapped for the closest floodfill and delivered by
// our outbound endpoint (ROUTER delivery); the DeliveryStatus comes back
// plain through the reply tunnel; 10 s later we look our LeaseSet up
// through another floodfill (the first one floods it on) and republish
// unless it comes back unchanged:
//
//	us ─OBGW─▶ … OBEP ─Garlic N[DSM(LS2, token, reply tunnel)]─▶ floodfill
//	floodfill ─TunnelGateway[DeliveryStatus(token)]─▶ our IBGW … ─▶ us: HandleDeliveryStatus
//
// Lookup (i2pd SendLeaseSetRequest): a DatabaseLookup (LeaseSet type,
// delivery to our reply tunnel, ECIES reply with one key and one 8-byte
// tag that our keyring's TagTable holds), Noise-N-wrapped for the closest
// floodfill not asked yet; the tag-only reply holds a DatabaseStore (found)
// or a DatabaseSearchReply (ask the next one). 5 s per floodfill, 7
// floodfills, 40 s in all:
//
//	us ─OBGW─▶ … OBEP ─Garlic N[DLM]─▶ floodfill ─TunnelGateway[Garlic tag[DSM|DSRM]]─▶ our IBGW … ─▶ us: HandleGarlic
//
// Send: the remote's LeaseSet (cache or lookup), a lease lasting beyond
// LeaseEndThreshold (kept while it lasts), an I2NP Data message carrying
// the gzip payload as a DESTINATION clove (i2pd CreateGarlicClove) on the
// ratchet session for the LeaseSet's X25519 key; the keyring adds a
// DateTime and our LeaseSet's DatabaseStore clove to NS and NSR, and our
// LeaseSet with an AckRequest to the next ES after it changed:
//
//	us ─OBGW─▶ … OBEP ─TunnelGateway[Garlic NS|NSR|ES]─▶ remote IBGW … ─▶ remote
//
// Receive (HandleGarlic): the router hands every Garlic message that came
// through our inbound tunnels to the keyring; cloves are dispatched by
// type (see HandleGarlic). A session that owes the remote a message (an
// NSR for an NS, the first ES after an NSR, an Ack) and sends nothing
// within about a second sends an empty one.
//
// # Objects and ownership
//
// Run's goroutine owns the LeaseSet's life: it rebuilds it when the
// inbound tunnels change and drives the publication (PublishState), sends
// owed replies and expires state. Send, lookups, HandleGarlic and
// HandleDeliveryStatus may be called from any goroutine: the keyring has
// its own lock; the LeaseSet cache, the publication and the pending
// lookups share one mutex, never held while sending. Each network lookup
// runs in its own goroutine and callers of the same key share it.
// Streams (the streaming Manager) send through SendPacket, which never
// waits for a lookup.
//
// # Wiring (the router, about 50 lines)
//
//	p, _ := pool.New(pool.Config{Name: keys.Destination().Hash().Short(), Node: r.node, …})
//	d, _ := destination.New(destination.Config{
//		Keys:       keys,
//		Tunnels:    destination.PoolTunnels{Pool: p, Node: r.node},
//		Floodfills: destination.FloodfillsFrom(r.db.RouterInfos),
//		Logger:     r.log,
//	})
//	go p.Run(ctx); go d.Run(ctx)
//	// Node client-garlic callback (see below): for each destination d,
//	// if d.Receives(via) (or, failing that, until one does not return
//	// ErrNotForUs): d.HandleGarlic(ctx, m, via).
//	// Node Local, DeliveryStatus: the pools' HandleDeliveryStatus first,
//	// then each destination's HandleDeliveryStatus, then the netDb.
//
// The tunnel.Node needs one addition for this: today it opens every
// Garlic message that comes out of our inbound tunnels as router garlic
// (tag or N) and drops what does not open ("router garlic" error), so
// ratchet messages and lookup replies for destinations never leave it.
// Such a message must go to a callback for the destinations instead.
//
// # Where we differ from i2pd 2.45
//
//   - The publish is retried with the next floodfill when no
//     DeliveryStatus comes within 5 s (i2pd does this for ElGamal
//     destinations only and otherwise assumes success); the verification
//     asks another floodfill than the one stored at when there is one
//     (i2pd asks the closest, usually the same one).
//   - The reply tunnel of a store or lookup is chosen among those whose
//     gateway is not the floodfill asked, and a floodfill that is the
//     gateway of all our inbound tunnels is passed over when another is
//     close: such a floodfill must loop its reply back into its own
//     tunnel, which our netDb does not do (i2pd sends it out through an
//     exploratory tunnel and back).
//   - A DatabaseSearchReply moves the lookup on to the next closest
//     floodfill we know; i2pd also has its router fetch the RouterInfos of
//     unknown floodfills the reply names. We leave that to the netDb.
//   - Cloves with TUNNEL delivery in a destination's garlic are dropped;
//     i2pd forwards them through an outbound tunnel.
//   - A DESTINATION clove for another hash is dropped; i2pd does not check
//     the hash.
//   - A LeaseSet2 is only accepted with an unexpired offline signature,
//     not published more than 2 minutes ahead, and replaces a cached one
//     only when strictly newer.
//   - Lookups and stores are Noise-N-wrapped for every floodfill; i2pd
//     does so when the floodfill is ECIES, which every floodfill that
//     matters (0.9.49+) is. ElGamal floodfills, ElGamal/AES replies and
//     encrypted LeaseSets (type 5) are not supported.
//   - Owed ratchet replies go out after up to a second (Run's tick);
//     i2pd answers from the application or on its own timers.
package destination
