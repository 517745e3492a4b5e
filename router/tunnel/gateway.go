package tunnel

import (
	"crypto/sha256"
	"fmt"
	"io"

	"i2pbridge/router/crypto"
	"i2pbridge/router/i2np"
)

// MaxTunnelDeliveryLen is the largest message (with its 16-byte header) an
// endpoint can deliver to a tunnel: it travels on inside a TunnelGateway,
// whose payload (tunnel ID, length, message) is limited to
// i2np.MaxPayloadLen like any other. LOCAL and ROUTER deliveries may use
// i2np.MaxMessageLen.
const MaxTunnelDeliveryLen = i2np.MaxPayloadLen - 6

// Block is one I2NP message for a tunnel gateway with its delivery
// instructions for the endpoint (i2pd TunnelMessageBlock).
type Block struct {
	Delivery Delivery
	Msg      i2np.Message
}

// Preprocess fragments and packs blocks into plaintext tunnel messages,
// IV ‖ 1008 data bytes each, ready for the gateway's layer encryption
// (tunnel-message.rst §"Tunnel Message (Decrypted)"; pages/site/docs/
// tunnels/implementation.html §"Message Preprocessing"):
//
//	IV(16) checksum(4) nonzero padding 00 {instructions, fragment}...
//
// The IV is random, the checksum is the first 4 bytes of SHA-256(the
// bytes after the zero byte ‖ IV), and the padding is random nonzero bytes
// (an endpoint finds the zero byte by scanning, as i2pd does). Each block's
// message travels with its standard 16-byte header. Fragments of a split
// message carry the I2NP message ID, as the spec says the current
// implementations do.
//
// Packing: blocks go in order. A message that fits the current tunnel
// message goes there whole. Otherwise it is fragmented starting in the
// current tunnel message when that needs fewer tunnel messages than
// starting a fresh one; on a tie a fresh one is started, since fewer
// fragments mean fewer chances to lose the message. A message larger
// than i2np.MaxMessageLen is refused, as are more than 64 fragments.
//
// A message for TUNNEL delivery must also fit the TunnelGateway the
// endpoint wraps it in (MaxTunnelDeliveryLen).
//
// r supplies the IVs and padding (crypto/rand when nil).
func Preprocess(r io.Reader, blocks []Block) ([]*[crypto.TunnelMessageSize]byte, error) {
	var p packer
	for i, b := range blocks {
		if err := b.Delivery.check(); err != nil {
			return nil, fmt.Errorf("tunnel: block %d: %w", i, err)
		}
		if b.Delivery.Type == DeliveryTunnel && b.Msg.Len() > MaxTunnelDeliveryLen {
			return nil, fmt.Errorf("%w: block %d: %d-byte message for TUNNEL delivery, limit %d", ErrTooLarge, i, b.Msg.Len(), MaxTunnelDeliveryLen)
		}
		raw, err := b.Msg.Append(nil)
		if err != nil {
			return nil, fmt.Errorf("tunnel: block %d: %w", i, err)
		}
		if err := p.put(b.Delivery, b.Msg.ID, raw); err != nil {
			return nil, fmt.Errorf("tunnel: block %d: %w", i, err)
		}
	}
	return p.finish(randReader(r))
}

// packer accumulates the instruction/fragment bytes of tunnel messages.
type packer struct {
	payloads [][]byte // each at most MaxPayload bytes
}

func (p *packer) current() []byte {
	if len(p.payloads) == 0 {
		return nil
	}
	return p.payloads[len(p.payloads)-1]
}

// room is what is left in the current tunnel message (0 when there is
// none yet).
func (p *packer) room() int {
	if len(p.payloads) == 0 {
		return 0
	}
	return MaxPayload - len(p.current())
}

func (p *packer) fresh() {
	p.payloads = append(p.payloads, make([]byte, 0, MaxPayload))
}

func (p *packer) appendFragment(f *fragment) error {
	cur := p.current()
	out, err := f.Append(cur)
	if err != nil {
		return err
	}
	p.payloads[len(p.payloads)-1] = out
	return nil
}

// extraMessages is how many tunnel messages beyond the current one a
// message of n bytes with instructions of di bytes needs when it starts
// in a tunnel message with room bytes left; -1 when it cannot start there
// (not even one byte of a first fragment fits).
func extraMessages(room, di, n int) int {
	if di+2+n <= room {
		return 0
	}
	first := room - di - 4 - 2
	if first < 1 {
		return -1
	}
	rest := n - first
	return (rest + MaxFollowOnFragment - 1) / MaxFollowOnFragment
}

func (p *packer) put(d Delivery, msgID uint32, raw []byte) error {
	if len(raw) > i2np.MaxMessageLen {
		return fmt.Errorf("%w: message of %d bytes, limit %d", ErrTooLarge, len(raw), i2np.MaxMessageLen)
	}
	di := d.instructionsLen()
	room := p.room()
	here := extraMessages(room, di, len(raw))
	if here == 0 {
		return p.appendFragment(&fragment{delivery: d, data: raw})
	}
	if fresh := 1 + extraMessages(MaxPayload, di, len(raw)); here < 0 || here >= fresh {
		p.fresh()
		room = MaxPayload
		if extraMessages(room, di, len(raw)) == 0 {
			return p.appendFragment(&fragment{delivery: d, data: raw})
		}
	}
	// First fragment fills the current tunnel message.
	first := room - di - 4 - 2
	if err := p.appendFragment(&fragment{delivery: d, fragmented: true, msgID: msgID, data: raw[:first]}); err != nil {
		return err
	}
	rest := raw[first:]
	for n := 1; len(rest) > 0; n++ {
		if n > MaxFragmentNumber {
			return fmt.Errorf("%w: message of %d bytes needs more than %d fragments", ErrTooLarge, len(raw), MaxFragmentNumber+1)
		}
		size := min(len(rest), MaxFollowOnFragment)
		p.fresh()
		f := fragment{followOn: true, msgID: msgID, number: n, last: size == len(rest), data: rest[:size]}
		if err := p.appendFragment(&f); err != nil {
			return err
		}
		rest = rest[size:]
	}
	return nil
}

// finish lays every payload out as a plaintext tunnel message.
func (p *packer) finish(r io.Reader) ([]*[crypto.TunnelMessageSize]byte, error) {
	out := make([]*[crypto.TunnelMessageSize]byte, len(p.payloads))
	for i, payload := range p.payloads {
		m := new([crypto.TunnelMessageSize]byte)
		if err := layOut(r, m, payload); err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// layOut writes IV, checksum, nonzero padding, the zero byte and payload
// into m.
func layOut(r io.Reader, m *[crypto.TunnelMessageSize]byte, payload []byte) error {
	iv, body := m[:crypto.TunnelIVSize], m[crypto.TunnelIVSize:]
	if _, err := io.ReadFull(r, iv); err != nil {
		return fmt.Errorf("tunnel: IV: %w", err)
	}
	start := crypto.TunnelDataSize - len(payload) // first byte after the zero
	copy(body[start:], payload)
	body[start-1] = 0
	pad := body[checksumLen : start-1]
	if _, err := io.ReadFull(r, pad); err != nil {
		return fmt.Errorf("tunnel: padding: %w", err)
	}
	for i, c := range pad {
		if c == 0 {
			// A zero would end the padding early; any nonzero value will
			// do, and the bias of mapping 0 to 1 leaks nothing once the
			// layers are on.
			pad[i] = 1
		}
	}
	sum := checksum(body[start:], iv)
	copy(body[:checksumLen], sum[:checksumLen])
	return nil
}

// checksum is SHA-256(payload ‖ IV), whose first 4 bytes open the data.
func checksum(payload, iv []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(payload)
	h.Write(iv)
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}
