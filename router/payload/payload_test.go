package payload_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"strings"
	"sync"
	"testing"

	"i2pbridge/router/payload"
)

// Vectors are assembled field by field from RFC 1952 §2.3, RFC 1951
// §3.2.4 and the layout in i2cp.html §"I2CP Payload Data Format and
// Multiplexing", following what i2pd 2.45 writes (Gzip.cpp
// GzipNoCompression, Streaming.cpp and Datagram.cpp CreateDataMessage).
// Nothing here is produced by the code under test.

// hx decodes hex, ignoring spaces, so vectors can be grouped by field.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// le32 is a little-endian uint32, the byte order of the gzip trailer.
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// storedI2pd is i2pd's stored form for ports src→dst and protocol proto:
// GzipNoCompression's header 1F 8B 08 00 00000000 02 FF with the ports and
// protocol written over bytes 4-7 and 9, one final stored block, CRC, ISIZE.
func storedI2pd(src, dst uint16, proto byte, data []byte) []byte {
	n := uint16(len(data))
	return cat(
		hx("1f 8b 08 00"),
		binary.BigEndian.AppendUint16(nil, src),
		binary.BigEndian.AppendUint16(nil, dst),
		[]byte{0x02, proto},
		[]byte{0x01},
		binary.LittleEndian.AppendUint16(nil, n),
		binary.LittleEndian.AppendUint16(nil, ^n),
		data,
		le32(crc32.ChecksumIEEE(data)),
		le32(uint32(len(data))),
	)
}

// hello1234to80 is the streaming payload "hello" from port 1234 to port
// 80 in i2pd's stored form, written out byte by byte; CRC-32("hello") is
// 0x3610a686.
var hello1234to80 = hx("1f 8b 08 00" + // magic, CM = deflate, FLG = 0
	"04 d2" + // source port 1234, big-endian
	"00 50" + // destination port 80, big-endian
	"02" + // XFL as GzipNoCompression writes it
	"06" + // protocol 6, streaming
	"01 0500 faff" + // final stored block, LEN 5, NLEN ~5
	"68 65 6c 6c 6f" + // "hello"
	"86 a6 10 36" + // CRC-32, little-endian
	"05 00 00 00") // ISIZE

// zlibText is the input of zlibSYN.
var zlibText = []byte("GET / HTTP/1.1\r\nHost: example.i2p\r\n\r\n" + strings.Repeat("i2p!", 16))

// zlibSYN is what i2pd's deflated path sends for zlibText from port 1234
// to 80: zlib 1.2.13 (the zlib of Debian's i2pd 2.45.1 build) set up as in
// GzipDeflator, deflateInit2(Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15+16, 8,
// Z_DEFAULT_STRATEGY), run through Python's zlib binding; then bytes 4-7
// and 9 patched as CreateDataMessage does. XFL 0 is zlib's value for its
// default level.
var zlibSYN = hx("1f8b0800" + "04d2" + "0050" + "00" + "06" + // header
	"73770d51d057f0080909d037d433e4e5f2c82f2eb15248ad48cc2dc849d5cb342ae0e5e2e502528a946000" + // deflate
	"88a7b654" + // CRC-32 0x54b6a788
	"65000000") // ISIZE 101

func TestAppendStoredMatchesI2pd(t *testing.T) {
	tests := []struct {
		name string
		p    payload.Payload
		want []byte
	}{
		{"streaming 1234 to 80", payload.Payload{SrcPort: 1234, DstPort: 80, Protocol: payload.ProtoStreaming, Data: []byte("hello")}, hello1234to80},
		{"repliable datagram, no ports", payload.Payload{Protocol: payload.ProtoDatagram, Data: []byte{0xaa, 0xbb}}, storedI2pd(0, 0, 17, []byte{0xaa, 0xbb})},
		{"raw datagram, high ports", payload.Payload{SrcPort: 0xfffe, DstPort: 0x8001, Protocol: payload.ProtoRaw, Data: []byte("x")}, storedI2pd(0xfffe, 0x8001, 18, []byte("x"))},
		{"empty", payload.Payload{Protocol: payload.ProtoRaw}, storedI2pd(0, 0, 18, nil)},
		{"largest single block", payload.Payload{Protocol: payload.ProtoRaw, Data: bytes.Repeat([]byte{7}, 0xffff)}, storedI2pd(0, 0, 18, bytes.Repeat([]byte{7}, 0xffff))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payload.Append([]byte{0xee}, tc.p, payload.LevelStored)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0xee || !bytes.Equal(got[1:], tc.want) {
				t.Fatalf("Append:\n got %x\nwant %x", got[1:], tc.want)
			}
			p, err := payload.Parse(tc.want, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(p, tc.p) {
				t.Fatalf("Parse = %+v, want %+v", p, tc.p)
			}
		})
	}
}

func TestStoredAbove64KUsesSeveralBlocks(t *testing.T) {
	for _, n := range []int{0x10000, 140000} {
		data := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		b, err := payload.Append(nil, payload.Payload{Protocol: 18, Data: data}, payload.LevelStored)
		if err != nil {
			t.Fatal(err)
		}
		blocks := (n + 0xfffe) / 0xffff
		if want := 10 + 5*blocks + n + 8; len(b) != want {
			t.Fatalf("%d bytes: encoding has %d bytes, want %d (%d stored blocks)", n, len(b), want, blocks)
		}
		// The first block is not final, so i2pd's stored shortcut (byte 10
		// == 0x01) does not apply and zlib reads the whole stream.
		if want := hx("00 ffff 0000"); !bytes.Equal(b[10:15], want) {
			t.Fatalf("first block header % x, want % x", b[10:15], want)
		}
		p, err := payload.Parse(b, n)
		if err != nil || !bytes.Equal(p.Data, data) {
			t.Fatalf("Parse: %v, data equal %v", err, bytes.Equal(p.Data, data))
		}
	}
}

// TestAppendDeflateHeaderMatchesI2pd pins the header i2pd's deflated form
// has (zlib's header, FLG 0, MTIME replaced by the ports, OS by the
// protocol) and the XFL zlib derives from the level.
func TestAppendDeflateHeaderMatchesI2pd(t *testing.T) {
	tests := []struct {
		level int
		xfl   byte
	}{
		{payload.LevelDefault, 0x00}, // what i2pd uses
		{6, 0x00},
		{2, 0x00},
		{flate.BestCompression, 0x02},
		{flate.BestSpeed, 0x04},
		{flate.HuffmanOnly, 0x04},
	}
	for _, tc := range tests {
		p := payload.Payload{SrcPort: 1234, DstPort: 80, Protocol: payload.ProtoStreaming, Data: zlibText}
		b, err := payload.Append(nil, p, tc.level)
		if err != nil {
			t.Fatal(err)
		}
		want := cat(hx("1f 8b 08 00 04d2 0050"), []byte{tc.xfl, 0x06})
		if !bytes.Equal(b[:10], want) {
			t.Errorf("level %d: header % x, want % x", tc.level, b[:10], want)
		}
		if tail := cat(le32(crc32.ChecksumIEEE(zlibText)), le32(uint32(len(zlibText)))); !bytes.Equal(b[len(b)-8:], tail) {
			t.Errorf("level %d: trailer % x, want % x", tc.level, b[len(b)-8:], tail)
		}
		got, err := payload.Parse(b, 0)
		if err != nil || !equal(got, p) {
			t.Errorf("level %d: Parse = %+v, %v", tc.level, got, err)
		}
	}
}

// TestAppendStaysClearOfI2pdShortcut checks the property i2pd's
// GzipInflator::Inflate relies on: when byte 10 is 0x01 it reads a final
// stored block at offset 10 without looking at FLG, and refuses input
// longer than LEN+23. So FLG must be 0 and such a block must hold all the
// data.
func TestAppendStaysClearOfI2pdShortcut(t *testing.T) {
	sizes := []int{0, 1, 5, 100, 4096, 0xffff, 0x10000}
	levels := []int{flate.HuffmanOnly, flate.DefaultCompression, 0, 1, 5, 9}
	for _, n := range sizes {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7 / 3) // a little compressible
		}
		for _, level := range levels {
			b, err := payload.Append(nil, payload.Payload{Protocol: 6, Data: data}, level)
			if err != nil {
				t.Fatal(err)
			}
			if b[3] != 0 {
				t.Errorf("%d bytes, level %d: FLG = %#x", n, level, b[3])
			}
			if b[10] == 0x01 {
				ln := int(binary.LittleEndian.Uint16(b[11:]))
				if ln != n || len(b) != ln+23 {
					t.Errorf("%d bytes, level %d: byte 10 is 0x01 but LEN=%d and the payload has %d bytes", n, level, ln, len(b))
				}
			}
		}
	}
}

func TestAppendRejectsUnknownLevel(t *testing.T) {
	dst := []byte{1, 2, 3}
	for _, level := range []int{-3, 10, 100} {
		got, err := payload.Append(dst, payload.Payload{Data: []byte("x")}, level)
		if !errors.Is(err, payload.ErrInvalid) {
			t.Errorf("level %d: err = %v, want ErrInvalid", level, err)
		}
		if !bytes.Equal(got, dst) {
			t.Errorf("level %d: dst changed to %x", level, got)
		}
	}
}

func TestParseI2pdVectors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want payload.Payload
	}{
		{"stored", hello1234to80, payload.Payload{SrcPort: 1234, DstPort: 80, Protocol: 6, Data: []byte("hello")}},
		{"zlib deflated", zlibSYN, payload.Payload{SrcPort: 1234, DstPort: 80, Protocol: 6, Data: zlibText}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := payload.Parse(tc.b, payload.DefaultMax)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(p, tc.want) {
				t.Fatalf("Parse = %+v, want %+v", p, tc.want)
			}
			// Data must not alias the input.
			if len(p.Data) > 0 {
				p.Data[0] ^= 0xff
				if _, err := payload.Parse(tc.b, 0); err != nil {
					t.Fatalf("input changed by writing to Data: %v", err)
				}
			}
		})
	}
}

// withOptions is hello1234to80 with every optional RFC 1952 header field:
// FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT, as zlib (so i2pd) accepts.
func withOptions(t *testing.T) []byte {
	t.Helper()
	hdr := cat(
		hx("1f 8b 08 1f 04d2 0050 02 06"),
		hx("0600"), []byte("ab\x00cde"), // FEXTRA: XLEN 6, contents include a zero
		[]byte("file.txt\x00"),  // FNAME
		[]byte("a comment\x00"), // FCOMMENT
	)
	hcrc := binary.LittleEndian.AppendUint16(nil, uint16(crc32.ChecksumIEEE(hdr)))
	return cat(hdr, hcrc, hello1234to80[10:])
}

func TestParseAcceptsHeaderOptions(t *testing.T) {
	b := withOptions(t)
	p, err := payload.Parse(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (payload.Payload{SrcPort: 1234, DstPort: 80, Protocol: 6, Data: []byte("hello")}); !equal(p, want) {
		t.Fatalf("Parse = %+v, want %+v", p, want)
	}
}

func TestParseRejects(t *testing.T) {
	mod := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	good := hello1234to80
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"first magic byte", mod(good, func(b []byte) []byte { b[0] = 0x1e; return b }), payload.ErrNotGzip},
		{"second magic byte", mod(good, func(b []byte) []byte { b[1] = 0x8c; return b }), payload.ErrNotGzip},
		{"method 7", mod(good, func(b []byte) []byte { b[2] = 7; return b }), payload.ErrNotGzip},
		{"zlib stream", hx("78 9c cb 48 cd c9 c9 07 00 06 2c 02 15"), payload.ErrNotGzip},
		{"reserved flag 0x20", mod(good, func(b []byte) []byte { b[3] = 0x20; return b }), payload.ErrMalformed},
		{"reserved flag 0x80", mod(good, func(b []byte) []byte { b[3] = 0x80; return b }), payload.ErrMalformed},
		{"header CRC", mod(withOptions(t), func(b []byte) []byte {
			i := bytes.Index(b, []byte("a comment\x00")) + 10
			b[i] ^= 1
			return b
		}), payload.ErrChecksum},
		{"data CRC", mod(good, func(b []byte) []byte { b[len(b)-8] ^= 1; return b }), payload.ErrChecksum},
		{"data changed", mod(good, func(b []byte) []byte { b[15] = 'j'; return b }), payload.ErrChecksum},
		{"deflated data CRC", mod(zlibSYN, func(b []byte) []byte { b[len(b)-5] ^= 0x80; return b }), payload.ErrChecksum},
		{"ISIZE", mod(good, func(b []byte) []byte { b[len(b)-4] = 6; return b }), payload.ErrLengthMismatch},
		{"ISIZE high byte", mod(good, func(b []byte) []byte { b[len(b)-1] = 1; return b }), payload.ErrLengthMismatch},
		{"NLEN", mod(good, func(b []byte) []byte { b[13] = 0xfb; return b }), payload.ErrMalformed},
		{"block type 3", mod(good, func(b []byte) []byte { b[10] = 0x07; return b }), payload.ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), payload.ErrTrailingBytes},
		{"second member", cat(good, good), payload.ErrTrailingBytes},
		// A dynamic-Huffman block header whose code lengths over-subscribe.
		{"bad Huffman", cat(good[:10], hx("05 e0 ff ff ff ff ff ff ff ff"), good[len(good)-8:]), payload.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := payload.Parse(tc.b, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

// TestParseEveryPrefixIsTruncated feeds every proper prefix of valid
// encodings to Parse and requires ErrTruncated, not a panic.
func TestParseEveryPrefixIsTruncated(t *testing.T) {
	big := bytes.Repeat([]byte("ab"), 40000)
	encodings := map[string][]byte{
		"stored":       hello1234to80,
		"zlib":         zlibSYN,
		"options":      withOptions(t),
		"empty stored": storedI2pd(0, 0, 18, nil),
	}
	for _, level := range []int{payload.LevelStored, payload.LevelDefault, flate.BestSpeed, flate.HuffmanOnly} {
		b, err := payload.Append(nil, payload.Payload{SrcPort: 1, DstPort: 2, Protocol: 17, Data: big}, level)
		if err != nil {
			t.Fatal(err)
		}
		encodings[fmt.Sprintf("80000 bytes at level %d", level)] = b
	}
	for name, b := range encodings {
		step := 1
		if len(b) > 4000 {
			step = 29 // the block boundary is covered byte by byte below
		}
		for i := 0; i < len(b); i += step {
			_, err := payload.Parse(b[:i], 1<<20)
			if !errors.Is(err, payload.ErrTruncated) {
				t.Fatalf("%s: prefix of %d of %d bytes: err = %v, want ErrTruncated", name, i, len(b), err)
			}
		}
		// Every byte around the 65535-byte stored block boundary.
		for i := max(0, 65535); i < min(len(b), 65560); i++ {
			if _, err := payload.Parse(b[:i], 1<<20); !errors.Is(err, payload.ErrTruncated) {
				t.Fatalf("%s: prefix of %d: err = %v, want ErrTruncated", name, i, err)
			}
		}
		if _, err := payload.Parse(b, 1<<20); err != nil {
			t.Fatalf("%s: whole encoding: %v", name, err)
		}
	}
}

func TestParseEnforcesLimit(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	for _, level := range []int{payload.LevelStored, payload.LevelDefault, flate.HuffmanOnly} {
		b, err := payload.Append(nil, payload.Payload{Protocol: 18, Data: data}, level)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := payload.Parse(b, len(data)); err != nil {
			t.Errorf("level %d, limit = size: %v", level, err)
		}
		if _, err := payload.Parse(b, len(data)-1); !errors.Is(err, payload.ErrTooLarge) {
			t.Errorf("level %d, limit = size-1: err = %v, want ErrTooLarge", level, err)
		}
	}
}

func TestParseDefaultLimit(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{payload.DefaultMax, true}, {payload.DefaultMax + 1, false}} {
		b, err := payload.Append(nil, payload.Payload{Data: make([]byte, tc.n)}, payload.LevelDefault)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{0, -1} {
			_, err := payload.Parse(b, limit)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, payload.ErrTooLarge) {
				t.Errorf("%d bytes, limit %d: err = %v", tc.n, limit, err)
			}
		}
	}
}

// TestParseStopsZipBomb: 64 MiB of zeros deflate to about 64 KiB; Parse
// must give up at the limit without allocating anything near 64 MiB, and
// even when the trailer claims a small size.
func TestParseStopsZipBomb(t *testing.T) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 64 {
		w.Write(zeros)
	}
	w.Close()
	bomb := cat(hx("1f8b0800 0000 0000 02 12"), buf.Bytes(), le32(0), le32(10))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := payload.Parse(bomb, 32768)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, payload.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("Parse allocated %d bytes for a 32 KiB limit", alloc)
	}
}

func equal(a, b payload.Payload) bool {
	return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Protocol == b.Protocol && bytes.Equal(a.Data, b.Data)
}

// TestConcurrentUse shares the pooled deflaters and inflaters between
// goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				p := payload.Payload{SrcPort: uint16(g), DstPort: uint16(i), Protocol: 17, Data: bytes.Repeat([]byte{byte(g), byte(i)}, 100+i)}
				b, err := payload.Append(nil, p, payload.LevelDefault)
				if err != nil {
					t.Error(err)
					return
				}
				q, err := payload.Parse(b, 0)
				if err != nil || !equal(p, q) {
					t.Errorf("goroutine %d, round %d: %+v, %v", g, i, q, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
