package tunnel

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// Tunnel lifetimes (tunnel-creation-ecies.rst: request expiration 600 s;
// i2pd Tunnel.h).
const (
	// Lifetime is how long a tunnel carries new traffic: the 600-second
	// request expiration every build record states.
	Lifetime = 10 * time.Minute
	// ExpiryGrace is how long after Lifetime a tunnel still delivers what
	// is in flight: i2pd removes tunnels at TUNNEL_EXPIRATION_TIMEOUT =
	// 660 s, transit tunnels included.
	ExpiryGrace = time.Minute
	// ReplaceAhead is how long before removal a pool should build the
	// replacement (TUNNEL_RECREATION_THRESHOLD, 90 s: at 570 s).
	ReplaceAhead = 90 * time.Second
	// BuildTimeout is how long a creator waits for a build reply
	// (TUNNEL_CREATION_TIMEOUT).
	BuildTimeout = 30 * time.Second
)

// State is a tunnel's life-cycle state. Our own tunnels move:
//
//	Building ──reply: every hop accepted──▶ Established
//	Building ──reply with a reject, bad reply, or BuildTimeout──▶ Failed
//	Established ──created + Lifetime──▶ Expiring   (no new traffic)
//	Expiring ──created + Lifetime + ExpiryGrace──▶ Expired (dropped)
//
// A transit tunnel is Established from its creation and Expired after
// Lifetime + ExpiryGrace. Failed and Expired are final.
type State uint8

// Tunnel states.
const (
	StateBuilding State = iota
	StateEstablished
	StateExpiring
	StateExpired
	StateFailed
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateBuilding:
		return "building"
	case StateEstablished:
		return "established"
	case StateExpiring:
		return "expiring"
	case StateExpired:
		return "expired"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// lifeState is the time-driven part of the state machine, shared by every
// established tunnel: it only moves forward.
func lifeState(cur State, created, now time.Time) State {
	if cur == StateFailed || cur == StateExpired || cur == StateBuilding {
		return cur
	}
	switch age := now.Sub(created); {
	case age >= Lifetime+ExpiryGrace:
		return StateExpired
	case age >= Lifetime:
		return StateExpiring
	}
	return cur
}

// Outgoing is a message for a router: the result of processing, for the
// caller's transport. To may be our own hash (an outbound endpoint that is
// also the reply gateway hands its reply to itself).
type Outgoing struct {
	To  data.Hash
	Msg i2np.Message
}

// newMessage wraps body in a message with a random ID that expires
// i2np.DefaultExpiration after now, as i2pd's FillI2NPMessageHeader does
// for every message it creates or forwards.
func newMessage(r io.Reader, now time.Time, body i2np.Body) (i2np.Message, error) {
	id, err := randomUint32(r)
	if err != nil {
		return i2np.Message{}, err
	}
	return newMessageID(id, now, body)
}

func newMessageID(id uint32, now time.Time, body i2np.Body) (i2np.Message, error) {
	m, err := i2np.NewMessage(id, i2np.ExpirationMillis(now.Add(i2np.DefaultExpiration)), body)
	if err != nil {
		return i2np.Message{}, fmt.Errorf("tunnel: %w", err)
	}
	return m, nil
}

// newTunnelData returns a TunnelData message for tunnel id (random message
// ID, expiring i2np.DefaultExpiration after now) and a pointer to its
// 1024 data bytes, to be filled in place: the per-hop path then allocates
// only the payload it sends.
func newTunnelData(r io.Reader, now time.Time, id i2np.TunnelID) (i2np.Message, *[crypto.TunnelMessageSize]byte, error) {
	msgID, err := randomUint32(r)
	if err != nil {
		return i2np.Message{}, nil, err
	}
	payload := make([]byte, i2np.TunnelDataLen)
	binary.BigEndian.PutUint32(payload, uint32(id))
	return i2np.Message{
		Type:       i2np.TypeTunnelData,
		ID:         msgID,
		Expiration: i2np.ExpirationMillis(now.Add(i2np.DefaultExpiration)),
		Payload:    payload,
	}, (*[crypto.TunnelMessageSize]byte)(payload[4:]), nil
}

// layersOf expands the hops' layer keys, in traversal order.
func layersOf(keys []HopKeys) []*crypto.TunnelLayer {
	ls := make([]*crypto.TunnelLayer, len(keys))
	for i := range keys {
		ls[i] = crypto.NewTunnelLayer(&keys[i].Layer, &keys[i].IV)
	}
	return ls
}

// unwrapLayers removes every hop's layer, last hop first. It serves both
// ends a creator owns (pages/site/docs/tunnels/implementation.html
// §"Gateway Encryption", §"Endpoint Processing"):
//
//   - the outbound gateway pre-"decrypts" its plaintext so that hop 0's
//     encryption, then hop 1's, …, then the endpoint's, reveal it:
//     P = E_{n-1}(…E_0(X)) means X = D_0(…D_{n-1}(P)), D_{n-1} first;
//   - the inbound endpoint receives E_{n-1}(…E_0(P)) from the last hop and
//     peels D_{n-1} first.
//
// i2pd does both in Tunnel::EncryptTunnelMsg over its hops kept last-first.
func unwrapLayers(layers []*crypto.TunnelLayer, m *[crypto.TunnelMessageSize]byte) {
	for i := len(layers) - 1; i >= 0; i-- {
		layers[i].DecryptLayer(m)
	}
}

// InboundTunnel is one of our inbound tunnels: hops[0] is the inbound
// gateway that the world sends TunnelGateway messages to, the last hop
// forwards TunnelData to us under ID, and we are the endpoint.
type InboundTunnel struct {
	id       i2np.TunnelID
	hops     []Peer
	gateway  i2np.TunnelID
	layers   []*crypto.TunnelLayer
	endpoint *Endpoint
	created  time.Time
	state    State
	log      *slog.Logger
}

// ID is the tunnel ID TunnelData arrives with at our router.
func (t *InboundTunnel) ID() i2np.TunnelID { return t.id }

// Gateway returns the inbound gateway and its tunnel ID: the lease a
// LeaseSet publishes, and the target of TunnelGateway messages.
func (t *InboundTunnel) Gateway() (data.Hash, i2np.TunnelID) { return t.hops[0].Hash, t.gateway }

// Hops returns the hops, gateway first.
func (t *InboundTunnel) Hops() []Peer { return append([]Peer(nil), t.hops...) }

// Created is when the build request was made.
func (t *InboundTunnel) Created() time.Time { return t.created }

// State advances the state for now and returns it.
func (t *InboundTunnel) State(now time.Time) State {
	t.state = lifeState(t.state, t.created, now)
	return t.state
}

// NeedsReplacement reports whether a pool should build this tunnel's
// successor now.
func (t *InboundTunnel) NeedsReplacement(now time.Time) bool {
	return now.Sub(t.created) >= Lifetime+ExpiryGrace-ReplaceAhead
}

// Pending returns the endpoint's reassembly load.
func (t *InboundTunnel) Pending() (messages, bytes int) { return t.endpoint.Pending() }

// Receive removes every hop's layer from a TunnelData for this tunnel and
// reassembles. Only LOCAL deliveries come out: a TUNNEL or ROUTER
// instruction at an inbound endpoint would make us forward on behalf of an
// unknown gateway, so i2pd drops them ("possible leakage"), and so do we.
func (t *InboundTunnel) Receive(now time.Time, td *i2np.TunnelData) ([]Delivered, error) {
	if td.TunnelID != t.id {
		return nil, fmt.Errorf("%w: TunnelData for %d at inbound tunnel %d", ErrUnknownTunnel, td.TunnelID, t.id)
	}
	if s := t.State(now); s != StateEstablished && s != StateExpiring {
		return nil, fmt.Errorf("%w: inbound tunnel %d is %v", ErrState, t.id, s)
	}
	m := td.Data
	unwrapLayers(t.layers, &m)
	got, err := t.endpoint.Receive(now, &m)
	out := got[:0]
	for _, d := range got {
		if d.Delivery.Type != DeliveryLocal {
			t.log.Warn("inbound tunnel delivered a non-local message; dropped", "tunnel", t.id, "delivery", d.Delivery.Type, "type", d.Msg.Type)
			continue
		}
		out = append(out, d)
	}
	if err != nil {
		return out, fmt.Errorf("inbound tunnel %d: %w", t.id, err)
	}
	return out, nil
}

// OutboundTunnel is one of our outbound tunnels: we are the gateway,
// hops[0] receives our TunnelData under ID, and the last hop is the
// outbound endpoint that delivers each message as its instructions say.
type OutboundTunnel struct {
	id      i2np.TunnelID
	hops    []Peer
	layers  []*crypto.TunnelLayer
	created time.Time
	state   State
}

// ID is the first hop's receive tunnel ID, which our TunnelData carries.
func (t *OutboundTunnel) ID() i2np.TunnelID { return t.id }

// FirstHop is the router our TunnelData goes to.
func (t *OutboundTunnel) FirstHop() data.Hash { return t.hops[0].Hash }

// Endpoint is the outbound endpoint's hash.
func (t *OutboundTunnel) Endpoint() data.Hash { return t.hops[len(t.hops)-1].Hash }

// Hops returns the hops, first hop first.
func (t *OutboundTunnel) Hops() []Peer { return append([]Peer(nil), t.hops...) }

// Created is when the build request was made.
func (t *OutboundTunnel) Created() time.Time { return t.created }

// State advances the state for now and returns it.
func (t *OutboundTunnel) State(now time.Time) State {
	t.state = lifeState(t.state, t.created, now)
	return t.state
}

// NeedsReplacement reports whether a pool should build this tunnel's
// successor now.
func (t *OutboundTunnel) NeedsReplacement(now time.Time) bool {
	return now.Sub(t.created) >= Lifetime+ExpiryGrace-ReplaceAhead
}

// Send fragments blocks into tunnel messages, pre-encrypts them for every
// hop and returns the TunnelData messages for FirstHop. The tunnel must be
// established or expiring. r supplies IVs, padding and message IDs
// (crypto/rand when nil).
func (t *OutboundTunnel) Send(r io.Reader, now time.Time, blocks []Block) ([]i2np.Message, error) {
	if s := t.State(now); s != StateEstablished && s != StateExpiring {
		return nil, fmt.Errorf("%w: outbound tunnel %d is %v", ErrState, t.id, s)
	}
	plain, err := Preprocess(r, blocks)
	if err != nil {
		return nil, err
	}
	out := make([]i2np.Message, len(plain))
	for i, p := range plain {
		msg, m, err := newTunnelData(r, now, t.id)
		if err != nil {
			return nil, err
		}
		*m = *p
		unwrapLayers(t.layers, m)
		out[i] = msg
	}
	return out, nil
}
