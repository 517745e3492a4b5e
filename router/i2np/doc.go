// Package i2np implements the I2P Network Protocol message codecs that a
// router needs to talk to i2pd 2.45 (I2P API 0.9.57): the message headers,
// the netDb messages, the tunnel data and tunnel build messages with their
// ECIES build records, and the delivery instructions of ECIES garlic
// cloves. It is codecs only: byte slices in, structs out and back, with no
// I/O, logging, randomness or locks. Cryptography (record encryption, the
// Noise KDF chain, garlic AEAD) lives in router/tunnel and router/garlic;
// this package only says where the bytes are.
//
// Specifications: i2p/i2p.www i2p2www/spec/i2np.rst (cited below as
// i2np.rst §"section"), tunnel-creation-ecies.rst, ecies.rst §"Garlic
// Clove", proposals/157-new-tbm.rst; behaviour checked against i2pd 2.45.0
// libi2pd/I2NPProtocol.{h,cpp}, NetDb.cpp, Garlic.cpp, TunnelConfig.cpp and
// NTCP2.cpp. Where the two disagree, i2pd wins; each such place says so.
//
// # Headers and Message
//
// A Message is {Type, ID, Expiration (ms), Payload}. It travels in one of
// two header forms (i2np.rst §"I2NP message header"):
//
//	standard, 16 bytes (TunnelGateway, tunnel fragments, Data/TunnelData
//	payloads; Message.Append / ParseMessage):
//	  type(1) msg_id(4) expiration ms(8) size(2) chks(1) payload
//	short, 9 bytes (NTCP2 and SSU2 I2NP blocks, ECIES garlic cloves;
//	Message.AppendShort / ParseShortMessage):
//	  type(1) msg_id(4) expiration s(4) payload
//
// The short form has no size (the enclosing block gives it) and no
// checksum. Short→standard multiplies the expiration by 1000 and
// recomputes size and checksum; standard→short truncates the milliseconds,
// as i2pd's ToNTCP2 does. ParseMessage verifies the checksum (ErrChecksum).
// i2pd itself never checks it, but every i2pd 2.45 path that puts a
// standard header on the wire towards an ECIES peer computes it (the Data
// messages it leaves without a checksum travel in ratchet cloves, under the
// short header), so the strict check costs no interoperability. Callers that
// want to be lenient can use ParseHeader and skip Header.Verify.
// The obsolete 5-byte SSU header is not implemented (SSU1 is gone in i2pd
// 2.45).
//
// Size limit: i2pd keeps a message in a 62708-byte buffer
// (I2NP_MAX_MESSAGE_SIZE) that also holds 2 reserved bytes and the 16-byte
// header, so the largest payload it accepts is MaxPayloadLen = 62690 bytes.
// Both header forms refuse larger payloads when parsing and appending.
//
// # Bodies
//
// ParseBody turns a payload into a Body by type; every Body appends itself
// back byte for byte. Unknown types become Unknown (raw payload kept);
// ParseBody never fails on a type it does not know. Known bodies must fill
// their payload exactly (ErrTrailingBytes otherwise): i2pd never sends
// trailing bytes, and refusing them keeps parse → append an identity.
//
//	1  DatabaseStore            key, store type, reply token [+ tunnel, gateway], RI gzip or raw LS
//	2  DatabaseLookup           key, from, flags [+ tunnel], excluded peers [+ reply key, tags]
//	3  DatabaseSearchReply      key, peers, from
//	10 DeliveryStatus           msg id, timestamp ms
//	11 Garlic                   4-byte length + opaque (ECIES) ciphertext
//	18 TunnelData               tunnel id + 1024 bytes
//	19 TunnelGateway            tunnel id, 2-byte length, standard-header message
//	20 Data                     4-byte length + bytes
//	21 TunnelBuild              8 × 528-byte records (i2pd refuses it)
//	22 TunnelBuildReply         8 × 528-byte records (i2pd ignores it)
//	23 VariableTunnelBuild      count(1..8) + count × 528-byte records
//	24 VariableTunnelBuildReply count(1..8) + count × 528-byte records
//	25 ShortTunnelBuild         count(1..8) + count × 218-byte records
//	26 OutboundTunnelBuildReply count(1..8) + count × 218-byte records
//
// The build messages carry records opaque (BuildRecord, ShortBuildRecord),
// with accessors for the cleartext parts of an encrypted request record
// (16-byte hash prefix, ephemeral key). The decrypted record contents have
// their own codecs: BuildRequestRecord (464 bytes, long ECIES),
// ShortBuildRequestRecord (154 bytes), BuildReplyRecord (512 bytes) and
// ShortBuildReplyRecord (202 bytes).
//
// CloveDelivery is the delivery-instruction prefix of a garlic clove and
// Clove the body of an ECIES garlic-clove block (delivery instructions,
// short header, message body). Tunnel-message delivery instructions are a
// different format and belong to router/tunnel.
//
// # Aliasing
//
// ParseMessage, ParseShortMessage and ParseClove copy the payload, so the
// caller may reuse its receive buffer. Body and record parsers alias the
// slice they were given (a Message payload, a decrypted record); copy the
// fields if that slice is reused.
//
// # Where spec and i2pd 2.45 differ
//
//   - DatabaseStore type byte: the spec reads bit 0 and bits 3-1 and ignores
//     bits 7-4; i2pd treats the whole byte: 0 is a RouterInfo, anything else
//     is a LeaseSet variant whose bytes run to the end. StoreType keeps the
//     raw byte and ParseDatabaseStore follows i2pd.
//   - DatabaseLookup flags bits 4 and 1 together ("TBD" in the spec): i2pd
//     reads a reply key and 8-byte tags whenever bit 4 is set, and 32-byte
//     tags when only bit 1 is; so does ParseDatabaseLookup. i2pd does not
//     bound the tag count; the spec says 1-32 (ElGamal) or exactly 1 (ECIES).
//     Any count is parsed.
//   - Build messages: the spec allows 1-8 records and i2pd only requires
//     enough bytes for the count it reads; i2pd sends 4 or 8. Counts outside
//     1-8 are refused here (ErrRecordCount), as Java does.
//   - Build request padding: the spec asks for random padding; i2pd 2.45
//     writes zeros. Padding is carried as given; nil pads with zeros.
//   - tunnel-creation-ecies.rst §"Short Request Record Unencrypted" mentions
//     a "creator ephemeral public key" in the plaintext record of inbound
//     builds; no such field exists in the byte layout or in i2pd, and none is
//     parsed.
//   - Garlic clove flags bit 7 (session key) and bit 4 (delay) are "never
//     set" per the spec, and i2pd ignores the bits (it would misread the
//     following bytes). ParseCloveDelivery refuses them (ErrUnsupported).
package i2np
