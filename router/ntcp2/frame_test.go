package ntcp2

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"

	"i2pbridge/router/crypto"
)

func randomKeys(t testing.TB) DataKeys {
	t.Helper()
	var k DataKeys
	for _, b := range [][]byte{k.Send[:], k.Recv[:], k.SendSip[:], k.RecvSip[:]} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// mirror returns the other side's keys.
func mirror(k DataKeys) DataKeys {
	return DataKeys{Send: k.Recv, Recv: k.Send, SendSip: k.RecvSip, RecvSip: k.SendSip}
}

func openWire(t testing.TB, o *FrameOpener, wire []byte) ([]byte, []byte) {
	t.Helper()
	if len(wire) < 2 {
		t.Fatalf("wire %d bytes", len(wire))
	}
	n, err := o.Length([2]byte(wire[:2]))
	if err != nil {
		t.Fatal(err)
	}
	if len(wire) < 2+n {
		t.Fatalf("frame says %d bytes, %d present", n, len(wire)-2)
	}
	p, err := o.Open(nil, wire[2:2+n])
	if err != nil {
		t.Fatal(err)
	}
	return p, wire[2+n:]
}

func TestFrameRoundTrip(t *testing.T) {
	k := randomKeys(t)
	s := NewFrameSealer(&k.Send, &k.SendSip)
	peer := mirror(k)
	o := NewFrameOpener(&peer.Recv, &peer.RecvSip)
	var wire []byte
	var sent [][]byte
	for _, n := range []int{0, 1, 3, 100, 1000, MaxPayloadLen} {
		p := make([]byte, n)
		rand.Read(p)
		var err error
		if wire, err = s.Seal(wire, p); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	for i, want := range sent {
		var got []byte
		got, wire = openWire(t, o, wire)
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if len(wire) != 0 || o.Received() != uint64(len(sent)) || s.Sent() != uint64(len(sent)) {
		t.Fatalf("leftover %d, received %d, sent %d", len(wire), o.Received(), s.Sent())
	}
	if _, err := s.Seal(nil, make([]byte, MaxPayloadLen+1)); err == nil {
		t.Fatal("oversized payload sealed")
	}
}

// The wire carries big endian (len XOR mask) with the mask the low 16 bits
// of SipHash(IV), and the frame is AEAD(k, n) without associated data
// (ntcp2.rst §"SipHash obfuscated length", §"Data Phase"); checked here
// against the primitives directly.
func TestFrameWireLayout(t *testing.T) {
	k := randomKeys(t)
	s := NewFrameSealer(&k.Send, &k.SendSip)
	var sipKey [16]byte
	copy(sipKey[:], k.SendSip[:16])
	iv := k.SendSip[16:24]
	for n := uint64(0); n < 3; n++ {
		payload := []byte(fmt.Sprintf("frame %d", n))
		wire, err := s.Seal(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		next := crypto.SipHash24(&sipKey, iv)
		iv = binary.LittleEndian.AppendUint64(nil, next)
		mask := uint16(next)
		wantLen := uint16(len(payload)+16) ^ mask
		if got := binary.BigEndian.Uint16(wire); got != wantLen {
			t.Fatalf("frame %d: length field %04x, want %04x", n, got, wantLen)
		}
		want := crypto.AEADSeal(&k.Send, n, nil, payload, nil)
		if !bytes.Equal(wire[2:], want) {
			t.Fatalf("frame %d: AEAD differs", n)
		}
	}
}

func TestFrameOpenerRejects(t *testing.T) {
	k := randomKeys(t)
	peer := mirror(k)
	s := NewFrameSealer(&k.Send, &k.SendSip)
	wire, _ := s.Seal(nil, []byte("hello"))

	// Tampered ciphertext or tag.
	for i := 2; i < len(wire); i++ {
		o := NewFrameOpener(&peer.Recv, &peer.RecvSip)
		n, err := o.Length([2]byte(wire[:2]))
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Open(nil, flip(wire, i)[2:2+n])
		mustFail(t, fmt.Sprintf("byte %d", i), err, crypto.ErrAuthFailed)
		if o.Received() != 0 {
			t.Fatal("failed frame counted")
		}
	}
	// Wrong direction's keys.
	o := NewFrameOpener(&k.Recv, &k.RecvSip)
	if n, err := o.Length([2]byte(wire[:2])); err == nil && n <= len(wire)-2 {
		_, err = o.Open(nil, wire[2:2+n])
		mustFail(t, "wrong direction", err, crypto.ErrAuthFailed)
	}
	// Short frames: below the MAC size.
	o = NewFrameOpener(&peer.Recv, &peer.RecvSip)
	_, err := o.Open(nil, make([]byte, 15))
	mustFail(t, "15-byte frame", err, ErrLength)
	// A length field decoding below 16.
	var sipKey [16]byte
	copy(sipKey[:], peer.RecvSip[:16])
	mask := uint16(crypto.SipHash24(&sipKey, peer.RecvSip[16:24]))
	o = NewFrameOpener(&peer.Recv, &peer.RecvSip)
	var field [2]byte
	binary.BigEndian.PutUint16(field[:], 15^mask)
	_, err = o.Length(field)
	mustFail(t, "length 15", err, ErrLength)
}

// FuzzFrames: any payload survives seal/open; any bytes fed to an opener
// fail cleanly or decode.
func FuzzFrames(f *testing.F) {
	f.Add([]byte{}, []byte{0, 0})
	f.Add([]byte("data"), []byte{0xff, 0xff, 1, 2, 3})
	k := randomKeys(f)
	peer := mirror(k)
	f.Fuzz(func(t *testing.T, payload, junk []byte) {
		s := NewFrameSealer(&k.Send, &k.SendSip)
		o := NewFrameOpener(&peer.Recv, &peer.RecvSip)
		if len(payload) > MaxPayloadLen {
			payload = payload[:MaxPayloadLen]
		}
		wire, err := s.Seal(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, rest := openWire(t, o, wire)
		if !bytes.Equal(got, payload) || len(rest) != 0 {
			t.Fatal("round trip differs")
		}
		// Blocks inside a frame round-trip too.
		if blocks, err := ParseBlocks(got); err == nil {
			if again, _ := AppendBlocks(nil, blocks...); !bytes.Equal(again, got) {
				t.Fatal("blocks round trip differs")
			}
		}
		// Junk: never a panic, never a successful open.
		j := NewFrameOpener(&peer.Recv, &peer.RecvSip)
		if len(junk) >= 2 {
			if n, err := j.Length([2]byte(junk[:2])); err == nil && len(junk)-2 >= n {
				if _, err := j.Open(nil, junk[2:2+n]); err == nil {
					t.Fatal("junk opened")
				}
			}
		}
	})
}

func BenchmarkFrameSealOpen(b *testing.B) {
	for _, size := range []int{1024, 16 * 1024, MaxPayloadLen} {
		b.Run(fmt.Sprintf("%d", size), func(b *testing.B) {
			k := randomKeys(b)
			peer := mirror(k)
			s := NewFrameSealer(&k.Send, &k.SendSip)
			o := NewFrameOpener(&peer.Recv, &peer.RecvSip)
			payload := make([]byte, size)
			wire := make([]byte, 0, size+18)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				wire, _ = s.Seal(wire[:0], payload)
				n, err := o.Length([2]byte(wire[:2]))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := o.Open(wire[2:2], wire[2:2+n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
