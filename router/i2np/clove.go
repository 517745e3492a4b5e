package i2np

import (
	"encoding/binary"
	"fmt"

	"i2pbridge/router/data"
)

// DeliveryType is a garlic clove's delivery type, flag bits 6-5 (i2np.rst
// §"Garlic Clove Delivery Instructions").
type DeliveryType uint8

// Delivery types.
const (
	DeliveryLocal       DeliveryType = 0 // to the router or destination that decrypted the garlic
	DeliveryDestination DeliveryType = 1 // to a destination, by hash
	DeliveryRouter      DeliveryType = 2 // to a router, by hash
	DeliveryTunnel      DeliveryType = 3 // to a tunnel: gateway hash + tunnel ID
)

// String names the delivery type.
func (t DeliveryType) String() string {
	switch t {
	case DeliveryLocal:
		return "LOCAL"
	case DeliveryDestination:
		return "DESTINATION"
	case DeliveryRouter:
		return "ROUTER"
	case DeliveryTunnel:
		return "TUNNEL"
	}
	return fmt.Sprintf("DeliveryType(%d)", uint8(t))
}

// Garlic clove delivery flag bits (i2np.rst §"Garlic Clove Delivery
// Instructions").
const (
	cloveFlagEncrypted    = 0x80 // bit 7: session key follows; "unimplemented, always 0"
	cloveFlagTypeShift    = 5    // bits 6-5: DeliveryType
	cloveFlagTypeMask     = 0x60
	cloveFlagDelay        = 0x10 // bit 4: delay follows; "not fully implemented, always 0"
	cloveFlagReservedMask = 0x0f // bits 3-0: reserved, 0
)

// CloveDelivery is the delivery instructions of a garlic clove, the format
// shared by ElGamal and ECIES cloves and different from tunnel-message
// delivery instructions (i2np.rst §"Garlic Clove Delivery Instructions";
// ecies.rst §"Garlic Clove"):
//
//	offset size field
//	0      1    flag: bit 7 encrypted (0), bits 6-5 type, bit 4 delay (0), bits 3-0 reserved
//	1      32   to hash: DESTINATION, ROUTER or TUNNEL (gateway) only
//	33     4    tunnel ID: TUNNEL only
//
// Lengths are therefore 1 (LOCAL), 33 (DESTINATION, ROUTER) or 37
// (TUNNEL). The hash comes before the tunnel ID, the reverse of tunnel
// delivery instructions; i2pd reads it in this order. Reserved keeps bits
// 3-0 so that parsing and appending round-trip; senders leave it 0.
type CloveDelivery struct {
	Type     DeliveryType
	Hash     data.Hash // DESTINATION, ROUTER, TUNNEL
	TunnelID TunnelID  // TUNNEL
	Reserved uint8     // flag bits 3-0
}

// ParseCloveDelivery reads garlic clove delivery instructions from the
// start of b. A flag with the session-key or delay bit is refused
// (ErrUnsupported): the spec says they are never set, and i2pd, which
// ignores both bits, would read such a clove differently.
func ParseCloveDelivery(b []byte) (CloveDelivery, int, error) {
	if len(b) < 1 {
		return CloveDelivery{}, 0, fmt.Errorf("%w: clove delivery flag missing", ErrTruncated)
	}
	flag := b[0]
	if flag&(cloveFlagEncrypted|cloveFlagDelay) != 0 {
		return CloveDelivery{}, 0, fmt.Errorf("%w: clove delivery flag %#02x asks for a session key or delay", ErrUnsupported, flag)
	}
	d := CloveDelivery{
		Type:     DeliveryType((flag & cloveFlagTypeMask) >> cloveFlagTypeShift),
		Reserved: flag & cloveFlagReservedMask,
	}
	n := d.Len()
	if len(b) < n {
		return CloveDelivery{}, 0, fmt.Errorf("%w: %v clove delivery needs %d bytes, have %d", ErrTruncated, d.Type, n, len(b))
	}
	if d.Type != DeliveryLocal {
		copy(d.Hash[:], b[1:33])
	}
	if d.Type == DeliveryTunnel {
		d.TunnelID = TunnelID(binary.BigEndian.Uint32(b[33:37]))
	}
	return d, n, nil
}

// Len is 1, 33 or 37 by type.
func (d CloveDelivery) Len() int {
	switch d.Type {
	case DeliveryLocal:
		return 1
	case DeliveryTunnel:
		return 1 + data.HashLen + 4
	}
	return 1 + data.HashLen
}

// Append appends the delivery instructions to b. Fields the type does not
// carry must be zero, and Type and Reserved must fit their bits
// (ErrInvalid).
func (d CloveDelivery) Append(b []byte) ([]byte, error) {
	if d.Type > DeliveryTunnel {
		return b, fmt.Errorf("%w: clove delivery type %d", ErrInvalid, d.Type)
	}
	if d.Reserved&^cloveFlagReservedMask != 0 {
		return b, fmt.Errorf("%w: clove delivery reserved bits %#02x beyond bits 3-0", ErrInvalid, d.Reserved)
	}
	if d.Type == DeliveryLocal && !d.Hash.IsZero() {
		return b, fmt.Errorf("%w: LOCAL clove delivery with a hash", ErrInvalid)
	}
	if d.Type != DeliveryTunnel && d.TunnelID != 0 {
		return b, fmt.Errorf("%w: %v clove delivery with a tunnel ID", ErrInvalid, d.Type)
	}
	b = append(b, byte(d.Type)<<cloveFlagTypeShift|d.Reserved)
	if d.Type != DeliveryLocal {
		b = append(b, d.Hash[:]...)
	}
	if d.Type == DeliveryTunnel {
		b = binary.BigEndian.AppendUint32(b, uint32(d.TunnelID))
	}
	return b, nil
}

// Clove is the content of an ECIES garlic clove block (block type 11), the
// bytes after the block's type and size (ecies.rst §"Garlic Clove"):
//
//	delivery instructions (1, 33 or 37 bytes)
//	type(1) msg_id(4) expiration seconds(4)   the short I2NP header
//	message body, to the end of the block
//
// The ElGamal clove's Clove ID, expiration and certificate are absent.
type Clove struct {
	Delivery CloveDelivery
	Message  Message
}

// ParseClove reads a clove that fills all of b (a garlic clove block's
// content). The message payload is copied; its expiration becomes
// milliseconds.
func ParseClove(b []byte) (Clove, int, error) {
	d, n, err := ParseCloveDelivery(b)
	if err != nil {
		return Clove{}, 0, err
	}
	m, _, err := ParseShortMessage(b[n:])
	if err != nil {
		return Clove{}, 0, fmt.Errorf("i2np: %v clove: %w", d.Type, err)
	}
	return Clove{Delivery: d, Message: m}, len(b), nil
}

// Len is the delivery instructions' length + ShortHeaderLen + the payload.
func (c Clove) Len() int { return c.Delivery.Len() + c.Message.ShortLen() }

// Append appends the clove content (without the block type and size) to b.
func (c Clove) Append(b []byte) ([]byte, error) {
	out, err := c.Delivery.Append(b)
	if err != nil {
		return b, err
	}
	out, err = c.Message.AppendShort(out)
	if err != nil {
		return b, err
	}
	return out, nil
}
