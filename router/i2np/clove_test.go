package i2np

import (
	"bytes"
	"errors"
	"testing"
)

func TestCloveDeliveryTypes(t *testing.T) {
	// i2np.rst §"Garlic Clove Delivery Instructions": flag bits 6-5 type,
	// then the hash for DESTINATION/ROUTER/TUNNEL, then the tunnel ID.
	tests := []struct {
		name string
		b    []byte
		want CloveDelivery
	}{
		{"LOCAL", hx("00"), CloveDelivery{Type: DeliveryLocal}},
		{"DESTINATION", cat(hx("20"), rep(0xd1, 32)), CloveDelivery{Type: DeliveryDestination, Hash: hash(0xd1)}},
		{"ROUTER", cat(hx("40"), rep(0xd2, 32)), CloveDelivery{Type: DeliveryRouter, Hash: hash(0xd2)}},
		{"TUNNEL", cat(hx("60"), rep(0xd3, 32), hx("00c0ffee")), CloveDelivery{Type: DeliveryTunnel, Hash: hash(0xd3), TunnelID: 0xc0ffee}},
		{"reserved bits kept", cat(hx("45"), rep(0xd4, 32)), CloveDelivery{Type: DeliveryRouter, Hash: hash(0xd4), Reserved: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustRoundTrip(t, ParseCloveDelivery, tc.b, len(tc.b))
			if d != tc.want {
				t.Fatalf("got %+v, want %+v", d, tc.want)
			}
			allPrefixesTruncated(t, ParseCloveDelivery, tc.b)
		})
	}
	if l := (CloveDelivery{Type: DeliveryTunnel}).Len(); l != 37 {
		t.Fatalf("TUNNEL length %d, spec says 37", l)
	}
}

func TestCloveDeliveryRefusesSessionKeyAndDelay(t *testing.T) {
	for _, flag := range []byte{0x80, 0x10, 0xb0} {
		b := cat([]byte{flag}, make([]byte, 40))
		if _, _, err := ParseCloveDelivery(b); !errors.Is(err, ErrUnsupported) {
			t.Errorf("flag %#02x: %v", flag, err)
		}
	}
}

func TestCloveDeliveryAppendRefusesStrayFields(t *testing.T) {
	for name, d := range map[string]CloveDelivery{
		"LOCAL with hash":        {Type: DeliveryLocal, Hash: hash(1)},
		"ROUTER with tunnel":     {Type: DeliveryRouter, TunnelID: 1},
		"type beyond 2 bits":     {Type: 4},
		"reserved beyond 4 bits": {Reserved: 0x10},
	} {
		if _, err := d.Append(nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ecies.rst §"Garlic Clove": delivery instructions, 9-byte header, body;
// this is what i2pd's ECIESX25519AEADRatchetSession::CreateGarlicClove
// writes for a destination (the block type 11 and size come before it).
var destClove = cat(
	hx("20"), rep(0xde, 32), // DESTINATION + hash
	hx("14"),              // type: Data
	hx("00000abc"),        // msg_id
	hx("63b0cd08"),        // expiration seconds
	hx("00000003 616263"), // Data body: length 3, "abc"
)

func TestCloveFields(t *testing.T) {
	c, n, err := ParseClove(destClove)
	if err != nil || n != len(destClove) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if c.Delivery.Type != DeliveryDestination || c.Delivery.Hash != hash(0xde) ||
		c.Message.Type != TypeData || c.Message.ID != 0xabc || c.Message.Expiration != 1672531208000 ||
		!bytes.Equal(c.Message.Payload, hx("00000003 616263")) {
		t.Fatalf("%+v", c)
	}
	out, err := c.Append(nil)
	if err != nil || !bytes.Equal(out, destClove) || c.Len() != len(destClove) {
		t.Fatalf("append %x, %v", out, err)
	}
	body, err := c.Message.Body()
	if err != nil || !bytes.Equal(body.(Data).Payload, []byte("abc")) {
		t.Fatalf("body %+v, %v", body, err)
	}
	// Truncation inside the delivery instructions or the header is an
	// error; after that the body is simply shorter.
	prefixesTruncated(t, ParseClove, destClove, 33+ShortHeaderLen)
}

func TestCloveAppendPropagatesErrors(t *testing.T) {
	bad := Clove{Delivery: CloveDelivery{Type: DeliveryLocal, TunnelID: 3}}
	if out, err := bad.Append([]byte{1}); !errors.Is(err, ErrInvalid) || len(out) != 1 {
		t.Fatalf("bad delivery: %x %v", out, err)
	}
	far := Clove{Message: Message{Expiration: 1 << 60}}
	if out, err := far.Append([]byte{1}); !errors.Is(err, ErrInvalid) || len(out) != 1 {
		t.Fatalf("bad expiration: %x %v", out, err)
	}
}

func TestDeliveryTypeNames(t *testing.T) {
	for typ, want := range map[DeliveryType]string{0: "LOCAL", 1: "DESTINATION", 2: "ROUTER", 3: "TUNNEL", 4: "DeliveryType(4)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", typ, got, want)
		}
	}
}
