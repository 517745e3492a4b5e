package ntcp2

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
)

// Handshake constants (ntcp2.rst §"1) SessionRequest" to §"3)
// SessionConfirmed"; i2pd NTCP2.h).
const (
	// ProtocolName is the Noise protocol name NTCP2 initialises with
	// (ntcp2.rst §"Key Derivation Function (KDF) (for handshake message 1)").
	ProtocolName = "Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256"
	// Version is the "ver" byte of the SessionRequest options.
	Version = 2
	// HeadLen is the fixed start of messages 1 and 2: the AES-obfuscated
	// ephemeral key (32) and the AEAD frame of the 16-byte options (32).
	// The cleartext padding announced in the options follows.
	HeadLen = 64
	// MaxHandshakeMessageLen bounds messages 1 and 2 with their padding.
	// The spec asks it only of "NTCP" addresses; i2pd 2.45 applies it to
	// every NTCP2 connection, sending and receiving (NTCP2.h
	// NTCP2_SESSION_REQUEST_MAX_SIZE, NTCP2_SESSION_CREATED_MAX_SIZE), so we
	// do too.
	MaxHandshakeMessageLen = 287
	// MaxHandshakePadding is the padding those 287 bytes leave.
	MaxHandshakePadding = MaxHandshakeMessageLen - HeadLen // 223
	// ConfirmedPart1Len is message 3 part 1: Alice's static key in an AEAD
	// frame.
	ConfirmedPart1Len = 32 + macLen // 48
	// MaxConfirmedPart2Len is the largest message 3 part 2 frame: both
	// parts together stay within 65535 bytes.
	MaxConfirmedPart2Len = MaxFrameLen - ConfirmedPart1Len // 65487
	// MaxClockSkew is how far a peer's handshake timestamp may be from ours
	// (i2pd NTCP2_CLOCK_SKEW, 60 s, both directions).
	MaxClockSkew = 60 * time.Second
	// MaxRouterInfoAge is how old the RouterInfo in message 3 may be
	// (i2pd NETDB_MIN_EXPIRATION_TIMEOUT, 90 min, checked in
	// HandleSessionConfirmedReceived).
	MaxRouterInfoAge = 90 * time.Minute
	// MaxRouterInfoFuture is how far in the future a RouterInfo's
	// published time may be (i2pd refuses RouterInfos more than 2 minutes
	// ahead).
	MaxRouterInfoFuture = 2 * time.Minute

	optionsLen       = 16
	m3Padding        = 64 // most padding we put in message 3 part 2
	minConfirmedPart = macLen + BlockHeaderLen + 1
)

// StaticKey is a router's long-term NTCP2 key material, published in its
// NTCP2 RouterAddress as s (Public) and i (IV). It is separate from the
// RouterIdentity's X25519 key. Keep it across restarts (ntcp2.rst
// §"Public Key and IV Rotation").
type StaticKey struct {
	Private [32]byte
	Public  [32]byte
	IV      [16]byte
}

// staticKeyFileLen is i2pd's ntcp2.keys layout: public(32) private(32) iv(16).
const staticKeyFileLen = 32 + 32 + 16

// GenerateStaticKey creates a key pair and IV from r (crypto/rand when nil).
func GenerateStaticKey(r io.Reader) (StaticKey, error) {
	if r == nil {
		r = rand.Reader
	}
	kp, err := crypto.GenerateX25519(r)
	if err != nil {
		return StaticKey{}, fmt.Errorf("ntcp2: static key: %w", err)
	}
	k := StaticKey{Private: kp.Private, Public: kp.Public}
	if _, err := io.ReadFull(r, k.IV[:]); err != nil {
		return StaticKey{}, fmt.Errorf("ntcp2: static key IV: %w", err)
	}
	return k, nil
}

// ParseStaticKey reads the 80 bytes of i2pd's ntcp2.keys file:
//
//	offset  size  field
//	0       32    static public key (s)
//	32      32    static private key
//	64      16    IV (i)
//
// The public key must belong to the private key.
func ParseStaticKey(b []byte) (StaticKey, error) {
	if len(b) != staticKeyFileLen {
		return StaticKey{}, fmt.Errorf("ntcp2: static key file: %w: %d bytes, want %d", ErrLength, len(b), staticKeyFileLen)
	}
	var k StaticKey
	copy(k.Public[:], b[0:32])
	copy(k.Private[:], b[32:64])
	copy(k.IV[:], b[64:80])
	if crypto.X25519Public(k.Private) != k.Public {
		return StaticKey{}, fmt.Errorf("ntcp2: static key file: %w", data.ErrKeyMismatch)
	}
	return k, nil
}

// Append appends the ntcp2.keys form of k.
func (k StaticKey) Append(b []byte) ([]byte, error) {
	b = append(b, k.Public[:]...)
	b = append(b, k.Private[:]...)
	return append(b, k.IV[:]...), nil
}

// String shows the start of the public key only.
func (k StaticKey) String() string {
	return "ntcp2.StaticKey(" + data.Base64Encode(k.Public[:])[:8] + "…)"
}

// GoString keeps %#v from printing the private key.
func (k StaticKey) GoString() string { return k.String() }

// hsState is the one state variable of a handshake. Initiator and Responder
// use disjoint parts of it; their doc comments draw the transitions.
type hsState uint8

const (
	stateStart       hsState = iota // nothing sent or received
	stateRequestSent                // Alice: message 1 written, expecting the 64-byte head of message 2
	stateCreatedHead                // Alice: message 2 head accepted, expecting its padding
	stateRequestHead                // Bob: message 1 head accepted, expecting its padding
	stateCreatedSent                // Bob: message 2 written, expecting message 3
	stateDone                       // data phase keys ready
	stateFailed                     // a step failed; the connection must be dropped
)

var hsStateNames = [...]string{
	stateStart:       "start",
	stateRequestSent: "request-sent",
	stateCreatedHead: "created-head",
	stateRequestHead: "request-head",
	stateCreatedSent: "created-sent",
	stateDone:        "done",
	stateFailed:      "failed",
}

func (s hsState) String() string {
	if int(s) < len(hsStateNames) {
		return hsStateNames[s]
	}
	return fmt.Sprintf("hsState(%d)", uint8(s))
}

// requestOptions is the plaintext of message 1's AEAD frame (ntcp2.rst
// §"1) SessionRequest", options block; all big endian):
//
//	offset  size  field
//	0       1     netId (the spec's first reserved byte, proposal 147)
//	1       1     ver = 2
//	2       2     padLen
//	4       2     m3p2Len
//	6       2     reserved
//	8       4     tsA, Unix seconds
//	12      4     reserved
type requestOptions struct {
	NetID   uint8
	Version uint8
	PadLen  uint16
	M3P2Len uint16
	TsA     uint32
}

func (o requestOptions) append(b []byte) []byte {
	b = append(b, o.NetID, o.Version)
	b = binary.BigEndian.AppendUint16(b, o.PadLen)
	b = binary.BigEndian.AppendUint16(b, o.M3P2Len)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint32(b, o.TsA)
	return append(b, 0, 0, 0, 0)
}

// parseRequestOptions reads the 16 bytes; reserved bytes are ignored, as the
// spec keeps them "for compatibility with future options".
func parseRequestOptions(b []byte) requestOptions {
	return requestOptions{
		NetID:   b[0],
		Version: b[1],
		PadLen:  binary.BigEndian.Uint16(b[2:]),
		M3P2Len: binary.BigEndian.Uint16(b[4:]),
		TsA:     binary.BigEndian.Uint32(b[8:]),
	}
}

// createdOptions is the plaintext of message 2's AEAD frame (ntcp2.rst
// §"2) SessionCreated", options block):
//
//	offset  size  field
//	0       2     reserved
//	2       2     padLen
//	4       4     reserved
//	8       4     tsB, Unix seconds
//	12      4     reserved
type createdOptions struct {
	PadLen uint16
	TsB    uint32
}

func (o createdOptions) append(b []byte) []byte {
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, o.PadLen)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, o.TsB)
	return append(b, 0, 0, 0, 0)
}

func parseCreatedOptions(b []byte) createdOptions {
	return createdOptions{PadLen: binary.BigEndian.Uint16(b[2:]), TsB: binary.BigEndian.Uint32(b[8:])}
}

// HandshakeOptions are the settings both roles share. The zero value of
// each optional field picks the default.
type HandshakeOptions struct {
	// Now is the clock for timestamps, skew and RouterInfo age checks
	// (default time.Now).
	Now func() time.Time
	// Rand supplies ephemeral keys and cleartext padding (default
	// crypto/rand.Reader).
	Rand io.Reader
	// PadLen picks a padding length in [0, max] (default uniform random).
	// Tests use it to cover every size.
	PadLen func(max int) int
	// Replay remembers ephemeral keys for 2×MaxClockSkew or more. Required
	// for a Responder (message 1 can be replayed); optional for an
	// Initiator, which then also checks Bob's ephemeral key.
	Replay *ReplayCache
}

func (o *HandshakeOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *HandshakeOptions) rand() io.Reader {
	if o.Rand != nil {
		return o.Rand
	}
	return rand.Reader
}

func (o *HandshakeOptions) padLen(max int) (int, error) {
	if o.PadLen == nil {
		return mrand.IntN(max + 1), nil
	}
	n := o.PadLen(max)
	if n < 0 || n > max {
		return 0, fmt.Errorf("ntcp2: %w: PadLen(%d) returned %d", ErrConfig, max, n)
	}
	return n, nil
}

// unixSeconds rounds to the nearest second, as i2pd does ((ms+500)/1000).
func unixSeconds(t time.Time) uint32 {
	return uint32((t.UnixMilli() + 500) / 1000)
}

// checkSkew compares a peer timestamp with our clock (i2pd: ts < now-60 or
// ts > now+60 fails).
func checkSkew(step string, ts uint32, now time.Time) error {
	d := time.Duration(int64(ts)-int64(unixSeconds(now))) * time.Second
	if d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("ntcp2: %s: %w: peer clock is %v off ours (limit ±%v)", step, ErrClockSkew, d, MaxClockSkew)
	}
	return nil
}

// handshake holds what both roles track.
type handshake struct {
	state  hsState
	opts   HandshakeOptions
	ss     crypto.SymmetricState
	aesKey [32]byte // RH_B, Bob's router hash
	aesIV  [16]byte // CBC state carried from message 1 to message 2
	e      crypto.X25519Keys
	re     [32]byte // peer's ephemeral key
	padLen int      // padding announced by the peer's last message
	keys   DataKeys
}

// begin starts the Noise state up to MixHash(rs), the part both sides can
// precompute: h = SHA256(protocol_name), ck = h, MixHash(null prologue),
// MixHash(rs).
func (h *handshake) begin(bobStatic [32]byte) {
	h.ss.Init(ProtocolName)
	h.ss.MixHash()
	h.ss.MixHash(bobStatic[:])
}

// split derives the data phase keys from the final ck and h (ntcp2.rst
// §"Key Derivation Function (KDF) (for data phase)"; i2pd
// KeyDerivationFunctionDataPhase):
//
//	k_ab, k_ba             = HKDF(ck, zerolen, "", 64)
//	ask_master             = HKDF(ck, zerolen, "ask", 32)
//	sip_master             = HKDF(ask_master, h ‖ "siphash", "", 32)
//	sipkeys_ab, sipkeys_ba = HKDF(sip_master, zerolen, "", 64)
func (h *handshake) split(initiator bool) {
	kab, kba := h.ss.Split()
	ck, hh := h.ss.CK(), h.ss.H()
	ask := crypto.HKDF(ck[:], nil, "ask", 32)
	sip := crypto.HKDF(ask, append(hh[:], "siphash"...), "", 32)
	sab, sba := crypto.HKDF64(sip, nil, "")
	if initiator {
		h.keys = DataKeys{Send: kab, Recv: kba, SendSip: sab, RecvSip: sba}
	} else {
		h.keys = DataKeys{Send: kba, Recv: kab, SendSip: sba, RecvSip: sab}
	}
}

// fail moves to the failed state, drops the ephemeral private key and
// returns err.
func (h *handshake) fail(err error) error {
	h.state = stateFailed
	h.e = crypto.X25519Keys{}
	return err
}

func (h *handshake) expect(step string, want hsState) error {
	if h.state != want {
		return fmt.Errorf("ntcp2: %s: %w: state %v, want %v", step, ErrState, h.state, want)
	}
	return nil
}

// checkLen distinguishes short input (ErrTruncated) from long (ErrLength).
func checkLen(step string, got, want int) error {
	switch {
	case got < want:
		return fmt.Errorf("ntcp2: %s: %w: %d of %d bytes", step, ErrTruncated, got, want)
	case got > want:
		return fmt.Errorf("ntcp2: %s: %w: %d bytes, want %d", step, ErrLength, got, want)
	}
	return nil
}

// randomPadding returns n bytes from the handshake's random source: padding
// of messages 1 and 2 travels in the clear, so it must look random.
func (h *handshake) randomPadding(n int) ([]byte, error) {
	p := make([]byte, n)
	if _, err := io.ReadFull(h.opts.rand(), p); err != nil {
		return nil, fmt.Errorf("ntcp2: padding: %w: %w", crypto.ErrShortRead, err)
	}
	return p, nil
}

// DataKeys returns the data phase keys once the handshake is done.
func (h *handshake) DataKeys() (DataKeys, error) {
	if err := h.expect("data keys", stateDone); err != nil {
		return DataKeys{}, err
	}
	return h.keys, nil
}

// InitiatorConfig describes Alice's side of one handshake.
type InitiatorConfig struct {
	HandshakeOptions
	// NetID is our network (2 for the main network; 99 on the test net).
	NetID uint8
	// Static is our NTCP2 static key; its public half must be the s of an
	// NTCP2 address in RouterInfo.
	Static StaticKey
	// RouterInfo is our signed RouterInfo, sent in message 3.
	RouterInfo data.RouterInfo
	// PeerHash is Bob's router hash (RH_B, the AES key); PeerStatic and
	// PeerIV are the s and i of his published NTCP2 address.
	PeerHash   data.Hash
	PeerStatic [32]byte
	PeerIV     [16]byte
}

// Initiator is Alice's side of the NTCP2 handshake, sans I/O: methods take
// and return the bytes of each message; the caller moves them.
//
//	stateStart ──SessionRequest──▶ stateRequestSent
//	stateRequestSent ──ReadSessionCreated(64-byte head)──▶ stateCreatedHead
//	stateCreatedHead ──SessionConfirmed(padding)──▶ stateDone ──DataKeys
//	any failure ──▶ stateFailed (every later call fails with ErrState)
//
// ReadSessionCreated returns the padding length the caller must read next
// (0 is common). An Initiator is used once and is not safe for concurrent
// use.
type Initiator struct {
	handshake
	cfg  InitiatorConfig
	m3p2 []byte // message 3 part 2 plaintext, fixed before message 1 announces its length
	// unpadded is the symmetric state before message 1's padding was
	// hashed, and reqPad that padding's length: see skewedReply.
	unpadded crypto.SymmetricState
	reqPad   int
}

// NewInitiator checks cfg and prepares message 3's payload, whose length
// message 1 announces (i2pd does the same in CreateSessionRequestMessage).
func NewInitiator(cfg InitiatorConfig) (*Initiator, error) {
	if cfg.RouterInfo.IsZero() {
		return nil, fmt.Errorf("ntcp2: initiator: %w: no RouterInfo", ErrConfig)
	}
	if cfg.PeerHash.IsZero() {
		return nil, fmt.Errorf("ntcp2: initiator: %w: no peer hash", ErrConfig)
	}
	a := &Initiator{cfg: cfg}
	a.opts = cfg.HandshakeOptions
	a.aesKey = cfg.PeerHash
	a.aesIV = cfg.PeerIV
	return a, nil
}

// State names the current state (for logs and tests).
func (a *Initiator) State() string { return a.state.String() }

// SessionRequest returns message 1:
//
//	AES-256-CBC(key RH_B, iv = Bob's i)(X)      32 bytes
//	ChaChaPoly(k, n=0, ad=h)(options)           32 bytes
//	cleartext padding                           padLen bytes (≤ 223)
//
// KDF (ntcp2.rst §"KDF … message 1"): MixHash(rs), MixHash(X),
// MixKey(DH(x, rs)); then, towards message 2, MixHash(the AEAD frame) and
// MixHash(padding) when there is any.
func (a *Initiator) SessionRequest() ([]byte, error) {
	if err := a.expect("session request", stateStart); err != nil {
		return nil, err
	}
	m3p2, err := a.messageThreePayload()
	if err != nil {
		return nil, a.fail(err)
	}
	a.m3p2 = m3p2
	e, err := crypto.GenerateX25519(a.opts.rand())
	if err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session request: %w", err))
	}
	a.e = e
	padLen, err := a.opts.padLen(MaxHandshakePadding)
	if err != nil {
		return nil, a.fail(err)
	}

	a.begin(a.cfg.PeerStatic)
	a.ss.MixHash(e.Public[:])
	dh, err := crypto.X25519(e.Private, a.cfg.PeerStatic)
	if err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session request: peer static key: %w", err))
	}
	a.ss.MixKey(dh[:])

	msg := make([]byte, HeadLen, HeadLen+padLen)
	if a.aesIV, err = crypto.AESCBCEncrypt(&a.aesKey, a.aesIV, msg[:32], e.Public[:]); err != nil {
		return nil, a.fail(err)
	}
	opts := requestOptions{
		NetID:   a.cfg.NetID,
		Version: Version,
		PadLen:  uint16(padLen),
		M3P2Len: uint16(len(m3p2) + macLen),
		TsA:     unixSeconds(a.opts.now()),
	}.append(make([]byte, 0, optionsLen))
	if _, err := a.ss.EncryptAndHash(msg[32:32], opts); err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session request: %w", err))
	}
	pad, err := a.randomPadding(padLen)
	if err != nil {
		return nil, a.fail(err)
	}
	a.unpadded, a.reqPad = a.ss, padLen
	if padLen > 0 {
		a.ss.MixHash(pad)
	}
	a.state = stateRequestSent
	return append(msg, pad...), nil
}

// messageThreePayload is part 2's plaintext: the RouterInfo block (flag 0),
// then a Padding block (ntcp2.rst §"3) SessionConfirmed": RouterInfo,
// optional Options, optional Padding, nothing else).
func (a *Initiator) messageThreePayload() ([]byte, error) {
	ri := a.cfg.RouterInfo.Bytes()
	n, err := a.opts.padLen(m3Padding)
	if err != nil {
		return nil, err
	}
	blocks := []Block{RouterInfoBlock{RouterInfo: ri}}
	if n > 0 {
		blocks = append(blocks, Padding{Data: make([]byte, n)})
	}
	p, err := AppendBlocks(nil, blocks...)
	if err != nil {
		return nil, fmt.Errorf("ntcp2: session confirmed: %w", err)
	}
	if len(p)+macLen > MaxConfirmedPart2Len {
		return nil, fmt.Errorf("ntcp2: session confirmed: %w: part 2 would be %d bytes, limit %d", ErrTooLarge, len(p)+macLen, MaxConfirmedPart2Len)
	}
	return p, nil
}

// ReadSessionCreated processes the first 64 bytes of message 2 and returns
// the length of the cleartext padding that follows it:
//
//	AES-256-CBC(key RH_B, CBC state continued from message 1)(Y)   32 bytes
//	ChaChaPoly(k, n=0, ad=h)(options)                              32 bytes
//
// KDF: MixHash(Y), MixKey(DH(x, Y)). The options must carry a timestamp
// within MaxClockSkew and a padding length within the 287-byte limit.
func (a *Initiator) ReadSessionCreated(head []byte) (int, error) {
	if err := a.expect("session created", stateRequestSent); err != nil {
		return 0, err
	}
	if err := checkLen("session created", len(head), HeadLen); err != nil {
		return 0, a.fail(err)
	}
	if _, err := crypto.AESCBCDecrypt(&a.aesKey, a.aesIV, a.re[:], head[:32]); err != nil {
		return 0, a.fail(err)
	}
	a.ss.MixHash(a.re[:])
	dh, err := crypto.X25519(a.e.Private, a.re)
	if err != nil {
		return 0, a.fail(fmt.Errorf("ntcp2: session created: ephemeral key: %w", err))
	}
	a.ss.MixKey(dh[:])
	plain, err := a.ss.DecryptAndHash(make([]byte, 0, optionsLen), head[32:HeadLen])
	if err != nil {
		if skew := a.skewedReply(head, dh); skew != nil {
			return 0, a.fail(skew)
		}
		return 0, a.fail(fmt.Errorf("ntcp2: session created: options: %w", err))
	}
	opts := parseCreatedOptions(plain)
	if int(opts.PadLen) > MaxHandshakePadding {
		return 0, a.fail(fmt.Errorf("ntcp2: session created: %w: %d bytes, limit %d", ErrPadding, opts.PadLen, MaxHandshakePadding))
	}
	now := a.opts.now()
	if err := checkSkew("session created", opts.TsB, now); err != nil {
		return 0, a.fail(err)
	}
	if a.opts.Replay != nil && !a.opts.Replay.Add(a.re, now) {
		return 0, a.fail(fmt.Errorf("ntcp2: session created: %w", ErrReplay))
	}
	a.padLen = int(opts.PadLen)
	a.state = stateCreatedHead
	return a.padLen, nil
}

// skewedReply explains a message 2 that fails to decrypt, if it can. i2pd
// 2.45 answers a request whose timestamp is off with message 2 before it
// has read the request's padding (NTCP2Session::
// HandleSessionRequestReceived), so the handshake hash it uses covers
// whatever its buffer held instead of our padding, and the frame does not
// authenticate for us. A fresh buffer is zeros, so one retry with our
// padding taken as zeros often opens it; when it does and its timestamp is
// off, the refusal is clock skew and is reported as such (ErrClockSkew,
// with Bob's offset) instead of as an AEAD failure. Anything else returns
// nil: the original error stands. Nothing of the retry is kept.
func (a *Initiator) skewedReply(head []byte, dh [32]byte) error {
	if a.reqPad == 0 {
		return nil
	}
	ss := a.unpadded
	ss.MixHash(make([]byte, a.reqPad))
	ss.MixHash(a.re[:])
	ss.MixKey(dh[:])
	plain, err := ss.DecryptAndHash(make([]byte, 0, optionsLen), head[32:HeadLen])
	if err != nil {
		return nil
	}
	opts := parseCreatedOptions(plain)
	if err := checkSkew("session created", opts.TsB, a.opts.now()); err != nil {
		return fmt.Errorf("%w (Bob answered without our padding, as i2pd does when it refuses our timestamp)", err)
	}
	return nil
}

// SessionConfirmed takes message 2's padding (exactly the announced length)
// and returns message 3:
//
//	ChaChaPoly(k from message 2, n=1, ad=h)(Alice's static key)   48 bytes
//	ChaChaPoly(k, n=0, ad=h)(RouterInfo block, Padding block)     m3p2Len
//
// KDF: MixHash(message 2 padding) if any, then part 1 with
// EncryptAndHash, MixKey(DH(s, Y)), part 2 with EncryptAndHash. The
// MixHash(the message 2 AEAD frame) before the padding hash already happened
// in ReadSessionCreated: it is the whole 32-byte frame, not the "24 byte
// encrypted payload" ntcp2.rst §"Encryption for for handshake message 3
// part 1" says. i2pd hashes 32 bytes (CreateSessionConfirmedMessagePart1),
// and i2pd wins.
func (a *Initiator) SessionConfirmed(padding []byte) ([]byte, error) {
	if err := a.expect("session confirmed", stateCreatedHead); err != nil {
		return nil, err
	}
	if err := checkLen("session created padding", len(padding), a.padLen); err != nil {
		return nil, a.fail(err)
	}
	if len(padding) > 0 {
		a.ss.MixHash(padding)
	}
	if a.ss.N() != 1 { // message 2 decrypted at n=0; part 1 is n=1 with the same key
		return nil, a.fail(fmt.Errorf("ntcp2: session confirmed: %w: nonce %d, want 1", ErrState, a.ss.N()))
	}
	msg := make([]byte, 0, ConfirmedPart1Len+len(a.m3p2)+macLen)
	msg, err := a.ss.EncryptAndHash(msg, a.cfg.Static.Public[:])
	if err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session confirmed: part 1: %w", err))
	}
	dh, err := crypto.X25519(a.cfg.Static.Private, a.re)
	if err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session confirmed: %w", err))
	}
	a.ss.MixKey(dh[:])
	if msg, err = a.ss.EncryptAndHash(msg, a.m3p2); err != nil {
		return nil, a.fail(fmt.Errorf("ntcp2: session confirmed: part 2: %w", err))
	}
	a.split(true)
	a.e = crypto.X25519Keys{}
	a.state = stateDone
	return msg, nil
}

// ResponderConfig describes Bob's side of handshakes.
type ResponderConfig struct {
	HandshakeOptions
	// NetID is our network; a SessionRequest naming another (nonzero) one
	// is refused.
	NetID uint8
	// Static is our NTCP2 static key and IV, as published in our RouterInfo.
	Static StaticKey
	// Hash is our router hash (RH_B), the AES key of the ephemeral keys.
	Hash data.Hash
}

// Responder is Bob's side of the NTCP2 handshake, sans I/O.
//
//	stateStart ──ReadSessionRequest(64-byte head)──▶ stateRequestHead
//	stateRequestHead ──SessionCreated(padding)──▶ stateCreatedSent
//	stateCreatedSent ──ReadSessionConfirmed(ConfirmedLen bytes)──▶ stateDone
//	any failure ──▶ stateFailed (every later call fails with ErrState)
//
// ReadSessionRequest returns the padding length to read next; after
// SessionCreated, ConfirmedLen tells how many bytes message 3 has.
// On any failure Bob closes without answering (ntcp2.rst: "halt further
// message processing and close the connection without responding"), with
// one exception: a request whose only fault is Alice's clock still gets
// message 2, so that Alice learns our time and can tell her clock is off,
// and only then fails (SessionCreated returns the message and an error
// wrapping ErrClockSkew). i2pd 2.45 does the same (NTCP2Session::
// HandleSessionRequestReceived sends SessionCreated, then terminates).
type Responder struct {
	handshake
	cfg     ResponderConfig
	m3p2Len int
	peer    [32]byte // Alice's static key, from message 3 part 1
	skew    error    // Alice's clock is off: answer message 1, then fail
}

// NewResponder checks cfg. A replay cache is mandatory: message 1 has no
// contribution from Bob and can be replayed verbatim.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if cfg.Replay == nil {
		return nil, fmt.Errorf("ntcp2: responder: %w: no replay cache", ErrConfig)
	}
	if cfg.Hash.IsZero() {
		return nil, fmt.Errorf("ntcp2: responder: %w: no router hash", ErrConfig)
	}
	b := &Responder{cfg: cfg}
	b.opts = cfg.HandshakeOptions
	b.aesKey = cfg.Hash
	b.aesIV = cfg.Static.IV
	return b, nil
}

// State names the current state (for logs and tests).
func (b *Responder) State() string { return b.state.String() }

// ReadSessionRequest processes the first 64 bytes of message 1 and returns
// the length of the cleartext padding that follows. It checks, in order:
// the AEAD frame, the network ID (0 is accepted, as i2pd does), the version,
// the padding limit, m3p2Len, the clock skew, and finally that X is new
// (only authenticated requests enter the replay cache).
func (b *Responder) ReadSessionRequest(head []byte) (int, error) {
	if err := b.expect("session request", stateStart); err != nil {
		return 0, err
	}
	if err := checkLen("session request", len(head), HeadLen); err != nil {
		return 0, b.fail(err)
	}
	var err error
	if b.aesIV, err = crypto.AESCBCDecrypt(&b.aesKey, b.aesIV, b.re[:], head[:32]); err != nil {
		return 0, b.fail(err)
	}
	b.begin(b.cfg.Static.Public)
	b.ss.MixHash(b.re[:])
	dh, err := crypto.X25519(b.cfg.Static.Private, b.re)
	if err != nil {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: ephemeral key: %w", err))
	}
	b.ss.MixKey(dh[:])
	plain, err := b.ss.DecryptAndHash(make([]byte, 0, optionsLen), head[32:HeadLen])
	if err != nil {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: options: %w", err))
	}
	opts := parseRequestOptions(plain)
	if opts.NetID != 0 && opts.NetID != b.cfg.NetID {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: %w: peer %d, ours %d", ErrNetID, opts.NetID, b.cfg.NetID))
	}
	if opts.Version != Version {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: %w: %d", ErrVersion, opts.Version))
	}
	if int(opts.PadLen) > MaxHandshakePadding {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: %w: %d bytes, limit %d", ErrPadding, opts.PadLen, MaxHandshakePadding))
	}
	if int(opts.M3P2Len) < minConfirmedPart || int(opts.M3P2Len) > MaxConfirmedPart2Len {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: %w: m3p2Len %d outside %d..%d", ErrLength, opts.M3P2Len, minConfirmedPart, MaxConfirmedPart2Len))
	}
	now := b.opts.now()
	if err := checkSkew("session request", opts.TsA, now); err != nil {
		// Not entered in the replay cache: no data phase can follow, and a
		// replayed old request only earns the replayer our clock.
		b.skew = err
		b.padLen = int(opts.PadLen)
		b.state = stateRequestHead
		return b.padLen, nil
	}
	if !b.opts.Replay.Add(b.re, now) {
		return 0, b.fail(fmt.Errorf("ntcp2: session request: %w", ErrReplay))
	}
	b.padLen = int(opts.PadLen)
	b.m3p2Len = int(opts.M3P2Len)
	b.state = stateRequestHead
	return b.padLen, nil
}

// SessionCreated takes message 1's padding (exactly the announced length)
// and returns message 2:
//
//	AES-256-CBC(key RH_B, CBC state continued from message 1)(Y)   32 bytes
//	ChaChaPoly(k, n=0, ad=h)(options)                              32 bytes
//	cleartext padding                                              ≤ 223 bytes
//
// The AES IV is message 1's last ciphertext block (bytes 16..31), not
// Bob's published i again: "the AES state from message 1" (ntcp2.rst
// §"2) SessionCreated"; i2pd keeps the CBC IV in m_IV).
//
// When Alice's clock was off (see Responder), it returns message 2 and an
// error wrapping ErrClockSkew: send the message, then close.
func (b *Responder) SessionCreated(padding []byte) ([]byte, error) {
	if err := b.expect("session created", stateRequestHead); err != nil {
		return nil, err
	}
	if err := checkLen("session request padding", len(padding), b.padLen); err != nil {
		return nil, b.fail(err)
	}
	if len(padding) > 0 {
		b.ss.MixHash(padding)
	}
	e, err := crypto.GenerateX25519(b.opts.rand())
	if err != nil {
		return nil, b.fail(fmt.Errorf("ntcp2: session created: %w", err))
	}
	b.e = e
	padLen, err := b.opts.padLen(MaxHandshakePadding)
	if err != nil {
		return nil, b.fail(err)
	}
	msg := make([]byte, HeadLen, HeadLen+padLen)
	if _, err := crypto.AESCBCEncrypt(&b.aesKey, b.aesIV, msg[:32], e.Public[:]); err != nil {
		return nil, b.fail(err)
	}
	b.ss.MixHash(e.Public[:])
	dh, err := crypto.X25519(e.Private, b.re)
	if err != nil {
		return nil, b.fail(fmt.Errorf("ntcp2: session created: %w", err))
	}
	b.ss.MixKey(dh[:])
	opts := createdOptions{PadLen: uint16(padLen), TsB: unixSeconds(b.opts.now())}.append(make([]byte, 0, optionsLen))
	if _, err := b.ss.EncryptAndHash(msg[32:32], opts); err != nil {
		return nil, b.fail(fmt.Errorf("ntcp2: session created: %w", err))
	}
	pad, err := b.randomPadding(padLen)
	if err != nil {
		return nil, b.fail(err)
	}
	if padLen > 0 {
		b.ss.MixHash(pad)
	}
	b.state = stateCreatedSent
	if b.skew != nil {
		return append(msg, pad...), b.fail(b.skew)
	}
	return append(msg, pad...), nil
}

// ConfirmedLen is the length of message 3 (48 + m3p2Len), known after
// ReadSessionRequest.
func (b *Responder) ConfirmedLen() int { return ConfirmedPart1Len + b.m3p2Len }

// ReadSessionConfirmed processes message 3 and returns Alice's RouterInfo,
// from which the caller learns who she is. Beyond the two AEAD frames it
// checks what i2pd checks (HandleSessionConfirmedReceived) and what the spec
// adds:
//   - part 2 starts with a RouterInfo block, optionally followed by one
//     Options block and one Padding block, nothing else;
//   - the RouterInfo parses to the end of its block and its signature
//     verifies;
//   - its netId is ours;
//   - it was published less than MaxRouterInfoAge ago and not more than
//     MaxRouterInfoFuture ahead;
//   - it has an NTCP2 address whose s is the static key of part 1.
func (b *Responder) ReadSessionConfirmed(msg []byte) (data.RouterInfo, error) {
	if err := b.expect("session confirmed", stateCreatedSent); err != nil {
		return data.RouterInfo{}, err
	}
	if err := checkLen("session confirmed", len(msg), b.ConfirmedLen()); err != nil {
		return data.RouterInfo{}, b.fail(err)
	}
	if b.ss.N() != 1 {
		return data.RouterInfo{}, b.fail(fmt.Errorf("ntcp2: session confirmed: %w: nonce %d, want 1", ErrState, b.ss.N()))
	}
	s, err := b.ss.DecryptAndHash(make([]byte, 0, 32), msg[:ConfirmedPart1Len])
	if err != nil {
		return data.RouterInfo{}, b.fail(fmt.Errorf("ntcp2: session confirmed: part 1: %w", err))
	}
	copy(b.peer[:], s)
	dh, err := crypto.X25519(b.e.Private, b.peer)
	if err != nil {
		return data.RouterInfo{}, b.fail(fmt.Errorf("ntcp2: session confirmed: static key: %w", err))
	}
	b.ss.MixKey(dh[:])
	payload, err := b.ss.DecryptAndHash(nil, msg[ConfirmedPart1Len:])
	if err != nil {
		return data.RouterInfo{}, b.fail(fmt.Errorf("ntcp2: session confirmed: part 2: %w", err))
	}
	ri, err := confirmedRouterInfo(payload)
	if err != nil {
		return data.RouterInfo{}, b.fail(err)
	}
	if err := CheckPeerRouterInfo(ri, b.cfg.NetID, b.peer, b.opts.now()); err != nil {
		return data.RouterInfo{}, b.fail(fmt.Errorf("ntcp2: session confirmed: %w", err))
	}
	b.split(false)
	b.e = crypto.X25519Keys{}
	b.state = stateDone
	return ri, nil
}

// PeerStatic returns Alice's static key once message 3 part 1 decrypted.
func (b *Responder) PeerStatic() [32]byte { return b.peer }

// confirmedRouterInfo applies the message 3 part 2 block rules and parses
// the RouterInfo.
func confirmedRouterInfo(payload []byte) (data.RouterInfo, error) {
	var riBlock RouterInfoBlock
	for i, off := 0, 0; off < len(payload); i++ {
		blk, n, err := ParseBlock(payload[off:])
		if err != nil {
			return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: block %d: %w", i, err)
		}
		switch v := blk.(type) {
		case RouterInfoBlock:
			if i != 0 {
				return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: RouterInfo as block %d", ErrPayload, i)
			}
			riBlock = v
		case Options:
			if i != 1 {
				return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: Options as block %d", ErrPayload, i)
			}
		case Padding:
			if i == 0 || off+n != len(payload) {
				return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: Padding must be the last block after the RouterInfo", ErrPayload)
			}
		default:
			return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: block type %d not allowed in message 3", ErrPayload, blk.BlockType())
		}
		off += n
	}
	if riBlock.RouterInfo == nil {
		return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: no RouterInfo block", ErrPayload)
	}
	ri, n, err := data.ParseRouterInfo(riBlock.RouterInfo)
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: %w", ErrRouterInfo, err)
	}
	if n != len(riBlock.RouterInfo) {
		return data.RouterInfo{}, fmt.Errorf("ntcp2: session confirmed: %w: %d bytes after the RouterInfo", ErrRouterInfo, len(riBlock.RouterInfo)-n)
	}
	return ri, nil
}

// CheckPeerRouterInfo applies the checks a peer's RouterInfo must pass to
// identify an NTCP2 session: a valid signature, our netId, published within
// [now-MaxRouterInfoAge, now+MaxRouterInfoFuture], and an NTCP2 address
// (transport "NTCP2", or "NTCP" which i2pd reads the same) whose s is
// static.
func CheckPeerRouterInfo(ri data.RouterInfo, netID uint8, static [32]byte, now time.Time) error {
	if err := ri.Verify(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRouterInfo, ri.Hash().Short(), err)
	}
	id, err := ri.NetID()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNetID, ri.Hash().Short(), err)
	}
	if id != int(netID) {
		return fmt.Errorf("%w: RouterInfo %s has netId %d, ours %d", ErrNetID, ri.Hash().Short(), id, netID)
	}
	pub := ri.Published().Time()
	if age := now.Sub(pub); age > MaxRouterInfoAge {
		return fmt.Errorf("%w: %s published %v ago (limit %v)", ErrRouterInfo, ri.Hash().Short(), age.Round(time.Second), MaxRouterInfoAge)
	} else if -age > MaxRouterInfoFuture {
		return fmt.Errorf("%w: %s published %v in the future (limit %v)", ErrRouterInfo, ri.Hash().Short(), (-age).Round(time.Second), MaxRouterInfoFuture)
	}
	for _, a := range ri.Addresses() {
		if !strings.HasPrefix(a.Transport, "NTCP") {
			continue
		}
		n, err := a.NTCP2()
		if err == nil && n.StaticKey == static {
			return nil
		}
	}
	return fmt.Errorf("%w: RouterInfo %s", ErrStaticKey, ri.Hash().Short())
}

// PeerAddress returns the dialable NTCP2 address of a peer's RouterInfo:
// the first NTCP2 address that publishes host, port, s and i.
func PeerAddress(ri data.RouterInfo) (data.NTCP2Address, error) {
	for _, a := range ri.Addresses() {
		if !strings.HasPrefix(a.Transport, "NTCP") {
			continue
		}
		n, err := a.NTCP2()
		if err == nil && n.Published() {
			return n, nil
		}
	}
	return data.NTCP2Address{}, fmt.Errorf("%w: RouterInfo %s", ErrAddress, ri.Hash().Short())
}
