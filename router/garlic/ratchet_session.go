package garlic

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/crypto/elligator"
	"i2pbridge/router/i2np"
)

// State is a ratchet session's state. Transitions:
//
//	Alice (NewOutboundSession, bound):
//	  StateNew ──Seal: NS──▶ StateNewSessionSent ──Seal: another NS──▶ StateNewSessionSent
//	  StateNewSessionSent ──Open: NSR──▶ StateEstablished
//	Alice (NewOutboundSession, unbound):
//	  StateOneTime ──Seal: unbound NS──▶ StateOneTime        (no reply is possible)
//	Bob (Keyring.Open of a bound NS):
//	  StateNewSessionReceived ──Seal: NSR──▶ StateNewSessionReplySent ──Seal: NSR──▶ StateNewSessionReplySent
//	  StateNewSessionReplySent ──Open: ES──▶ StateEstablished
//	both:
//	  StateEstablished ──Seal/Open: ES──▶ StateEstablished (NextKey, Ack, AckRequest handled on the way)
//	  any ──Termination block sent or received, expiry, RemoveSession, another ES won──▶ StateTerminated
//
// Alice must not send ES before an NSR, and Bob must not send ES before
// Alice's first ES (ecies.rst §"1g)" Notes); the states enforce it: Seal
// picks the message form from the state.
type State uint8

// Session states.
const (
	StateNew State = iota
	StateNewSessionSent
	StateOneTime
	StateNewSessionReceived
	StateNewSessionReplySent
	StateEstablished
	StateTerminated
)

var stateNames = [...]string{
	StateNew:                 "New",
	StateNewSessionSent:      "NewSessionSent",
	StateOneTime:             "OneTime",
	StateNewSessionReceived:  "NewSessionReceived",
	StateNewSessionReplySent: "NewSessionReplySent",
	StateEstablished:         "Established",
	StateTerminated:          "Terminated",
}

// String names the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// lsStatus tracks whether the remote has our current LeaseSet, the way
// i2pd's GarlicRoutingSession does: a changed LeaseSet is "updated", sent
// with an AckRequest it is "submitted", and the matching Ack makes it "up
// to date". A submitted LeaseSet without an Ack after
// LeaseSetConfirmTimeout is updated again.
type lsStatus uint8

const (
	lsUpToDate lsStatus = iota
	lsUpdated
	lsSubmitted
)

// maxPendingAcks bounds the acks a session owes: a peer that asks for an
// ack in every message while we send nothing must not grow the next Ack
// block without limit. The oldest are dropped; a lost ack only makes the
// peer resend.
const maxPendingAcks = 256

// dhRatchet is one side's next DH ratchet key (i2pd's DHRatchet): our key
// pair, its ID, the remote's last public key, and whether our key is new in
// this exchange (sent in a NextKey block) or reused (only its ID is sent).
type dhRatchet struct {
	keyID  int
	keys   crypto.X25519Keys
	hasKey bool
	remote [32]byte
	newKey bool
}

// pendingNS is one New Session Alice sent and can still receive replies
// to: the handshake state after it, its ephemeral key, and its NSR tag set.
type pendingNS struct {
	st  crypto.SymmetricState
	eph crypto.X25519Keys
	nsr *recvTagSet
}

// nsrSend is Bob's reply state, fixed by his first NSR (see the i2pd
// difference in ratchet.go): the NSR tag set he takes tags from, his
// ephemeral key and its representative, and the two DH results.
type nsrSend struct {
	tags     *sendTagSet
	bepk     [32]byte
	bepkWire [32]byte
	ee, se   [32]byte
}

// Session is one ratchet session with a remote destination's static X25519
// key, paired in both directions once established. It is a pure state
// machine: Seal turns content into message bytes and Keyring.Open feeds
// received messages in; time and randomness come from the caller and the
// keyring. Its methods lock the keyring, so sessions of one keyring may be
// used from several goroutines.
type Session struct {
	k        *Keyring
	state    State
	outbound bool     // we are Alice
	remote   [32]byte // the remote's static key; zero for an unbound session
	created  time.Time
	lastRecv time.Time
	lastSend time.Time

	// Alice.
	nsInit  crypto.SymmetricState // newSessionState for remote
	pending []*pendingNS
	// Bob.
	nsBase crypto.SymmetricState // after the NS payload
	aepk   [32]byte
	nsr    *nsrSend

	send     *sendTagSet
	recvSets []*recvTagSet // every receive tag set with registered tags, NSR ones included

	nextSend       *dhRatchet
	sendForwardKey bool
	nextRecv       *dhRatchet
	sendReverseKey bool

	acks     []Ack // to send, answering AckRequests
	replyDue bool  // Alice: the first ES after the NSR is still owed

	ls          lsStatus
	lsAck       Ack
	lsSubmitted time.Time
}

// Outgoing is the content of one message a session seals: the cloves
// (i2np.Clove with LOCAL or DESTINATION delivery, built by MessageClove or
// by hand) and the requests only an Existing Session may carry.
type Outgoing struct {
	Cloves []i2np.Clove
	// AckRequest asks the remote to ack this message in an Ack block; it is
	// dropped from NS and NSR messages, where the block is not allowed.
	AckRequest bool
	// Terminate adds a Termination block with TerminationReason and ends
	// the session; only an Existing Session may carry it.
	Terminate         bool
	TerminationReason uint8
}

// Sealed is one sealed message.
type Sealed struct {
	// Data is the Garlic message's data, after its 4-byte length.
	Data []byte
	Kind RatchetKind
	// TagSetID and N identify an Existing Session message, as an Ack
	// block from the remote names it.
	TagSetID uint16
	N        uint16
}

// State returns the session's state.
func (s *Session) State() State {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	return s.state
}

// RemoteStatic returns the remote destination's static X25519 key; zero
// for an unbound session.
func (s *Session) RemoteStatic() [32]byte { return s.remote }

// Outbound reports whether we started the session (we are Alice).
func (s *Session) Outbound() bool { return s.outbound }

// NeedsReply reports whether the remote is owed a message even if there is
// nothing to send (ecies.rst §"Protocol-layer Responses"): an NSR for a
// New Session, the first ES after an NSR, an Ack for an AckRequest or a
// reverse key for a NextKey. The destination sends an empty message
// (Seal with a zero Outgoing) when no reverse traffic follows soon.
func (s *Session) NeedsReply() bool {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	switch s.state {
	case StateNewSessionReceived:
		return true
	case StateEstablished:
		return s.replyDue || len(s.acks) > 0 || s.sendReverseKey
	}
	return false
}

// Seal encrypts m in the form the state calls for (NS, NSR or ES), adding
// what the ratchet itself must send: a DateTime block and the LeaseSet
// clove in NS and NSR, the LeaseSet with an AckRequest in an ES after it
// changed, pending Acks, NextKey blocks and padding.
func (s *Session) Seal(now time.Time, m Outgoing) (Sealed, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	return s.seal(now, m)
}

// Wrap seals m and returns it as an I2NP Garlic message with a random ID
// expiring i2np.DefaultExpiration after now.
func (s *Session) Wrap(now time.Time, m Outgoing) (i2np.Message, Sealed, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	sealed, err := s.seal(now, m)
	if err != nil {
		return i2np.Message{}, Sealed{}, err
	}
	msg, err := garlicMessage(s.k.rand, now, sealed.Data)
	return msg, sealed, err
}

func (s *Session) seal(now time.Time, m Outgoing) (Sealed, error) {
	if m.Terminate && s.state != StateEstablished {
		return Sealed{}, fmt.Errorf("%w: Termination block in state %v", ErrSessionState, s.state)
	}
	var (
		out Sealed
		err error
	)
	switch s.state {
	case StateNew, StateNewSessionSent, StateOneTime:
		out, err = s.sealNS(now, m)
	case StateNewSessionReceived, StateNewSessionReplySent:
		out, err = s.sealNSR(now, m)
	case StateEstablished:
		out, err = s.sealES(now, m)
	default:
		return Sealed{}, fmt.Errorf("%w: seal in state %v", ErrSessionState, s.state)
	}
	if err != nil {
		return Sealed{}, err
	}
	s.lastSend = now
	return out, nil
}

// handshakePayload builds an NS or NSR payload: DateTime first (required in
// NS; i2pd sends it in NSR too), the LeaseSet clove when the remote does
// not have our current one, the caller's cloves, padding. The LeaseSet
// status does not change: only an Ack confirms delivery, and a reply to an
// NS (Alice) does.
func (s *Session) handshakePayload(now time.Time, m Outgoing, overhead int) ([]byte, error) {
	p := RatchetPayload{DateTime: DateTimeNow(now), HasDateTime: true}
	if s.ls != lsUpToDate && s.k.ls != nil {
		c, err := s.k.leaseSetClove(now)
		if err != nil {
			return nil, err
		}
		p.Cloves = append(p.Cloves, c)
	}
	p.Cloves = append(p.Cloves, m.Cloves...)
	return s.k.finishPayload(p, overhead)
}

func (s *Session) sealNS(now time.Time, m Outgoing) (Sealed, error) {
	payload, err := s.handshakePayload(now, m, NewSessionOverhead)
	if err != nil {
		return Sealed{}, err
	}
	// A fresh Elligator2-encodable key for every NS, retransmissions
	// included (ecies.rst §"New Session Ephemeral Key").
	eph, repr, err := elligator.GenerateKey(s.k.rand)
	if err != nil {
		return Sealed{}, fmt.Errorf("garlic: new session key: %w", err)
	}
	var static *crypto.X25519Keys
	if s.state != StateOneTime {
		static = &s.k.static
	}
	data, st, err := sealNewSession(s.nsInit, s.remote, &eph, repr, static, nil, payload)
	if err != nil {
		return Sealed{}, err
	}
	if s.state == StateOneTime {
		return Sealed{Data: data, Kind: KindNewSession}, nil
	}
	// Register the replies' tag set (ecies.rst §"KDF for Reply TagSet"),
	// 12 tags ahead, for PreviousTagSetLifetime: a session that gets no
	// reply dies with it.
	p := &pendingNS{st: st, eph: eph}
	p.nsr = newRecvTagSet(s, recvNSR, 0, nsrChains(st.CK()))
	p.nsr.ns = p
	p.nsr.expireAt(now.Add(PreviousTagSetLifetime))
	s.k.extend(p.nsr, nsrLookahead)
	s.recvSets = append(s.recvSets, p.nsr)
	s.pending = append(s.pending, p)
	if len(s.pending) > maxPendingNS {
		s.k.dropTagSet(s.pending[0].nsr) // also removes it from s.pending
	}
	if s.state == StateNew {
		s.state = StateNewSessionSent
	}
	return Sealed{Data: data, Kind: KindNewSession}, nil
}

func (s *Session) sealNSR(now time.Time, m Outgoing) (Sealed, error) {
	payload, err := s.handshakePayload(now, m, NewSessionReplyOverhead)
	if err != nil {
		return Sealed{}, err
	}
	first := s.nsr == nil
	if first {
		eph, repr, err := elligator.GenerateKey(s.k.rand)
		if err != nil {
			return Sealed{}, fmt.Errorf("garlic: new session reply key: %w", err)
		}
		r := &nsrSend{tags: newSendTagSet(0, nsrChains(s.nsBase.CK())), bepk: eph.Public, bepkWire: repr}
		if r.ee, err = eph.DH(s.aepk); err != nil {
			return Sealed{}, fmt.Errorf("garlic: new session reply ee: %w", err)
		}
		if r.se, err = eph.DH(s.remote); err != nil {
			return Sealed{}, fmt.Errorf("garlic: new session reply se: %w", err)
		}
		s.nsr = r
	}
	_, tag, _, err := s.nsr.tags.next()
	if err != nil {
		return Sealed{}, err
	}
	data, keys, err := sealNSR(s.nsBase, tag, s.nsr.bepk, s.nsr.bepkWire, s.nsr.ee, s.nsr.se, nil, payload)
	if err != nil {
		return Sealed{}, err
	}
	if first {
		// Both tag sets 0 follow from the first reply; later replies
		// share its chain key (ecies.rst §"KDF for Payload Section").
		recv := newRecvTagSet(s, recvES, 0, keys.tagSetAB())
		s.k.extend(recv, minLookahead)
		s.recvSets = append(s.recvSets, recv)
		s.send = newSendTagSet(0, keys.tagSetBA())
		s.state = StateNewSessionReplySent
	}
	return Sealed{Data: data, Kind: KindNewSessionReply}, nil
}

func (s *Session) sealES(now time.Time, m Outgoing) (Sealed, error) {
	p := RatchetPayload{Padding: -1}
	lsSent := false
	if s.ls == lsSubmitted && now.After(s.lsSubmitted.Add(LeaseSetConfirmTimeout)) {
		s.ls = lsUpdated
	}
	if s.ls == lsUpdated && s.k.ls != nil {
		c, err := s.k.leaseSetClove(now)
		if err != nil {
			return Sealed{}, err
		}
		p.Cloves = append(p.Cloves, c)
		p.AckRequest, lsSent = true, true
	}
	p.Cloves = append(p.Cloves, m.Cloves...)
	p.AckRequest = p.AckRequest || m.AckRequest
	p.Acks = s.acks
	if s.sendReverseKey {
		p.NextKeys = append(p.NextKeys, s.reverseKeyBlock())
	}
	if s.sendForwardKey {
		p.NextKeys = append(p.NextKeys, s.forwardKeyBlock())
	}
	if m.Terminate {
		p.Termination = &Termination{Reason: m.TerminationReason}
	}
	payload, err := s.k.finishPayload(p, ExistingSessionOverhead)
	if err != nil {
		return Sealed{}, err
	}
	n, tag, key, err := s.send.next()
	if err != nil {
		s.k.terminate(now, s)
		return Sealed{}, err
	}
	data := sealES(tag, n, &key, nil, payload)
	out := Sealed{Data: data, Kind: KindExistingSession, TagSetID: s.send.id, N: uint16(n)}
	s.acks = nil
	s.sendReverseKey = false
	s.replyDue = false
	if lsSent {
		s.ls, s.lsAck, s.lsSubmitted = lsSubmitted, Ack{TagSetID: s.send.id, N: uint16(n)}, now
	}
	if m.Terminate {
		s.k.terminate(now, s)
		return out, nil
	}
	// i2pd starts a DH ratchet once it has sent the message with index
	// 8192 (NewExistingSessionMessage); the NextKey block rides on every
	// later message until the reverse key arrives.
	if n >= s.k.nextKeyAfter && !s.sendForwardKey {
		err := s.newNextSendRatchet()
		if errors.Is(err, ErrTagSetExhausted) {
			// ecies.rst §"KEY AND TAG SET IDS": past the last key ID
			// "the tag set sender must initiate a new session by
			// sending a New Session message". This message still
			// goes out; SessionFor starts the new session.
			s.k.terminate(now, s)
			return out, nil
		}
		if err != nil {
			return Sealed{}, err
		}
	}
	return out, nil
}

// forwardKeyBlock is the NextKey block of our pending send ratchet: our new
// key with its ID, or only the ID of a reused key with a request for a new
// reverse key; the first exchange (key ID 0) always asks for a reverse key
// (i2pd CreatePayload).
func (s *Session) forwardKeyBlock() NextKey {
	r := s.nextSend
	nk := NextKey{KeyID: uint16(r.keyID)}
	if r.newKey {
		nk.Flags = NextKeyPresent
		nk.Key = r.keys.Public
	} else {
		nk.Flags = NextKeyRequestReverse
	}
	if r.keyID == 0 {
		nk.Flags |= NextKeyRequestReverse
	}
	return nk
}

// reverseKeyBlock answers the remote's forward key: our new key, or the ID
// of the key we reuse. nextRecv.keyID holds the remote's key ID; ours is
// the same when we made a new key and one less when we reuse the last one
// (ecies.rst §"DH RATCHET MESSAGE FLOW" table).
func (s *Session) reverseKeyBlock() NextKey {
	r := s.nextRecv
	nk := NextKey{Flags: NextKeyReverse, KeyID: uint16(r.keyID - 1)}
	if r.newKey {
		nk.Flags |= NextKeyPresent
		nk.KeyID = uint16(r.keyID)
		nk.Key = r.keys.Public
	}
	return nk
}

// newNextSendRatchet prepares the next outbound DH ratchet (i2pd
// NewNextSendRatchet): the first uses new key 0; afterwards we alternate
// between a new key (even tag set IDs) and reusing ours while asking for a
// new reverse key (odd tag set IDs).
func (s *Session) newNextSendRatchet() error {
	r := s.nextSend
	switch {
	case r == nil:
		r = &dhRatchet{keyID: 0, newKey: true}
	case !r.newKey || r.keyID == 0:
		r.keyID++
		r.newKey = true
	default:
		r.newKey = false
	}
	if r.keyID > MaxKeyID {
		return fmt.Errorf("%w: key ID %d; the session needs a new NS", ErrTagSetExhausted, r.keyID)
	}
	if r.newKey {
		keys, err := crypto.GenerateX25519(s.k.rand)
		if err != nil {
			return fmt.Errorf("garlic: next key: %w", err)
		}
		r.keys, r.hasKey = keys, true
	}
	s.nextSend = r
	s.sendForwardKey = true
	return nil
}

// handleNextKey processes a NextKey block that arrived on tag set ts (i2pd
// HandleNextKey). Blocks that fit no exchange in progress are ignored, as
// i2pd does; a low-order key ends nothing but the exchange.
func (s *Session) handleNextKey(now time.Time, ts *recvTagSet, nk NextKey) {
	if nk.IsReverse() {
		// The tag receiver's answer to our forward key: our send
		// direction ratchets.
		r := s.nextSend
		if !s.sendForwardKey || r == nil {
			return
		}
		id := int(nk.KeyID)
		expected := ((!r.newKey || r.keyID == 0) && id == r.keyID) || (r.newKey && id == r.keyID-1)
		if !expected {
			return
		}
		if nk.HasKey() {
			r.remote = nk.Key
		}
		shared, err := r.keys.DH(r.remote)
		if err != nil {
			return
		}
		tsID := 1 + r.keyID + id
		if tsID > MaxTagSetID {
			return
		}
		s.send = newSendTagSet(uint16(tsID), dhInitialize(s.send.nextRoot, ratchetTagSetKey(shared)))
		s.sendForwardKey = false
		return
	}
	// A forward key from the remote's send direction: our receive
	// direction ratchets, and we owe a reverse key, also for a duplicate:
	// the remote repeats its key until our answer arrives.
	newKey := nk.RequestsReverse()
	r := s.nextRecv
	if r != nil && int(nk.KeyID) == r.keyID && newKey == r.newKey {
		s.sendReverseKey = true
		return
	}
	next := dhRatchet{}
	if r != nil {
		next = *r
	}
	if !newKey && !next.hasKey {
		return // asked to reuse a key we never made: nothing to ratchet with
	}
	next.keyID = int(nk.KeyID)
	tsID := 2 * next.keyID
	if newKey {
		keys, err := crypto.GenerateX25519(s.k.rand)
		if err != nil {
			return
		}
		next.keys, next.hasKey = keys, true
		tsID++
	}
	next.newKey = newKey
	if nk.HasKey() {
		next.remote = nk.Key
	}
	shared, err := next.keys.DH(next.remote)
	if err != nil || tsID > MaxTagSetID {
		return
	}
	s.nextRecv = &next
	s.sendReverseKey = true
	recv := newRecvTagSet(s, recvES, uint16(tsID), dhInitialize(ts.nextRoot, ratchetTagSetKey(shared)))
	s.k.extend(recv, maxLookahead)
	s.recvSets = append(s.recvSets, recv)
	ts.expireAt(now.Add(PreviousTagSetLifetime))
}

// ackReceived handles one Ack: the LeaseSet we sent with an AckRequest is
// confirmed when its Ack comes back.
func (s *Session) ackReceived(a Ack) {
	if s.ls == lsSubmitted && a == s.lsAck {
		s.ls = lsUpToDate
	}
}

// handleES is the session's part of an Existing Session message that
// arrived with index n of tag set ts.
func (s *Session) handleES(now time.Time, ts *recvTagSet, n int, p RatchetPayload) {
	s.lastRecv = now
	if s.state == StateNewSessionReplySent {
		// Alice's first ES: this session won (ecies.rst §"1g)" Notes).
		s.state = StateEstablished
		s.nsr = nil
		s.k.established(s)
	}
	if s.state != StateEstablished {
		return // terminated: deliver the cloves, act on nothing
	}
	for _, nk := range p.NextKeys {
		s.handleNextKey(now, ts, nk)
	}
	for _, a := range p.Acks {
		s.ackReceived(a)
	}
	if p.AckRequest {
		if len(s.acks) == maxPendingAcks {
			s.acks = slices.Delete(s.acks, 0, 1)
		}
		s.acks = append(s.acks, Ack{TagSetID: ts.id, N: uint16(n)})
	}
	if p.Termination != nil {
		s.k.terminate(now, s)
	}
}

// handleNSR is Alice's part of a New Session Reply to pending NS ns.
func (s *Session) handleNSR(now time.Time, keys *nsrKeys) {
	s.lastRecv = now
	if s.state != StateNewSessionSent {
		return // a later reply: only its payload counts
	}
	s.send = newSendTagSet(0, keys.tagSetAB())
	recv := newRecvTagSet(s, recvES, 0, keys.tagSetBA())
	s.k.extend(recv, minLookahead)
	s.recvSets = append(s.recvSets, recv)
	s.state = StateEstablished
	s.replyDue = true
	// The NS carried our LeaseSet and Bob answered it.
	s.ls = lsUpToDate
	s.k.established(s)
}

// expired reports whether the session has neither received for
// ReceiveExpiration nor sent for SendExpiration (i2pd CheckExpired).
func (s *Session) expired(now time.Time) bool {
	return now.After(s.lastRecv.Add(ReceiveExpiration)) && now.After(s.lastSend.Add(SendExpiration))
}

// inactive reports whether SessionFor should replace the session (i2pd
// IsInactive): nothing received for InactivityRestart and older than
// RestartAfter.
func (s *Session) inactive(now time.Time) bool {
	return now.After(s.lastRecv.Add(InactivityRestart)) && now.After(s.created.Add(RestartAfter))
}

// randomPadding returns a padding length of 0-15 bytes from r that does
// not push a payload of length n past OptimalPayloadLen when it fits, and
// -1 (no padding block) when the payload is within a block header of that
// size (i2pd CreatePayload).
func randomPadding(r io.Reader, n int) (int, error) {
	delta := OptimalPayloadLen - n
	if delta >= 0 && delta <= BlockHeaderLen {
		return -1, nil
	}
	v, err := randomUint32(r)
	if err != nil {
		return 0, fmt.Errorf("garlic: padding length: %w", err)
	}
	pad := int(v % (maxPadding + 1))
	if delta > BlockHeaderLen {
		pad = min(pad, delta-BlockHeaderLen)
	}
	return pad, nil
}
