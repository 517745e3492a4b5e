package destination

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
	"i2pbridge/router/payload"
	"i2pbridge/router/streaming"
	"i2pbridge/router/tunnel"
)

// Send sends one I2CP payload (ports, protocol, data) to the destination
// whose hash is to: it finds the remote's LeaseSet (cache or lookup),
// picks a lease that does not end within LeaseEndThreshold, wraps the
// gzip payload in an I2NP Data message, seals it as a DESTINATION clove
// on the ratchet session with the remote's X25519 key (NS, NSR or ES as
// the session's state requires; an NS also carries our LeaseSet), and
// sends the Garlic message through one of our outbound tunnels with
// TUNNEL delivery to the lease's gateway and tunnel ID (i2pd
// GarlicRoutingSession::WrapSingleMessage and Stream::SendPackets).
// Datagrams are compressed, streaming packets stored (SendDatagram,
// SendRaw and the streaming Manager choose).
func (d *Destination) Send(ctx context.Context, to data.Hash, p payload.Payload) error {
	level := payload.LevelStored
	if p.Protocol == payload.ProtoDatagram {
		level = payload.LevelDefault
	}
	return d.send(ctx, to, p, level, true, 0)
}

// send is Send with the compression level; lookup says whether a missing
// LeaseSet may be waited for (otherwise a lookup starts in the background
// and the message is dropped). Messages of one nonzero flow (a stream)
// keep to one outbound tunnel (pool.Pool.PickOutboundFor).
func (d *Destination) send(ctx context.Context, to data.Hash, p payload.Payload, level int, lookup bool, flow uint64) error {
	if d.isClosed() {
		return fmt.Errorf("send: %w", ErrClosed)
	}
	if len(p.Data) == 0 {
		// i2pd drops an empty I2CP payload as a decompression failure.
		return fmt.Errorf("%w: empty payload", ErrInvalid)
	}
	if to == d.hash {
		return fmt.Errorf("%w: send to ourselves", ErrInvalid)
	}
	now := d.now()
	if err := d.ensureLeaseSet(now); err != nil {
		return fmt.Errorf("send to %s: %w", to.Short(), err)
	}
	key, lease, err := d.route(ctx, to, now, lookup)
	if err != nil {
		return fmt.Errorf("send to %s: %w", to.Short(), err)
	}
	body, err := payload.Append(nil, p, level)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	dm, err := d.newMessage(now, i2np.Data{Payload: body})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s := d.awaitReply(ctx, d.keyring.SessionFor(now, key), key)
	if err := d.sendOn(ctx, d.now(), to, s, lease, flow, []i2np.Clove{garlic.MessageClove(dm, &to)}); err != nil {
		return fmt.Errorf("send to %s: %w", to.Short(), err)
	}
	return nil
}

// nsReplyWait bounds how long a message waits for the New Session Reply to
// an NS already sent on its session. Without the wait, a burst (a browser
// opening six streams, a client opening a hundred) sends one NS each; the
// remote answers every one with its own NSR session, and the keyring
// keeps state for the last few NS only, so replies to the earlier ones
// cannot be opened and those streams stall until retransmission finds the
// session that won. Waiting lets the burst go out as ES on one session;
// a lost NS or NSR costs the wait, after which another NS goes.
const nsReplyWait = 1500 * time.Millisecond

// awaitReply returns the session to send on: s itself, unless s has an NS
// out and no reply yet, in which case it waits (up to nsReplyWait or ctx)
// for the reply and returns the session to use then.
func (d *Destination) awaitReply(ctx context.Context, s *garlic.Session, key [32]byte) *garlic.Session {
	if s.State() != garlic.StateNewSessionSent {
		return s
	}
	t := time.NewTimer(nsReplyWait)
	defer t.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return s
		case <-t.C:
			return s
		case <-poll.C:
			if s.State() != garlic.StateNewSessionSent {
				return d.keyring.SessionFor(d.now(), key)
			}
		}
	}
}

// route returns the remote's X25519 key and the lease to send to. Without
// a usable lease in the cached LeaseSet it looks the LeaseSet up again
// (the remote republishes when its tunnels change).
func (d *Destination) route(ctx context.Context, to data.Hash, now time.Time, lookup bool) ([32]byte, data.Lease2, error) {
	key, lease, cached, err := d.cachedRoute(to, now)
	if err == nil || errors.Is(err, ErrUnsupported) {
		return key, lease, err
	}
	if !lookup {
		// Streaming packets do not wait; one lookup per LookupTimeout at
		// most, so that retransmissions to a vanished remote do not storm
		// the floodfills.
		d.mu.Lock()
		recent := now.Sub(d.asyncLookups[to]) < d.cfg.LookupTimeout
		if !recent {
			d.asyncLookups[to] = now
		}
		d.mu.Unlock()
		if !recent {
			if _, err := d.startLookup(to, nil, false); err != nil {
				return key, lease, err
			}
		}
		if cached {
			return key, lease, fmt.Errorf("%w: looking its LeaseSet up again", ErrNoLeases)
		}
		return key, lease, fmt.Errorf("%w: its LeaseSet is being looked up", ErrNoLeases)
	}
	if _, err := d.lookup(ctx, to, nil, false); err != nil {
		return key, lease, err
	}
	key, lease, _, err = d.cachedRoute(to, d.now())
	return key, lease, err
}

// cachedRoute is route from the cache only; cached reports whether an
// unexpired LeaseSet was there.
func (d *Destination) cachedRoute(to data.Hash, now time.Time) (key [32]byte, lease data.Lease2, cached bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.remotes[to]
	if r == nil || now.After(r.ls.Expires()) {
		return key, lease, false, fmt.Errorf("%w: no LeaseSet", ErrNoLeases)
	}
	if !r.hasKey {
		return key, lease, true, fmt.Errorf("%w: its LeaseSet has no X25519 key", ErrUnsupported)
	}
	lease, ok := d.leaseLocked(r, now)
	if !ok {
		return key, lease, true, fmt.Errorf("%w: every lease of %d ends within %v", ErrNoLeases, len(r.ls.Leases()), LeaseEndThreshold)
	}
	return r.key, lease, true, nil
}

// leaseLocked keeps the current lease of r while it lasts beyond
// LeaseEndThreshold and is still in the LeaseSet, and otherwise picks one
// of those that do at random (i2pd Stream::UpdateCurrentRemoteLease).
func (d *Destination) leaseLocked(r *remote, now time.Time) (data.Lease2, bool) {
	limit := now.Add(LeaseEndThreshold)
	if r.hasLease && r.lease.EndTime().After(limit) {
		return r.lease, true
	}
	var ok []data.Lease2
	for _, l := range r.ls.Leases() {
		if l.EndTime().After(limit) {
			ok = append(ok, l)
		}
	}
	if len(ok) == 0 {
		r.hasLease = false
		return data.Lease2{}, false
	}
	r.lease, r.hasLease = ok[d.randomIntN(len(ok))], true
	return r.lease, true
}

// CurrentLease returns the lease we send to the destination with hash h.
func (d *Destination) CurrentLease(h data.Hash) (data.Lease2, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.remotes[h]
	if r == nil || !r.hasLease {
		return data.Lease2{}, false
	}
	return r.lease, true
}

// sendOn seals cloves on s and sends the Garlic message to lease, the
// current lease of remote to, through one of our outbound tunnels other
// than the one to's path avoids. The messages of one flow keep to one
// tunnel, so that a stream's packets arrive in order; the flows to one
// remote spread over the tunnels: a hundred streams on a single tunnel
// overloaded its hops and lost their packets (routertest's hundred
// streams). Flow zero takes any tunnel.
func (d *Destination) sendOn(ctx context.Context, now time.Time, to data.Hash, s *garlic.Session, lease data.Lease2, flow uint64, cloves []i2np.Clove) error {
	m, sealed, err := s.Wrap(now, garlic.Outgoing{Cloves: cloves})
	if err != nil {
		return err
	}
	d.mu.Lock()
	switch sealed.Kind {
	case garlic.KindNewSession:
		d.stats.SentNS++
	case garlic.KindNewSessionReply:
		d.stats.SentNSR++
	case garlic.KindExistingSession:
		d.stats.SentES++
	}
	var avoid i2np.TunnelID
	if r := d.remotes[to]; r != nil {
		avoid = r.avoid
	}
	d.mu.Unlock()
	used, err := d.cfg.Tunnels.Send(ctx, flow, avoid, []tunnel.Block{{
		Delivery: tunnel.Delivery{Type: tunnel.DeliveryTunnel, Hash: lease.Gateway, TunnelID: i2np.TunnelID(lease.TunnelID)},
		Msg:      m,
	}})
	if used != 0 {
		d.mu.Lock()
		if r := d.remotes[to]; r != nil {
			r.lastOut = used
			if err != nil {
				// The tunnel could not take it (its first hop is
				// unreachable): the next messages go another way.
				r.avoid = used
			}
		}
		d.mu.Unlock()
	}
	return err
}

// SwitchPath gives up on the way messages to the destination with hash h
// go: another of its leases (when it has one) and another of our outbound
// tunnels from the next message on. The streams call it after repeated
// retransmission timeouts, as i2pd's streams switch lease and tunnel on
// their 2nd to 4th resend (Stream::ResendPacket): a dead hop on either
// tunnel otherwise costs every retransmission until a tunnel test or the
// lease's end notices, a minute or more.
func (d *Destination) SwitchPath(h data.Hash) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.remotes[h]
	if r == nil {
		return
	}
	r.avoid = r.lastOut
	if !r.hasLease {
		return
	}
	old := r.lease
	limit := d.now().Add(LeaseEndThreshold)
	var others []data.Lease2
	for _, l := range r.ls.Leases() {
		if l != old && l.EndTime().After(limit) {
			others = append(others, l)
		}
	}
	if len(others) > 0 {
		r.lease = others[d.randomIntN(len(others))]
	}
	d.stats.PathSwitches++
	d.log.Debug("path switched", "remote", h.Short(), "lease", r.lease.Gateway.Short(), "avoid", r.avoid)
}

// Dial opens a stream to port on the destination with hash to, looking
// its LeaseSet up first.
func (d *Destination) Dial(ctx context.Context, to data.Hash, port uint16) (*streaming.Conn, error) {
	ls, err := d.LookupLeaseSet(ctx, to)
	if err != nil {
		return nil, err
	}
	return d.stream.Dial(ctx, ls.Destination(), port)
}

// DialDestination opens a stream to port on dest.
func (d *Destination) DialDestination(ctx context.Context, dest data.Destination, port uint16) (*streaming.Conn, error) {
	if _, err := d.LookupLeaseSet(ctx, dest.Hash()); err != nil {
		return nil, err
	}
	return d.stream.Dial(ctx, dest, port)
}

// Listen returns the streaming Listener for every port.
func (d *Destination) Listen() (*streaming.Listener, error) { return d.stream.Listen() }

// packetConn carries the streaming Manager's packets (protocol 6).
type packetConn struct{ d *Destination }

// SendPacket sends one streaming packet. It never waits for a lookup: a
// packet to a remote whose LeaseSet is not known is lost (the stream
// resends it) while the lookup runs. SYNs are compressed, as i2pd does.
func (c packetConn) SendPacket(ctx context.Context, remote data.Destination, fromPort, toPort uint16, pkt []byte) error {
	level := payload.LevelStored
	if isSYN(pkt) {
		level = payload.LevelDefault
	}
	return c.d.send(ctx, remote.Hash(), payload.Payload{SrcPort: fromPort, DstPort: toPort, Protocol: payload.ProtoStreaming, Data: pkt}, level, false, streamFlow(pkt))
}

// SwitchPath moves the packets to remote to another lease and outbound
// tunnel (streaming.PathSwitcher).
func (c packetConn) SwitchPath(remote data.Destination) { c.d.SwitchPath(remote.Hash()) }

var _ streaming.PathSwitcher = packetConn{}

// isSYN reads the flags of a streaming packet (streaming.rst §"Packet
// Format": four 4-byte fields, NACK count, NACKs, resend delay, flags).
func isSYN(pkt []byte) bool {
	const nackCountOff = 16
	if len(pkt) <= nackCountOff {
		return false
	}
	off := nackCountOff + 1 + 4*int(pkt[nackCountOff]) + 1
	return len(pkt) >= off+2 && pkt[off+1]&byte(streaming.FlagSYN) != 0
}

// streamFlow names the stream a streaming packet belongs to, for sendOn:
// its Receive Stream ID, which is the sender's own ID for the stream and
// set from the SYN on (streaming.rst §"Packet Format"). Zero when the
// packet is too short or carries none (a RESET to an unknown stream).
func streamFlow(pkt []byte) uint64 {
	if len(pkt) < 8 {
		return 0
	}
	return uint64(binary.BigEndian.Uint32(pkt[4:8]))
}
