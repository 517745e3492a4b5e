package payload

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
)

// Protocol numbers, carried in the gzip OS byte (i2cp.html §"I2CP Payload
// Data Format and Multiplexing"; i2pd Destination.h PROTOCOL_TYPE_*).
// Other values pass through Parse and Append untouched; demultiplexing is
// the caller's job.
const (
	ProtoStreaming = 6
	ProtoDatagram  = 17 // repliable (signed) datagram, "Datagram1"
	ProtoRaw       = 18 // raw datagram
)

// Compression levels for Append: any compress/flate level is accepted;
// these name the two i2pd uses.
const (
	// LevelStored writes i2pd's stored form byte for byte (Gzip.cpp
	// GzipNoCompression): what i2pd sends for every streaming packet but
	// SYNs.
	LevelStored = flate.NoCompression
	// LevelDefault is zlib's default level (6), which i2pd uses for SYNs
	// and for datagrams. The spec recommends compressing SYNs and
	// repliable datagrams: since API 0.9.57 destination padding is a
	// repeated block that deflate removes.
	LevelDefault = flate.DefaultCompression
)

// DefaultMax is the decompressed-size limit Parse applies when given a
// limit <= 0: the I2CP message limit of "about 64 KB" (i2cp.rst §"I2CP
// message header"). Streaming (i2pd: 4096) and datagrams (i2pd: 32768)
// should pass their own, smaller limits.
const DefaultMax = 64 << 10

// Gzip framing (RFC 1952 §2.3) and stored deflate blocks (RFC 1951 §3.2.4).
const (
	headerLen  = 10 // magic(2) CM(1) FLG(1) MTIME(4) XFL(1) OS(1)
	trailerLen = 8  // CRC32(4) ISIZE(4), both little-endian

	magic1, magic2 = 0x1f, 0x8b
	methodDeflate  = 8

	flagHCRC     = 1 << 1
	flagExtra    = 1 << 2
	flagName     = 1 << 3
	flagComment  = 1 << 4
	flagReserved = 0xe0 // RFC 1952: a decoder must reject these

	offSrcPort  = 4
	offDstPort  = 6
	offXFL      = 8
	offProtocol = 9

	storedHeaderLen = 5 // BFINAL/BTYPE byte, LEN(2), NLEN(2), little-endian
	maxStoredBlock  = 0xffff

	// maxDeflateRatio bounds how much output deflate can make from one
	// input byte (a 258-byte match in as little as 2 bits); used only to
	// size the first output buffer.
	maxDeflateRatio = 1032
)

// Payload is one decoded I2CP payload.
type Payload struct {
	SrcPort  uint16 // sender's port, 0 when unused
	DstPort  uint16 // receiver's port, 0 when unused
	Protocol uint8  // ProtoStreaming, ProtoDatagram, ProtoRaw, ...
	// Data is the uncompressed data. Parse returns a fresh slice that
	// never aliases its input.
	Data []byte
}

// Append appends p as a gzip member to dst: FLG 0, the ports big-endian in
// bytes 4-7, the protocol in byte 9, the data compressed at level (a
// compress/flate level, from flate.HuffmanOnly to flate.BestCompression),
// CRC-32 and ISIZE. On error dst is returned unchanged.
//
// LevelStored produces exactly the bytes of i2pd's stored form: header
// XFL 2 and a single final stored block (several blocks above 65535
// bytes). Other levels use compress/flate; XFL is then what zlib would
// write for that level (2 at level 9, 4 at level 1 and for Huffman-only,
// otherwise 0), because that is what i2pd sends when it deflates. The
// spec's "always 2" is not what i2pd does, and receivers ignore XFL.
//
// Append never sets FLG bits: i2pd's stored-block shortcut assumes a
// 10-byte header. Keep len(p.Data) within the receiver's limits (i2pd:
// 4096 for streaming, 32768 for datagrams) and above zero (i2pd drops
// empty payloads).
func Append(dst []byte, p Payload, level int) ([]byte, error) {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		return dst, fmt.Errorf("%w: compression level %d (want %d to %d)", ErrInvalid, level, flate.HuffmanOnly, flate.BestCompression)
	}
	b := append(dst, magic1, magic2, methodDeflate, 0)
	b = binary.BigEndian.AppendUint16(b, p.SrcPort)
	b = binary.BigEndian.AppendUint16(b, p.DstPort)
	b = append(b, xfl(level), p.Protocol)
	if level == flate.NoCompression {
		b = appendStored(b, p.Data)
	} else {
		var err error
		if b, err = appendDeflate(b, p.Data, level); err != nil {
			return dst, fmt.Errorf("payload: deflate: %w", err)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(p.Data))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data))) // ISIZE is mod 2^32 by definition
	return b, nil
}

// xfl is the XFL byte i2pd sends at each level: its hand-made stored form
// says 2, and zlib (behind its deflated form) derives the byte from the
// level as below.
func xfl(level int) byte {
	switch level {
	case flate.NoCompression, flate.BestCompression:
		return 2
	case flate.BestSpeed, flate.HuffmanOnly:
		return 4
	default:
		return 0
	}
}

// appendStored writes data as stored blocks, the last one final. Up to
// 65535 bytes that is the single block i2pd writes, which its inflater
// reads without zlib.
func appendStored(b, data []byte) []byte {
	for {
		n := min(len(data), maxStoredBlock)
		var final byte
		if n == len(data) {
			final = 1
		}
		b = append(b, final) // BFINAL in bit 0, BTYPE 00, padding bits 0
		b = binary.LittleEndian.AppendUint16(b, uint16(n))
		b = binary.LittleEndian.AppendUint16(b, ^uint16(n))
		b = append(b, data[:n]...)
		data = data[n:]
		if final == 1 {
			return b
		}
	}
}

// deflater is a pooled flate.Writer with the sink it writes into. A
// flate.Writer at levels above 0 allocates most of a megabyte of tables,
// too much to throw away after every SYN or datagram.
type deflater struct {
	w   *flate.Writer
	out sliceWriter
}

// sliceWriter appends everything written to b.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// deflaters holds one pool per level, HuffmanOnly (-2) at index 0.
var deflaters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

func appendDeflate(b, data []byte, level int) ([]byte, error) {
	pool := &deflaters[level-flate.HuffmanOnly]
	d, _ := pool.Get().(*deflater)
	if d == nil {
		d = new(deflater)
		w, err := flate.NewWriter(&d.out, level)
		if err != nil {
			return b, err
		}
		d.w = w
	} else {
		d.w.Reset(&d.out)
	}
	d.out.b = b
	_, err := d.w.Write(data)
	if err == nil {
		err = d.w.Close()
	}
	// Drop the reference to the caller's buffer before pooling.
	b, d.out.b = d.out.b, nil
	pool.Put(d)
	return b, err
}

// Parse decodes one gzip member that must fill b exactly, decompressing at
// most max bytes (DefaultMax when max <= 0); more is ErrTooLarge. Any RFC
// 1952 header is accepted (FEXTRA, FNAME, FCOMMENT are skipped, FHCRC is
// verified); XFL is ignored. The CRC-32 and ISIZE fields must match the
// data.
func Parse(b []byte, max int) (Payload, error) {
	if max <= 0 {
		max = DefaultMax
	}
	off, err := parseHeader(b)
	if err != nil {
		return Payload{}, err
	}
	p := Payload{
		SrcPort:  binary.BigEndian.Uint16(b[offSrcPort:]),
		DstPort:  binary.BigEndian.Uint16(b[offDstPort:]),
		Protocol: b[offProtocol],
	}
	data, n, err := inflate(b[off:], max, sizeHint(b, off, max))
	if err != nil {
		return Payload{}, err
	}
	off += n
	if len(b)-off < trailerLen {
		return Payload{}, fmt.Errorf("%w: trailer needs %d bytes, have %d", ErrTruncated, trailerLen, len(b)-off)
	}
	crc := binary.LittleEndian.Uint32(b[off:])
	size := binary.LittleEndian.Uint32(b[off+4:])
	if got := crc32.ChecksumIEEE(data); got != crc {
		return Payload{}, fmt.Errorf("%w: data CRC-32 is %08x, trailer says %08x", ErrChecksum, got, crc)
	}
	if uint32(len(data)) != size {
		return Payload{}, fmt.Errorf("%w: decompressed %d bytes, trailer says %d", ErrLengthMismatch, len(data), size)
	}
	if extra := len(b) - off - trailerLen; extra != 0 {
		return Payload{}, fmt.Errorf("%w: %d bytes after the gzip trailer", ErrTrailingBytes, extra)
	}
	p.Data = data
	return p, nil
}

// parseHeader checks the gzip header and returns where the deflate data
// starts.
func parseHeader(b []byte) (int, error) {
	want := [...]byte{magic1, magic2, methodDeflate}
	if n := min(len(b), len(want)); !bytes.Equal(b[:n], want[:n]) {
		return 0, fmt.Errorf("%w: header starts % x, want 1f 8b 08", ErrNotGzip, b[:n])
	}
	if len(b) < headerLen {
		return 0, fmt.Errorf("%w: gzip header needs %d bytes, have %d", ErrTruncated, headerLen, len(b))
	}
	flg := b[3]
	if flg&flagReserved != 0 {
		return 0, fmt.Errorf("%w: reserved header flags %#02x set", ErrMalformed, flg&flagReserved)
	}
	off := headerLen
	if flg&flagExtra != 0 {
		if len(b)-off < 2 {
			return 0, fmt.Errorf("%w: FEXTRA length", ErrTruncated)
		}
		xlen := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		if len(b)-off < xlen {
			return 0, fmt.Errorf("%w: FEXTRA field of %d bytes, have %d", ErrTruncated, xlen, len(b)-off)
		}
		off += xlen
	}
	for _, f := range [...]struct {
		flag byte
		name string
	}{{flagName, "FNAME"}, {flagComment, "FCOMMENT"}} {
		if flg&f.flag == 0 {
			continue
		}
		i := bytes.IndexByte(b[off:], 0)
		if i < 0 {
			return 0, fmt.Errorf("%w: %s field has no terminating zero", ErrTruncated, f.name)
		}
		off += i + 1
	}
	if flg&flagHCRC != 0 {
		if len(b)-off < 2 {
			return 0, fmt.Errorf("%w: FHCRC field", ErrTruncated)
		}
		got := uint16(crc32.ChecksumIEEE(b[:off]))
		if want := binary.LittleEndian.Uint16(b[off:]); got != want {
			return 0, fmt.Errorf("%w: header CRC-16 is %04x, FHCRC says %04x", ErrChecksum, got, want)
		}
		off += 2
	}
	return off, nil
}

// sizeHint guesses the decompressed size from ISIZE, to allocate once. It
// is only a hint (the trailer is not checked yet), so it is capped by the
// limit and by what deflate could make of the input.
func sizeHint(b []byte, off, max int) int {
	if len(b)-off < trailerLen {
		return 0
	}
	hint := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	hint = min(hint, uint64(max), uint64(len(b)-off)*maxDeflateRatio)
	return int(hint)
}
