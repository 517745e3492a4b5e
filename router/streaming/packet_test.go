package streaming

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/data"
)

// testKeys returns a deterministic Ed25519/X25519 destination.
func testKeys(t testing.TB, seed byte) data.PrivateKeys {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := data.GeneratePrivateKeys(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustHex decodes hex written one field per line: on each line the hex
// tokens up to the first other word (the field's name) count.
func mustHex(s string) []byte {
	var b []byte
	for _, line := range strings.Split(s, "\n") {
		for _, tok := range strings.Fields(line) {
			v, err := hex.DecodeString(tok)
			if err != nil {
				break
			}
			b = append(b, v...)
		}
	}
	return b
}

// TestPacketVectorPlainAck decodes a plain ACK with NACKs written out byte
// by byte from streaming.rst §"Packet Format", and encodes it back.
func TestPacketVectorPlainAck(t *testing.T) {
	raw := mustHex(`
		11223344        sendStreamId
		55667788        receiveStreamId
		00000000        sequenceNum: 0, no SYN = plain ACK
		0000000a        ackThrough 10
		02              NACK count
		00000003        NACK 3
		00000007        NACK 7
		00              resendDelay
		0040            flags: DELAY
		0002            option size
		ea61            DELAY 60001 (choke)
	`)
	p, n, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(raw) {
		t.Fatalf("consumed %d of %d", n, len(raw))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"sendStreamId", p.SendStreamID, uint32(0x11223344)},
		{"receiveStreamId", p.ReceiveStreamID, uint32(0x55667788)},
		{"seq", p.Seq, uint32(0)},
		{"ackThrough", p.AckThrough, uint32(10)},
		{"nacks", slices.Equal(p.NACKs, []uint32{3, 7}), true},
		{"resendDelay", p.ResendDelay, uint8(0)},
		{"flags", p.Flags, FlagDelay},
		{"delay", p.Delay, uint16(ChokeDelay)},
		{"choked", p.Choked(), true},
		{"plain ack", p.IsPlainAck(), true},
		{"payload", len(p.Payload), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	out, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, raw) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", out, raw)
	}
	if p.Len() != len(raw) {
		t.Fatalf("Len %d, want %d", p.Len(), len(raw))
	}
}

// synLikeI2pd lays out, by hand, the SYN i2pd 2.45 sends
// (Stream::SendBuffer, initial packet): flags SYN|FROM|SIG|MAXSIZE|NO_ACK,
// options FROM, MAXSIZE(1812), SIG, then the payload; signed over the
// whole packet with the signature zeroed, with crypto/ed25519 directly.
func synLikeI2pd(t testing.TB, keys data.PrivateKeys, recvID uint32, payload []byte) []byte {
	t.Helper()
	dest := keys.Destination().Bytes()
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 0)      // sendStreamId unknown
	b = binary.BigEndian.AppendUint32(b, recvID) // receiveStreamId
	b = binary.BigEndian.AppendUint32(b, 0)      // seq 0
	b = binary.BigEndian.AppendUint32(b, 0)      // ackThrough (NO_ACK)
	b = append(b, 0)                             // no NACKs
	b = append(b, 9)                             // resendDelay = 9000 ms / 1000
	b = binary.BigEndian.AppendUint16(b, 0x0001|0x0020|0x0008|0x0080|0x0400)
	b = binary.BigEndian.AppendUint16(b, uint16(len(dest)+2+64))
	b = append(b, dest...)
	b = binary.BigEndian.AppendUint16(b, 1812)
	sigOff := len(b)
	b = append(b, make([]byte, 64)...)
	b = append(b, payload...)
	priv, err := keys.Ed25519PrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	copy(b[sigOff:], ed25519.Sign(priv, b))
	return b
}

// TestPacketVectorSYN checks the codec and the signing rule against a SYN
// built field by field, the way i2pd builds one.
func TestPacketVectorSYN(t *testing.T) {
	keys := testKeys(t, 1)
	payload := []byte("GET / HTTP/1.1\r\n\r\n")
	raw := synLikeI2pd(t, keys, 0xdeadbeef, payload)

	p, _, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.SendStreamID != 0 || p.ReceiveStreamID != 0xdeadbeef || p.Seq != 0 || p.AckThrough != 0 || len(p.NACKs) != 0 || p.ResendDelay != 9 {
		t.Fatalf("header fields: %v", &p)
	}
	if want := FlagSYN | FlagFrom | FlagSignature | FlagMaxSize | FlagNoAck; p.Flags != want {
		t.Fatalf("flags %s, want %s", p.Flags, want)
	}
	if p.From != keys.Destination() {
		t.Fatal("FROM is not the signer's destination")
	}
	if p.MaxSize != 1812 || len(p.Signature) != 64 || !bytes.Equal(p.Payload, payload) {
		t.Fatalf("MAXSIZE %d, signature %d bytes, payload %q", p.MaxSize, len(p.Signature), p.Payload)
	}
	if err := p.Verify(keys.Destination(), time.Now()); err != nil {
		t.Fatalf("verify: %v", err)
	}

	// AppendSigned produces the same bytes (Ed25519 is deterministic).
	q := Packet{
		ReceiveStreamID: 0xdeadbeef,
		ResendDelay:     9,
		Flags:           FlagSYN | FlagFrom | FlagMaxSize | FlagNoAck,
		From:            keys.Destination(),
		MaxSize:         1812,
		Payload:         payload,
	}
	out, err := q.AppendSigned([]byte("prefix"), keys)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("prefix")) || !bytes.Equal(out[6:], raw) {
		t.Fatalf("AppendSigned\n%x\nwant\n%x", out[6:], raw)
	}
}

// TestPacketVectorCloseAndPong checks two more i2pd layouts: the CLOSE of
// Stream::SendClose (flags CLOSE|SIG, options = the signature only) and the
// pong of Stream::HandlePing (all zero but receiveStreamId and ECHO).
func TestPacketVectorCloseAndPong(t *testing.T) {
	keys := testKeys(t, 2)
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint32(b, 8)
	b = binary.BigEndian.AppendUint32(b, 42) // seq
	b = binary.BigEndian.AppendUint32(b, 41) // ackThrough
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 0x000a)
	b = binary.BigEndian.AppendUint16(b, 64)
	sigOff := len(b)
	b = append(b, make([]byte, 64)...)
	priv, _ := keys.Ed25519PrivateKey()
	copy(b[sigOff:], ed25519.Sign(priv, b))

	p, _, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Flags != FlagClose|FlagSignature || p.Seq != 42 || p.AckThrough != 41 || len(p.Payload) != 0 {
		t.Fatalf("close: %v", &p)
	}
	if err := p.Verify(keys.Destination(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(testKeys(t, 3).Destination(), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify with another key: %v", err)
	}

	pong := mustHex(`00000000 0000abcd 00000000 00000000 00 00 0200 0000 706f6e67`)
	q, _, err := Parse(pong)
	if err != nil {
		t.Fatal(err)
	}
	if q.Flags != FlagEcho || q.SendStreamID != 0 || q.ReceiveStreamID != 0xabcd || string(q.Payload) != "pong" {
		t.Fatalf("pong: %v", &q)
	}
}

// offlinePacket builds a SYN signed by a transient key that keys signed
// (streaming.rst flag 11; common-structures.rst "OfflineSignature").
func offlinePacket(t testing.TB, keys data.PrivateKeys, expires time.Time) []byte {
	t.Helper()
	tpub, tpriv, err := ed25519.GenerateKey(rand.NewChaCha8([32]byte{9}))
	if err != nil {
		t.Fatal(err)
	}
	off := data.OfflineSignature{Expires: uint32(expires.Unix()), TransientSigType: data.SigTypeEd25519, TransientKey: tpub}
	msg := binary.BigEndian.AppendUint32(nil, off.Expires)
	msg = binary.BigEndian.AppendUint16(msg, off.TransientSigType)
	msg = append(msg, tpub...)
	if off.Signature, err = keys.Sign(msg); err != nil {
		t.Fatal(err)
	}
	p := Packet{
		ReceiveStreamID: 5,
		Flags:           FlagSYN | FlagFrom | FlagDelay | FlagMaxSize | FlagOfflineSignature | FlagSignature,
		Delay:           100,
		From:            keys.Destination(),
		MaxSize:         1730,
		Offline:         &off,
		Signature:       make([]byte, 64),
		Payload:         []byte("x"),
	}
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	sigOff := len(b) - 1 - 64
	copy(b[sigOff:], ed25519.Sign(tpriv, b))
	return b
}

func TestPacketOfflineSignature(t *testing.T) {
	keys := testKeys(t, 4)
	now := time.Unix(1_700_000_000, 0)
	raw := offlinePacket(t, keys, now.Add(time.Hour))
	p, _, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offline == nil || p.Delay != 100 || p.MaxSize != 1730 || string(p.Payload) != "x" {
		t.Fatalf("parsed %v offline=%v", &p, p.Offline)
	}
	if err := p.Verify(keys.Destination(), now); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := p.Verify(keys.Destination(), now.Add(2*time.Hour)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("expired offline key: %v", err)
	}
	raw[len(raw)-1] ^= 1
	p, _, _ = Parse(raw)
	if err := p.Verify(keys.Destination(), now); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered payload: %v", err)
	}
}

// vectors returns encoded packets of every shape, for truncation and fuzz
// seeds.
func vectors(t testing.TB) [][]byte {
	keys := testKeys(t, 5)
	out := [][]byte{
		mustHex(`11223344 55667788 00000000 0000000a 02 00000003 00000007 00 0040 0002 ea61`),
		mustHex(`00000000 0000abcd 00000000 00000000 00 00 0200 0000 706f6e67`),
		synLikeI2pd(t, keys, 1, []byte("hello")),
		offlinePacket(t, keys, time.Now().Add(time.Hour)),
	}
	closeWithData := Packet{SendStreamID: 1, ReceiveStreamID: 2, Seq: 3, AckThrough: 2, Flags: FlagClose, Payload: []byte("bye")}
	b, err := closeWithData.AppendSigned(nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, b)
}

// headerLen is where the payload starts.
func headerLen(b []byte) int {
	nc := int(b[16])
	return fixedHeadLen + 4*nc + fixedTailLen + int(binary.BigEndian.Uint16(b[fixedHeadLen+4*nc+3:]))
}

// TestParseTruncated feeds every prefix of every vector: cut inside the
// header or the options it must fail with ErrTruncated; cut in the payload
// it is a shorter packet (the payload has no length field).
func TestParseTruncated(t *testing.T) {
	for vi, v := range vectors(t) {
		h := headerLen(v)
		for i := range len(v) {
			p, _, err := Parse(v[:i])
			if i < h {
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("vector %d prefix %d/%d: err %v, want ErrTruncated", vi, i, h, err)
				}
				continue
			}
			if err != nil || len(p.Payload) != i-h {
				t.Fatalf("vector %d prefix %d: err %v, payload %d", vi, i, err, len(p.Payload))
			}
		}
	}
}

func TestParseMalformed(t *testing.T) {
	dest := testKeys(t, 6).Destination().Bytes()
	head := func(flags uint16, opts []byte) []byte {
		b := make([]byte, 18)
		b = binary.BigEndian.AppendUint16(b, flags)
		b = binary.BigEndian.AppendUint16(b, uint16(len(opts)))
		return append(b, opts...)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"DELAY short", head(uint16(FlagDelay), []byte{1})},
		{"MAXSIZE short", head(uint16(FlagMaxSize), []byte{1})},
		{"FROM garbage", head(uint16(FlagFrom), []byte{1, 2, 3})},
		{"FROM then MAXSIZE short", head(uint16(FlagFrom|FlagMaxSize), append(slices.Clone(dest), 7))},
		{"OFFLINE without FROM", head(uint16(FlagOfflineSignature), make([]byte, 200))},
		{"OFFLINE short", head(uint16(FlagFrom|FlagOfflineSignature), append(slices.Clone(dest), 0, 0, 0, 1, 0, 7))},
		{"SIG without bytes", head(uint16(FlagSignature), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Parse(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAppendRefusesInconsistentPackets(t *testing.T) {
	dest := testKeys(t, 7).Destination()
	tests := []struct {
		name string
		p    Packet
	}{
		{"FROM flag without From", Packet{Flags: FlagFrom}},
		{"From without flag", Packet{From: dest}},
		{"SIG flag without signature", Packet{Flags: FlagSignature}},
		{"signature without flag", Packet{Signature: []byte{1}}},
		{"OFFLINE flag without Offline", Packet{Flags: FlagOfflineSignature | FlagFrom, From: dest}},
		{"Offline without FROM", Packet{Flags: FlagOfflineSignature, Offline: &data.OfflineSignature{TransientSigType: 7, TransientKey: make([]byte, 32)}}},
		{"unknown options after SIG", Packet{Flags: FlagSignature, Signature: []byte{1}, UnknownOptions: []byte{2}}},
		{"256 NACKs", Packet{NACKs: make([]uint32, 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.Append(nil); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
			if tt.p.Len() != 0 {
				t.Fatalf("Len %d for an unencodable packet", tt.p.Len())
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	keys := testKeys(t, 8)
	p := Packet{SendStreamID: 1, ReceiveStreamID: 2, Seq: 1, Flags: FlagReset}
	raw, err := p.AppendSigned(nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		bad := slices.Clone(raw)
		bad[i] ^= 0x80
		q, _, err := Parse(bad)
		if err != nil {
			continue // e.g. the option size now overruns
		}
		if err := q.Verify(keys.Destination(), time.Now()); err == nil {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	q, _, _ := Parse(raw)
	q.Signature = q.Signature[:63]
	if err := q.Verify(keys.Destination(), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
	unsigned := Packet{Seq: 1}
	if err := unsigned.Verify(keys.Destination(), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "0"},
		{FlagSYN | FlagSignature | FlagFrom, "SYN|SIG|FROM"},
		{FlagEcho | 0x8000, "ECHO|0x8000"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#x: %q, want %q", uint16(tt.f), got, tt.want)
		}
	}
}

// FuzzPacketRoundTrip: whatever parses must encode back to the same bytes,
// with Len agreeing; Verify depends on this.
func FuzzPacketRoundTrip(f *testing.F) {
	for _, v := range vectors(f) {
		f.Add(v)
	}
	f.Add(make([]byte, MinPacketLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := Parse(b)
		if err != nil {
			return
		}
		if n != len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		out, err := p.Append(nil)
		if err != nil {
			t.Fatalf("append of a parsed packet: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip\n%x\nwant\n%x", out, b)
		}
		if p.Len() != len(b) {
			t.Fatalf("Len %d, want %d", p.Len(), len(b))
		}
	})
}
