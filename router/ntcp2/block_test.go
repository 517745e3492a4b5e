package ntcp2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Wire forms written out by hand from ntcp2.rst §"Unencrypted data".
var blockVectors = []struct {
	name  string
	block Block
	wire  string
}{
	{"DateTime", DateTime{Seconds: 0x65a0b1c2}, "00 0004 65a0b1c2"},
	{"Options", Options{TMin: 1, TMax: 2, RMin: 3, RMax: 4, TDummy: 0x0506, RDummy: 0x0708, TDelay: 0x090a, RDelay: 0x0b0c, More: []byte{}},
		"01 000c 01020304 0506 0708 090a 0b0c"},
	{"Options more", Options{More: []byte{0xee}}, "01 000d 00000000 0000 0000 0000 0000 ee"},
	{"RouterInfo", RouterInfoBlock{Flag: 1, RouterInfo: []byte{0xaa, 0xbb}}, "02 0003 01 aabb"},
	{"RouterInfo empty", RouterInfoBlock{RouterInfo: []byte{}}, "02 0001 00"},
	{"I2NP", I2NPMessage{Type: 1, ID: 0x01020304, Expiration: 0x65a0b1c2, Body: []byte("hi")},
		"03 000b 01 01020304 65a0b1c2 6869"},
	{"I2NP empty body", I2NPMessage{Type: 20, ID: 7, Expiration: 9, Body: []byte{}}, "03 0009 14 00000007 00000009"},
	{"Termination", Termination{Frames: 0x0102030405060708, Reason: ReasonIdleTimeout, Extra: []byte{}},
		"04 0009 0102030405060708 02"},
	{"Termination extra", Termination{Frames: 1, Reason: ReasonAEADFailure, Extra: []byte("x")},
		"04 000a 0000000000000001 04 78"},
	{"Padding", Padding{Data: []byte{0, 0, 0}}, "fe 0003 000000"},
	{"Padding empty", Padding{Data: []byte{}}, "fe 0000"},
	{"unknown 224", UnknownBlock{Kind: 224, Data: []byte{1}}, "e0 0001 01"},
	{"unknown 255", UnknownBlock{Kind: 255, Data: []byte{}}, "ff 0000"},
}

func TestBlockVectors(t *testing.T) {
	for _, v := range blockVectors {
		t.Run(v.name, func(t *testing.T) {
			want := mustHex(v.wire)
			got, err := v.block.Append([]byte{0x55})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[1:], want) || got[0] != 0x55 {
				t.Fatalf("Append = %x, want 55‖%x", got, want)
			}
			if v.block.Len() != len(want) {
				t.Fatalf("Len = %d, want %d", v.block.Len(), len(want))
			}
			blk, n, err := ParseBlock(append(want, 0x99)) // trailing byte belongs to the next block
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || !reflect.DeepEqual(blk, v.block) {
				t.Fatalf("ParseBlock = %#v (%d bytes), want %#v", blk, n, v.block)
			}
		})
	}
}

// Every proper prefix of every block is truncated, never a panic or a
// shorter block.
func TestBlockTruncation(t *testing.T) {
	for _, v := range blockVectors {
		wire := mustHex(v.wire)
		for i := 0; i < len(wire); i++ {
			_, _, err := ParseBlock(wire[:i])
			mustFail(t, fmt.Sprintf("%s[:%d]", v.name, i), err, ErrTruncated)
		}
	}
}

func TestBlockImpossibleSizes(t *testing.T) {
	for _, c := range []struct{ name, wire string }{
		{"DateTime 3", "00 0003 000000"},
		{"DateTime 5", "00 0005 0000000000"},
		{"Options 11", "01 000b 0000000000000000000000"},
		{"RouterInfo 0", "02 0000"},
		{"I2NP 8", "03 0008 0000000000000000"},
		{"Termination 8", "04 0008 0000000000000000"},
	} {
		_, _, err := ParseBlock(mustHex(c.wire))
		mustFail(t, c.name, err, ErrPayload)
	}
	if _, err := (UnknownBlock{Kind: BlockI2NP}).Append(nil); err == nil {
		t.Fatal("UnknownBlock with a known type encoded")
	}
	if _, err := (Padding{Data: make([]byte, MaxBlockDataLen+1)}).Append(nil); err == nil {
		t.Fatal("oversized padding encoded")
	}
}

func TestParseBlocksOrdering(t *testing.T) {
	i2np := I2NPMessage{Type: 1, Body: []byte{}}
	term := Termination{Extra: []byte{}}
	pad := Padding{Data: []byte{}}
	for _, c := range []struct {
		name   string
		blocks []Block
		ok     bool
	}{
		{"empty", nil, true},
		{"i2np i2np padding", []Block{i2np, i2np, pad}, true},
		{"datetime i2np termination padding", []Block{DateTime{}, i2np, term, pad}, true},
		{"termination", []Block{term}, true},
		{"unknown then padding", []Block{UnknownBlock{Kind: 230, Data: []byte{}}, pad}, true},
		{"padding then i2np", []Block{pad, i2np}, false},
		{"two paddings", []Block{pad, pad}, false},
		{"termination then i2np", []Block{term, i2np}, false},
		{"termination twice", []Block{term, term}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := AppendBlocks(nil, c.blocks...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseBlocks(b)
			if !c.ok {
				mustFail(t, c.name, err, ErrPayload)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.blocks) {
				t.Fatalf("parsed %d blocks, want %d", len(got), len(c.blocks))
			}
		})
	}
}

// A block may not overrun into the next one: a size field larger than the
// rest of the payload is truncation even when later bytes exist in memory.
func TestParseBlocksDoesNotOverrun(t *testing.T) {
	b := mustHex("03 0010 01 00000001 00000002 aa fe0000")
	_, err := ParseBlocks(b[:len(b)-3])
	mustFail(t, "overrun", err, ErrTruncated)
}

// FuzzBlocks: whatever parses re-encodes to the same bytes.
func FuzzBlocks(f *testing.F) {
	for _, v := range blockVectors {
		f.Add(mustHex(v.wire))
	}
	f.Add(mustHex("00 0004 00000001 03 0009 01 00000002 00000003 04 0009 0000000000000000 00 fe 0002 0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blocks, err := ParseBlocks(b)
		if err != nil {
			return
		}
		out, err := AppendBlocks(nil, blocks...)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", b, out)
		}
		n := 0
		for _, blk := range blocks {
			n += blk.Len()
		}
		if n != len(b) {
			t.Fatalf("Len sum %d, input %d", n, len(b))
		}
	})
}
