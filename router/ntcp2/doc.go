// Package ntcp2 implements NTCP2, I2P's TCP transport between routers, wire
// compatible with i2pd 2.45 (API 0.9.57).
//
// Specification: i2p/i2p.www i2p2www/spec/ntcp2.rst (all of it) and
// proposals/147-transport-network-id-check.rst. Where the spec and i2pd
// 2.45.0 (libi2pd/NTCP2.cpp, NTCP2.h, Crypto.cpp InitNoiseXKState) disagree,
// i2pd wins and the code says so in a comment.
//
// # Message flow
//
//	Alice (initiator)                                Bob (responder)
//	SessionRequest    AES(RH_B, i)(X) ‖ AEAD(opts) ‖ pad1 ─▶  ≤ 287 bytes
//	                  ◀─ AES(RH_B, CBC state)(Y) ‖ AEAD(opts) ‖ pad2   SessionCreated, ≤ 287 bytes
//	SessionConfirmed  AEAD(n=1)(s) ‖ AEAD(RouterInfo [+ Options] [+ Padding]) ─▶
//	data phase        ◀─▶ len(2, SipHash-masked) ‖ AEAD(blocks)
//
// The handshake is Noise XK ("Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256")
// with I2P's additions: ephemeral keys obfuscated with AES-256-CBC keyed by
// Bob's router hash (the CBC state continues from message 1 into message
// 2), cleartext padding after messages 1 and 2 that is MixHashed into h,
// and data phase keys plus SipHash length keys derived from the final ck
// and h.
//
// # Layers
//
//   - Initiator and Responder are the handshake, sans I/O: each message is a
//     byte slice in or out, one explicit state variable tracks progress, and
//     the caller does the reading and writing. Messages 1 and 2 are read in
//     two steps, the 64-byte head and then the padding length the head
//     announced.
//   - FrameSealer and FrameOpener are the data phase framing: the 2-byte
//     obfuscated length and the ChaCha20-Poly1305 frame with its counter
//     nonce. ParseBlock, ParseBlocks and the Block types (DateTime, Options,
//     RouterInfoBlock, I2NPMessage, Termination, Padding, UnknownBlock) are
//     the payload codec, with no I/O.
//   - Session owns an established connection: a reader loop that decrypts
//     frames and hands I2NP messages and RouterInfos to callbacks, and a run
//     loop that drains a bounded send queue into frames, closes idle
//     sessions and sends the Termination block on the way out. Dial and
//     Client make Alice's sessions, Server and Listener Bob's.
//
// # i2pd 2.45 behaviour this package matches
//
//   - Messages 1 and 2 are at most 287 bytes including padding, in both
//     directions, although the spec asks it only of "NTCP" addresses.
//   - Handshake timestamps must be within ±60 s; Alice's netId byte must be
//     ours or 0.
//   - Message 3 part 2 starts with the RouterInfo block; the RouterInfo must
//     verify, be at most 90 minutes old and have an NTCP2 address whose s
//     is the handshake static key. i2pd as Alice sends that block alone.
//   - After the handshake, i2pd as Bob sends a DatabaseStore of its
//     RouterInfo (an I2NP message, gzipped RI) rather than a RouterInfo
//     block; as Alice it sends nothing until it has traffic. Both arrive
//     through Config.OnI2NP / Config.OnRouterInfo.
//   - I2NP messages longer than 62708 bytes (full header) are dropped by
//     i2pd; Send refuses them.
//   - Message 3 part 1 is encrypted with message 2's key at nonce 1, and h
//     absorbs the whole 32-byte message 2 frame before it (the spec's "24
//     byte" is a mistake).
package ntcp2
