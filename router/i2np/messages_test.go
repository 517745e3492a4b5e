package i2np

import (
	"bytes"
	"errors"
	"testing"
)

func TestDeliveryStatusFields(t *testing.T) {
	// i2np.rst §"DeliveryStatus": msg_id(4) time_stamp(8).
	d := mustRoundTrip(t, ParseDeliveryStatus, dsPayload, DeliveryStatusLen)
	if d.MessageID != 0x01020304 || d.Timestamp != 1672531200000 {
		t.Fatalf("%+v", d)
	}
	allPrefixesTruncated(t, ParseDeliveryStatus, dsPayload)
}

func TestGarlicAndDataLengthPrefix(t *testing.T) {
	// i2np.rst §"Garlic" and §"Data": length(4) then that many bytes.
	b := cat(hx("00000005"), hx("0102030405"))
	g := mustRoundTrip(t, ParseGarlic, b, 9)
	if !bytes.Equal(g.Data, hx("0102030405")) {
		t.Fatalf("%x", g.Data)
	}
	allPrefixesTruncated(t, ParseGarlic, b)
	d := mustRoundTrip(t, ParseData, b, 9)
	if !bytes.Equal(d.Payload, hx("0102030405")) {
		t.Fatalf("%x", d.Payload)
	}
	allPrefixesTruncated(t, ParseData, b)
	empty := hx("00000000")
	if g := mustRoundTrip(t, ParseGarlic, empty, 4); len(g.Data) != 0 {
		t.Fatal("empty garlic")
	}
	// A length beyond the input is truncation, even near 2^32.
	if _, _, err := ParseData(hx("ffffffff 00")); !errors.Is(err, ErrTruncated) {
		t.Fatalf("huge length: %v", err)
	}
}

func TestTunnelDataFixedSize(t *testing.T) {
	// i2np.rst §"TunnelData": tunnelId(4) + data(1024).
	if TunnelDataLen != 1028 {
		t.Fatalf("TunnelDataLen %d", TunnelDataLen)
	}
	b := cat(hx("00abcdef"), seq(0, 256), seq(0, 256), seq(0, 256), seq(0, 256))
	td := mustRoundTrip(t, ParseTunnelData, b, TunnelDataLen)
	if td.TunnelID != 0xabcdef || td.Data[0] != 0 || td.Data[1023] != 0xff || td.Data[300] != 44 {
		t.Fatalf("tunnel %x data[0]=%d", td.TunnelID, td.Data[0])
	}
	allPrefixesTruncated(t, ParseTunnelData, b)
	if _, err := ParseBody(TypeTunnelData, cat(b, hx("00"))); !errors.Is(err, ErrTrailingBytes) {
		t.Fatalf("1029 bytes: %v", err)
	}
}

func TestTunnelGatewayWrapsStandardMessage(t *testing.T) {
	// i2np.rst §"TunnelGateway": tunnelId(4) length(2) data, the data being
	// a message with the 16-byte header.
	b := cat(hx("00001234"), hx("001c"), dsFull)
	tg := mustRoundTrip(t, ParseTunnelGateway, b, len(b))
	if tg.TunnelID != 0x1234 || !bytes.Equal(tg.Message, dsFull) {
		t.Fatalf("%+v", tg)
	}
	inner, err := tg.Inner()
	if err != nil || inner.Type != TypeDeliveryStatus || inner.ID != 0xdeadbeef || !bytes.Equal(inner.Payload, dsPayload) {
		t.Fatalf("inner %+v, %v", inner, err)
	}
	allPrefixesTruncated(t, ParseTunnelGateway, b)

	built, err := NewTunnelGateway(0x1234, inner)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := built.Append(nil)
	if !bytes.Equal(out, b) {
		t.Fatalf("NewTunnelGateway = %x", out)
	}

	bad := append([]byte{}, dsFull...)
	bad[15] ^= 0xff
	if _, err := (TunnelGateway{Message: bad}).Inner(); !errors.Is(err, ErrChecksum) {
		t.Fatalf("inner with bad checksum: %v", err)
	}
	if _, err := (TunnelGateway{Message: cat(dsFull, hx("00"))}).Inner(); !errors.Is(err, ErrTrailingBytes) {
		t.Fatalf("inner with trailing byte: %v", err)
	}
	if _, err := (TunnelGateway{Message: make([]byte, 0x10000)}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("65536-byte message: %v", err)
	}
}

func TestNewTunnelGatewayRefusesOversizeMessage(t *testing.T) {
	_, err := NewTunnelGateway(1, Message{Payload: make([]byte, MaxPayloadLen+1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
