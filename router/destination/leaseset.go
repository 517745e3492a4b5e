package destination

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
	"i2pbridge/router/tunnel"
)

// localLeaseSet is our current LeaseSet2 and the tunnels it was built
// from.
type localLeaseSet struct {
	ls      data.LeaseSet2
	tunnels []InboundTunnel
}

// PublishState is the state of our LeaseSet's publication. Transitions:
//
//	PublishIdle ──LeaseSet built or changed──▶ PublishPending
//	PublishPending ──store sent (PublishMinInterval after the last)──▶ PublishAwaitingConfirmation
//	PublishAwaitingConfirmation ──DeliveryStatus(token)──▶ PublishConfirmed
//	PublishAwaitingConfirmation ──nothing in PublishConfirmTimeout──▶ PublishPending (next floodfill)
//	PublishConfirmed ──PublishVerifyDelay──▶ PublishVerifying (a lookup of our own LeaseSet)
//	PublishVerifying ──the same LeaseSet found──▶ PublishVerified
//	PublishVerifying ──missing or different──▶ PublishPending
//	PublishVerified ──ReverifyInterval──▶ PublishVerifying
//	any ──LeaseSet changed──▶ PublishPending
//
// An Unpublished destination stays PublishIdle.
type PublishState uint8

// Publication states.
const (
	PublishIdle PublishState = iota
	PublishPending
	PublishAwaitingConfirmation
	PublishConfirmed
	PublishVerifying
	PublishVerified
)

var publishStateNames = [...]string{
	PublishIdle:                 "idle",
	PublishPending:              "pending",
	PublishAwaitingConfirmation: "awaiting-confirmation",
	PublishConfirmed:            "confirmed",
	PublishVerifying:            "verifying",
	PublishVerified:             "verified",
}

// String names the state.
func (s PublishState) String() string {
	if int(s) < len(publishStateNames) {
		return publishStateNames[s]
	}
	return fmt.Sprintf("PublishState(%d)", uint8(s))
}

// publication is the publication state machine, owned by Run's loop; the
// mutex lets HandleDeliveryStatus and verification results in.
type publication struct {
	state     PublishState
	token     uint32 // reply token of the store awaiting confirmation
	floodfill data.Hash
	published data.LeaseSet2 // what was stored
	sentAt    time.Time
	lastSent  time.Time
	confirmed time.Time
	verified  time.Time
	gen       uint64 // bumped on every change, to ignore stale results
	excluded  map[data.Hash]bool
}

// Publication describes where our LeaseSet's publication stands.
type Publication struct {
	State PublishState
	// Floodfill is the last floodfill stored at.
	Floodfill data.Hash
	// LeaseSet is what was last stored.
	LeaseSet  data.LeaseSet2
	Confirmed time.Time
	Verified  time.Time
}

// Publication returns the publication's state.
func (d *Destination) Publication() Publication {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &d.pub
	return Publication{State: p.state, Floodfill: p.floodfill, LeaseSet: p.published, Confirmed: p.confirmed, Verified: p.verified}
}

// refreshLeaseSet rebuilds our LeaseSet when the set of live inbound
// tunnels changed (i2pd rebuilds it when its pool's tunnels change; the
// pool replaces each tunnel about 90 s before it ends, so a LeaseSet is
// renewed well before it expires). With no tunnel at all the old one is
// kept: it still names the tunnels that are ending, and new ones follow.
//
// It reports whether it made a new LeaseSet.
func (d *Destination) refreshLeaseSet(now time.Time) (bool, error) {
	var live []InboundTunnel
	all := d.cfg.Tunnels.Inbound()
	for _, t := range all {
		if t.End.After(now) && !t.Gateway.IsZero() && t.GatewayID != 0 {
			live = append(live, t)
		}
	}
	// The longest-lived first; at most 16 (LeaseSet2 num).
	slices.SortFunc(live, func(a, b InboundTunnel) int { return b.End.Compare(a.End) })
	if len(live) > data.MaxLeases {
		live = live[:data.MaxLeases]
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noteInboundLocked(now, all)
	if len(live) == 0 || d.local != nil && sameTunnels(d.local.tunnels, live) {
		return false, nil
	}
	published := now.Truncate(time.Second)
	if d.local != nil && !published.After(d.local.ls.Published()) {
		// A new LeaseSet2 must be strictly newer (i2pd NetDb::AddLeaseSet2).
		published = d.local.ls.Published().Add(time.Second)
	}
	expires := live[0].End.Truncate(time.Second)
	if expires.Before(published) {
		expires = published
	}
	leases := make([]data.Lease2, len(live))
	for i, t := range live {
		leases[i] = data.Lease2{Gateway: t.Gateway, TunnelID: uint32(t.GatewayID), End: uint32(t.End.Unix())}
	}
	ls, err := data.BuildLeaseSet2(d.keys, data.LeaseSet2Params{
		Published:   published,
		Expires:     expires,
		Unpublished: d.cfg.Unpublished,
		Keys:        []data.EncryptionKey{{Type: data.CryptoTypeX25519, Key: d.static.Public[:]}},
		Leases:      leases,
	})
	if err != nil {
		return false, err
	}
	d.local = &localLeaseSet{ls: ls, tunnels: live}
	// Every session hands the new one over in its next message.
	d.keyring.SetLeaseSet(d.hash, ls.Bytes())
	d.log.Debug("new LeaseSet", "leases", len(leases), "expires", expires.UTC().Format(time.TimeOnly))
	if !d.cfg.Unpublished {
		d.setPublishLocked(PublishPending)
	}
	return true, nil
}

// sameTunnels compares two lease lists as sets.
func sameTunnels(a, b []InboundTunnel) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y InboundTunnel) bool {
			return x.Gateway == y.Gateway && x.GatewayID == y.GatewayID && x.End.Unix() == y.End.Unix()
		}) {
			return false
		}
	}
	return true
}

// ensureLeaseSet makes sure we have an unexpired LeaseSet before we talk
// to anyone: the remote can only answer a New Session that carries it.
func (d *Destination) ensureLeaseSet(now time.Time) error {
	have := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.local != nil && now.Before(d.local.ls.Expires())
	}
	if have() {
		return nil
	}
	if _, err := d.refreshLeaseSet(now); err != nil {
		return err
	}
	if !have() {
		return fmt.Errorf("%w: no inbound tunnel for our LeaseSet", ErrNoTunnels)
	}
	d.signal()
	return nil
}

// setPublishLocked moves the publication to state s.
func (d *Destination) setPublishLocked(s PublishState) {
	d.pub.state = s
	d.pub.gen++
	if s != PublishAwaitingConfirmation {
		d.pub.token = 0
	}
}

// replyTunnel picks one of our inbound tunnels that lasts at least until
// now+min for the reply of floodfill ff, at random, preferring those whose
// gateway is not ff itself: a floodfill that is its own reply gateway has
// to loop the reply back into its own tunnel, which our netDb (and
// possibly others) does not do.
func (d *Destination) replyTunnel(now time.Time, min time.Duration, ff data.Hash) (InboundTunnel, bool) {
	var ok, other []InboundTunnel
	for _, t := range d.cfg.Tunnels.Inbound() {
		if !t.End.After(now.Add(min)) || t.Gateway.IsZero() || t.GatewayID == 0 {
			continue
		}
		if t.Gateway == ff {
			other = append(other, t)
		} else {
			ok = append(ok, t)
		}
	}
	if len(ok) == 0 {
		ok = other
	}
	if len(ok) == 0 {
		return InboundTunnel{}, false
	}
	return ok[d.randomIntN(len(ok))], true
}

// closestFloodfill returns the floodfill closest to key outside exclude,
// preferring among the few closest one that is not the gateway of all our
// inbound tunnels (see replyTunnel).
func (d *Destination) closestFloodfill(key data.Hash, now time.Time, exclude map[data.Hash]bool) (Floodfill, bool) {
	cands := d.cfg.Floodfills.ClosestFloodfills(key, now, 4, exclude)
	if len(cands) == 0 {
		return Floodfill{}, false
	}
	gateways := map[data.Hash]bool{}
	for _, t := range d.cfg.Tunnels.Inbound() {
		if t.End.After(now) {
			gateways[t.Gateway] = true
		}
	}
	for _, c := range cands {
		if len(gateways) != 1 || !gateways[c.Hash] {
			return c, true
		}
	}
	return cands[0], true
}

// publishStep advances the publication (Run's loop).
func (d *Destination) publishStep(ctx context.Context, now time.Time) {
	d.mu.Lock()
	p := &d.pub
	switch p.state {
	case PublishPending:
		if d.local == nil || !p.lastSent.IsZero() && now.Before(p.lastSent.Add(d.cfg.PublishMinInterval)) {
			d.mu.Unlock()
			return
		}
		ls := d.local.ls
		d.mu.Unlock()
		d.store(ctx, now, ls)
		return
	case PublishAwaitingConfirmation:
		if now.After(p.sentAt.Add(d.cfg.PublishConfirmTimeout)) {
			d.log.Debug("store not confirmed; trying the next floodfill", "floodfill", p.floodfill.Short())
			d.setPublishLocked(PublishPending)
			d.signal()
		}
	case PublishConfirmed:
		if !now.Before(p.confirmed.Add(d.cfg.PublishVerifyDelay)) {
			d.startVerifyLocked(now)
		}
	case PublishVerified:
		if !now.Before(p.verified.Add(d.cfg.ReverifyInterval)) {
			d.startVerifyLocked(now)
		}
	}
	d.mu.Unlock()
}

// store sends ls to the closest floodfill not yet tried in this round,
// in a DatabaseStore with a reply token and one of our inbound tunnels
// for the DeliveryStatus, garlic-encrypted to the floodfill's router key
// and delivered by our outbound endpoint (i2pd LeaseSetDestination::Publish).
func (d *Destination) store(ctx context.Context, now time.Time, ls data.LeaseSet2) {
	d.mu.Lock()
	if d.pub.excluded == nil {
		d.pub.excluded = map[data.Hash]bool{}
	}
	excluded := d.pub.excluded
	ff, ok := d.closestFloodfill(d.hash, now, excluded)
	if !ok && len(excluded) > 0 {
		clear(excluded) // every floodfill failed: start over
		ff, ok = d.closestFloodfill(d.hash, now, nil)
	}
	d.mu.Unlock()
	if !ok {
		d.log.Warn("cannot publish our LeaseSet: no floodfills")
		return
	}
	reply, ok := d.replyTunnel(now, d.cfg.PublishConfirmTimeout, ff.Hash)
	if !ok {
		d.log.Debug("cannot publish our LeaseSet yet: no inbound tunnel")
		return
	}
	token, err := d.randomUint32()
	if err != nil {
		return
	}
	dsm, err := d.newMessage(now, i2np.DatabaseStore{
		Key: d.hash, StoreType: i2np.StoreLeaseSet2,
		ReplyToken: token, ReplyTunnel: reply.GatewayID, ReplyGateway: reply.Gateway,
		Data: ls.Bytes(),
	})
	if err != nil {
		d.log.Warn("cannot build our DatabaseStore", "err", err)
		return
	}
	d.mu.Lock()
	d.pub.excluded[ff.Hash] = true
	d.setPublishLocked(PublishAwaitingConfirmation)
	d.pub.token, d.pub.floodfill, d.pub.published = token, ff.Hash, ls
	d.pub.sentAt, d.pub.lastSent = now, now
	gen := d.pub.gen
	d.stats.Stores++
	d.mu.Unlock()
	if err := d.sendToRouter(ctx, now, ff, dsm); err != nil {
		d.log.Debug("store not sent", "floodfill", ff.Hash.Short(), "err", err)
		d.mu.Lock()
		if d.pub.gen == gen {
			d.setPublishLocked(PublishPending)
			d.pub.lastSent = time.Time{} // nothing left: retry on the next pass
		}
		d.mu.Unlock()
		return
	}
	d.log.Debug("LeaseSet stored", "floodfill", ff.Hash.Short())
}

// sendToRouter wraps m for router ff (Noise N, ecies-routers.rst) and
// has our outbound endpoint deliver it there.
func (d *Destination) sendToRouter(ctx context.Context, now time.Time, ff Floodfill, m i2np.Message) error {
	g, err := garlic.WrapForRouter(d.rand, now, ff.Key, m)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	_, err = d.cfg.Tunnels.Send(sctx, 0, 0, []tunnel.Block{{Delivery: tunnel.Delivery{Type: tunnel.DeliveryRouter, Hash: ff.Hash}, Msg: g}})
	return err
}

// HandleDeliveryStatus takes the message ID of a DeliveryStatus that
// reached the router through our tunnels (after the pools' tunnel tests
// declined it) and reports whether it confirmed our store.
func (d *Destination) HandleDeliveryStatus(msgID uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &d.pub
	if p.state != PublishAwaitingConfirmation || msgID == 0 || msgID != p.token {
		return false
	}
	d.setPublishLocked(PublishConfirmed)
	p.confirmed = d.now()
	clear(p.excluded)
	d.stats.Confirmed++
	d.log.Debug("LeaseSet store confirmed", "floodfill", p.floodfill.Short())
	d.signal()
	return true
}

// startVerifyLocked looks our LeaseSet up, through another floodfill
// than the one we stored at when there is one (the store was flooded to
// it) and then, if that fails, through the one we stored at; it
// republishes unless the LeaseSet comes back unchanged.
func (d *Destination) startVerifyLocked(now time.Time) {
	d.setPublishLocked(PublishVerifying)
	gen, want, stored := d.pub.gen, d.pub.published, d.pub.floodfill
	var exclude map[data.Hash]bool
	if len(d.cfg.Floodfills.ClosestFloodfills(d.hash, now, 2, nil)) > 1 {
		exclude = map[data.Hash]bool{stored: true}
	}
	d.spawnLocked(func() {
		ls, err := d.lookup(context.Background(), d.hash, exclude, false)
		if exclude != nil && (err != nil || !bytes.Equal(ls.Bytes(), want.Bytes())) {
			// Not flooded (yet): ask the one we stored at, as i2pd does.
			ls, err = d.lookup(context.Background(), d.hash, nil, false)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.pub.gen != gen {
			return // the LeaseSet changed meanwhile
		}
		if err == nil && bytes.Equal(ls.Bytes(), want.Bytes()) {
			d.setPublishLocked(PublishVerified)
			d.pub.verified = d.now()
			d.stats.Verified++
			d.log.Debug("published LeaseSet verified")
		} else {
			d.log.Info("published LeaseSet not found; publishing again", "err", err)
			d.setPublishLocked(PublishPending)
		}
		d.signal()
	})
}
