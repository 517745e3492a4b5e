package tunnel

import (
	"encoding/binary"
	"fmt"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// DeliveryType is where a tunnel endpoint sends a message: flag bits 6-5 of
// tunnel-message delivery instructions (tunnel-message.rst §"First Fragment
// Delivery Instructions"). The numbering differs from garlic clove
// delivery instructions, where 1 is DESTINATION (i2np.DeliveryType).
type DeliveryType uint8

// Delivery types (tunnel-message.rst; i2pd TunnelBase.h TunnelDeliveryType).
const (
	DeliveryLocal  DeliveryType = 0 // to the endpoint itself
	DeliveryTunnel DeliveryType = 1 // to a tunnel: gateway hash + tunnel ID, in a TunnelGateway message
	DeliveryRouter DeliveryType = 2 // to a router, by hash
	// 3 is "unused, invalid".
)

// String names the type.
func (t DeliveryType) String() string {
	switch t {
	case DeliveryLocal:
		return "LOCAL"
	case DeliveryTunnel:
		return "TUNNEL"
	case DeliveryRouter:
		return "ROUTER"
	}
	return fmt.Sprintf("DeliveryType(%d)", uint8(t))
}

// Delivery is a message's destination at the tunnel endpoint.
type Delivery struct {
	Type     DeliveryType
	TunnelID i2np.TunnelID // TUNNEL only
	Hash     data.Hash     // TUNNEL (the gateway) and ROUTER
}

// instructionsLen is the length of first-fragment delivery instructions
// before the optional message ID: flag, [tunnel ID], [hash].
func (d Delivery) instructionsLen() int {
	switch d.Type {
	case DeliveryTunnel:
		return 1 + 4 + data.HashLen
	case DeliveryRouter:
		return 1 + data.HashLen
	}
	return 1
}

func (d Delivery) check() error {
	if d.Type > DeliveryRouter {
		return fmt.Errorf("%w: delivery type %d", ErrMalformed, d.Type)
	}
	if d.Type != DeliveryTunnel && d.TunnelID != 0 {
		return fmt.Errorf("%w: %v delivery with a tunnel ID", ErrMalformed, d.Type)
	}
	if d.Type == DeliveryLocal && !d.Hash.IsZero() {
		return fmt.Errorf("%w: LOCAL delivery with a hash", ErrMalformed)
	}
	return nil
}

// Tunnel message sizes (tunnel-message.rst; i2pd TunnelBase.h).
const (
	// MaxPayload is the room for delivery instructions and fragments in
	// one tunnel message: 1008 data bytes − 4 checksum − 1 zero byte
	// (TUNNEL_DATA_MAX_PAYLOAD_SIZE).
	MaxPayload = 1003
	// followOnHeaderLen is a follow-on fragment's instructions: flag,
	// message ID, size.
	followOnHeaderLen = 7
	// MaxFollowOnFragment is the largest follow-on fragment: 1003 − 7.
	MaxFollowOnFragment = MaxPayload - followOnHeaderLen
	// MaxFragmentNumber is the last fragment number: 6 bits, so a message
	// travels in at most 64 fragments.
	MaxFragmentNumber = 63
	// checksumLen is the checksum at the start of the decrypted data.
	checksumLen = 4
)

// Fragment flag bits (tunnel-message.rst).
const (
	flagFollowOn   = 0x80 // bit 7: follow-on fragment
	flagTypeShift  = 5    // bits 6-5: delivery type (first fragment)
	flagTypeMask   = 0x60
	flagDelay      = 0x10 // bit 4: delay byte; "unimplemented, always 0"
	flagFragmented = 0x08 // bit 3: message ID follows; more fragments come
	flagExtended   = 0x04 // bit 2: extended options; "unimplemented, always 0"
	flagReserved   = 0x03 // bits 1-0
	flagLast       = 0x01 // follow-on bit 0: last fragment
)

// fragment is one delivery-instruction/fragment pair of a tunnel message
// (tunnel-message.rst §"Tunnel Message Delivery Instructions"):
//
//	first fragment (flag bit 7 = 0):
//	  flag(1) [tunnel ID(4), TUNNEL] [hash(32), TUNNEL/ROUTER]
//	  [message ID(4), if bit 3 "fragmented"] size(2) data
//	follow-on (flag 1nnnnnnd: fragment number n 1-63, d = last):
//	  flag(1) message ID(4) size(2) data
//
// The tunnel ID comes before the hash, the reverse of garlic clove
// instructions. The delay (bit 4) and extended-options (bit 2) bits were
// never implemented; i2pd ignores them and would misread what follows, so
// parseFragment refuses them. Reserved bits 1-0 are kept so that parsing
// and appending round-trip. Data aliases the parsed input.
type fragment struct {
	followOn bool
	// First fragment.
	delivery   Delivery
	fragmented bool
	reserved   uint8
	// Fragmented first and follow-on.
	msgID uint32
	// Follow-on.
	number int
	last   bool

	data []byte
}

// headerLen is the instructions' length.
func (f *fragment) headerLen() int {
	if f.followOn {
		return followOnHeaderLen
	}
	n := f.delivery.instructionsLen() + 2
	if f.fragmented {
		n += 4
	}
	return n
}

// Len is the encoded length.
func (f *fragment) Len() int { return f.headerLen() + len(f.data) }

// parseFragment reads one pair from the start of b.
func parseFragment(b []byte) (fragment, int, error) {
	var f fragment
	if len(b) < 1 {
		return f, 0, fmt.Errorf("%w: fragment flag missing", ErrTruncated)
	}
	flag := b[0]
	f.followOn = flag&flagFollowOn != 0
	off := 1
	if f.followOn {
		if len(b) < followOnHeaderLen {
			return fragment{}, 0, fmt.Errorf("%w: follow-on instructions need %d bytes, have %d", ErrTruncated, followOnHeaderLen, len(b))
		}
		f.number = int(flag>>1) & MaxFragmentNumber
		f.last = flag&flagLast != 0
		if f.number == 0 {
			return fragment{}, 0, fmt.Errorf("%w: follow-on fragment number 0", ErrMalformed)
		}
		f.msgID = binary.BigEndian.Uint32(b[1:])
		off = 5
	} else {
		if flag&(flagDelay|flagExtended) != 0 {
			return fragment{}, 0, fmt.Errorf("%w: delivery flag %#02x asks for a delay or extended options", ErrUnsupported, flag)
		}
		f.delivery.Type = DeliveryType((flag & flagTypeMask) >> flagTypeShift)
		if f.delivery.Type > DeliveryRouter {
			return fragment{}, 0, fmt.Errorf("%w: delivery type 3", ErrMalformed)
		}
		f.fragmented = flag&flagFragmented != 0
		f.reserved = flag & flagReserved
		if n := f.headerLen(); len(b) < n {
			return fragment{}, 0, fmt.Errorf("%w: %v instructions need %d bytes, have %d", ErrTruncated, f.delivery.Type, n, len(b))
		}
		if f.delivery.Type == DeliveryTunnel {
			f.delivery.TunnelID = i2np.TunnelID(binary.BigEndian.Uint32(b[off:]))
			off += 4
		}
		if f.delivery.Type != DeliveryLocal {
			copy(f.delivery.Hash[:], b[off:])
			off += data.HashLen
		}
		if f.fragmented {
			f.msgID = binary.BigEndian.Uint32(b[off:])
			off += 4
		}
	}
	size := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if len(b)-off < size {
		return fragment{}, 0, fmt.Errorf("%w: fragment of %d bytes, have %d", ErrTruncated, size, len(b)-off)
	}
	f.data = b[off : off+size]
	return f, off + size, nil
}

// Append appends the encoded pair to b.
func (f *fragment) Append(b []byte) ([]byte, error) {
	if len(f.data) > 0xffff {
		return b, fmt.Errorf("%w: fragment of %d bytes", ErrTooLarge, len(f.data))
	}
	if f.followOn {
		if f.number < 1 || f.number > MaxFragmentNumber {
			return b, fmt.Errorf("%w: fragment number %d", ErrTooLarge, f.number)
		}
		flag := byte(flagFollowOn | f.number<<1)
		if f.last {
			flag |= flagLast
		}
		b = append(b, flag)
		b = binary.BigEndian.AppendUint32(b, f.msgID)
	} else {
		if err := f.delivery.check(); err != nil {
			return b, err
		}
		if f.reserved&^flagReserved != 0 {
			return b, fmt.Errorf("%w: reserved bits %#02x", ErrMalformed, f.reserved)
		}
		flag := byte(f.delivery.Type)<<flagTypeShift | f.reserved
		if f.fragmented {
			flag |= flagFragmented
		}
		b = append(b, flag)
		if f.delivery.Type == DeliveryTunnel {
			b = binary.BigEndian.AppendUint32(b, uint32(f.delivery.TunnelID))
		}
		if f.delivery.Type != DeliveryLocal {
			b = append(b, f.delivery.Hash[:]...)
		}
		if f.fragmented {
			b = binary.BigEndian.AppendUint32(b, f.msgID)
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.data)))
	return append(b, f.data...), nil
}
