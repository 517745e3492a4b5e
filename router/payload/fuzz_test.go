package payload_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"

	"i2pbridge/router/payload"
)

// FuzzParse: no input may panic; whatever parses must re-encode (stored
// and deflated) to something that parses back to the same Payload; and an
// input already in i2pd's stored form must re-encode to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(hello1234to80)
	f.Add(zlibSYN)
	f.Add(storedI2pd(0, 0, 18, nil))
	f.Add(cat(hello1234to80, hello1234to80))
	f.Add(hx("1f8b0808 00000000 0000 7800 03000000 0000000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := payload.Parse(b, 1<<16)
		if err != nil {
			return
		}
		for _, level := range []int{payload.LevelStored, payload.LevelDefault} {
			out, err := payload.Append(nil, p, level)
			if err != nil {
				t.Fatalf("level %d: Append: %v", level, err)
			}
			q, err := payload.Parse(out, len(p.Data))
			if err != nil || !equal(p, q) {
				t.Fatalf("level %d: re-parse = %+v, %v; want %+v", level, q, err, p)
			}
			if level == payload.LevelStored && isI2pdStored(b) && !bytes.Equal(out, b) {
				t.Fatalf("stored form not reproduced:\n got %x\nwant %x", out, b)
			}
		}
	})
}

// isI2pdStored reports whether b has the exact shape of i2pd's
// GzipNoCompression output: FLG 0, XFL 2, one final stored block.
func isI2pdStored(b []byte) bool {
	return len(b) >= 23 && b[3] == 0 && b[8] == 2 && b[10] == 0x01 &&
		int(binary.LittleEndian.Uint16(b[11:]))+23 == len(b)
}

// FuzzAppend: every Payload at every level parses back unchanged, with
// FLG 0.
func FuzzAppend(f *testing.F) {
	f.Add(uint16(1234), uint16(80), byte(6), int8(0), []byte("hello"))
	f.Add(uint16(0), uint16(0), byte(17), int8(-1), zlibText)
	f.Add(uint16(65535), uint16(1), byte(18), int8(9), []byte{})
	f.Add(uint16(7), uint16(8), byte(255), int8(-2), bytes.Repeat([]byte{0}, 3000))
	f.Fuzz(func(t *testing.T, src, dst uint16, proto byte, lvl int8, data []byte) {
		level := int(lvl)%(flate.BestCompression-flate.HuffmanOnly+1) + flate.HuffmanOnly
		if level < flate.HuffmanOnly {
			level += flate.BestCompression - flate.HuffmanOnly + 1
		}
		p := payload.Payload{SrcPort: src, DstPort: dst, Protocol: proto, Data: data}
		b, err := payload.Append([]byte{0xaa}, p, level)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if b[0] != 0xaa || b[1+3] != 0 {
			t.Fatalf("level %d: prefix %#x, FLG %#x", level, b[0], b[4])
		}
		q, err := payload.Parse(b[1:], len(data))
		if err != nil || !equal(p, q) {
			t.Fatalf("level %d: Parse = %+v, %v; want %+v", level, q, err, p)
		}
	})
}

// FuzzParseDeflateData fuzzes the deflate data alone and gives it a correct
// header and trailer, so that fuzzed streams get past the CRC check:
// Parse must accept exactly what compress/flate decodes on its own.
func FuzzParseDeflateData(f *testing.F) {
	f.Add(zlibSYN[10 : len(zlibSYN)-8])
	f.Add(hello1234to80[10 : len(hello1234to80)-8])
	f.Add([]byte{0x00, 0x01, 0x00, 0xfe, 0xff, 'a', 0x03, 0x00})
	f.Fuzz(func(t *testing.T, d []byte) {
		const limit = 1 << 16
		r := bytes.NewReader(d)
		want, refErr := io.ReadAll(io.LimitReader(flate.NewReader(r), limit+1))
		used := len(d) - r.Len()
		hdr := hx("1f8b0800 0102 0304 00 11")
		if refErr != nil || len(want) > limit {
			b := cat(hdr, d, le32(0), le32(0))
			if p, err := payload.Parse(b, limit); err == nil {
				t.Fatalf("flate refuses (%v, %d bytes) but Parse returned %+v", refErr, len(want), p)
			}
			return
		}
		b := cat(hdr, d[:used], le32(crc32.ChecksumIEEE(want)), le32(uint32(len(want))))
		p, err := payload.Parse(b, limit)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if !bytes.Equal(p.Data, want) || p.SrcPort != 0x0102 || p.DstPort != 0x0304 || p.Protocol != 17 {
			t.Fatalf("Parse = %+v, want data %x", p, want)
		}
	})
}
