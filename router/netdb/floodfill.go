package netdb

import (
	"context"
	"fmt"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// handleStore processes a DatabaseStore (i2np.rst §"DatabaseStore"; i2pd
// NetDb::HandleDatabaseStoreMsg, in the same order):
//
//  1. a nonzero reply token is acknowledged first, with a DeliveryStatus
//     whose message ID is the token, straight to the reply gateway when
//     the reply tunnel is 0, else in a TunnelGateway message to it;
//  2. a store of our own RouterInfo is dropped;
//  3. a RouterInfo is gunzipped, parsed, verified and checked (key = hash,
//     netId, age); a LeaseSet2 verified, unexpired, strictly newer;
//  4. a floodfill floods what was new to the 3 floodfills closest to the
//     key, with token 0, but only when the store came with a token (the
//     flood copies themselves carry none, which stops the flood). Unlike
//     i2pd, "new" means "not flooded yet" for RouterInfos: a router that
//     publishes over a fresh session has already handed us the same
//     RouterInfo in the NTCP2 handshake, and i2pd, finding nothing newer,
//     never floods it.
func (db *DB) handleStore(ctx context.Context, st *state, from data.Hash, d i2np.DatabaseStore) {
	if d.Key.IsZero() {
		return
	}
	if d.ReplyToken != 0 {
		if ds, err := newMessage(i2np.DeliveryStatus{MessageID: d.ReplyToken, Timestamp: uint64(time.Now().UnixMilli())}); err == nil {
			db.reply(ctx, st, d.ReplyGateway, d.ReplyTunnel, ds)
			db.counters.acked.Add(1)
		}
	}
	if d.Key == db.self {
		return
	}
	updated := false
	switch d.StoreType {
	case i2np.StoreRouterInfo:
		raw, err := i2np.DecompressRouterInfo(d.Data)
		if err == nil {
			var ri data.RouterInfo
			ri, err = ParseRouterInfo(raw)
			if err == nil && ri.Hash() != d.Key {
				err = fmt.Errorf("%w: key %s carries %s", ErrInvalid, d.Key.Short(), ri.Hash().Short())
			}
			if err == nil {
				err = CheckRouterInfo(ri, db.netID, time.Now(), MaxAge)
			}
			if err == nil {
				updated = db.addRouterInfo(ctx, st, ri)
				if m := st.meta[ri.Hash()]; m != nil && d.ReplyToken != 0 {
					cur, _ := db.RouterInfo(ri.Hash())
					if cur.Published() > m.flooded {
						updated = true
						m.flooded = cur.Published()
					}
				}
			}
		}
		if err != nil {
			db.log.Info("netdb: dropping RouterInfo store", "from", from.Short(), "key", d.Key.Short(), "err", err)
			return
		}
	case i2np.StoreLeaseSet2:
		var err error
		updated, err = db.storeLeaseSet2(st, d.Key, d.Data)
		if err != nil {
			db.log.Info("netdb: dropping LeaseSet2 store", "from", from.Short(), "key", d.Key.Short(), "err", err)
			return
		}
	default:
		db.log.Debug("netdb: ignoring store", "type", d.StoreType, "from", from.Short())
		return
	}
	if updated && st.floodfill && d.ReplyToken != 0 {
		db.flood(ctx, st, d)
	}
}

// storeLeaseSet2 keeps a verified LeaseSet2 if it is newer than ours.
func (db *DB) storeLeaseSet2(st *state, key data.Hash, b []byte) (bool, error) {
	ls, n, err := data.ParseLeaseSet2(b)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if n != len(b) {
		return false, fmt.Errorf("%w: %d bytes after the LeaseSet2", ErrInvalid, len(b)-n)
	}
	if err := ls.Verify(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := time.Now()
	switch {
	case ls.Hash() != key:
		return false, fmt.Errorf("%w: key %s carries %s", ErrInvalid, key.Short(), ls.Hash().Short())
	case ls.IsUnpublished():
		return false, fmt.Errorf("%w: unpublished LeaseSet2", ErrInvalid)
	case now.After(ls.Expires()):
		return false, fmt.Errorf("%w: expired LeaseSet2", ErrInvalid)
	case ls.Published().After(now.Add(MaxFuture)):
		return false, fmt.Errorf("%w: LeaseSet2 from the future", ErrInvalid)
	}
	// A new LeaseSet2 must be strictly newer (i2pd NetDb::AddLeaseSet2).
	if old, ok := st.leasesets[key]; ok && !ls.Published().After(old.Published()) {
		return false, nil
	}
	st.leasesets[key] = ls
	db.idx.Lock()
	db.idx.leasesets = len(st.leasesets)
	db.idx.Unlock()
	return true, nil
}

// flood sends d on to the floodCount floodfills closest to its key, other
// than us and the entry's own router, with the reply token cleared.
func (db *DB) flood(ctx context.Context, st *state, d i2np.DatabaseStore) {
	d.ReplyToken, d.ReplyTunnel, d.ReplyGateway = 0, 0, data.Hash{}
	m, err := newMessage(d)
	if err != nil {
		return
	}
	exclude := map[data.Hash]bool{db.self: true, d.Key: true}
	for _, h := range db.closestFloodfills(st, d.Key, floodCount, exclude, false) {
		db.log.Debug("netdb: flooding", "key", d.Key.Short(), "to", h.Short())
		db.send(ctx, st, h, m, nil)
		db.counters.flooded.Add(1)
	}
}

// closestFloodfills returns up to n eligible floodfills closest to key,
// leaving out exclude; closerThanUs keeps only those closer than we are
// (what i2pd puts in a DatabaseSearchReply).
func (db *DB) closestFloodfills(st *state, key data.Hash, n int, exclude map[data.Hash]bool, closerThanUs bool) []data.Hash {
	rk := RoutingKey(key, time.Now())
	var hs []data.Hash
	for h := range st.floodfills {
		if exclude[h] || h == db.self {
			continue
		}
		if closerThanUs && !Closer(rk, h, db.self) {
			continue
		}
		hs = append(hs, h)
	}
	return Closest(rk, hs, n, nil)
}

// handleLookup answers a DatabaseLookup (i2pd NetDb::HandleDatabaseLookupMsg)
// when we are a floodfill, or when it asks for our own RouterInfo:
//
//   - exploratory: a DatabaseSearchReply with the 3 non-floodfills closest
//     to the key, leaving out the excluded ones;
//   - RouterInfo / LeaseSet / any: the entry in a DatabaseStore (token 0);
//   - otherwise: a DatabaseSearchReply with up to 3 floodfills closer to
//     the key than we are.
//
// The reply goes to the "from" router directly, or, with the delivery
// flag, in a TunnelGateway message for the reply tunnel at that router,
// encrypted with the one-time key and tag when the lookup asks for an
// ECIES reply (i2pd encrypts only replies that go down a tunnel).
func (db *DB) handleLookup(ctx context.Context, st *state, from data.Hash, l i2np.DatabaseLookup) {
	if l.Key.IsZero() {
		return
	}
	typ := l.LookupType()
	own := l.Key == db.self && (typ == i2np.LookupRouterInfo || typ == i2np.LookupAny)
	if !st.floodfill && !own {
		db.log.Debug("netdb: ignoring lookup, not a floodfill", "from", from.Short())
		return
	}
	if l.Encrypted() && l.Flags&i2np.LookupECIES == 0 {
		// ElGamal/AES replies need session tags we cannot produce.
		db.log.Debug("netdb: ignoring lookup asking for an ElGamal reply", "from", from.Short())
		return
	}
	exclude := make(map[data.Hash]bool, len(l.Exclude))
	for _, h := range l.Exclude {
		exclude[h] = true
	}
	var body i2np.Body
	switch {
	case typ == i2np.LookupExploratory:
		var hs []data.Hash
		for h, m := range st.meta {
			if !m.floodfill && !exclude[h] {
				hs = append(hs, h)
			}
		}
		body = i2np.DatabaseSearchReply{Key: l.Key, Peers: Closest(RoutingKey(l.Key, time.Now()), hs, replyPeers, nil), From: db.self}
	default:
		if typ == i2np.LookupRouterInfo || typ == i2np.LookupAny {
			ri, ok := db.RouterInfo(l.Key)
			if own {
				ri, ok = st.local, true
			}
			if ok {
				if gz, err := i2np.CompressRouterInfo(ri.Bytes()); err == nil {
					body = i2np.DatabaseStore{Key: l.Key, StoreType: i2np.StoreRouterInfo, Data: gz}
				}
			}
		}
		if body == nil && (typ == i2np.LookupLeaseSet || typ == i2np.LookupAny) {
			if ls, ok := st.leasesets[l.Key]; ok && time.Now().Before(ls.Expires()) {
				body = i2np.DatabaseStore{Key: l.Key, StoreType: i2np.StoreLeaseSet2, Data: ls.Bytes()}
			}
		}
		if body == nil {
			body = i2np.DatabaseSearchReply{Key: l.Key, Peers: db.closestFloodfills(st, l.Key, replyPeers, exclude, true), From: db.self}
		}
	}
	m, err := newMessage(body)
	if err != nil {
		db.log.Warn("netdb: cannot build lookup reply", "err", err)
		return
	}
	var tunnel i2np.TunnelID
	if l.Flags&i2np.LookupDelivery != 0 {
		tunnel = l.ReplyTunnel
		if l.Encrypted() {
			if len(l.ReplyTags) == 0 {
				db.log.Debug("netdb: encrypted reply asked without tags", "from", from.Short())
				return
			}
			if m, err = wrapTagged(m, &l.ReplyKey, l.ReplyTags[0]); err != nil {
				db.log.Warn("netdb: cannot encrypt lookup reply", "err", err)
				return
			}
		}
	}
	db.log.Debug("netdb: answering lookup", "from", from.Short(), "key", l.Key.Short(), "type", typ, "reply", m.Type, "tunnel", tunnel)
	db.reply(ctx, st, l.From, tunnel, m)
	db.counters.answered.Add(1)
}

// reply sends m to router to, directly (tunnel 0) or wrapped in a
// TunnelGateway message for that router's inbound tunnel. A router we do
// not know is looked up first, as i2pd's transports do.
//
// A reply tunnel whose gateway is this router is legal (the asker built
// its inbound tunnel through us): the TunnelGateway message then goes to
// our own hash, and the Sender must hand it to our tunnel side.
func (db *DB) reply(ctx context.Context, st *state, to data.Hash, tunnel i2np.TunnelID, m i2np.Message) {
	if to.IsZero() || (to == db.self && tunnel == 0) {
		return
	}
	if tunnel != 0 {
		tg, err := i2np.NewTunnelGateway(tunnel, m)
		if err == nil {
			m, err = newMessage(tg)
		}
		if err != nil {
			db.log.Warn("netdb: cannot build TunnelGateway reply", "err", err)
			return
		}
	}
	if _, ok := db.RouterInfo(to); ok || to == db.self {
		db.send(ctx, st, to, m, nil)
		return
	}
	// Usually the asker is the peer of the session the request came on and
	// the transport has a session; if not, its RouterInfo is needed to dial.
	db.send(ctx, st, to, m, func(ctx context.Context, st *state, err error) {
		if _, ok := db.RouterInfo(to); ok {
			db.send(ctx, st, to, m, nil) // it arrived meanwhile
			return
		}
		db.lookup(ctx, st, to, searchRouter, data.Hash{}, func(ctx context.Context, st *state, _ data.RouterInfo, err error) {
			if err == nil {
				db.send(ctx, st, to, m, nil)
			}
		})
	})
}

// Garlic block types used in a tag-encrypted reply (ecies.rst §"5)
// Payload").
const (
	blockGarlicClove = 11
	blockPadding     = 254
)

// wrapTagged encrypts m for a reply tunnel the way an ECIES lookup asks
// (i2np.rst §"Reply Encryption", proposals/154-ecies-lookups.rst; i2pd
// WrapECIESX25519Message): a Garlic message whose data is the 8-byte tag
// followed by ChaCha20-Poly1305(key, nonce 0, ad = tag) of a payload
// holding one garlic clove block (LOCAL delivery, the message with its
// short header) and a padding block.
//
// This belongs with router-level garlic (router/garlic) once that exists;
// a floodfill needs nothing more of it.
func wrapTagged(m i2np.Message, key *[32]byte, tag i2np.SessionTag) (i2np.Message, error) {
	clove, err := i2np.Clove{Delivery: i2np.CloveDelivery{Type: i2np.DeliveryLocal}, Message: m}.Append(nil)
	if err != nil {
		return i2np.Message{}, err
	}
	if len(clove) > 0xffff {
		return i2np.Message{}, fmt.Errorf("%w: clove of %d bytes", ErrInvalid, len(clove))
	}
	payload := make([]byte, 0, 3+len(clove)+3+15)
	payload = append(payload, blockGarlicClove, byte(len(clove)>>8), byte(len(clove)))
	payload = append(payload, clove...)
	pad := int(randomID() % 16)
	payload = append(payload, blockPadding, 0, byte(pad))
	payload = append(payload, make([]byte, pad)...)
	out := append([]byte(nil), tag[:]...)
	out = crypto.AEADSeal(key, 0, out, payload, tag[:])
	return newMessage(i2np.Garlic{Data: out})
}
