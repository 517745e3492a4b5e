package garlic

import (
	"bytes"
	"errors"
	"testing"

	"i2pbridge/router/i2np"
)

// Payload vectors assembled by hand from ecies.rst §"5) Payload" and
// i2np.rst §"Garlic Clove Delivery Instructions", field by field.
var (
	// DateTime block: type 0, size 4, seconds 0x6553f100.
	vecDateTime = hx("00 0004 6553f100")
	// Garlic clove block: type 11, size 1+9+3 = 13; LOCAL delivery (flag
	// 0), short I2NP header (type 10 DeliveryStatus, msg id 0x01020304,
	// expiration 0x6553f108 s), body aabbcc.
	vecClove = hx("0b 000d 00 0a 01020304 6553f108 aabbcc")
	// ROUTER delivery: flag 0x40, 32-byte hash; header type 20, id 5,
	// expiration 0x10; empty body.
	vecCloveRouter = hx("0b 002a 40 " + "11111111111111111111111111111111" + "11111111111111111111111111111111" + " 14 00000005 00000010")
	// An unknown block type 224 (experimental range) of 2 bytes.
	vecUnknown = hx("e0 0002 beef")
	// Padding: type 254, 3 zero bytes.
	vecPadding = hx("fe 0003 000000")
)

func TestParsePayloadVectors(t *testing.T) {
	payload := append(append(append(append(append([]byte{}, vecDateTime...), vecClove...), vecCloveRouter...), vecUnknown...), vecPadding...)
	p, err := ParsePayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasDateTime || p.DateTime != 0x6553f100 {
		t.Fatalf("DateTime %#x (%v)", p.DateTime, p.HasDateTime)
	}
	if len(p.Cloves) != 2 || p.Padding != 3 || len(p.Other) != 1 || p.Other[0].Type != 224 {
		t.Fatalf("payload %+v", p)
	}
	c := p.Cloves[0]
	if c.Delivery.Type != i2np.DeliveryLocal || c.Message.Type != i2np.TypeDeliveryStatus || c.Message.ID != 0x01020304 ||
		c.Message.Expiration != 0x6553f108*1000 || !bytes.Equal(c.Message.Payload, hx("aabbcc")) {
		t.Fatalf("clove 0: %+v", c)
	}
	if c := p.Cloves[1]; c.Delivery.Type != i2np.DeliveryRouter || c.Delivery.Hash[0] != 0x11 || c.Message.Type != i2np.TypeData {
		t.Fatalf("clove 1: %+v", c)
	}
	// Append writes the same bytes: this order is Append's own.
	out, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, payload) || p.Len() != len(payload) {
		t.Fatalf("append\n got %x\nwant %x (Len %d)", out, payload, p.Len())
	}
}

func TestParsePayloadRefusals(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"block after padding", cat(vecPadding, vecClove), ErrMalformed},
		{"DateTime of 3 bytes", hx("00 0003 010203"), ErrMalformed},
		{"two DateTimes", cat(vecDateTime, vecDateTime), ErrMalformed},
		{"clove with bad delivery flag", hx("0b 000a 80 0a 01020304 6553f108"), ErrMalformed},
		{"clove shorter than a header", hx("0b 0004 00 0a 0102"), ErrMalformed},
		{"size beyond the payload", hx("0b 0010 00"), ErrTruncated},
	}
	for _, c := range cases {
		if _, err := ParsePayload(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestParseBlockTruncated(t *testing.T) {
	for _, v := range [][]byte{vecDateTime, vecClove, vecPadding} {
		for i := range v {
			if _, n, err := ParseBlock(v[:i]); !errors.Is(err, ErrTruncated) || n != 0 {
				t.Fatalf("%x: prefix %d: n %d err %v, want ErrTruncated", v, i, n, err)
			}
		}
		k, n, err := ParseBlock(v)
		if err != nil || n != len(v) || k.Len() != n {
			t.Fatalf("%x: n %d, Len %d, err %v", v, n, k.Len(), err)
		}
	}
}

func TestBlockAppendRefusesOversizedData(t *testing.T) {
	if _, err := (Block{Type: BlockPadding, Data: make([]byte, 0x10000)}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := (Payload{Padding: 0x10000}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("padding: err = %v, want ErrTooLarge", err)
	}
}

// FuzzBlocks: any input that splits into blocks appends back to the same
// bytes, and no input panics either parser.
func FuzzBlocks(f *testing.F) {
	f.Add(cat(vecDateTime, vecClove, vecPadding))
	f.Add(cat(vecCloveRouter, vecUnknown))
	f.Add([]byte{0xfe, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParsePayload(b)
		blocks, err := ParseBlocks(b)
		if err != nil {
			return
		}
		out, err := AppendBlocks(nil, blocks)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip\n got %x\nwant %x", out, b)
		}
	})
}

// FuzzPayload: a payload that parses and whose blocks are in Append's order
// (DateTime, cloves, others, padding) re-encodes to the same bytes.
func FuzzPayload(f *testing.F) {
	f.Add(cat(vecDateTime, vecClove, vecCloveRouter, vecUnknown, vecPadding))
	f.Add(cat(vecClove, vecPadding))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		blocks, _ := ParseBlocks(b)
		if !inAppendOrder(blocks) {
			return
		}
		out, err := p.Append(nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if !bytes.Equal(out, b) || p.Len() != len(b) {
			t.Fatalf("round trip\n got %x\nwant %x", out, b)
		}
	})
}

// inAppendOrder reports whether blocks are ordered as Payload.Append
// writes them, with padding all zeros and cloves in canonical encoding.
func inAppendOrder(blocks []Block) bool {
	rank := func(t BlockType) int {
		switch t {
		case BlockDateTime:
			return 0
		case BlockGarlicClove:
			return 1
		case BlockPadding:
			return 3
		}
		return 2
	}
	last := 0
	for _, k := range blocks {
		r := rank(k.Type)
		if r < last {
			return false
		}
		last = r
		if k.Type == BlockPadding && !bytes.Equal(k.Data, make([]byte, len(k.Data))) {
			return false
		}
		if k.Type == BlockGarlicClove {
			c, _, err := i2np.ParseClove(k.Data)
			if err != nil {
				return false
			}
			re, err := c.Append(nil)
			if err != nil || !bytes.Equal(re, k.Data) {
				return false
			}
		}
	}
	return true
}
