package garlic

import (
	"fmt"
	"io"
	"time"

	"i2pbridge/router/i2np"
)

// maxWrapPadding bounds the random padding block of a wrapped message:
// i2pd's CreateGarlicPayload pads with 0-15 bytes.
const maxWrapPadding = 15

// WrapForRouter returns the Garlic message that carries m to the router
// whose RouterIdentity X25519 key is rs: an N message whose payload is a
// DateTime block, m as a LOCAL clove, and 0-15 bytes of padding, the
// layout of i2pd's WrapECIESX25519MessageForRouter. The Garlic message gets
// a random ID and expires i2np.DefaultExpiration after now. A tunnel
// creator uses it to hide an inbound ShortTunnelBuild from the outbound
// endpoint that delivers it to the inbound gateway
// (tunnel-creation-ecies.rst §"Garlic Encryption").
func WrapForRouter(r io.Reader, now time.Time, rs [32]byte, m i2np.Message) (i2np.Message, error) {
	p, err := wrapPayload(r, m, true, now)
	if err != nil {
		return i2np.Message{}, err
	}
	data, err := SealRouter(r, rs, nil, p)
	if err != nil {
		return i2np.Message{}, err
	}
	return garlicMessage(r, now, data)
}

// WrapTagged returns the tag-only Garlic message that carries m under a
// one-time key and tag: m as a LOCAL clove and 0-15 bytes of padding, with
// no DateTime, the layout of i2pd's WrapECIESX25519Message. An outbound
// endpoint wraps its OutboundTunnelBuildReply this way with the build's
// RGarlicKeyAndTag key and tag.
func WrapTagged(r io.Reader, now time.Time, key *[32]byte, tag Tag, m i2np.Message) (i2np.Message, error) {
	p, err := wrapPayload(r, m, false, now)
	if err != nil {
		return i2np.Message{}, err
	}
	return garlicMessage(r, now, SealTagged(key, tag, nil, p))
}

func wrapPayload(r io.Reader, m i2np.Message, dated bool, now time.Time) ([]byte, error) {
	pad, err := randomUint32(r)
	if err != nil {
		return nil, fmt.Errorf("garlic: wrap: padding length: %w", err)
	}
	p := Payload{
		Cloves:  []i2np.Clove{{Delivery: i2np.CloveDelivery{Type: i2np.DeliveryLocal}, Message: m}},
		Padding: int(pad % (maxWrapPadding + 1)),
	}
	if dated {
		p.DateTime, p.HasDateTime = DateTimeNow(now), true
	}
	b, err := p.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("garlic: wrap %v: %w", m.Type, err)
	}
	return b, nil
}

func garlicMessage(r io.Reader, now time.Time, data []byte) (i2np.Message, error) {
	id, err := randomUint32(r)
	if err != nil {
		return i2np.Message{}, fmt.Errorf("garlic: wrap: message ID: %w", err)
	}
	msg, err := i2np.NewMessage(id, i2np.ExpirationMillis(now.Add(i2np.DefaultExpiration)), i2np.Garlic{Data: data})
	if err != nil {
		return i2np.Message{}, fmt.Errorf("garlic: wrap: %w", err)
	}
	return msg, nil
}
