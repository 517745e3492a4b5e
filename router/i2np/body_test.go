package i2np

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// bodyVectors holds one valid payload per known type, each built by hand in
// the other test files.
func bodyVectors() map[Type][]byte {
	return map[Type][]byte{
		TypeDatabaseStore:            dsmRouterInfo,
		TypeDatabaseLookup:           cat(rep(1, 32), rep(2, 32), hx("08"), hx("0000")),
		TypeDatabaseSearchReply:      dsrm,
		TypeDeliveryStatus:           dsPayload,
		TypeGarlic:                   hx("00000002 abcd"),
		TypeTunnelData:               cat(hx("00000001"), make([]byte, 1024)),
		TypeTunnelGateway:            cat(hx("00001234 001c"), dsFull),
		TypeData:                     hx("00000001 ff"),
		TypeTunnelBuild:              records(8, 528),
		TypeTunnelBuildReply:         records(8, 528),
		TypeVariableTunnelBuild:      cat(hx("02"), records(2, 528)),
		TypeVariableTunnelBuildReply: cat(hx("03"), records(3, 528)),
		TypeShortTunnelBuild:         cat(hx("04"), records(4, 218)),
		TypeOutboundTunnelBuildReply: cat(hx("05"), records(5, 218)),
	}
}

func TestParseBodyDispatchesByType(t *testing.T) {
	wantGo := map[Type]any{
		TypeDatabaseStore:            DatabaseStore{},
		TypeDatabaseLookup:           DatabaseLookup{},
		TypeDatabaseSearchReply:      DatabaseSearchReply{},
		TypeDeliveryStatus:           DeliveryStatus{},
		TypeGarlic:                   Garlic{},
		TypeTunnelData:               TunnelData{},
		TypeTunnelGateway:            TunnelGateway{},
		TypeData:                     Data{},
		TypeTunnelBuild:              TunnelBuild{},
		TypeTunnelBuildReply:         TunnelBuildReply{},
		TypeVariableTunnelBuild:      VariableTunnelBuild{},
		TypeVariableTunnelBuildReply: VariableTunnelBuildReply{},
		TypeShortTunnelBuild:         ShortTunnelBuild{},
		TypeOutboundTunnelBuildReply: OutboundTunnelBuildReply{},
	}
	vectors := bodyVectors()
	if len(vectors) != len(typeNames) || len(wantGo) != len(typeNames) {
		t.Fatalf("a known type has no vector")
	}
	for typ, payload := range vectors {
		body, err := ParseBody(typ, payload)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if reflect.TypeOf(body) != reflect.TypeOf(wantGo[typ]) || body.Type() != typ {
			t.Fatalf("%v parsed as %T (type %v)", typ, body, body.Type())
		}
		out, err := body.Append(nil)
		if err != nil || !bytes.Equal(out, payload) || body.Len() != len(payload) {
			t.Fatalf("%v: append mismatch (%v)", typ, err)
		}
		if _, err := ParseBody(typ, cat(payload, hx("00"))); !errors.Is(err, ErrTrailingBytes) {
			t.Errorf("%v with a trailing byte: %v", typ, err)
		}
		if _, err := ParseBody(typ, nil); !errors.Is(err, ErrTruncated) {
			t.Errorf("%v empty: %v", typ, err)
		}
		// Through a whole message and back.
		m, err := NewMessage(7, 1672531208000, body)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := ParseMessage(wire)
		if err != nil || back.Type != typ {
			t.Fatalf("%v: %v", typ, err)
		}
		if b2, err := back.Body(); err != nil || !reflect.DeepEqual(b2, body) {
			t.Fatalf("%v: body after message round trip differs (%v)", typ, err)
		}
	}
}

func TestParseBodyKeepsUnknownTypes(t *testing.T) {
	for _, typ := range []Type{0, 4, 12, 17, 27, 224, 254, 255} {
		payload := hx("0102")
		body, err := ParseBody(typ, payload)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		u, ok := body.(Unknown)
		if !ok || u.Type() != typ || !bytes.Equal(u.Payload, payload) {
			t.Fatalf("%v: %#v", typ, body)
		}
		out, _ := u.Append(nil)
		if !bytes.Equal(out, payload) || u.Len() != 2 {
			t.Fatalf("%v: append %x", typ, out)
		}
	}
	if b, err := ParseBody(99, nil); err != nil || b.Len() != 0 {
		t.Fatalf("empty unknown: %v", err)
	}
}

func TestParseBodyNamesTheType(t *testing.T) {
	_, err := ParseBody(TypeShortTunnelBuild, hx("09"))
	if !errors.Is(err, ErrRecordCount) || !bytes.Contains([]byte(err.Error()), []byte("ShortTunnelBuild")) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewMessageRefusesOversizeBody(t *testing.T) {
	_, err := NewMessage(1, 0, Data{Payload: make([]byte, MaxPayloadLen-3)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	_, err = NewMessage(1, 0, DatabaseStore{ReplyTunnel: 1})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid body: %v", err)
	}
}
