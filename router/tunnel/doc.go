// Package tunnel implements I2P tunnels for the router core, wire-
// compatible with i2pd 2.45 (I2P API 0.9.57): ECIES tunnel building as
// creator and as hop, the tunnel data path (layer encryption, gateway
// fragmentation, endpoint reassembly), and tunnel objects with explicit
// states. Pools and peer selection, which need the netDb, sit above it.
//
// Specifications (i2p/i2p.www): i2p2www/spec/tunnel-creation-ecies.rst
// (§"Short Record Specification", §"KDF", §"Record Encryption", §"Long
// Record Specification", §"Build Records"), tunnel-message.rst,
// pages/site/docs/tunnels/implementation.html, ecies-routers.rst,
// proposals/157-new-tbm.rst. Behaviour checked against i2pd 2.45.0
// libi2pd/TunnelConfig.cpp, Tunnel.cpp, TunnelGateway.cpp,
// TunnelEndpoint.cpp, TransitTunnel.cpp and I2NPProtocol.cpp; where the
// two differ, i2pd wins and the list below says so.
//
// # Pieces
//
//	record.go    Noise N build records: SealShortRecord / SealLongRecord
//	             (creator), RecordOpener (hop), the short key chain,
//	             SealShortReply / SealLongReply (hop), reply decryption
//	build.go     PendingBuild: a whole build as creator (tunnel IDs,
//	             message IDs, roles, shuffled records, fakes,
//	             pre-encryption) and its reply → InboundTunnel /
//	             OutboundTunnel
//	hop.go       HopHandler: our record in a build message, replay and
//	             request-time checks → Request → Reply (forward, or the
//	             endpoint's reply)
//	delivery.go  tunnel-message delivery instructions and fragments
//	gateway.go   Preprocess: blocks → plaintext tunnel messages
//	endpoint.go  Endpoint: plaintext tunnel messages → I2NP messages
//	filter.go    IVFilter (duplicate TunnelData), the build record filter
//	tunnel.go    InboundTunnel, OutboundTunnel, State, lifetimes
//	transit.go   TransitTunnel (participant, IBGW, OBEP), TransitTable
//	node.go      Node: one router's tunnel side, dispatching I2NP messages
//	             and sending the results through a Sender
//
// Everything below Node is processing functions over values: bytes and
// a time in, messages out, randomness from an injected io.Reader. Node
// adds the lock and the Sender.
//
// # Message flow
//
// Outbound build A-B-C, reply through our inbound tunnel D-E-F (or our
// zero-hop inbound tunnel, Node.ZeroHopInbound):
//
//	us --STBM(25)--> A --STBM--> B --STBM--> C (OBEP)
//	C --TunnelGateway(ID of D)[Garlic(tag, key: RGarlicKeyAndTag)[OTBRM(26)]]--> D
//	D --TunnelData--> E --> F --> us: Garlic → tag → OTBRM, ID = reply ID
//
// Inbound build D-E-F through our outbound tunnel A-B-C:
//
//	us --TunnelData--> A --> B --> C (OBEP) --ROUTER--> D: Garlic N[STBM]
//	D (IBGW) --STBM--> E --STBM--> F --STBM, ID = reply ID--> us
//
// Every hop finds its record by the 16-byte hash prefix, decrypts it with
// its RouterIdentity X25519 key (Noise N: e, es, ChaCha20-Poly1305 with
// ad = h), derives its keys from the chaining key ("SMTunnelReplyKey",
// "SMTunnelLayerKey", then the IV key: ck itself, or for the OBEP
// "TunnelLayerIVKey" and then "RGarlicKeyAndTag"), replaces its record by
// its reply (AEAD, nonce = record index, ad = h) and applies ChaCha20
// (counter 1, nonce = record index) to every other record. The creator
// pre-applied those layers to later hops' records, and removes them from
// the reply walking from the last hop to the first.
//
// Data: the gateway packs I2NP messages into 1024-byte tunnel messages
// (IV, checksum, nonzero padding, zero byte, delivery instructions and
// fragments); each hop applies its AES layer (IV ECB, data CBC, IV ECB
// again) and forwards with its next tunnel ID; the endpoint checks the
// checksum, reassembles and delivers. An outbound gateway (the creator)
// pre-decrypts with every hop's layer, last hop first; an inbound endpoint
// (the creator) decrypts the same way.
//
// # Where spec, i2pd 2.45 and this package differ
//
//   - proposal 157 gives 236/172-byte records; the deployed format is
//     218/154 (tunnel-creation-ecies.rst, i2pd), which is what is used.
//   - tunnel-creation-ecies.rst mentions a creator ephemeral key in the
//     plaintext of inbound short records; neither the layout nor i2pd has
//     one.
//   - Request time: i2pd 2.45 ignores it; a HopHandler refuses requests
//     older than 5 minutes (plus the minute's rounding) or more than 2
//     minutes ahead, and remembers ephemeral keys for that window to drop
//     replayed records. i2pd keeps no replay filter.
//   - Duplicate tunnel messages: implementation.html asks for a decaying
//     Bloom filter on IV XOR first block; i2pd 2.45 has none. IVFilter
//     implements it, router-wide.
//   - Fake records: i2pd fills unused records with random bytes. As
//     §"Build Records" asks, an inbound build's first fake carries the
//     creator's hash prefix (bit 7 of byte 47 clear), and the creator
//     checks that every fake comes back unchanged apart from the hops'
//     reply layers.
//   - Reply padding: i2pd leaves the old record bytes after the reply's
//     empty Mapping; zeros are written here. Both are inside the AEAD.
//   - Zero tunnel IDs and records with both role flags are refused
//     (ErrBadRecord); i2pd does not check.
//   - A long-record OBEP replies with a plain VariableTunnelBuildReply in a
//     TunnelGateway, without garlic (i2pd); a short-record OBEP wraps its
//     OutboundTunnelBuildReply with the RGarlicKeyAndTag key and tag unless
//     it is the reply gateway itself, then it hands the reply to its own
//     tunnel unwrapped (i2pd HandleShortTunnelBuildMsg).
//   - Delivery instructions with the delay (bit 4) or extended-options
//     (bit 2) flag are refused; i2pd ignores the bits and would misread
//     what follows.
//   - Reassembled messages must parse as one standard-header I2NP message
//     with a valid checksum; i2pd does not verify the checksum. Fragments
//     are kept 20 s (i2pd: 8 s, cleaned every 15 s; Java: 45 s).
//   - A message for TUNNEL delivery is limited to MaxTunnelDeliveryLen,
//     since the endpoint wraps it in a TunnelGateway; i2pd overflows its
//     buffer there instead.
//   - Observed in i2pd 2.45.1, not a difference in the protocol: its
//     GarlicDestination::CleanupExpiredTags drops every reply tag without a
//     session, so an OTBRM that arrives after a cleanup of the receiving
//     destination fails with "Garlic: Payload for router AEAD verification
//     failed" and that build times out at i2pd. Our TagTable keeps reply
//     tags until they are used or expire.
package tunnel
