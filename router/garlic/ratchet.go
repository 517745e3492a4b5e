package garlic

import (
	"errors"
	"fmt"
	"time"

	"i2pbridge/router/crypto"
)

// ECIES-X25519-AEAD-Ratchet (ecies.rst, i2p/i2p.www i2p2www/spec; I2P API
// 0.9.57 as i2pd 2.45 implements it) between two destinations whose
// LeaseSet2 publishes an X25519 key (crypto type 4). Alice is the side that
// starts a session, Bob the other; after the handshake both send.
//
// # Messages
//
// The data of a Garlic message (after its 4-byte length) is one of:
//
//	New Session (NS), 96 + payload bytes (ecies.rst §"1b)", §"1c)"):
//	  Elligator2(aepk) (32)
//	  AEAD(k, 0, ad=h)(apk, or 32 zero bytes when unbound) (32 + 16)
//	  AEAD(k', n, ad=h)(payload) (+ 16); bound: k' from ss and n = 0;
//	  unbound: k' = k and n = 1, with no MixHash before it
//	New Session Reply (NSR), 72 + payload bytes (§"1g)"):
//	  tag from the NSR tag set (8)
//	  Elligator2(bepk) (32)
//	  AEAD(k, 0, ad=h)(empty) (16)
//	  AEAD(HKDF(k_ba, "", "AttachPayloadKDF", 32), 0, ad=h)(payload) (+ 16)
//	Existing Session (ES), 24 + payload bytes (§"1h)"):
//	  tag (8)
//	  AEAD(key_n, n, ad=tag)(payload) (+ 16); n is the tag's index
//
// # KDF chains
//
//	h = SHA256("Noise_IKelg2+hs2_25519_ChaChaPoly_SHA256"); ck = h
//	h = SHA256(h)                     MixHash(null prologue)
//	h = SHA256(h ‖ bpk)               Bob's static key (LS2, type 4)
//	h = SHA256(h ‖ aepk)              the decoded ephemeral key
//	ck, k = HKDF(ck, DH(aesk, bpk))   es
//	c1 = ENCRYPT(k, 0, apk or zeros, h); h = SHA256(h ‖ c1)
//	bound:   ck, k = HKDF(ck, DH(ask, bpk)) (ss); c2 = ENCRYPT(k, 0, payload, h); h = SHA256(h ‖ c2)
//	unbound: c2 = ENCRYPT(k, 1, payload, h), and nothing else: no reply is possible
//
//	NSR tag set = DH_INITIALIZE(ck, HKDF(ck, "", "SessionReplyTags", 32))
//	h = SHA256(h ‖ tag)               the "+hs2": the tag is hashed before e
//	h = SHA256(h ‖ bepk)
//	ck = HKDF(ck, DH(besk, aepk))     ee
//	ck, k = HKDF(ck, DH(besk, apk))   se
//	c3 = ENCRYPT(k, 0, "", h); h = SHA256(h ‖ c3)
//	k_ab, k_ba = HKDF(ck, "", "", 64) Split
//	Alice→Bob tag set 0 = DH_INITIALIZE(ck, k_ab); Bob→Alice tag set 0 = DH_INITIALIZE(ck, k_ba)
//
// Tag sets (tagset.go) give one tag and one key per message; a DH ratchet
// (NextKey blocks, ratchet_session.go) replaces a direction's tag set with
// DH_INITIALIZE(previous nextRoot, HKDF(DH, "", "XDHRatchetTagSet", 32)).
//
// # Objects
//
// A Keyring (ratchet_keyring.go) is one local destination's context: its
// static key, its sessions, and the index from 8-byte tags to the receive
// tag sets that made them. Keyring.Open classifies an inbound message as
// ecies.rst §"Classification" describes (tag lookup, then trial decryption
// as an NS) and hands it to its Session; Keyring.SessionFor and
// NewOutboundSession give the Session to send on, and Session.Seal picks
// NS, NSR or ES from the session's state (ratchet_session.go). Nothing
// here does I/O or reads a clock: time is an argument, randomness comes
// from KeyringConfig.Rand.
//
// # Where spec and i2pd 2.45 differ (i2pd wins)
//
//   - ecies.rst §"1g)" Notes: "Alice and Bob are required to use new
//     ephemeral keys for every NS and NSR message". i2pd's Bob sends every
//     NSR of one session with the same ephemeral key (and so the same
//     chain key and tag sets); only the tag, and with it h, changes
//     (NextNewSessionReplyMessage). Our Bob does the same: whichever of
//     several NSRs Alice sees first, both sides then agree on the tag sets.
//     Our Alice accepts either form.
//   - §"Block Ordering Rules" lists no DateTime block for the NSR; i2pd
//     sends one first in every NSR. We send and accept it.
//   - i2pd sends NextKey after 8192 messages in a tag set (the spec's
//     §"Parameters" say 4096), generates 24 to 320 tags ahead (spec 24 to
//     160), trims 320 behind (spec: half the look-ahead) and, when a tag is
//     unknown and not an NS, generates up to 320 more tags of the tag set
//     that last received a message before giving up. We do all of that.
//   - i2pd never checks the NS DateTime and keeps no NS replay cache; we
//     check −5/+2 minutes and refuse a decoded ephemeral key seen within
//     that window (§"Parameters": "NS replay filter duration: 5 minutes").
//     The key is cached after decoding: the representative's two random
//     top bits could otherwise be flipped to replay the same NS.
//   - i2pd ignores NextKey, Ack and AckRequest blocks in NS and NSR (and
//     would crash on an AckRequest there); the spec forbids them. We ignore
//     them too rather than refuse the message.
//   - An Ack block's tag set ID and N are compared exactly; i2pd only
//     compares N.
//   - The spec allows tag indices up to 65535; i2pd's tag sets stop at
//     65533. With NextKey at 8192 neither limit is reached.
//   - ecies.rst §"Parameters": "Replace session if NS received after: 3
//     minutes"; i2pd keeps an existing session for 120 s after its
//     creation and drops the newer one. A New Session can only come from
//     the holder of that static key, so we always reply on the newest one:
//     a restarted peer is answered at once.
//   - i2pd's Alice keeps the state of her last NS only; ours keeps the last
//     eight, so that replies to any of several NS (§"HTTP POST" option 3)
//     open.

// NewSessionProtocolName is the Noise protocol name of New Session and New
// Session Reply messages (40 bytes, so it is hashed; ecies.rst §"KDF for
// Initial ChainKey").
const NewSessionProtocolName = "Noise_IKelg2+hs2_25519_ChaChaPoly_SHA256"

// Fixed overheads of the three message forms.
const (
	NewSessionOverhead      = 32 + 32 + crypto.AEADTagSize + crypto.AEADTagSize // 96
	NewSessionReplyOverhead = TagLen + 32 + crypto.AEADTagSize + crypto.AEADTagSize
	ExistingSessionOverhead = TagLen + crypto.AEADTagSize // 24
	nsrKeySectionEnd        = TagLen + 32 + crypto.AEADTagSize
	nsStaticEnd             = 32 + 32 + crypto.AEADTagSize
)

// Timeouts and limits, i2pd 2.45's unless said otherwise
// (ECIESX25519AEADRatchetSession.h, Garlic.h).
const (
	// DefaultNextKeyAfter is the tag index after which a sender starts a
	// DH ratchet (ECIESX25519_TAGSET_MAX_NUM_TAGS).
	DefaultNextKeyAfter = 8192
	// PreviousTagSetLifetime is how long a receive tag set stays usable
	// after a DH ratchet replaced it, and how long an NSR tag set lives
	// (ECIESX25519_PREVIOUS_TAGSET_EXPIRATION_TIMEOUT; ecies.rst: "NSR
	// tagset timeout: 3 minutes", "Remove previous ES tagset after: 3
	// minutes").
	PreviousTagSetLifetime = 180 * time.Second
	// ReceiveExpiration and SendExpiration end a session that has neither
	// received for 600 s nor sent for 480 s (CheckExpired).
	ReceiveExpiration = 600 * time.Second
	SendExpiration    = 480 * time.Second
	// InactivityRestart and RestartAfter: SessionFor starts a new session
	// instead of using one that has received nothing for 90 s and is more
	// than 120 s old (IsInactive, CanBeRestarted).
	InactivityRestart = 90 * time.Second
	RestartAfter      = 120 * time.Second
	// LeaseSetConfirmTimeout is how long a LeaseSet sent with an
	// AckRequest waits for its Ack before it is sent again
	// (LEASET_CONFIRMATION_TIMEOUT).
	LeaseSetConfirmTimeout = 4 * time.Second
	// OptimalPayloadLen is the payload size that fills two tunnel messages
	// (ECIESX25519_OPTIMAL_PAYLOAD_SIZE); padding never pushes a smaller
	// payload past it.
	OptimalPayloadLen = 1912
	// MaxNSAge and MaxNSFuture bound an NS DateTime (ecies.rst
	// §"Parameters": "Max clock skew: -5 minutes to +2 minutes").
	MaxNSAge    = MaxNMessageAge
	MaxNSFuture = MaxNMessageFuture
	// maxPendingNS bounds the New Sessions Alice keeps answerable before
	// the first reply (i2pd keeps only the last one).
	maxPendingNS = 8
	// maxPadding is the largest random padding (ecies.rst §"Padding":
	// "Padding default is 0-15 bytes").
	maxPadding = 15
)

// Ratchet errors, beside the package's other sentinels.
var (
	// ErrTagSetExhausted reports a tag set whose 65536 tags are used up
	// before a DH ratchet replaced it, or a key ID or tag set ID beyond its
	// limit.
	ErrTagSetExhausted = errors.New("garlic: ratchet tag set exhausted")
	// ErrSessionState reports an operation the session's state does not
	// allow: sending on a terminated session, a Termination block in a
	// New Session or reply.
	ErrSessionState = errors.New("garlic: not allowed in this session state")
	// ErrTooManySessions reports a New Session refused because the keyring
	// holds its maximum number of sessions.
	ErrTooManySessions = errors.New("garlic: too many ratchet sessions")
)

// RatchetKind says which form an inbound or outbound ratchet message has.
type RatchetKind uint8

// Ratchet message kinds.
const (
	KindNewSession      RatchetKind = iota + 1 // NS, bound or unbound
	KindNewSessionReply                        // NSR
	KindExistingSession                        // ES
	KindReplyTag                               // tag-only, with a one-time key of the keyring's TagTable
)

// String names the kind.
func (k RatchetKind) String() string {
	switch k {
	case KindNewSession:
		return "NS"
	case KindNewSessionReply:
		return "NSR"
	case KindExistingSession:
		return "ES"
	case KindReplyTag:
		return "reply-tag"
	}
	return fmt.Sprintf("RatchetKind(%d)", uint8(k))
}

// newSessionState returns the handshake state both sides start from for
// Bob's static key bpk: Init(name), MixHash(null prologue), MixHash(bpk).
// Bob computes it once for all incoming sessions, Alice once per session.
// The name is a parameter so that tests can run the same code as
// Noise_IK_25519_ChaChaPoly_SHA256 against flynn/noise.
func newSessionState(name string, bpk [32]byte) crypto.SymmetricState {
	var s crypto.SymmetricState
	s.Init(name)
	s.MixHash(nil)
	s.MixHash(bpk[:])
	return s
}

// sealNewSession runs Alice's side of ecies.rst §"1f) KDFs for New Session
// Message" from st (see newSessionState) and appends the NS to dst: ephWire
// (the Elligator2 representative of eph.Public; the raw key in the flynn
// tests), the flags/static section and the payload section. static is
// Alice's static key pair for a bound session, nil for an unbound one. The
// returned state is the one the NSR continues from (bound only).
func sealNewSession(st crypto.SymmetricState, bpk [32]byte, eph *crypto.X25519Keys, ephWire [32]byte,
	static *crypto.X25519Keys, dst, payload []byte) ([]byte, crypto.SymmetricState, error) {
	st.MixHash(eph.Public[:]) // the decoded key, which Bob also hashes
	es, err := eph.DH(bpk)
	if err != nil {
		return dst, st, fmt.Errorf("garlic: new session es: %w", err)
	}
	st.MixKey(es[:])
	var fs [32]byte
	if static != nil {
		fs = static.Public
	}
	out := append(dst, ephWire[:]...)
	if out, err = st.EncryptAndHash(out, fs[:]); err != nil {
		return dst, st, fmt.Errorf("garlic: new session static section: %w", err)
	}
	if static == nil {
		// §"KDF for Payload Section (without Alice static key)": same k,
		// n = 1, ad = h, and no MixHash afterwards.
		st.SetNonce(1)
		if out, err = st.Encrypt(out, payload); err != nil {
			return dst, st, fmt.Errorf("garlic: new session payload: %w", err)
		}
		return out, st, nil
	}
	ss, err := static.DH(bpk)
	if err != nil {
		return dst, st, fmt.Errorf("garlic: new session ss: %w", err)
	}
	st.MixKey(ss[:])
	if out, err = st.EncryptAndHash(out, payload); err != nil {
		return dst, st, fmt.Errorf("garlic: new session payload: %w", err)
	}
	return out, st, nil
}

// openedNS is what Bob learns from a New Session.
type openedNS struct {
	st      crypto.SymmetricState // bound only: after the payload; the NSR continues from it
	apk     [32]byte              // Alice's static key, zero when unbound
	payload []byte
}

// bound reports whether the NS carried a static key.
func (o *openedNS) bound() bool { return o.apk != [32]byte{} }

// openNewSession is Bob's side of sealNewSession: init is newSessionState
// for his own key, aepk the ephemeral key decoded from msg[0:32]. Any
// failure wraps ErrDecrypt or ErrTruncated.
func openNewSession(init *crypto.SymmetricState, static *crypto.X25519Keys, aepk [32]byte, msg []byte) (openedNS, error) {
	if len(msg) < NewSessionOverhead {
		return openedNS{}, fmt.Errorf("%w: New Session of %d bytes, need at least %d", ErrTruncated, len(msg), NewSessionOverhead)
	}
	st := *init
	st.MixHash(aepk[:])
	es, err := static.DH(aepk)
	if err != nil {
		return openedNS{}, fmt.Errorf("%w: New Session ephemeral key: %w", ErrDecrypt, err)
	}
	st.MixKey(es[:])
	fs, err := st.DecryptAndHash(nil, msg[32:nsStaticEnd])
	if err != nil {
		return openedNS{}, fmt.Errorf("%w: New Session static section: %w", ErrDecrypt, err)
	}
	o := openedNS{}
	copy(o.apk[:], fs)
	if !o.bound() {
		st.SetNonce(1)
		if o.payload, err = st.Decrypt(nil, msg[nsStaticEnd:]); err != nil {
			return openedNS{}, fmt.Errorf("%w: unbound New Session payload: %w", ErrDecrypt, err)
		}
		return o, nil
	}
	ss, err := static.DH(o.apk)
	if err != nil {
		return openedNS{}, fmt.Errorf("%w: New Session static key: %w", ErrDecrypt, err)
	}
	st.MixKey(ss[:])
	if o.payload, err = st.DecryptAndHash(nil, msg[nsStaticEnd:]); err != nil {
		return openedNS{}, fmt.Errorf("%w: New Session payload: %w", ErrDecrypt, err)
	}
	o.st = st
	return o, nil
}

// nsrChains is the NSR tag set's DH_INITIALIZE(ck, HKDF(ck, ZEROLEN,
// "SessionReplyTags", 32)) for the chain key after the NS (ecies.rst §"KDF
// for Reply TagSet").
func nsrChains(ck [32]byte) chains {
	var k [32]byte
	copy(k[:], crypto.HKDF(ck[:], nil, infoSessionReply, 32))
	return dhInitialize(ck, k)
}

// nsrKeys is the outcome of an NSR's key section: the chain key the ES
// tag sets start from, the two Split keys, and h, the payload's ad.
type nsrKeys struct {
	ck, kab, kba, h [32]byte
}

// payloadKey is HKDF(k_ba, ZEROLEN, "AttachPayloadKDF", 32), the key of the
// NSR payload section (ecies.rst §"KDF for Payload Section Encrypted
// Contents").
func (n *nsrKeys) payloadKey() [32]byte {
	var k [32]byte
	copy(k[:], crypto.HKDF(n.kba[:], nil, infoAttachPayload, 32))
	return k
}

// tagSetAB and tagSetBA are the two tag sets 0 after the reply.
func (n *nsrKeys) tagSetAB() chains { return dhInitialize(n.ck, n.kab) }
func (n *nsrKeys) tagSetBA() chains { return dhInitialize(n.ck, n.kba) }

// nsrKeySection continues st (the state after the NS) through the NSR's
// key section: MixHash(tag) — skipped for a nil tag, which only the flynn
// tests use to get plain Noise IK —, MixHash(bepk), MixKey(ee), MixKey(se),
// and the empty AEAD, whose 16 bytes it appends to dst (seal) or checks
// against mac (open, dst nil). ee and se are the two DH results, which
// each side computes from its own keys.
func nsrKeySection(st crypto.SymmetricState, tag []byte, bepk, ee, se [32]byte, dst, mac []byte) ([]byte, nsrKeys, error) {
	if tag != nil {
		st.MixHash(tag)
	}
	st.MixHash(bepk[:])
	// ee: ecies.rst writes HKDF(chainKey, sharedSecret, "", 32), keeping
	// only the chain key; MixKey computes the same chain key (and a k that
	// se replaces).
	st.MixKey(ee[:])
	st.MixKey(se[:])
	var (
		out []byte
		err error
	)
	if mac == nil {
		out, err = st.EncryptAndHash(dst, nil)
	} else {
		_, err = st.DecryptAndHash(nil, mac)
	}
	if err != nil {
		return dst, nsrKeys{}, fmt.Errorf("%w: New Session Reply key section: %w", ErrDecrypt, err)
	}
	k := nsrKeys{ck: st.CK(), h: st.H()}
	k.kab, k.kba = st.Split()
	return out, k, nil
}

// sealNSR appends tag ‖ bepkWire ‖ key section ‖ payload section to dst.
func sealNSR(st crypto.SymmetricState, tag Tag, bepk, bepkWire, ee, se [32]byte, dst, payload []byte) ([]byte, nsrKeys, error) {
	out := append(dst, tag[:]...)
	out = append(out, bepkWire[:]...)
	out, keys, err := nsrKeySection(st, tag[:], bepk, ee, se, out, nil)
	if err != nil {
		return dst, keys, err
	}
	pk := keys.payloadKey()
	return crypto.AEADSeal(&pk, 0, out, payload, keys.h[:]), keys, nil
}

// openNSR checks an NSR's key section and decrypts its payload; bepk is
// the key decoded from msg[8:40].
func openNSR(st crypto.SymmetricState, bepk, ee, se [32]byte, msg []byte) ([]byte, nsrKeys, error) {
	if len(msg) < NewSessionReplyOverhead {
		return nil, nsrKeys{}, fmt.Errorf("%w: New Session Reply of %d bytes, need at least %d", ErrTruncated, len(msg), NewSessionReplyOverhead)
	}
	_, keys, err := nsrKeySection(st, msg[:TagLen], bepk, ee, se, nil, msg[TagLen+32:nsrKeySectionEnd])
	if err != nil {
		return nil, keys, err
	}
	pk := keys.payloadKey()
	pt, err := crypto.AEADOpen(&pk, 0, nil, msg[nsrKeySectionEnd:], keys.h[:])
	if err != nil {
		return nil, keys, fmt.Errorf("%w: New Session Reply payload: %w", ErrDecrypt, err)
	}
	return pt, keys, nil
}

// sealES appends tag ‖ AEAD(key, n, ad=tag)(payload) to dst (ecies.rst
// §"1h) Existing session format", §"3) AEAD": the nonce is the tag's
// index).
func sealES(tag Tag, n int, key *[32]byte, dst, payload []byte) []byte {
	out := append(dst, tag[:]...)
	return crypto.AEADSeal(key, uint64(n), out, payload, tag[:])
}

// openES decrypts an ES whose tag has index n and key key.
func openES(key *[32]byte, n int, msg []byte) ([]byte, error) {
	if len(msg) < ExistingSessionOverhead {
		return nil, fmt.Errorf("%w: Existing Session of %d bytes, need at least %d", ErrTruncated, len(msg), ExistingSessionOverhead)
	}
	pt, err := crypto.AEADOpen(key, uint64(n), nil, msg[TagLen:], msg[:TagLen])
	if err != nil {
		return nil, fmt.Errorf("%w: Existing Session: %w", ErrDecrypt, err)
	}
	return pt, nil
}

// ratchetTagSetKey is HKDF(sharedSecret, ZEROLEN, "XDHRatchetTagSet", 32),
// the k of DH_INITIALIZE after a NextKey exchange (ecies.rst §"DH RATCHET
// KDF").
func ratchetTagSetKey(shared [32]byte) [32]byte {
	var k [32]byte
	copy(k[:], crypto.HKDF(shared[:], nil, infoXDHRatchet, 32))
	return k
}
