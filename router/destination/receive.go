package destination

import (
	"context"
	"fmt"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/datagram"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
	"i2pbridge/router/payload"
)

// HandleGarlic takes a Garlic message that arrived through one of our
// inbound tunnels (via; 0 if unknown) and opens it with our keyring: a
// ratchet message (NS, NSR, ES) or the tag-only reply to one of our
// lookups. Its cloves, with LOCAL delivery or DESTINATION delivery to us,
// are dispatched by type:
//
//	Data (20)                 gzip payload by protocol: 6 to the streaming
//	                          Manager, 17 and 18 to ReceiveDatagram
//	DatabaseStore (1)         a remote LeaseSet2 (cached) or a lookup reply
//	DatabaseSearchReply (3)   a lookup reply: this floodfill has nothing
//	DeliveryStatus (10)       HandleDeliveryStatus
//
// Data in a tag-only reply, other types and other deliveries are dropped.
// The error wraps ErrNotForUs when nothing in the keyring opens the
// message: the router then offers it to its other destinations.
func (d *Destination) HandleGarlic(ctx context.Context, m i2np.Message, via i2np.TunnelID) error {
	if d.isClosed() {
		return fmt.Errorf("garlic: %w", ErrClosed)
	}
	if m.Type != i2np.TypeGarlic {
		return fmt.Errorf("%w: %v message, want Garlic", ErrInvalid, m.Type)
	}
	now := d.now()
	if m.IsExpired(now) {
		return fmt.Errorf("%w: Garlic message %d expired at %v", ErrInvalid, m.ID, m.ExpirationTime())
	}
	g, _, err := i2np.ParseGarlic(m.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	in, err := d.keyring.Open(now, g.Data)
	if err != nil {
		if in.Kind == 0 {
			return fmt.Errorf("%w: %w", ErrNotForUs, err)
		}
		return fmt.Errorf("destination %s: %v via tunnel %d: %w", d.hash.Short(), in.Kind, via, err)
	}
	d.mu.Lock()
	switch in.Kind {
	case garlic.KindNewSession:
		d.stats.ReceivedNS++
	case garlic.KindNewSessionReply:
		d.stats.ReceivedNSR++
	case garlic.KindExistingSession:
		d.stats.ReceivedES++
	case garlic.KindReplyTag:
		d.stats.ReceivedReplies++
	}
	d.mu.Unlock()
	for _, c := range in.Payload.Cloves {
		if err := d.handleClove(ctx, now, in.Kind, c); err != nil {
			d.mu.Lock()
			d.stats.Dropped++
			d.mu.Unlock()
			d.log.Debug("clove dropped", "kind", in.Kind, "type", c.Message.Type, "err", err)
		}
	}
	if s := in.Session; s != nil && s.NeedsReply() {
		d.mu.Lock()
		if _, ok := d.owed[s]; !ok {
			d.owed[s] = owedReply{remote: in.RemoteStatic, since: now}
		}
		d.mu.Unlock()
	}
	return nil
}

func (d *Destination) handleClove(ctx context.Context, now time.Time, kind garlic.RatchetKind, c i2np.Clove) error {
	switch c.Delivery.Type {
	case i2np.DeliveryLocal:
	case i2np.DeliveryDestination:
		if c.Delivery.Hash != d.hash {
			return fmt.Errorf("%w: clove for destination %s", ErrInvalid, c.Delivery.Hash.Short())
		}
	default:
		// i2pd forwards TUNNEL cloves of a destination's garlic through its
		// outbound tunnels; no protocol we speak sends them.
		return fmt.Errorf("%w: clove with %v delivery", ErrInvalid, c.Delivery.Type)
	}
	m := c.Message
	switch m.Type {
	case i2np.TypeData:
		if kind == garlic.KindReplyTag {
			return fmt.Errorf("%w: Data in a lookup reply", ErrInvalid)
		}
		return d.handleData(ctx, m)
	case i2np.TypeDatabaseStore:
		s, _, err := i2np.ParseDatabaseStore(m.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return d.handleLeaseSetStore(now, s)
	case i2np.TypeDatabaseSearchReply:
		r, _, err := i2np.ParseDatabaseSearchReply(m.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		d.handleSearchReply(r)
		return nil
	case i2np.TypeDeliveryStatus:
		ds, _, err := i2np.ParseDeliveryStatus(m.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		d.HandleDeliveryStatus(ds.MessageID)
		return nil
	}
	return fmt.Errorf("%w: unexpected %v clove", ErrInvalid, m.Type)
}

// handleData unpacks an I2CP payload and hands it on by protocol.
func (d *Destination) handleData(ctx context.Context, m i2np.Message) error {
	dm, _, err := i2np.ParseData(m.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p, err := payload.Parse(dm.Payload, payload.DefaultMax)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch p.Protocol {
	case payload.ProtoStreaming:
		d.stream.Deliver(ctx, p.Data, p.SrcPort, p.DstPort)
		return nil
	case payload.ProtoDatagram:
		from, body, err := datagram.ParseRepliable(p.Data)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return d.queueDatagram(Datagram{From: from, Protocol: p.Protocol, SrcPort: p.SrcPort, DstPort: p.DstPort, Payload: body})
	case payload.ProtoRaw:
		body, err := datagram.ParseRaw(p.Data)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return d.queueDatagram(Datagram{Protocol: p.Protocol, SrcPort: p.SrcPort, DstPort: p.DstPort, Payload: body})
	}
	return fmt.Errorf("%w: payload protocol %d", ErrInvalid, p.Protocol)
}

// sendOwedReplies sends an empty message on every session that owes the
// remote one (an NSR, the first ES after an NSR, Acks, a reverse key)
// and has not sent anything since (ecies.rst §"Protocol-layer
// Responses"), once the remote's LeaseSet is known.
func (d *Destination) sendOwedReplies(ctx context.Context, now time.Time) {
	type job struct {
		to    data.Hash
		s     *garlic.Session
		lease data.Lease2
	}
	var jobs []job
	d.mu.Lock()
	for s, o := range d.owed {
		if !s.NeedsReply() {
			delete(d.owed, s)
			continue
		}
		var r *remote
		h, ok := d.byKey[o.remote]
		if ok {
			r = d.remotes[h]
		}
		if r != nil {
			if lease, ok := d.leaseLocked(r, now); ok {
				jobs = append(jobs, job{h, s, lease})
				delete(d.owed, s)
				continue
			}
		}
		if now.Sub(o.since) > replyGiveUp {
			delete(d.owed, s)
		}
	}
	d.mu.Unlock()
	for _, j := range jobs {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		if err := d.sendOn(sctx, now, j.to, j.s, j.lease, 0, nil); err != nil {
			d.log.Debug("owed ratchet reply not sent", "err", err)
		}
		cancel()
	}
}
