package i2np

import "fmt"

// Body is a parsed message payload. Append reproduces the payload it was
// parsed from byte for byte.
type Body interface {
	// Type is the I2NP message type the body belongs to.
	Type() Type
	// Append appends the encoded body to b.
	Append(b []byte) ([]byte, error)
	// Len is the encoded length.
	Len() int
}

// ParseBody parses payload as the body of a message of type t. A known body
// must fill payload exactly (ErrTrailingBytes). An unknown type is not an
// error: it gives Unknown with the payload (aliased) kept.
func ParseBody(t Type, payload []byte) (Body, error) {
	var (
		body Body
		n    int
		err  error
	)
	switch t {
	case TypeDatabaseStore:
		body, n, err = wrap(ParseDatabaseStore(payload))
	case TypeDatabaseLookup:
		body, n, err = wrap(ParseDatabaseLookup(payload))
	case TypeDatabaseSearchReply:
		body, n, err = wrap(ParseDatabaseSearchReply(payload))
	case TypeDeliveryStatus:
		body, n, err = wrap(ParseDeliveryStatus(payload))
	case TypeGarlic:
		body, n, err = wrap(ParseGarlic(payload))
	case TypeTunnelData:
		body, n, err = wrap(ParseTunnelData(payload))
	case TypeTunnelGateway:
		body, n, err = wrap(ParseTunnelGateway(payload))
	case TypeData:
		body, n, err = wrap(ParseData(payload))
	case TypeTunnelBuild:
		body, n, err = wrap(ParseTunnelBuild(payload))
	case TypeTunnelBuildReply:
		body, n, err = wrap(ParseTunnelBuildReply(payload))
	case TypeVariableTunnelBuild:
		body, n, err = wrap(ParseVariableTunnelBuild(payload))
	case TypeVariableTunnelBuildReply:
		body, n, err = wrap(ParseVariableTunnelBuildReply(payload))
	case TypeShortTunnelBuild:
		body, n, err = wrap(ParseShortTunnelBuild(payload))
	case TypeOutboundTunnelBuildReply:
		body, n, err = wrap(ParseOutboundTunnelBuildReply(payload))
	default:
		return Unknown{MsgType: t, Payload: payload}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("i2np: parse %v: %w", t, err)
	}
	if n != len(payload) {
		return nil, fmt.Errorf("%w: %v uses %d of %d payload bytes", ErrTrailingBytes, t, n, len(payload))
	}
	return body, nil
}

// wrap turns a typed parser result into a Body result.
func wrap[B Body](b B, n int, err error) (Body, int, error) {
	if err != nil {
		return nil, 0, err
	}
	return b, n, nil
}

// Body parses m's payload according to m.Type (see ParseBody).
func (m Message) Body() (Body, error) { return ParseBody(m.Type, m.Payload) }

// NewMessage encodes body as the payload of a message with the given ID and
// expiration (milliseconds since the epoch).
func NewMessage(id uint32, expiration uint64, body Body) (Message, error) {
	payload, err := body.Append(make([]byte, 0, body.Len()))
	if err != nil {
		return Message{}, fmt.Errorf("i2np: encode %v: %w", body.Type(), err)
	}
	if len(payload) > MaxPayloadLen {
		return Message{}, fmt.Errorf("%w: %v payload of %d bytes, limit %d", ErrTooLarge, body.Type(), len(payload), MaxPayloadLen)
	}
	return Message{Type: body.Type(), ID: id, Expiration: expiration, Payload: payload}, nil
}

// Unknown is the payload of a message type this package does not parse,
// kept unchanged.
type Unknown struct {
	MsgType Type
	Payload []byte
}

// Type returns the message type the payload came with.
func (u Unknown) Type() Type { return u.MsgType }

// Append appends the raw payload to b.
func (u Unknown) Append(b []byte) ([]byte, error) { return append(b, u.Payload...), nil }

// Len is len(Payload).
func (u Unknown) Len() int { return len(u.Payload) }
