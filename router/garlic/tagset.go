package garlic

import (
	"fmt"
	"time"

	"i2pbridge/router/crypto"
)

// Tag set limits (ecies.rst §"3) AEAD (ChaChaPoly)": "Maximum value [of n]
// is 65535"; §"KEY AND TAG SET IDS": "The maximum tag set ID is 65535. The
// maximum key ID is 32767").
const (
	MaxTagIndex = 65535
	MaxTagSetID = 65535
	MaxKeyID    = 32767
)

// KDF info strings of ecies.rst §"4) Ratchets" and §"1g) New Session Reply
// format".
const (
	infoDHRatchetStep   = "KDFDHRatchetStep"
	infoTagAndKeyGen    = "TagAndKeyGenKeys"
	infoSTInit          = "STInitialization"
	infoSessionTagGen   = "SessionTagKeyGen"
	infoSymmetricStep   = "SymmetricRatchet"
	infoXDHRatchet      = "XDHRatchetTagSet"
	infoSessionReply    = "SessionReplyTags"
	infoAttachPayload   = "AttachPayloadKDF"
	tagKDFOutputTagFrom = 32 // the tag is bytes 32-39 of SessionTagKeyGen's output
)

// Receive window parameters, i2pd 2.45's (ECIESX25519AEADRatchetSession.h):
// how many tags a receiver generates ahead of the last one seen. ecies.rst
// §"Parameters" recommends "min(tsmax, tsmin + N/4)" with tsmin 24 and
// tsmax 160; i2pd uses 320 for tsmax and for the first window of a tag set
// made by a DH ratchet, and trims tags more than 320 behind the last one
// received (the spec suggests half the look-ahead).
const (
	minLookahead    = 24  // ECIESX25519_MIN_NUM_GENERATED_TAGS: tag set 0
	maxLookahead    = 320 // ECIESX25519_MAX_NUM_GENERATED_TAGS: ratchet tag sets, cap, trim distance
	nsrLookahead    = 12  // ECIESX25519_NSR_NUM_GENERATED_TAGS
	nsrLowWatermark = nsrLookahead / 2
)

// chains is the output of DH_INITIALIZE (ecies.rst §"DH INITIALIZATION
// KDF"): the root key for the next DH ratchet in this direction and the
// two chain keys of one tag set.
type chains struct {
	nextRoot [32]byte
	tagCK    [32]byte // sessTag_ck
	keyCK    [32]byte // symmKey_ck
}

// dhInitialize is DH_INITIALIZE(rootKey, k):
//
//	keydata = HKDF(rootKey, k, "KDFDHRatchetStep", 64)
//	nextRootKey = keydata[0:31], ck = keydata[32:63]
//	keydata = HKDF(ck, ZEROLEN, "TagAndKeyGenKeys", 64)
//	sessTag_ck = keydata[0:31], symmKey_ck = keydata[32:63]
//
// It makes the NSR tag set (rootKey = the New Session chain key, k =
// HKDF(ck, ZEROLEN, "SessionReplyTags", 32)), the two tag sets 0 after the
// reply (k = k_ab or k_ba) and every tag set after a DH ratchet (k =
// HKDF(DH, ZEROLEN, "XDHRatchetTagSet", 32), rootKey = the previous tag
// set's nextRoot).
func dhInitialize(rootKey, k [32]byte) chains {
	var c chains
	var ck [32]byte
	c.nextRoot, ck = crypto.HKDF64(rootKey[:], k[:], infoDHRatchetStep)
	c.tagCK, c.keyCK = crypto.HKDF64(ck[:], nil, infoTagAndKeyGen)
	return c
}

// tagRatchet is the session tag ratchet (ecies.rst §"4b) Session Tag
// Ratchet"):
//
//	sessTag_chainKey, SESSTAG_CONSTANT = HKDF(sessTag_ck, ZEROLEN, "STInitialization", 64)
//	for each n: sessTag_chainKey, tag_n = HKDF(sessTag_chainKey, SESSTAG_CONSTANT, "SessionTagKeyGen", 64)[0:32], [32:40]
//
// next is the index of the tag next() returns.
type tagRatchet struct {
	ck, constant [32]byte
	next         int
}

func newTagRatchet(sessTagCK [32]byte) tagRatchet {
	var r tagRatchet
	r.ck, r.constant = crypto.HKDF64(sessTagCK[:], nil, infoSTInit)
	return r
}

// nextTag returns tag number r.next and advances; ok is false once
// MaxTagIndex has been used.
func (r *tagRatchet) nextTag() (tag Tag, n int, ok bool) {
	if r.next > MaxTagIndex {
		return tag, r.next, false
	}
	out := crypto.HKDF(r.ck[:], r.constant[:], infoSessionTagGen, 64)
	copy(r.ck[:], out[:32])
	copy(tag[:], out[tagKDFOutputTagFrom:])
	n = r.next
	r.next++
	return tag, n, true
}

// keyRatchet is the symmetric key ratchet (ecies.rst §"4c) Symmetric Key
// Ratchet"):
//
//	for each n: symmKey_chainKey, k_n = HKDF(symmKey_chainKey, ZEROLEN, "SymmetricRatchet", 64)
//
// starting from symmKey_ck. next is the index of the key nextKey returns.
type keyRatchet struct {
	ck   [32]byte
	next int
}

func (r *keyRatchet) nextKey() (key [32]byte, n int) {
	r.ck, key = crypto.HKDF64(r.ck[:], nil, infoSymmetricStep)
	n = r.next
	r.next++
	return key, n
}

// sendTagSet is an outbound tag set: the tag and key ratchets in lockstep,
// one entry per message (ecies.rst §"4b)": "Transmitter ratchets once for
// each message transmitted. No additional tags must be stored.").
type sendTagSet struct {
	id       uint16
	nextRoot [32]byte
	tags     tagRatchet
	keys     keyRatchet
}

func newSendTagSet(id uint16, c chains) *sendTagSet {
	return &sendTagSet{id: id, nextRoot: c.nextRoot, tags: newTagRatchet(c.tagCK), keys: keyRatchet{ck: c.keyCK}}
}

// next returns the index, tag and key of the next message; it fails with
// ErrTagSetExhausted after index MaxTagIndex.
func (t *sendTagSet) next() (n int, tag Tag, key [32]byte, err error) {
	tag, n, ok := t.tags.nextTag()
	if !ok {
		return 0, tag, key, fmt.Errorf("%w: tag set %d", ErrTagSetExhausted, t.id)
	}
	key, _ = t.keys.nextKey()
	return n, tag, key, nil
}

// recvKind says what a receive tag set's messages are.
type recvKind uint8

const (
	recvES  recvKind = iota // Existing Session messages
	recvNSR                 // New Session Replies to one of our New Sessions
)

// recvTagSet is an inbound tag set. Its tags are generated ahead of the
// last one received (the window) and registered in the keyring's tag
// index; keys are derived lazily, since the key ratchet may "lag behind"
// (ecies.rst §"4c)"), and the keys of skipped indices are kept until their
// tag arrives, is trimmed or expires. Each tag is single use: the index
// marks it used, and a second message with it fails as a replay.
type recvTagSet struct {
	sess     *Session
	kind     recvKind
	id       uint16
	ns       *pendingNS // recvNSR: the New Session the replies answer
	nextRoot [32]byte
	tags     tagRatchet
	keys     keyRatchet
	// live maps the index of every tag currently in the keyring index to
	// that tag; skipped holds derived keys of indices not yet received.
	live       map[int]Tag
	skipped    map[int][32]byte
	trimBehind int       // indices below this are gone
	expires    time.Time // zero: no deadline of its own
}

func newRecvTagSet(s *Session, kind recvKind, id uint16, c chains) *recvTagSet {
	return &recvTagSet{
		sess: s, kind: kind, id: id, nextRoot: c.nextRoot,
		tags: newTagRatchet(c.tagCK), keys: keyRatchet{ck: c.keyCK},
		live: make(map[int]Tag), skipped: make(map[int][32]byte),
	}
}

// expired reports whether the tag set's own deadline has passed.
func (t *recvTagSet) expired(now time.Time) bool {
	return !t.expires.IsZero() && now.After(t.expires)
}

// expireAt sets a deadline unless an earlier one is set (i2pd's Expire
// only sets it once).
func (t *recvTagSet) expireAt(when time.Time) {
	if t.expires.IsZero() || when.Before(t.expires) {
		t.expires = when
	}
}

// key returns the key for index n, which must be a live, unused index at or
// beyond the key ratchet's position or one whose key was kept.
func (t *recvTagSet) key(n int) ([32]byte, bool) {
	if n >= t.keys.next {
		for t.keys.next < n {
			k, i := t.keys.nextKey()
			if _, ok := t.live[i]; ok {
				t.skipped[i] = k
			}
		}
		k, _ := t.keys.nextKey()
		return k, true
	}
	k, ok := t.skipped[n]
	delete(t.skipped, n)
	return k, ok
}
