package garlic

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Ratchet block vectors assembled by hand from ecies.rst §"5) Payload",
// field by field.
var (
	vecKey = strings.Repeat("a1", 32)
	// NextKey, forward, key present + request reverse (0x05), key ID 0:
	// what i2pd sends to start the first DH ratchet.
	vecNextKeyFirst = hx("07 0023 05 0000" + vecKey)
	// NextKey, reverse, no key (0x02), key ID 0: the answer for tag set 2.
	vecNextKeyReverseOld = hx("07 0003 02 0000")
	// NextKey, reverse with key (0x03), key ID 1.
	vecNextKeyReverseNew = hx("07 0023 03 0001" + vecKey)
	// NextKey, forward, reused key 1, request reverse (0x04).
	vecNextKeyRequest = hx("07 0003 04 0001")
	// Ack of (tag set 0, N 5) and (tag set 1, N 2).
	vecAck = hx("08 0008 0000 0005 0001 0002")
	// AckRequest, flags 0.
	vecAckRequest = hx("09 0001 00")
	// Termination, reason 1, data "hi".
	vecTermination = hx("04 0003 01 6869")
	// Options: ver 0, flags 0, STL 8, STimeout 600, SOTW 160, RITW 160,
	// tmin 0, tmax 0x10, rmin 0, rmax 0x10, tdmy/rdmy/tdelay/rdelay 0,
	// then 2 more bytes.
	vecOptions = hx("05 0017 00 00 08 0258 00a0 00a0 00 10 00 10 0000 0000 0000 0000 beef")
	// Message Numbers, PN 7.
	vecMessageNumbers = hx("06 0002 0007")
)

func TestNextKeyVectors(t *testing.T) {
	key := key32(hx(vecKey))
	cases := []struct {
		name               string
		b                  []byte
		want               NextKey
		reverse, requestRv bool
	}{
		{"first forward key", vecNextKeyFirst, NextKey{Flags: 0x05, KeyID: 0, Key: key}, false, true},
		{"reverse, reused key", vecNextKeyReverseOld, NextKey{Flags: 0x02, KeyID: 0}, true, false},
		{"reverse, new key", vecNextKeyReverseNew, NextKey{Flags: 0x03, KeyID: 1, Key: key}, true, false},
		{"forward, reused key, request", vecNextKeyRequest, NextKey{Flags: 0x04, KeyID: 1}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, n, err := ParseNextKey(c.b)
			if err != nil || n != len(c.b) || got != c.want {
				t.Fatalf("ParseNextKey = %+v, %d, %v; want %+v", got, n, err, c.want)
			}
			if got.IsReverse() != c.reverse || got.RequestsReverse() != c.requestRv || got.HasKey() != (len(c.b) == 38) {
				t.Fatalf("flags: reverse %v request %v key %v", got.IsReverse(), got.RequestsReverse(), got.HasKey())
			}
			out, err := got.Append([]byte{0xee})
			if err != nil || out[0] != 0xee || !bytes.Equal(out[1:], c.b) || got.Len() != len(c.b) {
				t.Fatalf("Append = %x, %v (Len %d)", out, err, got.Len())
			}
		})
	}
}

func TestOtherRatchetBlockVectors(t *testing.T) {
	acks, n, err := ParseAckBlock(vecAck)
	if err != nil || n != len(vecAck) || !reflect.DeepEqual(acks, AckBlock{{0, 5}, {1, 2}}) {
		t.Fatalf("ParseAckBlock = %v, %d, %v", acks, n, err)
	}
	term, n, err := ParseTermination(vecTermination)
	if err != nil || n != len(vecTermination) || term.Reason != 1 || string(term.Data) != "hi" {
		t.Fatalf("ParseTermination = %+v, %d, %v", term, n, err)
	}
	opt, n, err := ParseOptions(vecOptions)
	wantOpt := Options{TagLen: 8, Timeout: 600, SOTW: 160, RITW: 160, TMax: 0x10, RMax: 0x10, More: hx("beef")}
	if err != nil || n != len(vecOptions) || !reflect.DeepEqual(opt, wantOpt) {
		t.Fatalf("ParseOptions = %+v, %d, %v", opt, n, err)
	}
	for _, c := range []struct {
		name string
		enc  interface {
			Append([]byte) ([]byte, error)
			Len() int
		}
		want []byte
	}{
		{"ack", acks, vecAck},
		{"termination", term, vecTermination},
		{"options", opt, vecOptions},
	} {
		out, err := c.enc.Append(nil)
		if err != nil || !bytes.Equal(out, c.want) || c.enc.Len() != len(c.want) {
			t.Errorf("%s: Append = %x, %v (Len %d), want %x", c.name, out, err, c.enc.Len(), c.want)
		}
	}
}

func TestRatchetPayloadVectorRoundTrips(t *testing.T) {
	// Canonical order: DateTime, Options, cloves, AckRequest, Ack,
	// NextKeys, MessageNumbers, unknown, Termination, padding.
	b := cat(vecDateTime, vecOptions, vecClove, vecCloveRouter, vecAckRequest, vecAck,
		vecNextKeyReverseNew, vecNextKeyFirst, vecMessageNumbers, vecUnknown, vecTermination, vecPadding)
	p, err := ParseRatchetPayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasDateTime || p.DateTime != 0x6553f100 || p.Options == nil || len(p.Cloves) != 2 || !p.AckRequest ||
		len(p.Acks) != 2 || len(p.NextKeys) != 2 || !p.NextKeys[0].IsReverse() || !p.HasPN || p.PN != 7 ||
		len(p.Unknown) != 1 || p.Termination == nil || p.Termination.Reason != 1 || p.Padding != 3 {
		t.Fatalf("payload %+v", p)
	}
	out, err := p.Append(nil)
	if err != nil || !bytes.Equal(out, b) || p.Len() != len(b) {
		t.Fatalf("Append\n got %x\nwant %x (Len %d, err %v)", out, b, p.Len(), err)
	}
}

func TestRatchetPayloadRefusals(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"NextKey of 4 bytes", hx("07 0004 00 0000 00"), ErrMalformed},
		{"NextKey of 3 bytes with key flag", hx("07 0003 01 0000"), ErrMalformed},
		{"NextKey of 35 bytes without key flag", hx("07 0023 00 0000" + vecKey), ErrMalformed},
		{"NextKey key ID 32768", hx("07 0003 02 8000"), ErrMalformed},
		{"three NextKeys", cat(vecNextKeyRequest, vecNextKeyRequest, vecNextKeyRequest), ErrMalformed},
		{"empty Ack", hx("08 0000"), ErrMalformed},
		{"Ack of 6 bytes", hx("08 0006 0000 0001 0002"), ErrMalformed},
		{"AckRequest of 0 bytes", hx("09 0000"), ErrMalformed},
		{"AckRequest of 2 bytes", hx("09 0002 0000"), ErrMalformed},
		{"two AckRequests", cat(vecAckRequest, vecAckRequest), ErrMalformed},
		{"Termination without reason", hx("04 0000"), ErrMalformed},
		{"two Terminations", cat(vecTermination, vecTermination), ErrMalformed},
		{"Options of 20 bytes", hx("05 0014" + strings.Repeat("00", 20)), ErrMalformed},
		{"two Options", cat(vecOptions, vecOptions), ErrMalformed},
		{"MessageNumbers of 1 byte", hx("06 0001 00"), ErrMalformed},
		{"two MessageNumbers", cat(vecMessageNumbers, vecMessageNumbers), ErrMalformed},
		{"two DateTimes", cat(vecDateTime, vecDateTime), ErrMalformed},
		{"DateTime of 5 bytes", hx("00 0005 0000000000"), ErrMalformed},
		{"bad clove", hx("0b 0004 00 0a 0102"), ErrMalformed},
		{"block after padding", cat(vecPadding, vecAck), ErrMalformed},
		{"block beyond the payload", hx("08 0008 0000"), ErrTruncated},
	}
	for _, c := range cases {
		if _, err := ParseRatchetPayload(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestRatchetBlockAppendRefusals(t *testing.T) {
	if _, err := (NextKey{KeyID: MaxKeyID + 1}).Append(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("NextKey key ID 32768: %v", err)
	}
	if _, err := AckBlock(nil).Append(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty Ack block: %v", err)
	}
	if _, err := make(AckBlock, MaxBlockDataLen/4+1).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Ack block: %v", err)
	}
	if _, err := (Termination{Data: make([]byte, MaxBlockDataLen)}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Termination: %v", err)
	}
	if _, err := (Options{More: make([]byte, MaxBlockDataLen)}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Options: %v", err)
	}
	if _, err := (RatchetPayload{Padding: MaxBlockDataLen + 1}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized padding: %v", err)
	}
	if _, err := (RatchetPayload{Padding: -1, NextKeys: make([]NextKey, 3)}).Append(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("three NextKeys: %v", err)
	}
	out, err := (RatchetPayload{Padding: -1, HasDateTime: true, NextKeys: []NextKey{{KeyID: MaxKeyID + 1}}}).Append([]byte{1})
	if err == nil || !bytes.Equal(out, []byte{1}) {
		t.Errorf("a failing Append must leave b as it was: %x, %v", out, err)
	}
}

// Every typed parser refuses every proper prefix of its block with
// ErrTruncated, and a block of another type with ErrMalformed.
func TestRatchetBlocksTruncated(t *testing.T) {
	parsers := []struct {
		name  string
		b     []byte
		parse func([]byte) (int, error)
	}{
		{"NextKey", vecNextKeyFirst, func(b []byte) (int, error) { _, n, err := ParseNextKey(b); return n, err }},
		{"Ack", vecAck, func(b []byte) (int, error) { _, n, err := ParseAckBlock(b); return n, err }},
		{"Termination", vecTermination, func(b []byte) (int, error) { _, n, err := ParseTermination(b); return n, err }},
		{"Options", vecOptions, func(b []byte) (int, error) { _, n, err := ParseOptions(b); return n, err }},
	}
	for _, p := range parsers {
		for i := range p.b {
			if n, err := p.parse(p.b[:i]); !errors.Is(err, ErrTruncated) || n != 0 {
				t.Fatalf("%s: prefix %d: n %d, err %v", p.name, i, n, err)
			}
		}
		if _, err := p.parse(vecPadding); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s of a padding block: %v", p.name, err)
		}
	}
	full := cat(vecDateTime, vecClove, vecAck, vecNextKeyFirst, vecPadding)
	for i := range full {
		if _, err := ParseRatchetPayload(full[:i]); err == nil && i != 0 && !blockBoundary(full, i) {
			t.Fatalf("prefix %d parsed", i)
		}
	}
}

// blockBoundary reports whether i ends a block of the valid payload b.
func blockBoundary(b []byte, i int) bool {
	for off := 0; off < len(b); {
		_, n, err := ParseBlock(b[off:])
		if err != nil {
			return false
		}
		off += n
		if off == i {
			return true
		}
	}
	return false
}

// FuzzRatchetPayload: no input panics; a payload that parses re-encodes to
// bytes that parse to the same payload and re-encode identically; and a
// payload already in canonical order re-encodes to its own bytes.
func FuzzRatchetPayload(f *testing.F) {
	f.Add(cat(vecDateTime, vecOptions, vecClove, vecAckRequest, vecAck, vecNextKeyFirst, vecMessageNumbers, vecTermination, vecPadding))
	f.Add(cat(vecNextKeyReverseOld, vecAck, vecAck, vecUnknown))
	f.Add(cat(vecClove, vecNextKeyRequest, vecNextKeyReverseNew))
	// Found by the fuzzer: an AckRequest with nonzero flags.
	f.Add(hx("00 0004 30303030 09 0001 30"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseRatchetPayload(b)
		if err != nil {
			return
		}
		out, err := p.Append(nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if p.Len() != len(out) {
			t.Fatalf("Len %d, encoded %d", p.Len(), len(out))
		}
		p2, err := ParseRatchetPayload(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(normalised(p), normalised(p2)) {
			t.Fatalf("round trip changed the payload\n%+v\n%+v", p, p2)
		}
		blocks, _ := ParseBlocks(b)
		if inRatchetOrder(blocks) && !bytes.Equal(out, b) {
			t.Fatalf("canonical payload re-encoded differently\n got %x\nwant %x", out, b)
		}
	})
}

// normalised maps empty slices to nil so that DeepEqual compares content.
func normalised(p RatchetPayload) RatchetPayload {
	if len(p.Acks) == 0 {
		p.Acks = nil
	}
	if p.Termination != nil && len(p.Termination.Data) == 0 {
		t := *p.Termination
		t.Data = nil
		p.Termination = &t
	}
	if p.Options != nil && len(p.Options.More) == 0 {
		o := *p.Options
		o.More = nil
		p.Options = &o
	}
	for i := range p.Unknown {
		if len(p.Unknown[i].Data) == 0 {
			p.Unknown[i].Data = nil
		}
	}
	for i := range p.Cloves {
		if len(p.Cloves[i].Message.Payload) == 0 {
			p.Cloves[i].Message.Payload = nil
		}
	}
	return p
}

// inRatchetOrder reports whether blocks are in RatchetPayload.Append's
// order, with at most one Ack block, zero padding and canonical cloves.
func inRatchetOrder(blocks []Block) bool {
	rank := map[BlockType]int{
		BlockDateTime: 0, BlockOptions: 1, BlockGarlicClove: 2, BlockAckRequest: 3, BlockAck: 4,
		BlockNextKey: 5, BlockMessageNumbers: 6, BlockTermination: 8, BlockPadding: 9,
	}
	last, acks := 0, 0
	for _, k := range blocks {
		r, ok := rank[k.Type]
		if !ok {
			r = 7
		}
		if r < last {
			return false
		}
		last = r
		if k.Type == BlockAck {
			acks++
		}
		if k.Type == BlockPadding && !bytes.Equal(k.Data, make([]byte, len(k.Data))) {
			return false
		}
	}
	return acks <= 1 && inAppendOrder(onlyCloves(blocks))
}

func onlyCloves(blocks []Block) []Block {
	var out []Block
	for _, k := range blocks {
		if k.Type == BlockGarlicClove {
			out = append(out, k)
		}
	}
	return out
}

// FuzzNextKey: a NextKey block that parses appends back to its own bytes.
func FuzzNextKey(f *testing.F) {
	for _, v := range [][]byte{vecNextKeyFirst, vecNextKeyReverseOld, vecNextKeyReverseNew, vecNextKeyRequest} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, n, err := ParseNextKey(b)
		if err != nil {
			return
		}
		out, err := k.Append(nil)
		if err != nil || !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip %x → %x, %v", b[:n], out, err)
		}
	})
}
