// Package garlic implements ECIES garlic encryption for the router core.
//
// This part covers router-level messages (ecies-routers.rst, i2p/i2p.www
// i2p2www/spec): the one-way Noise N pattern that anyone uses to send a
// Garlic message to a router's RouterIdentity X25519 key, and the
// single-use tag table for "tag-only" replies (an 8-byte tag and a 32-byte
// key handed out in a DatabaseLookup or derived by a short tunnel build).
// The ECIES-X25519-AEAD-Ratchet for destinations (ecies.rst: NS, NSR, ES,
// tag sets, NextKey, Ack) shares the payload block format (routernblocks.go,
// blocks.go) and lives beside it: ratchet*.go and tagset.go, with Keyring
// as the per-destination entry point.
//
// # Message flow
//
// The data of an I2NP Garlic message (type 11, after its 4-byte length) to
// a router is one of:
//
//	N message (SealRouter / RouterReceiver.Open):
//	  ephemeral X25519 public key (32, raw little endian, not Elligator2)
//	  ChaCha20-Poly1305(k, n=0, ad=h) of the payload blocks, + 16-byte tag
//	tag-only message (SealTagged / OpenTagged):
//	  tag (8)
//	  ChaCha20-Poly1305(key, n=0, ad=tag) of the payload blocks, + 16
//
// with the Noise N KDF (tunnel-creation-ecies.rst §"KDF for Initial ck and
// h", ecies-routers.rst §"KDF for Message"):
//
//	h = ck = "Noise_N_25519_ChaChaPoly_SHA256" zero-padded to 32 bytes
//	h = SHA256(h)               MixHash(null prologue)
//	h = SHA256(h ‖ hepk)        the router's static key
//	h = SHA256(h ‖ sepk)        the sender's ephemeral key
//	ck, k = HKDF(ck, DH(sesk, hepk), "", 64)
//	ciphertext = ENCRYPT(k, 0, payload, ad=h)
//
// There is no final MixHash: nothing follows. A receiving router looks the
// first 8 bytes up in its TagTable first and only then tries N
// (RouterContext::ProcessGarlicMessage in i2pd 2.45), which is what
// RouterReceiver does.
//
// Senders: a tunnel creator wraps an inbound ShortTunnelBuild for the
// inbound gateway (N, LOCAL clove after a DateTime block); an outbound
// endpoint wraps its OutboundTunnelBuildReply with the build's garlic
// reply key and tag (tag-only, the clove first, no DateTime: i2pd's
// SymmetricKeyTagSet::HandleNextMessage reads the first block as the
// clove); a floodfill wraps lookup replies with the requester's key and
// tag (tag-only).
//
// # Where spec and i2pd 2.45 differ
//
//   - ecies-routers.rst requires a DateTime block in every message for
//     replay prevention; i2pd never checks it, and its tag-only messages
//     carry none. RouterReceiver requires it, within −5/+2 minutes (the
//     window ecies.rst gives New Session messages), for N messages only,
//     and keeps their ephemeral keys for that window to refuse replays.
//     Tag-only messages are protected by the single use of the tag.
//   - i2pd consumes a tag even when its message then fails to decrypt;
//     so does TagTable.Take.
package garlic

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"i2pbridge/router/crypto"
)

// NoiseNProtocolName is the Noise protocol name of router-level messages
// and tunnel build records (31 bytes, zero-padded to 32, not hashed).
const NoiseNProtocolName = "Noise_N_25519_ChaChaPoly_SHA256"

// Sizes of an N message: the ephemeral key and the Poly1305 tag around the
// payload.
const (
	EphemeralKeyLen = crypto.X25519KeySize
	RouterNOverhead = EphemeralKeyLen + crypto.AEADTagSize // 48
)

// N message freshness window for the DateTime block (ecies.rst §"1f) KDFs
// for New Session Message" uses it for New Session messages; ecies-routers
// gives no numbers).
const (
	MaxNMessageAge    = 5 * time.Minute
	MaxNMessageFuture = 2 * time.Minute
)

// noiseNState returns the symmetric state after MixHash(null prologue) and
// MixHash(rs): what both sides can precompute for a router key rs.
func noiseNState(rs [32]byte) crypto.SymmetricState {
	var s crypto.SymmetricState
	s.Init(NoiseNProtocolName)
	s.MixHash(nil)
	s.MixHash(rs[:])
	return s
}

// SealRouter encrypts payload (encoded blocks) for the router whose
// RouterIdentity X25519 key is rs, with a fresh ephemeral key read from r
// (crypto/rand when nil), and appends ephemeral key ‖ ciphertext ‖ tag to
// dst: the data of a Garlic message (i2pd
// WrapECIESX25519MessageForRouter). A key for which DH gives zeros (a
// low-order point) is refused.
func SealRouter(r io.Reader, rs [32]byte, dst, payload []byte) ([]byte, error) {
	e, err := crypto.GenerateX25519(r)
	if err != nil {
		return dst, fmt.Errorf("garlic: seal for router: %w", err)
	}
	return sealRouterWith(&e, rs, dst, payload)
}

// sealRouterWith is SealRouter with a given ephemeral key (the Noise
// vectors fix it).
func sealRouterWith(e *crypto.X25519Keys, rs [32]byte, dst, payload []byte) ([]byte, error) {
	s := noiseNState(rs)
	s.MixHash(e.Public[:])
	shared, err := e.DH(rs)
	if err != nil {
		return dst, fmt.Errorf("garlic: seal for router: %w", err)
	}
	s.MixKey(shared[:])
	out := append(dst, e.Public[:]...)
	out, err = s.EncryptAndHash(out, payload)
	if err != nil {
		return dst, fmt.Errorf("garlic: seal for router: %w", err)
	}
	return out, nil
}

// OpenRouter decrypts an N message (ephemeral key ‖ ciphertext ‖ tag) with
// the router's static keys and appends the payload to dst. It only
// decrypts; RouterReceiver adds the DateTime and replay checks.
func OpenRouter(static *crypto.X25519Keys, dst, msg []byte) ([]byte, error) {
	init := noiseNState(static.Public)
	return openRouter(&init, static, dst, msg)
}

func openRouter(init *crypto.SymmetricState, static *crypto.X25519Keys, dst, msg []byte) ([]byte, error) {
	if len(msg) < RouterNOverhead {
		return dst, fmt.Errorf("%w: N message of %d bytes, need at least %d", ErrTruncated, len(msg), RouterNOverhead)
	}
	s := *init
	var e [32]byte
	copy(e[:], msg[:EphemeralKeyLen])
	s.MixHash(e[:])
	shared, err := static.DH(e)
	if err != nil {
		return dst, fmt.Errorf("%w: N ephemeral key: %w", ErrDecrypt, err)
	}
	s.MixKey(shared[:])
	out, err := s.DecryptAndHash(dst, msg[EphemeralKeyLen:])
	if err != nil {
		return dst, fmt.Errorf("%w: N message: %w", ErrDecrypt, err)
	}
	return out, nil
}

// SealTagged appends tag ‖ ChaCha20-Poly1305(key, n=0, ad=tag)(payload) ‖
// MAC to dst: a tag-only ("existing session") message for a one-time key
// and tag (i2np.rst §"Reply format", i2pd WrapECIESX25519Message).
func SealTagged(key *[32]byte, tag Tag, dst, payload []byte) []byte {
	dst = append(dst, tag[:]...)
	return crypto.AEADSeal(key, 0, dst, payload, tag[:])
}

// TagOf returns the first 8 bytes of a Garlic message's data, the tag a
// tag-only message starts with.
func TagOf(msg []byte) (Tag, bool) {
	var t Tag
	if len(msg) < TagLen {
		return t, false
	}
	copy(t[:], msg)
	return t, true
}

// OpenTagged decrypts a tag-only message with key and appends the payload
// to dst.
func OpenTagged(key *[32]byte, dst, msg []byte) ([]byte, error) {
	if len(msg) < TagLen+crypto.AEADTagSize {
		return dst, fmt.Errorf("%w: tag-only message of %d bytes, need at least %d", ErrTruncated, len(msg), TagLen+crypto.AEADTagSize)
	}
	out, err := crypto.AEADOpen(key, 0, dst, msg[TagLen:], msg[:TagLen])
	if err != nil {
		return dst, fmt.Errorf("%w: tag-only message: %w", ErrDecrypt, err)
	}
	return out, nil
}

// Kind says how a router-level Garlic message was encrypted.
type Kind uint8

// Message kinds.
const (
	KindTagged Kind = iota + 1 // tag ‖ AEAD with a TagTable key
	KindN                      // Noise N to the router's static key
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindTagged:
		return "tagged"
	case KindN:
		return "N"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// RouterReceiver opens Garlic messages addressed to this router: tag-only
// messages through a TagTable, then Noise N messages to the router's
// static X25519 key, with the DateTime window and a replay cache of N
// ephemeral keys. It is safe for concurrent use.
type RouterReceiver struct {
	static crypto.X25519Keys
	init   crypto.SymmetricState // after MixHash(rs): the same for every message
	tags   *TagTable

	mu     sync.Mutex
	replay *keySet
}

// NewRouterReceiver prepares a receiver for the router's X25519 identity
// keys. tags may be nil when the router hands out no reply tags.
func NewRouterReceiver(static crypto.X25519Keys, tags *TagTable) *RouterReceiver {
	return &RouterReceiver{
		static: static,
		init:   noiseNState(static.Public),
		tags:   tags,
		replay: newKeySet(MaxNMessageAge + MaxNMessageFuture),
	}
}

// Open decrypts the data of a Garlic message (after its 4-byte length) and
// parses the payload. A message whose first 8 bytes are a registered tag is
// opened with that tag's key (the tag is consumed either way, as in i2pd);
// any other message is tried as N, and must then carry a DateTime within
// −MaxNMessageAge/+MaxNMessageFuture of now and an ephemeral key not seen
// in that window.
func (r *RouterReceiver) Open(now time.Time, msg []byte) (Payload, Kind, error) {
	if r.tags != nil {
		if tag, ok := TagOf(msg); ok {
			if key, found := r.tags.Take(now, tag); found {
				pt, err := OpenTagged(&key, nil, msg)
				if err != nil {
					return Payload{}, KindTagged, err
				}
				p, err := ParsePayload(pt)
				return p, KindTagged, err
			}
		}
	}
	pt, err := openRouter(&r.init, &r.static, nil, msg)
	if err != nil {
		return Payload{}, KindN, err
	}
	p, err := ParsePayload(pt)
	if err != nil {
		return Payload{}, KindN, err
	}
	if !p.HasDateTime {
		return Payload{}, KindN, fmt.Errorf("%w: N message without a DateTime block", ErrStale)
	}
	t := time.Unix(int64(p.DateTime), 0)
	if t.Before(now.Add(-MaxNMessageAge)) || t.After(now.Add(MaxNMessageFuture)) {
		return Payload{}, KindN, fmt.Errorf("%w: DateTime %s, now %s", ErrStale, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	var e [32]byte
	copy(e[:], msg[:EphemeralKeyLen])
	r.mu.Lock()
	seen := r.replay.seen(now, e)
	r.mu.Unlock()
	if seen {
		return Payload{}, KindN, fmt.Errorf("%w: ephemeral key %x", ErrReplay, e[:4])
	}
	return p, KindN, nil
}

// keySet remembers 32-byte keys for at least window and at most twice
// that: two generations of exact sets, the older dropped when the newer is
// window old. Memory is bounded by the arrival rate, which for N messages
// and build records is small.
type keySet struct {
	window      time.Duration
	cur, prev   map[[32]byte]struct{}
	rotatedAt   time.Time
	initialized bool
}

func newKeySet(window time.Duration) *keySet {
	return &keySet{window: window, cur: map[[32]byte]struct{}{}, prev: map[[32]byte]struct{}{}}
}

// seen reports whether k was recorded within the window, and records it.
func (s *keySet) seen(now time.Time, k [32]byte) bool {
	if !s.initialized {
		s.rotatedAt, s.initialized = now, true
	}
	if now.Sub(s.rotatedAt) >= s.window {
		s.prev, s.cur = s.cur, map[[32]byte]struct{}{}
		if now.Sub(s.rotatedAt) >= 2*s.window {
			clear(s.prev)
		}
		s.rotatedAt = now
	}
	if _, ok := s.cur[k]; ok {
		return true
	}
	if _, ok := s.prev[k]; ok {
		return true
	}
	s.cur[k] = struct{}{}
	return false
}

// DateTimeNow is the DateTime block value for t: seconds since the epoch.
func DateTimeNow(t time.Time) uint32 { return uint32(t.Unix()) }

// randomUint32 reads 4 bytes from r (crypto/rand when nil).
func randomUint32(r io.Reader) (uint32, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}
