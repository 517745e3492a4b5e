package i2np

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DeliveryStatusLen is the DeliveryStatus body length.
const DeliveryStatusLen = 12

// DeliveryStatus (type 10) acknowledges a message (i2np.rst
// §"DeliveryStatus"):
//
//	offset size field
//	0      4    msg_id: the acknowledged message, or a DatabaseStore's reply token
//	4      8    time_stamp: Date, milliseconds since the epoch
type DeliveryStatus struct {
	MessageID uint32
	Timestamp uint64
}

// ParseDeliveryStatus reads a DeliveryStatus body from the start of b.
func ParseDeliveryStatus(b []byte) (DeliveryStatus, int, error) {
	if len(b) < DeliveryStatusLen {
		return DeliveryStatus{}, 0, fmt.Errorf("%w: DeliveryStatus needs %d bytes, have %d", ErrTruncated, DeliveryStatusLen, len(b))
	}
	return DeliveryStatus{
		MessageID: binary.BigEndian.Uint32(b[0:4]),
		Timestamp: binary.BigEndian.Uint64(b[4:12]),
	}, DeliveryStatusLen, nil
}

// Type is TypeDeliveryStatus.
func (d DeliveryStatus) Type() Type { return TypeDeliveryStatus }

// Len is DeliveryStatusLen.
func (d DeliveryStatus) Len() int { return DeliveryStatusLen }

// Append appends the 12 body bytes to b.
func (d DeliveryStatus) Append(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, d.MessageID)
	return binary.BigEndian.AppendUint64(b, d.Timestamp), nil
}

// Garlic (type 11) carries an encrypted clove set (i2np.rst §"Garlic",
// ecies.rst, ecies-routers.rst):
//
//	offset size   field
//	0      4      length
//	4      length data: for ECIES, an ephemeral key or 8-byte tag, then AEAD ciphertext
type Garlic struct {
	Data []byte
}

// ParseGarlic reads a Garlic body from the start of b.
func ParseGarlic(b []byte) (Garlic, int, error) {
	d, n, err := parseLength32(b, "Garlic")
	return Garlic{Data: d}, n, err
}

// Type is TypeGarlic.
func (g Garlic) Type() Type { return TypeGarlic }

// Len is 4 + len(Data).
func (g Garlic) Len() int { return 4 + len(g.Data) }

// Append appends the length and data to b.
func (g Garlic) Append(b []byte) ([]byte, error) { return appendLength32(b, g.Data, "Garlic") }

// Data (type 20) wraps opaque bytes, in practice a gzip-framed I2CP payload
// inside a garlic clove (i2np.rst §"Data"):
//
//	offset size   field
//	0      4      length
//	4      length payload
type Data struct {
	Payload []byte
}

// ParseData reads a Data body from the start of b.
func ParseData(b []byte) (Data, int, error) {
	d, n, err := parseLength32(b, "Data")
	return Data{Payload: d}, n, err
}

// Type is TypeData.
func (d Data) Type() Type { return TypeData }

// Len is 4 + len(Payload).
func (d Data) Len() int { return 4 + len(d.Payload) }

// Append appends the length and payload to b.
func (d Data) Append(b []byte) ([]byte, error) { return appendLength32(b, d.Payload, "Data") }

func parseLength32(b []byte, what string) ([]byte, int, error) {
	if len(b) < 4 {
		return nil, 0, fmt.Errorf("%w: %s length needs 4 bytes, have %d", ErrTruncated, what, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, 0, fmt.Errorf("%w: %s of %d bytes, have %d", ErrTruncated, what, n, len(b)-4)
	}
	return b[4 : 4+int(n)], 4 + int(n), nil
}

func appendLength32(b, d []byte, what string) ([]byte, error) {
	if uint64(len(d)) > math.MaxUint32 {
		return b, fmt.Errorf("%w: %s of %d bytes", ErrTooLarge, what, len(d))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
	return append(b, d...), nil
}

// Tunnel data sizes (i2np.rst §"TunnelData", tunnel-message.rst).
const (
	// TunnelDataDataLen is the fixed data part: IV(16) then 1008 encrypted
	// bytes.
	TunnelDataDataLen = 1024
	// TunnelDataLen is the whole body: tunnel ID(4) + data(1024).
	TunnelDataLen = 4 + TunnelDataDataLen
)

// TunnelData (type 18) is one fixed-size tunnel message between hops
// (i2np.rst §"TunnelData"):
//
//	offset size field
//	0      4    tunnelId
//	4      1024 data: IV(16) + encrypted(1008), see tunnel-message.rst
type TunnelData struct {
	TunnelID TunnelID
	Data     [TunnelDataDataLen]byte
}

// ParseTunnelData reads a TunnelData body from the start of b.
func ParseTunnelData(b []byte) (TunnelData, int, error) {
	var t TunnelData
	if len(b) < TunnelDataLen {
		return t, 0, fmt.Errorf("%w: TunnelData needs %d bytes, have %d", ErrTruncated, TunnelDataLen, len(b))
	}
	t.TunnelID = TunnelID(binary.BigEndian.Uint32(b))
	copy(t.Data[:], b[4:TunnelDataLen])
	return t, TunnelDataLen, nil
}

// Type is TypeTunnelData.
func (t TunnelData) Type() Type { return TypeTunnelData }

// Len is TunnelDataLen.
func (t TunnelData) Len() int { return TunnelDataLen }

// Append appends the 1028 body bytes to b.
func (t TunnelData) Append(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, uint32(t.TunnelID))
	return append(b, t.Data[:]...), nil
}

// TunnelGateway (type 19) hands a message to an inbound gateway (i2np.rst
// §"TunnelGateway"):
//
//	offset size   field
//	0      4      tunnelId
//	4      2      length
//	6      length data: an I2NP message with the standard 16-byte header
//
// Message keeps those bytes as they came; Inner parses them.
type TunnelGateway struct {
	TunnelID TunnelID
	Message  []byte
}

// NewTunnelGateway wraps m, encoded with its standard header, for tunnel
// id.
func NewTunnelGateway(id TunnelID, m Message) (TunnelGateway, error) {
	inner, err := m.Append(nil)
	if err != nil {
		return TunnelGateway{}, err
	}
	return TunnelGateway{TunnelID: id, Message: inner}, nil
}

// ParseTunnelGateway reads a TunnelGateway body from the start of b. The
// wrapped message is not parsed; see Inner.
func ParseTunnelGateway(b []byte) (TunnelGateway, int, error) {
	if len(b) < 6 {
		return TunnelGateway{}, 0, fmt.Errorf("%w: TunnelGateway needs 6 bytes, have %d", ErrTruncated, len(b))
	}
	id := TunnelID(binary.BigEndian.Uint32(b))
	n := int(binary.BigEndian.Uint16(b[4:]))
	if len(b)-6 < n {
		return TunnelGateway{}, 0, fmt.Errorf("%w: TunnelGateway message of %d bytes, have %d", ErrTruncated, n, len(b)-6)
	}
	return TunnelGateway{TunnelID: id, Message: b[6 : 6+n]}, 6 + n, nil
}

// Inner parses the wrapped message; it must fill Message exactly and its
// checksum must match.
func (t TunnelGateway) Inner() (Message, error) {
	m, n, err := ParseMessage(t.Message)
	if err != nil {
		return Message{}, fmt.Errorf("i2np: TunnelGateway message: %w", err)
	}
	if n != len(t.Message) {
		return Message{}, fmt.Errorf("%w: TunnelGateway message uses %d of %d bytes", ErrTrailingBytes, n, len(t.Message))
	}
	return m, nil
}

// Type is TypeTunnelGateway.
func (t TunnelGateway) Type() Type { return TypeTunnelGateway }

// Len is 6 + len(Message).
func (t TunnelGateway) Len() int { return 6 + len(t.Message) }

// Append appends the encoded body to b; the message is limited by its
// 2-byte length.
func (t TunnelGateway) Append(b []byte) ([]byte, error) {
	if len(t.Message) > 0xffff {
		return b, fmt.Errorf("%w: TunnelGateway message of %d bytes, limit 65535", ErrTooLarge, len(t.Message))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(t.TunnelID))
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Message)))
	return append(b, t.Message...), nil
}
