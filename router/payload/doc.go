// Package payload implements the I2CP payload format: the body of every
// I2NP Data message that a destination sends to another, whether it holds a
// streaming packet, a repliable datagram or a raw datagram. It is a wire
// codec only (no I/O, no logging); the destination layer calls Parse on
// each incoming Data clove and demultiplexes on Payload.Protocol, and
// Append on each outgoing packet.
//
// Specification: i2p/i2p.www i2p2www/spec/i2cp.rst §"Payload" points to
// pages/site/docs/protocol/i2cp.html §"I2CP Payload Data Format and
// Multiplexing"; RFC 1952 (gzip) and RFC 1951 (deflate). Behaviour checked
// against i2pd 2.45.0 (libi2pd/Gzip.cpp, libi2pd/Streaming.cpp,
// libi2pd/Datagram.cpp, libi2pd/Destination.cpp; unchanged in 2.45.1).
//
// # Layout
//
// The payload is one gzip member whose header fields that gzip itself
// ignores carry I2P's multiplexing information:
//
//	offset  size  field
//	0       3     1F 8B 08 (gzip magic, CM = deflate)
//	3       1     FLG: Append writes 0; Parse accepts any RFC 1952 flags
//	4       2     source port, big-endian       (gzip MTIME, low half)
//	6       2     destination port, big-endian  (gzip MTIME, high half)
//	8       1     XFL (ignored on receipt; see Append for what we write)
//	9       1     protocol: 6 streaming, 17 repliable datagram, 18 raw
//	              datagram (gzip OS)
//	10      ...   [optional FEXTRA, FNAME, FCOMMENT, FHCRC fields]
//	              deflate data (stored blocks are fine)
//	-8      4     CRC-32 of the uncompressed data, little-endian
//	-4      4     uncompressed length mod 2^32 (ISIZE), little-endian
//
// The ports are big-endian, like every I2P integer, even though gzip's
// MTIME is little-endian: i2pd writes them with htobe16 into bytes 4-5 and
// 6-7 (StreamingDestination::CreateDataMessage,
// DatagramDestination::CreateDataMessage) and reads them back the same way
// (ClientDestination::HandleDataMessage). The CRC-32 is the only integrity
// check the payload has, so Parse always verifies it and ISIZE.
//
// # What i2pd 2.45 sends
//
//   - Streaming: deflate at zlib's default level (6) for SYN packets, a
//     single stored block for everything else (Streaming.cpp
//     StreamingDestination::CreateDataMessage, called with gzip = IsSYN);
//     the gzip option of a streaming destination forces deflate for all.
//   - Datagrams: deflate when the datagram destination was created with
//     gzip (the default for SAM and client UDP tunnels; server UDP tunnels
//     default to stored), otherwise stored (Datagram.cpp CreateDataMessage).
//   - Stored form (Gzip.cpp GzipNoCompression): header
//     1F 8B 08 00 00 00 00 00 02 FF, then one final stored block
//     01 LEN NLEN data, CRC-32, ISIZE; then the ports and protocol are
//     written over bytes 4-7 and 9. Append at level 0 produces exactly
//     these bytes.
//   - Deflated form (Gzip.cpp GzipDeflator::Deflate): zlib's own gzip
//     header with FLG 0, MTIME 0 and XFL chosen by zlib from the level (0
//     at the default level), OS overwritten with FF and then, like the
//     ports, with the protocol.
//
// # What i2pd 2.45 accepts
//
// GzipInflator::Inflate has two paths. If byte 10 is 0x01 (a final stored
// block right after a 10-byte header) it copies LEN bytes from offset 15
// without checking FLG, NLEN or the CRC, refuses input longer than LEN+23,
// and silently truncates the data to its output buffer. Otherwise zlib
// inflates any valid gzip member (all RFC 1952 header options, CRC and
// ISIZE checked) and i2pd ignores bytes after it; output that does not fit
// the buffer is dropped. The buffers are 4096 bytes for streaming
// (Streaming.h MAX_PACKET_SIZE) and 32768 for datagrams (Datagram.h
// MAX_DATAGRAM_SIZE). An empty result is dropped as a failure, so i2pd
// never delivers a zero-length payload. Append therefore always writes FLG
// = 0 (anything else would be misread by the stored shortcut), and callers
// must keep the uncompressed data under those buffer sizes.
//
// # Where we differ from i2pd and the spec
//
//   - XFL: the spec asks for 2 "to be indistinguishable from the Java
//     implementation"; i2pd writes 2 only in its stored form and zlib's
//     level-dependent value when it deflates. We follow i2pd (see Append).
//   - Trailing bytes after the gzip member are an error here; i2pd's zlib
//     path ignores them. A Data message carries its own length, so such
//     bytes can only come from a broken sender.
//   - Parse needs a limit on the decompressed size (zip-bomb safety) and
//     reports it (ErrTooLarge) instead of truncating as i2pd's stored
//     shortcut does.
package payload
