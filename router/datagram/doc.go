// Package datagram implements the two datagram formats an I2P destination
// exchanges inside I2CP payloads (package payload): repliable datagrams
// (protocol 17, "Datagram1") and raw datagrams (protocol 18). It is a wire
// codec only: no I/O, no sessions, no ports (those live in the I2CP payload
// header).
//
// Specification: i2p/i2p.www i2p2www/spec/datagrams.rst §"Raw
// (Non-Repliable) Datagrams" and §"Datagram1 (Repliable)"; behaviour
// checked against i2pd 2.45.0 libi2pd/Datagram.cpp (unchanged in 2.45.1).
// Datagram2 and Datagram3 (protocols 19 and 20, API 0.9.66) are newer than
// the API 0.9.57 that i2pd 2.45 speaks and are not implemented.
//
// # Layout
//
//	repliable (17):  from       Destination, 387+ bytes (391 for Ed25519)
//	                 signature  length by from's signing type (64 for Ed25519)
//	                 payload    the rest
//	raw (18):        payload    all of it
//
// For every signing type but DSA_SHA1 the signature is over the payload
// itself; for DSA_SHA1 it is over SHA-256(payload). i2pd does exactly this
// on both sides (DatagramDestination::SendDatagram signs, HandleDatagram
// verifies, choosing by GetSigningKeyType() == DSA_SHA1). Only Ed25519 can
// be signed or verified here (package data), which is what every current
// destination uses; other types are parsed and then refused.
//
// # What the signature does not cover
//
// The signature covers the payload only: not the ports, the recipient, a
// time, nor the destination beyond its signing key. Consequences a
// receiver has to live with (the spec lists "no replay prevention"):
//   - a captured datagram can be replayed, to us or to anyone else;
//   - the encryption-key area, the padding and the certificate bytes of
//     "from" that do not change the signing key can be altered in transit
//     without breaking the signature, giving a "from" with another hash.
//     Replies to such an address go nowhere (its LeaseSet would need the
//     signer's key), so this misdirects replies but cannot impersonate
//     another signer.
//
// # Size
//
// The spec gives only "about 63 KB" (repliable payload) and "about 64 KB"
// (raw). i2pd 2.45 inflates every datagram into a 32768-byte buffer
// (Datagram.h MAX_DATAGRAM_SIZE, in
// DatagramDestination::HandleDataMessagePayload) and drops, or in its
// stored-block shortcut truncates, anything longer; Java's
// I2PDatagramDissector reads into a buffer of the same 32768 bytes.
// MaxLen is therefore the limit for the whole datagram, destination and
// signature included, in both directions. SAM documents 31744 bytes as the
// largest repliable payload ("leaving up to 1KB for header material"),
// which fits under MaxLen for every destination up to 1024 bytes of
// destination plus signature; that figure is SAM's to enforce. i2pd also
// treats an empty I2CP payload as a decompression failure, so an empty raw
// datagram never reaches an i2pd application.
package datagram
