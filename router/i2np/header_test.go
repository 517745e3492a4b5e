package i2np

import (
	"errors"
	"testing"
	"time"
)

// A DeliveryStatus in both header forms (i2np.rst §"I2NP message header").
// Payload: msg_id 0x01020304, time_stamp 1672531200000 ms (2023-01-01Z).
// SHA-256 of those 12 bytes starts with 0x4b (computed with sha256sum).
var (
	dsPayload = hx("01020304 000001856aa0c800")
	// standard: type 10, msg_id deadbeef, expiration 1672531208000 ms,
	// size 12, chks 4b
	dsFull = cat(hx("0a"), hx("deadbeef"), hx("000001856aa0e740"), hx("000c"), hx("4b"), dsPayload)
	// short: type 10, msg_id deadbeef, expiration 1672531208 s
	dsShort = cat(hx("0a"), hx("deadbeef"), hx("63b0cd08"), dsPayload)
)

func TestHeaderSizesMatchSpec(t *testing.T) {
	if HeaderLen != 16 || ShortHeaderLen != 9 {
		t.Fatalf("header lengths %d/%d, spec says 16/9", HeaderLen, ShortHeaderLen)
	}
	// i2pd I2NP_MAX_MESSAGE_SIZE = 62708 holds 2 reserved bytes + header.
	if MaxPayloadLen != 62690 || MaxMessageLen != 62706 {
		t.Fatalf("MaxPayloadLen %d, MaxMessageLen %d", MaxPayloadLen, MaxMessageLen)
	}
}

func TestParseMessageStandardHeaderFields(t *testing.T) {
	h := mustRoundTrip(t, ParseHeader, dsFull, HeaderLen)
	if h.Type != TypeDeliveryStatus || h.ID != 0xdeadbeef || h.Expiration != 1672531208000 || h.Size != 12 || h.Checksum != 0x4b {
		t.Fatalf("header = %+v", h)
	}
	m := mustRoundTrip(t, ParseMessage, dsFull, len(dsFull))
	if m.Type != TypeDeliveryStatus || m.ID != 0xdeadbeef || m.Expiration != 1672531208000 {
		t.Fatalf("message = %+v", m)
	}
	if string(m.Payload) != string(dsPayload) {
		t.Fatalf("payload %x", m.Payload)
	}
	if got := m.ExpirationTime(); !got.Equal(time.Date(2023, 1, 1, 0, 0, 8, 0, time.UTC)) {
		t.Fatalf("ExpirationTime = %v", got)
	}
}

func TestParseMessageCopiesPayload(t *testing.T) {
	b := append([]byte{}, dsFull...)
	m, _, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	b[HeaderLen] ^= 0xff
	if m.Payload[0] != dsPayload[0] {
		t.Fatal("payload aliases the input buffer")
	}
}

func TestParseMessageRejectsBadChecksum(t *testing.T) {
	bad := append([]byte{}, dsFull...)
	bad[15] ^= 0x01 // chks
	if _, _, err := ParseMessage(bad); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad chks: err = %v, want ErrChecksum", err)
	}
	bad = append([]byte{}, dsFull...)
	bad[len(bad)-1] ^= 0x01 // payload byte
	if _, _, err := ParseMessage(bad); !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupted payload: err = %v, want ErrChecksum", err)
	}
	// ParseHeader alone stays lenient; Verify does the check.
	h, _, err := ParseHeader(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(bad[HeaderLen:]); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Verify: %v", err)
	}
	if err := h.Verify(bad[HeaderLen+1:]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify with short payload: %v", err)
	}
}

func TestParseMessageReadsOnlyItsSize(t *testing.T) {
	b := cat(dsFull, hx("ffff"))
	m := mustRoundTrip(t, ParseMessage, b, len(dsFull))
	if len(m.Payload) != 12 {
		t.Fatalf("payload of %d bytes", len(m.Payload))
	}
}

func TestParseMessageTruncated(t *testing.T) {
	allPrefixesTruncated(t, ParseMessage, dsFull)
	allPrefixesTruncated(t, ParseHeader, dsFull[:HeaderLen])
}

func TestShortMessageFields(t *testing.T) {
	h := mustRoundTrip(t, ParseShortHeader, dsShort, ShortHeaderLen)
	if h.Type != TypeDeliveryStatus || h.ID != 0xdeadbeef || h.Expiration != 1672531208 {
		t.Fatalf("short header = %+v", h)
	}
	m, n, err := ParseShortMessage(dsShort)
	if err != nil || n != len(dsShort) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if m.Expiration != 1672531208000 || string(m.Payload) != string(dsPayload) {
		t.Fatalf("message = %+v", m)
	}
	out, err := m.AppendShort(nil)
	if err != nil || string(out) != string(dsShort) {
		t.Fatalf("AppendShort = %x, %v", out, err)
	}
	if m.ShortLen() != len(dsShort) {
		t.Fatalf("ShortLen = %d", m.ShortLen())
	}
	// The short form has no size: everything after the header is payload,
	// and a too-short input is truncated only inside the header.
	prefixesTruncated(t, ParseShortMessage, dsShort, ShortHeaderLen)
	allPrefixesTruncated(t, ParseShortHeader, dsShort[:ShortHeaderLen])
}

func TestHeaderFormConversions(t *testing.T) {
	// short → standard: ×1000, size and checksum computed.
	m, _, err := ParseShortMessage(dsShort)
	if err != nil {
		t.Fatal(err)
	}
	full, err := m.Append(nil)
	if err != nil || string(full) != string(dsFull) {
		t.Fatalf("short→standard = %x, %v\nwant %x", full, err, dsFull)
	}
	// standard → short: milliseconds truncated, as i2pd's ToNTCP2.
	m.Expiration = 1672531208999
	short, err := m.AppendShort(nil)
	if err != nil || string(short) != string(dsShort) {
		t.Fatalf("standard→short = %x, %v", short, err)
	}
	sh, err := m.ShortHeader()
	if err != nil || sh.Expiration != 1672531208 {
		t.Fatalf("ShortHeader = %+v, %v", sh, err)
	}
	// Beyond 2106 the 4-byte seconds would wrap.
	m.Expiration = (1 << 32) * 1000
	if _, err := m.AppendShort(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("far expiration: %v", err)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	big := Message{Type: TypeData, Payload: make([]byte, MaxPayloadLen+1)}
	if _, err := big.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := big.AppendShort(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendShort: %v", err)
	}
	if _, _, err := ParseShortMessage(cat(hx("14 00000001 00000000"), big.Payload)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseShortMessage: %v", err)
	}
	// A standard header announcing 62691 bytes is refused before hashing.
	hdr := cat(hx("14 00000001 0000000000000000"), hx("f4e3"), hx("00"))
	if _, _, err := ParseMessage(cat(hdr, big.Payload)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseMessage: %v", err)
	}
	ok := Message{Type: TypeData, Payload: make([]byte, MaxPayloadLen)}
	b, err := ok.Append(nil)
	if err != nil || len(b) != MaxMessageLen {
		t.Fatalf("largest message: len %d, %v", len(b), err)
	}
	if _, n, err := ParseMessage(b); err != nil || n != MaxMessageLen {
		t.Fatalf("parse largest: n %d, %v", n, err)
	}
}

func TestMessageIsExpiredFollowsI2pd(t *testing.T) {
	exp := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	m := Message{Expiration: ExpirationMillis(exp)}
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{exp, false},
		{exp.Add(60 * time.Second), false},
		{exp.Add(60*time.Second + time.Millisecond), true},
		{exp.Add(-180 * time.Second), false},
		{exp.Add(-180*time.Second - time.Millisecond), true},
	} {
		if got := m.IsExpired(tc.now); got != tc.want {
			t.Errorf("IsExpired(exp%+v) = %v", tc.now.Sub(exp), got)
		}
	}
	if ExpirationMillis(time.Unix(-1, 0)) != 0 {
		t.Error("times before 1970 must give 0")
	}
}

func TestTypeNames(t *testing.T) {
	for typ, want := range map[Type]string{
		1: "DatabaseStore", 2: "DatabaseLookup", 3: "DatabaseSearchReply", 10: "DeliveryStatus",
		11: "Garlic", 18: "TunnelData", 19: "TunnelGateway", 20: "Data", 21: "TunnelBuild",
		22: "TunnelBuildReply", 23: "VariableTunnelBuild", 24: "VariableTunnelBuildReply",
		25: "ShortTunnelBuild", 26: "OutboundTunnelBuildReply", 0: "Type(0)", 255: "Type(255)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
		if typ.Known() != (want[:4] != "Type") {
			t.Errorf("Type(%d).Known() = %v", typ, typ.Known())
		}
	}
}

func TestExpirationTimeSaturates(t *testing.T) {
	m := Message{Expiration: ^uint64(0)}
	if got := m.ExpirationTime(); got.Before(time.Date(292277026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ExpirationTime = %v", got)
	}
	if m.IsExpired(time.Now()) != true {
		t.Fatal("an expiration far in the future is stale under i2pd's rule")
	}
}
