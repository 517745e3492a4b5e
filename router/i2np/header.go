package i2np

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Type is an I2NP message type (i2np.rst §"Messages").
type Type uint8

// Message types. 0 is reserved, 224-254 experimental, 255 future expansion;
// all of those, like any other unlisted type, parse as Unknown.
const (
	TypeDatabaseStore            Type = 1
	TypeDatabaseLookup           Type = 2
	TypeDatabaseSearchReply      Type = 3
	TypeDeliveryStatus           Type = 10
	TypeGarlic                   Type = 11
	TypeTunnelData               Type = 18
	TypeTunnelGateway            Type = 19
	TypeData                     Type = 20
	TypeTunnelBuild              Type = 21
	TypeTunnelBuildReply         Type = 22
	TypeVariableTunnelBuild      Type = 23
	TypeVariableTunnelBuildReply Type = 24
	TypeShortTunnelBuild         Type = 25 // API 0.9.51
	TypeOutboundTunnelBuildReply Type = 26 // API 0.9.51
)

var typeNames = map[Type]string{
	TypeDatabaseStore:            "DatabaseStore",
	TypeDatabaseLookup:           "DatabaseLookup",
	TypeDatabaseSearchReply:      "DatabaseSearchReply",
	TypeDeliveryStatus:           "DeliveryStatus",
	TypeGarlic:                   "Garlic",
	TypeTunnelData:               "TunnelData",
	TypeTunnelGateway:            "TunnelGateway",
	TypeData:                     "Data",
	TypeTunnelBuild:              "TunnelBuild",
	TypeTunnelBuildReply:         "TunnelBuildReply",
	TypeVariableTunnelBuild:      "VariableTunnelBuild",
	TypeVariableTunnelBuildReply: "VariableTunnelBuildReply",
	TypeShortTunnelBuild:         "ShortTunnelBuild",
	TypeOutboundTunnelBuildReply: "OutboundTunnelBuildReply",
}

// String returns the spec's name of t, or "Type(n)" for an unknown type.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Known reports whether t is one of the types this package parses.
func (t Type) Known() bool {
	_, ok := typeNames[t]
	return ok
}

// TunnelID is a 4-byte big-endian tunnel identifier (common-structures.rst
// "TunnelId"). Tunnel IDs on the wire are nonzero where the spec says so;
// that is for the tunnel layer to enforce, not these codecs.
type TunnelID uint32

// Header sizes and limits.
const (
	// HeaderLen is the standard header (i2np.rst §"I2NP message header"):
	//
	//	offset size field
	//	0      1    type
	//	1      4    msg_id
	//	5      8    expiration (Date: milliseconds since the epoch)
	//	13     2    size: payload length
	//	15     1    chks: SHA-256(payload)[0]
	HeaderLen = 16
	// ShortHeaderLen is the NTCP2/SSU2/ECIES-clove header:
	//
	//	offset size field
	//	0      1    type
	//	1      4    msg_id
	//	5      4    expiration (seconds since the epoch)
	ShortHeaderLen = 9
	// MaxPayloadLen is the largest payload i2pd 2.45 accepts: its message
	// buffer (I2NP_MAX_MESSAGE_SIZE = 62708) also holds 2 reserved bytes and
	// the 16-byte header.
	MaxPayloadLen = 62708 - 2 - HeaderLen
	// MaxMessageLen is the largest standard-header message (header +
	// MaxPayloadLen).
	MaxMessageLen = HeaderLen + MaxPayloadLen
)

// Expiration rules of i2pd 2.45 (I2NP_MESSAGE_EXPIRATION_TIMEOUT,
// I2NP_MESSAGE_CLOCK_SKEW in I2NPProtocol.h).
const (
	// DefaultExpiration is what i2pd adds to now for a new message.
	DefaultExpiration = 8 * time.Second
	// ExpirationGrace is how long after its expiration i2pd still accepts
	// a message.
	ExpirationGrace = 60 * time.Second
	// MaxExpirationAhead is how far in the future an expiration may lie
	// before i2pd treats it as bogus (3 × clock skew).
	MaxExpirationAhead = 180 * time.Second
)

// Checksum returns the standard header's chks byte for payload:
// SHA-256(payload)[0].
func Checksum(payload []byte) uint8 {
	h := sha256.Sum256(payload)
	return h[0]
}

// Header is the standard 16-byte header, field by field, as it is on the
// wire. ParseHeader does not look at the payload; Verify does.
type Header struct {
	Type       Type
	ID         uint32
	Expiration uint64 // milliseconds since the epoch
	Size       uint16 // payload length
	Checksum   uint8  // SHA-256(payload)[0]
}

// ParseHeader reads a standard header from the start of b.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderLen {
		return Header{}, 0, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderLen, len(b))
	}
	return Header{
		Type:       Type(b[0]),
		ID:         binary.BigEndian.Uint32(b[1:5]),
		Expiration: binary.BigEndian.Uint64(b[5:13]),
		Size:       binary.BigEndian.Uint16(b[13:15]),
		Checksum:   b[15],
	}, HeaderLen, nil
}

// Append appends the 16 header bytes to b.
func (h Header) Append(b []byte) ([]byte, error) {
	b = append(b, byte(h.Type))
	b = binary.BigEndian.AppendUint32(b, h.ID)
	b = binary.BigEndian.AppendUint64(b, h.Expiration)
	b = binary.BigEndian.AppendUint16(b, h.Size)
	return append(b, h.Checksum), nil
}

// Len is always HeaderLen.
func (h Header) Len() int { return HeaderLen }

// Verify checks that payload has the header's size and checksum.
func (h Header) Verify(payload []byte) error {
	if len(payload) != int(h.Size) {
		return fmt.Errorf("%w: header size %d, payload %d bytes", ErrMalformed, h.Size, len(payload))
	}
	if c := Checksum(payload); c != h.Checksum {
		return fmt.Errorf("%w: header says %#02x, payload hashes to %#02x", ErrChecksum, h.Checksum, c)
	}
	return nil
}

// ShortHeader is the 9-byte header of NTCP2 and SSU2 I2NP blocks and ECIES
// garlic cloves, as it is on the wire.
type ShortHeader struct {
	Type       Type
	ID         uint32
	Expiration uint32 // seconds since the epoch
}

// ParseShortHeader reads a short header from the start of b.
func ParseShortHeader(b []byte) (ShortHeader, int, error) {
	if len(b) < ShortHeaderLen {
		return ShortHeader{}, 0, fmt.Errorf("%w: short header needs %d bytes, have %d", ErrTruncated, ShortHeaderLen, len(b))
	}
	return ShortHeader{
		Type:       Type(b[0]),
		ID:         binary.BigEndian.Uint32(b[1:5]),
		Expiration: binary.BigEndian.Uint32(b[5:9]),
	}, ShortHeaderLen, nil
}

// Append appends the 9 header bytes to b.
func (h ShortHeader) Append(b []byte) ([]byte, error) {
	b = append(b, byte(h.Type))
	b = binary.BigEndian.AppendUint32(b, h.ID)
	return binary.BigEndian.AppendUint32(b, h.Expiration), nil
}

// Len is always ShortHeaderLen.
func (h ShortHeader) Len() int { return ShortHeaderLen }

// Message is an I2NP message independent of its header form.
type Message struct {
	Type       Type
	ID         uint32
	Expiration uint64 // milliseconds since the epoch
	Payload    []byte
}

// ParseMessage reads a standard-header message from the start of b: the
// header, then size payload bytes, whose checksum must match. The payload
// is copied.
func ParseMessage(b []byte) (Message, int, error) {
	h, n, err := ParseHeader(b)
	if err != nil {
		return Message{}, 0, err
	}
	if int(h.Size) > MaxPayloadLen {
		return Message{}, 0, fmt.Errorf("%w: %v payload of %d bytes, limit %d", ErrTooLarge, h.Type, h.Size, MaxPayloadLen)
	}
	if len(b)-n < int(h.Size) {
		return Message{}, 0, fmt.Errorf("%w: %v payload of %d bytes, have %d", ErrTruncated, h.Type, h.Size, len(b)-n)
	}
	payload := b[n : n+int(h.Size)]
	if err := h.Verify(payload); err != nil {
		return Message{}, 0, fmt.Errorf("%v %d: %w", h.Type, h.ID, err)
	}
	return Message{
		Type:       h.Type,
		ID:         h.ID,
		Expiration: h.Expiration,
		Payload:    append([]byte{}, payload...),
	}, n + int(h.Size), nil
}

// Header returns m's standard header, with size and checksum computed.
func (m Message) Header() (Header, error) {
	if len(m.Payload) > MaxPayloadLen {
		return Header{}, fmt.Errorf("%w: %v payload of %d bytes, limit %d", ErrTooLarge, m.Type, len(m.Payload), MaxPayloadLen)
	}
	return Header{
		Type:       m.Type,
		ID:         m.ID,
		Expiration: m.Expiration,
		Size:       uint16(len(m.Payload)),
		Checksum:   Checksum(m.Payload),
	}, nil
}

// Append appends m in the standard form: 16-byte header, then payload.
func (m Message) Append(b []byte) ([]byte, error) {
	h, err := m.Header()
	if err != nil {
		return b, err
	}
	b, _ = h.Append(b)
	return append(b, m.Payload...), nil
}

// Len is the standard-form length, HeaderLen + len(Payload).
func (m Message) Len() int { return HeaderLen + len(m.Payload) }

// ParseShortMessage reads a short-header message that fills all of b, as
// an NTCP2/SSU2 I2NP block or the tail of a garlic clove does. The
// expiration becomes milliseconds (seconds × 1000); the payload is copied.
func ParseShortMessage(b []byte) (Message, int, error) {
	h, n, err := ParseShortHeader(b)
	if err != nil {
		return Message{}, 0, err
	}
	if len(b)-n > MaxPayloadLen {
		return Message{}, 0, fmt.Errorf("%w: %v payload of %d bytes, limit %d", ErrTooLarge, h.Type, len(b)-n, MaxPayloadLen)
	}
	return h.Message(append([]byte{}, b[n:]...)), len(b), nil
}

// Message returns the message with header h and payload.
func (h ShortHeader) Message(payload []byte) Message {
	return Message{Type: h.Type, ID: h.ID, Expiration: uint64(h.Expiration) * 1000, Payload: payload}
}

// ShortHeader returns m's short header; the expiration is truncated to
// whole seconds (i2pd I2NPMessage::ToNTCP2). An expiration past 2106,
// where 4-byte seconds wrap, is refused.
func (m Message) ShortHeader() (ShortHeader, error) {
	s := m.Expiration / 1000
	if s > math.MaxUint32 {
		return ShortHeader{}, fmt.Errorf("%w: expiration %d ms does not fit 4-byte seconds", ErrInvalid, m.Expiration)
	}
	return ShortHeader{Type: m.Type, ID: m.ID, Expiration: uint32(s)}, nil
}

// AppendShort appends m in the short form: 9-byte header, then payload.
func (m Message) AppendShort(b []byte) ([]byte, error) {
	if len(m.Payload) > MaxPayloadLen {
		return b, fmt.Errorf("%w: %v payload of %d bytes, limit %d", ErrTooLarge, m.Type, len(m.Payload), MaxPayloadLen)
	}
	h, err := m.ShortHeader()
	if err != nil {
		return b, err
	}
	b, _ = h.Append(b)
	return append(b, m.Payload...), nil
}

// ShortLen is the short-form length, ShortHeaderLen + len(Payload).
func (m Message) ShortLen() int { return ShortHeaderLen + len(m.Payload) }

// ExpirationMillis converts t to an expiration in milliseconds since the
// epoch; times before 1970 give 0.
func ExpirationMillis(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// ExpirationTime returns m's expiration as a time (UTC). Values beyond
// year 292 million saturate.
func (m Message) ExpirationTime() time.Time {
	ms := m.Expiration
	if ms > math.MaxInt64 {
		ms = math.MaxInt64
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// IsExpired applies i2pd's I2NPMessage::IsExpired: a message is stale when
// now is more than ExpirationGrace past its expiration, or when its
// expiration lies more than MaxExpirationAhead after now.
func (m Message) IsExpired(now time.Time) bool {
	exp := m.ExpirationTime()
	return now.After(exp.Add(ExpirationGrace)) || now.Before(exp.Add(-MaxExpirationAhead))
}
