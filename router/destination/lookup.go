package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// maxRemoteLeaseSets bounds the cache of remote LeaseSets.
const maxRemoteLeaseSets = 4096

// maxFuture is how far in the future a LeaseSet's published time may be
// (i2np.rst §"DatabaseStore"; i2pd and our netDb refuse more than 2
// minutes).
const maxFuture = 2 * time.Minute

// remote is a cached remote LeaseSet2 and the lease we send to.
type remote struct {
	ls       data.LeaseSet2
	key      [32]byte // its X25519 key
	hasKey   bool
	lease    data.Lease2 // current lease, kept while it lasts (i2pd's m_CurrentRemoteLease)
	hasLease bool
	avoid    i2np.TunnelID // an outbound tunnel that failed messages to it
	lastOut  i2np.TunnelID // the outbound tunnel of the last message to it
}

// lookup is one network search for a LeaseSet; callers of the same key
// share it.
type lookup struct {
	key     data.Hash
	done    chan struct{} // closed when ls/err are set
	ls      data.LeaseSet2
	err     error
	replies chan lookupReply
}

// lookupReply is what a floodfill answered: a LeaseSet (DatabaseStore) or
// none (DatabaseSearchReply from "from").
type lookupReply struct {
	ls   data.LeaseSet2
	from data.Hash
}

// LookupLeaseSet returns the LeaseSet2 of the destination with hash h:
// from the cache while it has not expired, otherwise from the floodfills
// (lookup). Our own hash gives our own LeaseSet.
func (d *Destination) LookupLeaseSet(ctx context.Context, h data.Hash) (data.LeaseSet2, error) {
	if h == d.hash {
		if ls, ok := d.LeaseSet(); ok {
			return ls, nil
		}
		return data.LeaseSet2{}, fmt.Errorf("own LeaseSet %s: %w", h.Short(), ErrNoTunnels)
	}
	return d.lookup(ctx, h, nil, true)
}

// Resolve is LookupLeaseSet for a .b32.i2p address or base32 hash.
func (d *Destination) Resolve(ctx context.Context, b32 string) (data.Destination, error) {
	h, err := data.ParseB32(b32)
	if err != nil {
		return data.Destination{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ls, err := d.LookupLeaseSet(ctx, h)
	if err != nil {
		return data.Destination{}, err
	}
	return ls.Destination(), nil
}

// lookup asks the floodfills for key's LeaseSet, leaving out exclude,
// and waits for the answer or ctx; with cached, an unexpired LeaseSet in
// the cache is the answer. Concurrent lookups of a key share one search,
// which goes on when a caller gives up.
func (d *Destination) lookup(ctx context.Context, key data.Hash, exclude map[data.Hash]bool, cached bool) (data.LeaseSet2, error) {
	l, err := d.startLookup(key, exclude, cached)
	if err != nil {
		return data.LeaseSet2{}, err
	}
	select {
	case <-l.done:
		return l.ls, l.err
	case <-ctx.Done():
		return data.LeaseSet2{}, fmt.Errorf("destination: lookup %s: %w", key.Short(), ctx.Err())
	case <-d.closing:
		return data.LeaseSet2{}, fmt.Errorf("lookup %s: %w", key.Short(), ErrClosed)
	}
}

// startLookup joins or starts the search for key. With cached, an
// unexpired cached LeaseSet is returned as a finished lookup: checking
// the cache under the same lock as d.lookups means a caller cannot miss
// both a search that just ended and its result.
func (d *Destination) startLookup(key data.Hash, exclude map[data.Hash]bool, cached bool) (*lookup, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.lookups[key]; l != nil {
		return l, nil
	}
	l := &lookup{key: key, done: make(chan struct{}), replies: make(chan lookupReply, 8)}
	if r := d.remotes[key]; cached && r != nil && d.now().Before(r.ls.Expires()) {
		l.ls = r.ls
		close(l.done)
		return l, nil
	}
	if !d.spawnLocked(func() { d.runLookup(l, exclude) }) {
		return nil, fmt.Errorf("lookup %s: %w", key.Short(), ErrClosed)
	}
	d.lookups[key] = l
	if key != d.hash {
		d.stats.Lookups++
	}
	return l, nil
}

func (d *Destination) runLookup(l *lookup, exclude map[data.Hash]bool) {
	ls, err := d.search(l, exclude)
	if err != nil {
		err = fmt.Errorf("lookup %s: %w", l.key.Short(), err)
	}
	d.mu.Lock()
	if d.lookups[l.key] == l {
		delete(d.lookups, l.key)
	}
	if err != nil && l.key != d.hash {
		d.stats.LookupsFailed++
	}
	d.mu.Unlock()
	l.ls, l.err = ls, err
	close(l.done)
}

// search asks the closest floodfills one after the other, as i2pd's
// LeaseSetDestination::RequestLeaseSet does: a DatabaseLookup (type
// LeaseSet, reply through one of our inbound tunnels, ECIES reply with a
// one-time key and tag, the floodfills asked so far excluded), wrapped for
// the floodfill's router key and delivered by our outbound endpoint. A
// DatabaseSearchReply or no answer in LookupTimeout moves on to the next
// floodfill; at most MaxLookupFloodfills are asked within LookupDeadline.
func (d *Destination) search(l *lookup, exclude map[data.Hash]bool) (data.LeaseSet2, error) {
	deadline := time.NewTimer(d.cfg.LookupDeadline)
	defer deadline.Stop()
	tried := maps.Clone(exclude)
	if tried == nil {
		tried = map[data.Hash]bool{}
	}
	asked, silent := 0, 0
	for asked < d.cfg.MaxLookupFloodfills {
		ff, ok := d.closestFloodfill(l.key, d.now(), tried)
		if !ok {
			break
		}
		tried[ff.Hash] = true
		asked++
		if err := d.sendLookup(l.key, ff, tried); err != nil {
			return data.LeaseSet2{}, err
		}
		timer := time.NewTimer(d.cfg.LookupTimeout)
	wait:
		for {
			select {
			case r := <-l.replies:
				if !r.ls.IsZero() {
					timer.Stop()
					return r.ls, nil
				}
				if r.from == ff.Hash {
					break wait // it does not have it
				}
			case <-timer.C:
				silent++
				break wait
			case <-deadline.C:
				timer.Stop()
				return data.LeaseSet2{}, fmt.Errorf("%w: %d floodfills asked within %v", ErrLookupTimeout, asked, d.cfg.LookupDeadline)
			case <-d.closing:
				timer.Stop()
				return data.LeaseSet2{}, ErrClosed
			}
		}
		timer.Stop()
	}
	switch {
	case asked == 0:
		return data.LeaseSet2{}, ErrNoFloodfills
	case silent == asked:
		return data.LeaseSet2{}, fmt.Errorf("%w: none of %d floodfills answered", ErrLookupTimeout, asked)
	}
	return data.LeaseSet2{}, fmt.Errorf("%w: %d floodfills asked", ErrNotFound, asked)
}

// sendLookup sends one DatabaseLookup for key to ff (i2pd
// CreateLeaseSetDatabaseLookupMsg): from = our reply tunnel's gateway,
// flags = delivery | LeaseSet | ECIES, the reply tunnel ID, the excluded
// floodfills, a random reply key and one 8-byte tag, which our keyring
// opens the tag-only reply with (i2np.rst §"Reply Encryption").
func (d *Destination) sendLookup(key data.Hash, ff Floodfill, tried map[data.Hash]bool) error {
	now := d.now()
	reply, ok := d.replyTunnel(now, d.cfg.LookupTimeout, ff.Hash)
	if !ok {
		return fmt.Errorf("%w: no inbound tunnel for the reply", ErrNoTunnels)
	}
	var rk [32]byte
	var tag garlic.Tag
	if _, err := io.ReadFull(d.rand, rk[:]); err != nil {
		return fmt.Errorf("destination: reply key: %w", err)
	}
	if _, err := io.ReadFull(d.rand, tag[:]); err != nil {
		return fmt.Errorf("destination: reply tag: %w", err)
	}
	if err := d.replies.Add(tag, rk, now.Add(replyTagLifetime)); err != nil {
		return fmt.Errorf("destination: reply tag: %w", err)
	}
	excluded := slices.SortedFunc(maps.Keys(tried), func(a, b data.Hash) int { return bytes.Compare(a[:], b[:]) })
	if len(excluded) > i2np.MaxExcludedPeers {
		excluded = excluded[:i2np.MaxExcludedPeers]
	}
	m, err := d.newMessage(now, i2np.DatabaseLookup{
		Key:         key,
		From:        reply.Gateway,
		Flags:       i2np.LookupDelivery | i2np.LookupLeaseSet | i2np.LookupECIES,
		ReplyTunnel: reply.GatewayID,
		Exclude:     excluded,
		ReplyKey:    rk,
		ReplyTags:   []i2np.SessionTag{i2np.SessionTag(tag)},
	})
	if err == nil {
		err = d.sendToRouter(context.Background(), now, ff, m)
	}
	if err != nil {
		d.replies.Remove(tag)
		if !errors.Is(err, ErrNoTunnels) {
			err = fmt.Errorf("%w: %w", ErrNoTunnels, err)
		}
		return fmt.Errorf("lookup via %s: %w", ff.Hash.Short(), err)
	}
	d.log.Debug("LeaseSet lookup sent", "key", key.Short(), "floodfill", ff.Hash.Short())
	return nil
}

// parseLeaseSet checks a LeaseSet2 received under key: it must parse
// whole, be signed by its destination (and a valid offline signature),
// carry key's destination, be unexpired and not published in the future.
func parseLeaseSet(key data.Hash, b []byte, now time.Time) (data.LeaseSet2, error) {
	ls, n, err := data.ParseLeaseSet2(b)
	if err != nil {
		return data.LeaseSet2{}, err
	}
	switch {
	case n != len(b):
		return data.LeaseSet2{}, fmt.Errorf("%d bytes after the LeaseSet2", len(b)-n)
	case ls.Hash() != key:
		return data.LeaseSet2{}, fmt.Errorf("key %s carries the LeaseSet2 of %s", key.Short(), ls.Hash().Short())
	}
	if err := ls.Verify(); err != nil {
		return data.LeaseSet2{}, err
	}
	if o, ok := ls.OfflineSignature(); ok && now.After(o.ExpiresTime()) {
		return data.LeaseSet2{}, fmt.Errorf("offline signature expired at %v", o.ExpiresTime())
	}
	switch {
	case now.After(ls.Expires()):
		return data.LeaseSet2{}, fmt.Errorf("expired at %v", ls.Expires())
	case ls.Published().After(now.Add(maxFuture)):
		return data.LeaseSet2{}, fmt.Errorf("published in the future (%v)", ls.Published())
	}
	return ls, nil
}

// storeRemoteLocked caches ls unless the cache holds one at least as new,
// and returns the newest. A full cache (maxRemoteLeaseSets, after expiry)
// takes nothing new: anyone can hand us LeaseSets in New Sessions.
func (d *Destination) storeRemoteLocked(now time.Time, ls data.LeaseSet2) data.LeaseSet2 {
	h := ls.Hash()
	r := d.remotes[h]
	if r != nil && !ls.Published().After(r.ls.Published()) {
		return r.ls
	}
	if r == nil {
		if len(d.remotes) >= maxRemoteLeaseSets {
			d.expireRemotesLocked(now)
		}
		if len(d.remotes) >= maxRemoteLeaseSets {
			d.log.Debug("LeaseSet cache full; not caching", "remote", h.Short())
			return ls
		}
		r = &remote{}
		d.remotes[h] = r
	}
	if r.hasKey && d.byKey[r.key] == h {
		delete(d.byKey, r.key)
	}
	r.ls = ls
	r.hasKey = false
	if k, ok := ls.EncryptionKey(data.CryptoTypeX25519); ok && len(k) == 32 {
		r.key, r.hasKey = [32]byte(k), true
		d.byKey[r.key] = h
	}
	if r.hasLease && !slices.Contains(ls.Leases(), r.lease) {
		r.hasLease = false
	}
	return ls
}

// handleLeaseSetStore takes a LeaseSet2 from a DatabaseStore clove: a
// lookup reply or one a remote handed us in its garlic. It is checked,
// cached (unless it is ours) and given to a lookup waiting for it.
func (d *Destination) handleLeaseSetStore(now time.Time, s i2np.DatabaseStore) error {
	if s.StoreType != i2np.StoreLeaseSet2 {
		return fmt.Errorf("%w: DatabaseStore of type %d", ErrInvalid, s.StoreType)
	}
	ls, err := parseLeaseSet(s.Key, s.Data, now)
	if err != nil {
		return fmt.Errorf("%w: LeaseSet2 %s: %w", ErrInvalid, s.Key.Short(), err)
	}
	d.mu.Lock()
	if s.Key != d.hash {
		ls = d.storeRemoteLocked(now, ls)
	}
	l := d.lookups[s.Key]
	d.mu.Unlock()
	if l != nil {
		select {
		case l.replies <- lookupReply{ls: ls}:
		default:
		}
	}
	return nil
}

// handleSearchReply passes a DatabaseSearchReply to the lookup of its key.
// The floodfills it names are not fetched: the router's netDb learns
// floodfills on its own.
func (d *Destination) handleSearchReply(r i2np.DatabaseSearchReply) {
	d.mu.Lock()
	l := d.lookups[r.Key]
	d.mu.Unlock()
	if l != nil {
		select {
		case l.replies <- lookupReply{from: r.From}:
		default:
		}
	}
}

// expireRemotesLocked drops expired remote LeaseSets.
func (d *Destination) expireRemotesLocked(now time.Time) {
	for h, t := range d.asyncLookups {
		if now.Sub(t) > d.cfg.LookupDeadline {
			delete(d.asyncLookups, h)
		}
	}
	for h, r := range d.remotes {
		if now.After(r.ls.Expires()) {
			if r.hasKey && d.byKey[r.key] == h {
				delete(d.byKey, r.key)
			}
			delete(d.remotes, h)
		}
	}
}
