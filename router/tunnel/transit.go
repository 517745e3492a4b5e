package tunnel

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// TransitTunnel is a tunnel we take part in for someone else, in one of
// three roles (i2pd TransitTunnel.cpp):
//
//	participant: TunnelData in → our layer (encrypt) → TunnelData to Next
//	             under NextID, with a fresh message ID
//	IBGW:        TunnelGateway messages in → fragments (LOCAL delivery) →
//	             our layer → TunnelData to Next under NextID
//	OBEP:        TunnelData in → our layer reveals the plaintext →
//	             reassembly → each message sent as its instructions say:
//	             TUNNEL in a TunnelGateway to the gateway, ROUTER as it is,
//	             LOCAL to ourselves
//
// Its state is Established from creation and Expired after Lifetime +
// ExpiryGrace (see State). It belongs to a TransitTable's owner and is not
// safe for concurrent use.
type TransitTunnel struct {
	role      Role
	receiveID i2np.TunnelID
	nextID    i2np.TunnelID
	next      data.Hash
	layer     *crypto.TunnelLayer
	endpoint  *Endpoint // OBEP only
	created   time.Time
	state     State
	log       *slog.Logger

	messages, bytes uint64
}

// NewTransitTunnel creates the transit tunnel an accepted Request
// describes.
func NewTransitTunnel(now time.Time, q *Request, ep EndpointConfig, log *slog.Logger) *TransitTunnel {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &TransitTunnel{
		role: q.Role, receiveID: q.ReceiveID, nextID: q.NextID, next: q.Next,
		layer:   crypto.NewTunnelLayer(&q.Secrets.Keys.Layer, &q.Secrets.Keys.IV),
		created: now, state: StateEstablished, log: log,
	}
	if q.Role == RoleEndpoint {
		t.endpoint = NewEndpoint(ep)
	}
	return t
}

// Role is the tunnel's role.
func (t *TransitTunnel) Role() Role { return t.role }

// ReceiveID is the tunnel ID we receive on.
func (t *TransitTunnel) ReceiveID() i2np.TunnelID { return t.receiveID }

// Next returns the router and tunnel ID we forward to.
func (t *TransitTunnel) Next() (data.Hash, i2np.TunnelID) { return t.next, t.nextID }

// Stats returns the messages and bytes received.
func (t *TransitTunnel) Stats() (messages, bytes uint64) { return t.messages, t.bytes }

// State advances the state for now and returns it.
func (t *TransitTunnel) State(now time.Time) State {
	t.state = lifeState(t.state, t.created, now)
	if t.state == StateExpiring {
		// Transit tunnels keep forwarding until removal: only the creator
		// stops sending new traffic at Lifetime.
		return StateEstablished
	}
	return t.state
}

func (t *TransitTunnel) live(now time.Time) error {
	if s := t.State(now); s != StateEstablished {
		return fmt.Errorf("%w: transit tunnel %d is %v", ErrState, t.receiveID, s)
	}
	return nil
}

// HandleData processes a TunnelData for a participant or an OBEP; it
// returns the messages to send and, at an OBEP, the LOCAL deliveries. The
// caller has applied the duplicate filter. r supplies message IDs
// (crypto/rand when nil).
func (t *TransitTunnel) HandleData(r io.Reader, now time.Time, td *i2np.TunnelData) ([]Outgoing, []Delivered, error) {
	if err := t.live(now); err != nil {
		return nil, nil, err
	}
	if t.role == RoleGateway {
		return nil, nil, fmt.Errorf("%w: TunnelData for inbound gateway %d", ErrState, t.receiveID)
	}
	t.messages++
	t.bytes += i2np.TunnelDataLen
	if t.role == RoleParticipant {
		// The hot path: encrypt straight into the payload we forward.
		msg, m, err := newTunnelData(r, now, t.nextID)
		if err != nil {
			return nil, nil, err
		}
		*m = td.Data
		t.layer.EncryptLayer(m)
		return []Outgoing{{To: t.next, Msg: msg}}, nil, nil
	}
	m := td.Data
	t.layer.EncryptLayer(&m)
	got, err := t.endpoint.Receive(now, &m)
	var out []Outgoing
	var local []Delivered
	for _, d := range got {
		// i2pd checks expiration at the outbound endpoint only
		// (TunnelEndpoint::HandleNextMessage): stale messages stop here
		// rather than travel on.
		if d.Msg.IsExpired(now) {
			t.log.Debug("expired message at outbound endpoint", "tunnel", t.receiveID, "type", d.Msg.Type)
			continue
		}
		switch d.Delivery.Type {
		case DeliveryLocal:
			local = append(local, d)
		case DeliveryRouter:
			out = append(out, Outgoing{To: d.Delivery.Hash, Msg: d.Msg})
		case DeliveryTunnel:
			if d.Msg.Len() > MaxTunnelDeliveryLen {
				// i2pd's CreateTunnelGatewayMsg overflows here too.
				t.log.Debug("message too large for a TunnelGateway; dropped", "tunnel", t.receiveID, "size", d.Msg.Len())
				continue
			}
			gw, gerr := i2np.NewTunnelGateway(d.Delivery.TunnelID, d.Msg)
			if gerr != nil {
				return out, local, fmt.Errorf("tunnel: outbound endpoint %d: %w", t.receiveID, gerr)
			}
			msg, gerr := newMessage(r, now, gw)
			if gerr != nil {
				return out, local, gerr
			}
			out = append(out, Outgoing{To: d.Delivery.Hash, Msg: msg})
		}
	}
	if err != nil {
		return out, local, fmt.Errorf("outbound endpoint %d: %w", t.receiveID, err)
	}
	return out, local, nil
}

// HandleGateway processes messages handed to an inbound gateway (the
// contents of TunnelGateway messages for this tunnel): they are packed
// for LOCAL delivery at the creator, encrypted with our layer and sent to
// Next. Several messages given together share tunnel messages, as i2pd
// batches what one pass of its queue brings.
func (t *TransitTunnel) HandleGateway(r io.Reader, now time.Time, msgs []i2np.Message) ([]Outgoing, error) {
	if err := t.live(now); err != nil {
		return nil, err
	}
	if t.role != RoleGateway {
		return nil, fmt.Errorf("%w: TunnelGateway for %v tunnel %d", ErrState, t.role, t.receiveID)
	}
	blocks := make([]Block, len(msgs))
	for i, m := range msgs {
		blocks[i] = Block{Delivery: Delivery{Type: DeliveryLocal}, Msg: m}
		t.messages++
		t.bytes += uint64(m.Len())
	}
	plain, err := Preprocess(r, blocks)
	if err != nil {
		return nil, err
	}
	out := make([]Outgoing, len(plain))
	for i, p := range plain {
		msg, m, err := newTunnelData(r, now, t.nextID)
		if err != nil {
			return nil, err
		}
		*m = *p
		t.layer.EncryptLayer(m)
		out[i] = Outgoing{To: t.next, Msg: msg}
	}
	return out, nil
}

// Default transit limits.
const (
	// DefaultMaxTransit is i2pd's default limits.transittunnels (2500).
	DefaultMaxTransit = 2500
)

// TransitConfig configures a TransitTable.
type TransitConfig struct {
	// MaxTunnels bounds the transit tunnels (0: DefaultMaxTransit).
	MaxTunnels int
	// Filter is the duplicate filter for TunnelData (required).
	Filter *IVFilter
	// Endpoint sets OBEP reassembly limits.
	Endpoint EndpointConfig
	Logger   *slog.Logger
	// Rand supplies message IDs and IVs (crypto/rand when nil).
	Rand io.Reader
}

// TransitTable holds our transit tunnels by receive tunnel ID and routes
// TunnelData and TunnelGateway messages to them. It is not safe for
// concurrent use: one owner (the router's tunnel loop) calls it.
type TransitTable struct {
	cfg TransitConfig
	m   map[i2np.TunnelID]*TransitTunnel
}

// NewTransitTable returns an empty table.
func NewTransitTable(cfg TransitConfig) (*TransitTable, error) {
	if cfg.Filter == nil {
		return nil, fmt.Errorf("%w: transit table without an IV filter", ErrConfig)
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = DefaultMaxTransit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Rand = randReader(cfg.Rand)
	return &TransitTable{cfg: cfg, m: map[i2np.TunnelID]*TransitTunnel{}}, nil
}

// Len returns the number of transit tunnels.
func (tt *TransitTable) Len() int { return len(tt.m) }

// Get returns the transit tunnel with receive ID id.
func (tt *TransitTable) Get(id i2np.TunnelID) (*TransitTunnel, bool) {
	t, ok := tt.m[id]
	return t, ok
}

// Admit reports whether a request can become a transit tunnel: ErrLimit
// when the table is full (i2pd compares with limits.transittunnels), and
// an error when its receive ID is taken (the creator chose it; a clash
// would mix two tunnels).
func (tt *TransitTable) Admit(q *Request) error {
	if len(tt.m) >= tt.cfg.MaxTunnels {
		return fmt.Errorf("%w: %d transit tunnels", ErrLimit, len(tt.m))
	}
	if _, ok := tt.m[q.ReceiveID]; ok {
		return fmt.Errorf("%w: transit tunnel ID %d in use", ErrLimit, q.ReceiveID)
	}
	return nil
}

// Add creates and stores the transit tunnel for an admitted request.
func (tt *TransitTable) Add(now time.Time, q *Request) (*TransitTunnel, error) {
	if err := tt.Admit(q); err != nil {
		return nil, err
	}
	t := NewTransitTunnel(now, q, tt.cfg.Endpoint, tt.cfg.Logger)
	tt.m[q.ReceiveID] = t
	return t, nil
}

// HandleTunnelData routes a TunnelData to its transit tunnel after the
// duplicate check (ErrReplay).
func (tt *TransitTable) HandleTunnelData(now time.Time, td *i2np.TunnelData) ([]Outgoing, []Delivered, error) {
	t, ok := tt.m[td.TunnelID]
	if !ok {
		return nil, nil, fmt.Errorf("%w: TunnelData for %d", ErrUnknownTunnel, td.TunnelID)
	}
	if tt.cfg.Filter.Seen(now, &td.Data) {
		return nil, nil, fmt.Errorf("%w: duplicate TunnelData for %d", ErrReplay, td.TunnelID)
	}
	return t.HandleData(tt.cfg.Rand, now, td)
}

// HandleTunnelGateway routes a TunnelGateway to its inbound gateway.
func (tt *TransitTable) HandleTunnelGateway(now time.Time, tg i2np.TunnelGateway) ([]Outgoing, error) {
	t, ok := tt.m[tg.TunnelID]
	if !ok {
		return nil, fmt.Errorf("%w: TunnelGateway for %d", ErrUnknownTunnel, tg.TunnelID)
	}
	inner, err := tg.Inner()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return t.HandleGateway(tt.cfg.Rand, now, []i2np.Message{inner})
}

// Expire removes expired transit tunnels, expires OBEP fragments, and
// returns how many tunnels were removed.
func (tt *TransitTable) Expire(now time.Time) int {
	n := 0
	for id, t := range tt.m {
		if t.State(now) == StateExpired {
			delete(tt.m, id)
			n++
			continue
		}
		if t.endpoint != nil {
			t.endpoint.Expire(now)
		}
	}
	return n
}
