package garlic

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/crypto/elligator"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// DefaultMaxSessions bounds the sessions of one keyring when the
// configuration gives no limit. Anyone can make us create a session with a
// New Session from a fresh static key, and each holds up to about a
// thousand tags, so the bound is what keeps memory finite (ecies.rst
// §"Defense": "Hard limit on number of session tags stored").
const DefaultMaxSessions = 1024

// KeyringConfig configures a Keyring.
type KeyringConfig struct {
	// Static is the local destination's X25519 key pair, the crypto type 4
	// key its LeaseSet2 publishes.
	Static crypto.X25519Keys
	// Rand supplies ephemeral keys, NextKey keys, padding lengths and
	// message IDs; nil means crypto/rand.
	Rand io.Reader
	// NextKeyAfter is the tag index after which a sender starts a DH
	// ratchet; 0 means DefaultNextKeyAfter (i2pd's 8192). At most
	// MaxTagIndex − 1.
	NextKeyAfter int
	// ReplyTags, when set, holds one-time tags and keys for tag-only
	// replies (encrypted DatabaseLookup replies to this destination); Open
	// tries it after the ratchet tags.
	ReplyTags *TagTable
	// MaxSessions bounds the sessions; 0 means DefaultMaxSessions.
	MaxSessions int
}

// Keyring is the ratchet context of one local destination (ecies.rst
// §"Session Context": sessions are never shared between destinations or
// with the router): its static key, every session, the index from 8-byte
// tags to the tag sets that generated them, the NS replay cache and the
// LeaseSet the sessions attach. It is safe for concurrent use; one mutex
// covers it and all its sessions. Time is always passed in.
type Keyring struct {
	mu           sync.Mutex
	static       crypto.X25519Keys
	nsInit       crypto.SymmetricState // newSessionState for our own key
	rand         io.Reader
	nextKeyAfter int
	maxSessions  int
	replyTags    *TagTable

	tags     map[Tag]tagRef
	current  map[[32]byte]*Session // per remote static key: the session to send on
	all      map[*Session]struct{}
	replay   *keySet     // decoded NS ephemeral keys
	lastES   *recvTagSet // the tag set of the last ES received, for tag recovery
	ls       *localLeaseSet
	draining []*Session // scratch for Expire
}

// tagRef locates a registered tag: its tag set, its index, and whether a
// message already used it.
type tagRef struct {
	ts   *recvTagSet
	n    int
	used bool
}

type localLeaseSet struct {
	key  data.Hash
	data []byte
}

// Inbound is a received ratchet message after decryption.
type Inbound struct {
	Kind RatchetKind
	// Session is the session the message belongs to: the new one for a
	// bound NS; nil for an unbound NS and a reply-tag message.
	Session *Session
	// RemoteStatic is the sender's static key when the message is bound
	// to one. For a New Session it is only a key: the destination must
	// check that the LeaseSet2 it trusts for the sender (for instance the
	// one in the NS's DatabaseStore clove) publishes this key before it
	// treats the session as that destination's.
	RemoteStatic [32]byte
	// TagSetID and N identify an Existing Session message.
	TagSetID uint16
	N        uint16
	// Payload is the decrypted payload. In NS and NSR messages the blocks
	// only an ES may carry (NextKey, Ack, AckRequest, Termination,
	// MessageNumbers) are removed unread.
	Payload RatchetPayload
}

// NewKeyring returns an empty keyring for a destination's static key.
func NewKeyring(cfg KeyringConfig) (*Keyring, error) {
	if cfg.NextKeyAfter < 0 || cfg.NextKeyAfter >= MaxTagIndex {
		return nil, fmt.Errorf("garlic: keyring: NextKeyAfter %d outside [0, %d)", cfg.NextKeyAfter, MaxTagIndex)
	}
	if cfg.MaxSessions < 0 {
		return nil, fmt.Errorf("garlic: keyring: MaxSessions %d is negative", cfg.MaxSessions)
	}
	if crypto.X25519Public(cfg.Static.Private) != cfg.Static.Public {
		return nil, errors.New("garlic: keyring: static public key does not match the private key")
	}
	k := &Keyring{
		static:       cfg.Static,
		nsInit:       newSessionState(NewSessionProtocolName, cfg.Static.Public),
		rand:         cfg.Rand,
		nextKeyAfter: cfg.NextKeyAfter,
		maxSessions:  cfg.MaxSessions,
		replyTags:    cfg.ReplyTags,
		tags:         make(map[Tag]tagRef),
		current:      make(map[[32]byte]*Session),
		all:          make(map[*Session]struct{}),
		replay:       newKeySet(MaxNSAge + MaxNSFuture),
	}
	if k.nextKeyAfter == 0 {
		k.nextKeyAfter = DefaultNextKeyAfter
	}
	if k.maxSessions == 0 {
		k.maxSessions = DefaultMaxSessions
	}
	return k, nil
}

// Static returns the keyring's static public key.
func (k *Keyring) Static() [32]byte { return k.static.Public }

// NewOutboundSession starts a session to the destination whose LeaseSet2
// publishes the X25519 key remote. A bound session sends our static key
// and our LeaseSet so that the remote can reply; it becomes the current
// session for remote. An unbound one (raw datagrams, ecies.rst §"1c)")
// sends every message as an unbound New Session and is not kept by the
// keyring.
func (k *Keyring) NewOutboundSession(now time.Time, remote [32]byte, bound bool) *Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.newOutbound(now, remote, bound)
}

func (k *Keyring) newOutbound(now time.Time, remote [32]byte, bound bool) *Session {
	s := &Session{
		k: k, outbound: true, remote: remote,
		created: now, lastRecv: now, lastSend: now,
		nsInit: newSessionState(NewSessionProtocolName, remote),
	}
	if !bound {
		s.state = StateOneTime
		return s
	}
	s.state, s.ls = StateNew, lsUpdated
	k.all[s] = struct{}{}
	k.current[remote] = s
	return s
}

// Session returns the current session with remote, or nil.
func (k *Keyring) Session(remote [32]byte) *Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current[remote]
}

// SessionFor returns the session to send to remote on: the current one,
// unless there is none, it ended, or it has received nothing for
// InactivityRestart while older than RestartAfter (i2pd
// GetRoutingSession); then a new bound outbound session.
func (k *Keyring) SessionFor(now time.Time, remote [32]byte) *Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.current[remote]; s != nil && s.state != StateTerminated && !s.inactive(now) && !s.expired(now) {
		return s
	}
	return k.newOutbound(now, remote, true)
}

// RemoveSession ends s at once and forgets its tags.
func (k *Keyring) RemoveSession(s *Session) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.remove(s)
}

// SetLeaseSet sets the LeaseSet2 the sessions attach (key is its
// destination hash) and marks it for delivery on every session: in the
// next NS or NSR, or with an AckRequest in the next ES.
func (k *Keyring) SetLeaseSet(key data.Hash, ls []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ls = &localLeaseSet{key: key, data: slices.Clone(ls)}
	for s := range k.all {
		if s.state != StateTerminated {
			s.ls = lsUpdated
		}
	}
}

// LeaseSetUnconfirmed counts the live sessions whose remote has not yet
// acknowledged our current LeaseSet (set by SetLeaseSet).
func (k *Keyring) LeaseSetUnconfirmed() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for s := range k.all {
		if s.state != StateTerminated && s.ls != lsUpToDate {
			n++
		}
	}
	return n
}

// Stats returns the number of sessions and registered tags.
func (k *Keyring) Stats() (sessions, tags int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.all), len(k.tags)
}

// Open decrypts the data of a Garlic message (after its 4-byte length)
// addressed to this destination, classifying it as ecies.rst
// §"Classification" says: the first 8 bytes are looked up as a ratchet tag
// (ES, or NSR to one of our NS), then as a one-time reply tag; otherwise
// the message is tried as a New Session, and if that fails too, the tag
// set that last received an ES generates up to 320 more tags in search of
// the tag (i2pd). A tag opens one message only: a second message with it
// fails with ErrReplay. Errors wrap ErrDecrypt when nothing opens the
// message.
func (k *Keyring) Open(now time.Time, msg []byte) (Inbound, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	tag, hasTag := TagOf(msg)
	if hasTag {
		if ref, ok := k.tags[tag]; ok {
			return k.openTagged(now, tag, ref, msg)
		}
		if k.replyTags != nil {
			if key, ok := k.replyTags.Take(now, tag); ok {
				pt, err := OpenTagged(&key, nil, msg)
				if err != nil {
					return Inbound{Kind: KindReplyTag}, err
				}
				p, err := ParseRatchetPayload(pt)
				return Inbound{Kind: KindReplyTag, Payload: p}, err
			}
		}
	}
	in, authentic, err := k.openNS(now, msg)
	if err == nil || authentic || !hasTag {
		return in, err
	}
	if ref, ok := k.recoverTag(now, tag); ok {
		return k.openTagged(now, tag, ref, msg)
	}
	return Inbound{}, fmt.Errorf("%w: no session tag %x and not a New Session (%w)", ErrDecrypt, tag[:], err)
}

// openTagged opens a message whose tag is registered.
func (k *Keyring) openTagged(now time.Time, tag Tag, ref tagRef, msg []byte) (Inbound, error) {
	ts, n := ref.ts, ref.n
	if ref.used {
		return Inbound{}, fmt.Errorf("%w: tag %x (tag set %d, index %d) used before", ErrReplay, tag[:], ts.id, n)
	}
	if ts.expired(now) {
		k.dropTagSet(ts)
		return Inbound{}, fmt.Errorf("%w: tag %x of tag set %d, which expired at %s", ErrStale, tag[:], ts.id, ts.expires.UTC().Format(time.RFC3339))
	}
	// Used whatever happens next, as in i2pd: a forged message burns the
	// tag, but only someone who saw the tag on the wire can forge one.
	k.tags[tag] = tagRef{ts: ts, n: n, used: true}
	if ts.kind == recvNSR {
		return k.openReply(now, ts, n, msg)
	}
	s := ts.sess
	key, ok := ts.key(n)
	if !ok {
		return Inbound{}, fmt.Errorf("%w: no key kept for tag set %d index %d", ErrDecrypt, ts.id, n)
	}
	pt, err := openES(&key, n, msg)
	if err != nil {
		return Inbound{Kind: KindExistingSession, Session: s}, err
	}
	k.refill(ts, n)
	k.lastES = ts
	in := Inbound{Kind: KindExistingSession, Session: s, RemoteStatic: s.remote, TagSetID: ts.id, N: uint16(n)}
	p, err := ParseRatchetPayload(pt)
	if err != nil {
		s.handleES(now, ts, n, RatchetPayload{Padding: -1})
		return in, err
	}
	s.handleES(now, ts, n, p)
	in.Payload = p
	return in, nil
}

// openReply opens a New Session Reply to pending NS ts.ns (we are Alice).
func (k *Keyring) openReply(now time.Time, ts *recvTagSet, n int, msg []byte) (Inbound, error) {
	s, ns := ts.sess, ts.ns
	if len(msg) < NewSessionReplyOverhead {
		return Inbound{}, fmt.Errorf("%w: New Session Reply of %d bytes, need at least %d", ErrTruncated, len(msg), NewSessionReplyOverhead)
	}
	var repr [32]byte
	copy(repr[:], msg[TagLen:])
	bepk, err := elligator.Decode(repr)
	if err != nil {
		return Inbound{}, fmt.Errorf("%w: New Session Reply key: %w", ErrDecrypt, err)
	}
	ee, err := ns.eph.DH(bepk)
	if err != nil {
		return Inbound{}, fmt.Errorf("%w: New Session Reply ee: %w", ErrDecrypt, err)
	}
	se, err := k.static.DH(bepk)
	if err != nil {
		return Inbound{}, fmt.Errorf("%w: New Session Reply se: %w", ErrDecrypt, err)
	}
	pt, keys, err := openNSR(ns.st, bepk, ee, se, msg)
	if err != nil {
		return Inbound{Kind: KindNewSessionReply, Session: s}, err
	}
	k.refill(ts, n)
	s.handleNSR(now, &keys)
	in := Inbound{Kind: KindNewSessionReply, Session: s, RemoteStatic: s.remote}
	p, err := ParseRatchetPayload(pt)
	if err != nil {
		return in, err
	}
	in.Payload = stripESBlocks(p)
	return in, nil
}

// openNS tries msg as a New Session to our static key. authentic reports
// whether it decrypted, so that a refusal after that point (stale, replay,
// malformed, too many sessions) is final.
func (k *Keyring) openNS(now time.Time, msg []byte) (in Inbound, authentic bool, err error) {
	if len(msg) < NewSessionOverhead {
		return Inbound{}, false, fmt.Errorf("%w: New Session of %d bytes, need at least %d", ErrTruncated, len(msg), NewSessionOverhead)
	}
	var repr [32]byte
	copy(repr[:], msg)
	aepk, err := elligator.Decode(repr)
	if err != nil {
		return Inbound{}, false, fmt.Errorf("%w: New Session key: %w", ErrDecrypt, err)
	}
	o, err := openNewSession(&k.nsInit, &k.static, aepk, msg)
	if err != nil {
		return Inbound{}, false, err
	}
	in = Inbound{Kind: KindNewSession, RemoteStatic: o.apk}
	p, err := ParseRatchetPayload(o.payload)
	if err != nil {
		return in, true, err
	}
	// ecies.rst §"Block Ordering Rules": "In the New Session message, the
	// DateTime block is required, and must be the first block"; it is
	// what bounds the replay cache.
	if len(o.payload) == 0 || BlockType(o.payload[0]) != BlockDateTime {
		return in, true, fmt.Errorf("%w: New Session without a leading DateTime block", ErrStale)
	}
	t := time.Unix(int64(p.DateTime), 0)
	if t.Before(now.Add(-MaxNSAge)) || t.After(now.Add(MaxNSFuture)) {
		return in, true, fmt.Errorf("%w: New Session DateTime %s, now %s", ErrStale, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if k.replay.seen(now, aepk) {
		return in, true, fmt.Errorf("%w: New Session ephemeral key %x", ErrReplay, aepk[:4])
	}
	in.Payload = stripESBlocks(p)
	if !o.bound() {
		return in, true, nil
	}
	if len(k.all) >= k.maxSessions {
		k.expire(now)
		if len(k.all) >= k.maxSessions {
			return in, true, fmt.Errorf("%w: %d", ErrTooManySessions, len(k.all))
		}
	}
	s := &Session{
		k: k, state: StateNewSessionReceived, remote: o.apk,
		created: now, lastRecv: now, lastSend: now,
		nsBase: o.st, aepk: aepk, ls: lsUpToDate,
	}
	k.all[s] = struct{}{}
	// A New Session always means the remote started over (or sent one of
	// several NS), so replies go on the newest session; an established
	// one stays usable for receiving until it expires.
	k.current[o.apk] = s
	in.Session = s
	return in, true, nil
}

// stripESBlocks removes the blocks only Existing Session messages may
// carry (ecies.rst §"Block Ordering Rules"), so that nothing acts on them
// in an NS or NSR.
func stripESBlocks(p RatchetPayload) RatchetPayload {
	p.NextKeys, p.Acks, p.AckRequest, p.AckRequestFlags, p.Termination, p.PN, p.HasPN = nil, nil, false, 0, nil, 0, false
	return p
}

// recoverTag generates up to maxLookahead more tags of the tag set that
// last received an ES, looking for tag (i2pd HandleGarlicMessage): a burst
// of lost or reordered messages can outrun the window. It gives up on a
// tag set that already holds three windows of tags, and forgets the tag
// set after a miss so that garbage costs this only once.
func (k *Keyring) recoverTag(now time.Time, tag Tag) (tagRef, bool) {
	ts := k.lastES
	k.lastES = nil
	if ts == nil || ts.expired(now) || ts.sess.state == StateTerminated || ts.tags.next-ts.trimBehind >= 3*maxLookahead {
		return tagRef{}, false
	}
	for range maxLookahead {
		t, n, ok := ts.tags.nextTag()
		if !ok {
			break
		}
		if _, dup := k.tags[t]; dup {
			continue
		}
		k.tags[t] = tagRef{ts: ts, n: n}
		ts.live[n] = t
		if t == tag {
			k.lastES = ts
			return k.tags[t], true
		}
	}
	return tagRef{}, false
}

// extend registers the next count tags of ts (fewer at the end of the tag
// set). A tag that collides with a registered one is skipped: 8-byte
// collisions are rare enough that losing that message is acceptable, and
// overwriting would break the other tag set.
func (k *Keyring) extend(ts *recvTagSet, count int) {
	for range count {
		t, n, ok := ts.tags.nextTag()
		if !ok {
			return
		}
		if _, dup := k.tags[t]; dup {
			continue
		}
		k.tags[t] = tagRef{ts: ts, n: n}
		ts.live[n] = t
	}
}

// refill moves ts's window after a message with index n: an ES tag set
// reaches min(24 + n/4, 320) tags past n and drops tags more than 320
// behind it (i2pd HandleExistingSessionMessage); an NSR tag set adds 12
// tags when fewer than 6 remain past n (i2pd HandleNextMessage).
func (k *Keyring) refill(ts *recvTagSet, n int) {
	if ts.kind == recvNSR {
		if ts.tags.next-n < nsrLowWatermark {
			k.extend(ts, nsrLookahead)
		}
		return
	}
	target := min(n+min(minLookahead+n/4, maxLookahead), MaxTagIndex+1)
	if c := target - ts.tags.next; c > 0 {
		k.extend(ts, c)
	}
	if below := n - maxLookahead; below > ts.trimBehind {
		for i := ts.trimBehind; i < below; i++ {
			if t, ok := ts.live[i]; ok {
				delete(k.tags, t)
				delete(ts.live, i)
			}
			delete(ts.skipped, i)
		}
		ts.trimBehind = below
	}
}

// dropTagSet forgets ts and its tags.
func (k *Keyring) dropTagSet(ts *recvTagSet) {
	for _, t := range ts.live {
		delete(k.tags, t)
	}
	clear(ts.live)
	clear(ts.skipped)
	s := ts.sess
	s.recvSets = slices.DeleteFunc(s.recvSets, func(x *recvTagSet) bool { return x == ts })
	if ts.ns != nil {
		s.pending = slices.DeleteFunc(s.pending, func(p *pendingNS) bool { return p == ts.ns })
	}
	if k.lastES == ts {
		k.lastES = nil
	}
}

// established makes s, which just completed its handshake, the current
// session for its remote. When s is Bob's, it also ends the other sessions
// Bob created for the same remote's New Sessions that never got an ES
// (ecies.rst §"1g)" Notes: they "should be destroyed immediately after
// receiving Alice's first ES message"). When s is Alice's, those are left
// alone: in a simultaneous open the remote may already have established
// its side of one of them, and an established session is never dropped
// for another.
func (k *Keyring) established(s *Session) {
	k.current[s.remote] = s
	if s.outbound {
		return
	}
	for o := range k.all {
		if o != s && o.remote == s.remote && !o.outbound &&
			(o.state == StateNewSessionReceived || o.state == StateNewSessionReplySent) {
			k.remove(o)
		}
	}
}

// terminate ends s: nothing more is sent on it, it is no longer current,
// and its receive tag sets live PreviousTagSetLifetime longer for messages
// already under way (i2pd expires the tag set on a Termination block).
func (k *Keyring) terminate(now time.Time, s *Session) {
	s.state = StateTerminated
	if k.current[s.remote] == s {
		delete(k.current, s.remote)
	}
	for _, ts := range s.recvSets {
		ts.expireAt(now.Add(PreviousTagSetLifetime))
	}
}

// remove ends s and forgets it and its tags at once.
func (k *Keyring) remove(s *Session) {
	for len(s.recvSets) > 0 {
		k.dropTagSet(s.recvSets[0])
	}
	s.state = StateTerminated
	if k.current[s.remote] == s {
		delete(k.current, s.remote)
	}
	delete(k.all, s)
}

// Expire drops expired tag sets and sessions and returns how many sessions
// it removed. Call it periodically (i2pd: every few minutes); Open also
// refuses tags of expired tag sets on its own.
func (k *Keyring) Expire(now time.Time) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.expire(now)
}

func (k *Keyring) expire(now time.Time) int {
	k.draining = k.draining[:0]
	for s := range k.all {
		if s.expired(now) {
			k.draining = append(k.draining, s)
			continue
		}
		for _, ts := range slices.Clone(s.recvSets) {
			if ts.expired(now) {
				k.dropTagSet(ts)
			}
		}
		// A terminated session with no tags left, or an NS that got no
		// reply in time, is finished.
		if len(s.recvSets) == 0 && (s.state == StateTerminated || s.state == StateNewSessionSent) {
			k.draining = append(k.draining, s)
		}
	}
	for _, s := range k.draining {
		k.remove(s)
	}
	n := len(k.draining)
	clear(k.draining)
	return n
}

// leaseSetClove is the clove of our LeaseSet (k.ls must be set).
func (k *Keyring) leaseSetClove(now time.Time) (i2np.Clove, error) {
	return LeaseSetClove(k.rand, now, k.ls.key, k.ls.data)
}

// finishPayload adds random padding to p, encodes it, and checks that the
// message, overhead included, fits a Garlic message and its AEAD frame.
func (k *Keyring) finishPayload(p RatchetPayload, overhead int) ([]byte, error) {
	p.Padding = -1
	n := p.Len()
	pad, err := randomPadding(k.rand, n)
	if err != nil {
		return nil, err
	}
	p.Padding = pad
	if pad >= 0 {
		n += BlockHeaderLen + pad
	}
	if limit := min(MaxRatchetPayloadLen, maxGarlicData-overhead); n > limit {
		return nil, fmt.Errorf("%w: ratchet payload of %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	return p.Append(make([]byte, 0, n))
}

// maxGarlicData is the most data a Garlic message carries: the largest
// I2NP payload less the Garlic message's 4-byte length.
const maxGarlicData = i2np.MaxPayloadLen - 4
