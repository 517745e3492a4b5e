package tunnel

import (
	"crypto/subtle"
	"fmt"
	"io"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// Role is a hop's position in a tunnel, from the flags byte of its build
// record (tunnel-creation-ecies.rst §"Request Record Unencrypted"): bit 7
// makes it the inbound gateway, bit 6 the outbound endpoint, neither a
// participant. Both at once is invalid.
type Role uint8

// Hop roles.
const (
	RoleParticipant Role = iota // forwards TunnelData to the next hop
	RoleGateway                 // IBGW: takes TunnelGateway messages from anyone
	RoleEndpoint                // OBEP: reassembles and delivers to anyone
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleParticipant:
		return "participant"
	case RoleGateway:
		return "IBGW"
	case RoleEndpoint:
		return "OBEP"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// roleOf reads the role from a record's flags byte.
func roleOf(flags uint8) (Role, error) {
	gw, ep := flags&i2np.BuildFlagGateway != 0, flags&i2np.BuildFlagEndpoint != 0
	switch {
	case gw && ep:
		return 0, fmt.Errorf("%w: flags %#02x set both the gateway and the endpoint bit", ErrBadRecord, flags)
	case gw:
		return RoleGateway, nil
	case ep:
		return RoleEndpoint, nil
	}
	return RoleParticipant, nil
}

// flagsOf is the flags byte for a role.
func flagsOf(r Role) uint8 {
	switch r {
	case RoleGateway:
		return i2np.BuildFlagGateway
	case RoleEndpoint:
		return i2np.BuildFlagEndpoint
	}
	return 0
}

// HKDF labels of the short record key chain (tunnel-creation-ecies.rst
// §"KDF"; i2pd TunnelConfig.cpp ShortECIESTunnelHopConfig and
// I2NPProtocol.cpp HandleShortTunnelBuildMsg).
const (
	labelReplyKey  = "SMTunnelReplyKey"
	labelLayerKey  = "SMTunnelLayerKey"
	labelIVKey     = "TunnelLayerIVKey"
	labelGarlicKey = "RGarlicKeyAndTag"
)

// HopKeys are the symmetric keys one hop of a tunnel holds, as the hop and
// the creator both know them after the hop's build record.
type HopKeys struct {
	// Layer and IV are the AES-256 tunnel layer and IV keys.
	Layer, IV [32]byte
	// Reply is the reply key: for short records the ChaCha20(-Poly1305)
	// key of the reply (own record AEAD, other records ChaCha20); for long
	// records the AES-256-CBC key for the other records.
	Reply [32]byte
	// ReplyIV is the AES-CBC IV of a long record's reply layer.
	ReplyIV [16]byte
	// GarlicKey and GarlicTag wrap a short build's OutboundTunnelBuildReply
	// at the outbound endpoint (RGarlicKeyAndTag); zero for other hops and
	// for long records.
	GarlicKey [32]byte
	GarlicTag garlic.Tag
}

// RecordSecrets is what the Noise N of one build record leaves to both
// sides: the handshake hash h (after MixHash(ciphertext), the associated
// data of the hop's own reply), the chaining key ck after MixKey (the
// AEAD key of a long record's own reply), and the hop's keys.
type RecordSecrets struct {
	H, CK [32]byte
	Keys  HopKeys
}

// noiseNInit returns the Noise N state both sides precompute for a hop's
// static key hepk (tunnel-creation-ecies.rst §"KDF for Initial ck and h",
// §"KDF for Request Record" up to MixHash(hepk)).
func noiseNInit(hepk [32]byte) crypto.SymmetricState {
	var s crypto.SymmetricState
	s.Init(garlic.NoiseNProtocolName)
	s.MixHash(nil) // null prologue
	s.MixHash(hepk[:])
	return s
}

// sealRecord encrypts plaintext for the hop key hepk with the ephemeral key
// e and writes sepk ‖ ciphertext ‖ MAC to out (len(plaintext) + 48 bytes):
// "e" (MixHash(sepk)), "es" (MixKey(DH(sesk, hepk))), the payload with
// k, n = 0, ad = h, and MixHash(ciphertext). It returns ck and h.
func sealRecord(e *crypto.X25519Keys, hepk [32]byte, plaintext, out []byte) (ck, h [32]byte, err error) {
	s := noiseNInit(hepk)
	s.MixHash(e.Public[:])
	shared, err := e.DH(hepk)
	if err != nil {
		return ck, h, fmt.Errorf("tunnel: seal build record: %w", err)
	}
	s.MixKey(shared[:])
	copy(out, e.Public[:])
	if _, err := s.EncryptAndHash(out[32:32], plaintext); err != nil {
		return ck, h, fmt.Errorf("tunnel: seal build record: %w", err)
	}
	return s.CK(), s.H(), nil
}

// openRecord is the hop side of sealRecord: sealed is sepk ‖ ciphertext ‖
// MAC; the plaintext goes to out. init is noiseNInit of our own key.
func openRecord(init *crypto.SymmetricState, static *crypto.X25519Keys, sealed, out []byte) (ck, h [32]byte, err error) {
	s := *init
	var e [32]byte
	copy(e[:], sealed[:32])
	s.MixHash(e[:])
	shared, err := static.DH(e)
	if err != nil {
		return ck, h, fmt.Errorf("%w: ephemeral key: %w", ErrBadRecord, err)
	}
	s.MixKey(shared[:])
	if _, err := s.DecryptAndHash(out[:0], sealed[32:]); err != nil {
		return ck, h, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return s.CK(), s.H(), nil
}

// deriveShortKeys runs the short record key chain on ck (tunnel-creation-
// ecies.rst §"KDF"):
//
//	ck, replyKey = HKDF(ck, "", "SMTunnelReplyKey", 64)
//	ck, layerKey = HKDF(ck, "", "SMTunnelLayerKey", 64)
//	non-OBEP: ivKey = ck
//	OBEP:     ck, ivKey = HKDF(ck, "", "TunnelLayerIVKey", 64)
//	          ck, garlicKey = HKDF(ck, "", "RGarlicKeyAndTag", 64); tag = ck[0:8]
//
// The OBEP's IV key differs from the others' even when its reply is not
// garlic wrapped.
func deriveShortKeys(ck [32]byte, role Role) HopKeys {
	var k HopKeys
	ck, k.Reply = crypto.HKDF64(ck[:], nil, labelReplyKey)
	ck, k.Layer = crypto.HKDF64(ck[:], nil, labelLayerKey)
	if role != RoleEndpoint {
		k.IV = ck
		return k
	}
	ck, k.IV = crypto.HKDF64(ck[:], nil, labelIVKey)
	ck, k.GarlicKey = crypto.HKDF64(ck[:], nil, labelGarlicKey)
	copy(k.GarlicTag[:], ck[:garlic.TagLen])
	return k
}

// ephemeral reads a fresh X25519 key from r (crypto/rand when nil).
func ephemeral(r io.Reader) (crypto.X25519Keys, error) {
	e, err := crypto.GenerateX25519(randReader(r))
	if err != nil {
		return e, fmt.Errorf("tunnel: ephemeral key: %w", err)
	}
	return e, nil
}

// SealShortRecord encrypts a short build request for hop with a fresh
// ephemeral key and returns the 218-byte record (tunnel-creation-ecies.rst
// §"Short Request Record Encrypted": hash prefix ‖ sepk ‖ ChaCha20 ‖ MAC)
// with the creator's secrets: h for the reply and the derived keys.
func SealShortRecord(r io.Reader, hop Peer, req i2np.ShortBuildRequestRecord) (i2np.ShortBuildRecord, RecordSecrets, error) {
	e, err := ephemeral(r)
	if err != nil {
		return i2np.ShortBuildRecord{}, RecordSecrets{}, err
	}
	return sealShortRecordWith(&e, hop, req)
}

func sealShortRecordWith(e *crypto.X25519Keys, hop Peer, req i2np.ShortBuildRequestRecord) (i2np.ShortBuildRecord, RecordSecrets, error) {
	var rec i2np.ShortBuildRecord
	role, err := roleOf(req.Flags)
	if err != nil {
		return rec, RecordSecrets{}, err
	}
	pt, err := req.Append(make([]byte, 0, i2np.ShortBuildRequestRecordLen))
	if err != nil {
		return rec, RecordSecrets{}, fmt.Errorf("tunnel: short build record for %s: %w", hop, err)
	}
	copy(rec[:], hop.Hash[:i2np.RecordToPeerLen])
	ck, h, err := sealRecord(e, hop.Key, pt, rec[i2np.RecordToPeerLen:])
	if err != nil {
		return rec, RecordSecrets{}, err
	}
	return rec, RecordSecrets{H: h, CK: ck, Keys: deriveShortKeys(ck, role)}, nil
}

// SealLongRecord encrypts a long (528-byte) ECIES build request for hop
// (tunnel-creation-ecies.rst §"Request Record Encrypted"). The layer, IV
// and reply keys travel inside req; the returned secrets carry them with
// h and ck, which key the hop's own reply.
func SealLongRecord(r io.Reader, hop Peer, req i2np.BuildRequestRecord) (i2np.BuildRecord, RecordSecrets, error) {
	e, err := ephemeral(r)
	if err != nil {
		return i2np.BuildRecord{}, RecordSecrets{}, err
	}
	return sealLongRecordWith(&e, hop, req)
}

func sealLongRecordWith(e *crypto.X25519Keys, hop Peer, req i2np.BuildRequestRecord) (i2np.BuildRecord, RecordSecrets, error) {
	var rec i2np.BuildRecord
	if _, err := roleOf(req.Flags); err != nil {
		return rec, RecordSecrets{}, err
	}
	pt, err := req.Append(make([]byte, 0, i2np.BuildRequestRecordLen))
	if err != nil {
		return rec, RecordSecrets{}, fmt.Errorf("tunnel: long build record for %s: %w", hop, err)
	}
	copy(rec[:], hop.Hash[:i2np.RecordToPeerLen])
	ck, h, err := sealRecord(e, hop.Key, pt, rec[i2np.RecordToPeerLen:])
	if err != nil {
		return rec, RecordSecrets{}, err
	}
	return rec, RecordSecrets{H: h, CK: ck, Keys: longKeys(&req)}, nil
}

func longKeys(req *i2np.BuildRequestRecord) HopKeys {
	return HopKeys{Layer: req.LayerKey, IV: req.IVKey, Reply: req.ReplyKey, ReplyIV: req.ReplyIV}
}

// RecordOpener decrypts the build records addressed to one router: it
// holds the router's X25519 identity keys, the Noise state precomputed up
// to MixHash(hepk) (i2pd RouterContext m_InitialNoiseState) and the 16-byte
// hash prefix that marks our records. It is immutable and safe for
// concurrent use.
type RecordOpener struct {
	static crypto.X25519Keys
	init   crypto.SymmetricState
	prefix [i2np.RecordToPeerLen]byte
}

// NewRecordOpener prepares an opener for the router with identity hash
// hash and RouterIdentity X25519 keys static.
func NewRecordOpener(static crypto.X25519Keys, hash data.Hash) *RecordOpener {
	o := &RecordOpener{static: static, init: noiseNInit(static.Public)}
	copy(o.prefix[:], hash[:])
	return o
}

// IsOurs reports whether a record's 16-byte prefix is our hash's.
func (o *RecordOpener) IsOurs(toPeer []byte) bool {
	return subtle.ConstantTimeCompare(toPeer, o.prefix[:]) == 1
}

// OpenShort decrypts a short record addressed to us, checks its fields and
// derives the hop keys for the role its flags give. A layer encryption
// type other than 0 (AES) is refused with ErrUnsupported, as i2pd does.
func (o *RecordOpener) OpenShort(rec *i2np.ShortBuildRecord) (i2np.ShortBuildRequestRecord, RecordSecrets, error) {
	pt := make([]byte, i2np.ShortBuildRequestRecordLen)
	ck, h, err := openRecord(&o.init, &o.static, rec[i2np.RecordToPeerLen:], pt)
	if err != nil {
		return i2np.ShortBuildRequestRecord{}, RecordSecrets{}, fmt.Errorf("short build record: %w", err)
	}
	req, _, err := i2np.ParseShortBuildRequestRecord(pt)
	if err != nil {
		return req, RecordSecrets{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if req.LayerEncryption != i2np.LayerEncryptionAES {
		return req, RecordSecrets{}, fmt.Errorf("%w: layer encryption type %d", ErrUnsupported, req.LayerEncryption)
	}
	role, err := checkRequest(req.ReceiveTunnel, req.NextTunnel, req.Flags)
	if err != nil {
		return req, RecordSecrets{}, err
	}
	return req, RecordSecrets{H: h, CK: ck, Keys: deriveShortKeys(ck, role)}, nil
}

// OpenLong decrypts a long (528-byte) ECIES record addressed to us.
func (o *RecordOpener) OpenLong(rec *i2np.BuildRecord) (i2np.BuildRequestRecord, RecordSecrets, error) {
	pt := make([]byte, i2np.BuildRequestRecordLen)
	ck, h, err := openRecord(&o.init, &o.static, rec[i2np.RecordToPeerLen:], pt)
	if err != nil {
		return i2np.BuildRequestRecord{}, RecordSecrets{}, fmt.Errorf("long build record: %w", err)
	}
	req, _, err := i2np.ParseBuildRequestRecord(pt)
	if err != nil {
		return req, RecordSecrets{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if _, err := checkRequest(req.ReceiveTunnel, req.NextTunnel, req.Flags); err != nil {
		return req, RecordSecrets{}, err
	}
	return req, RecordSecrets{H: h, CK: ck, Keys: longKeys(&req)}, nil
}

// checkRequest applies the field rules of tunnel-creation-ecies.rst: both
// tunnel IDs nonzero, at most one role flag. i2pd 2.45 checks neither; a
// zero receive ID would make the transit tunnel unreachable, and a zero
// next ID is never sent by i2pd or Java, so refusing them costs nothing.
func checkRequest(receive, next i2np.TunnelID, flags uint8) (Role, error) {
	if receive == 0 || next == 0 {
		return 0, fmt.Errorf("%w: receive tunnel %d, next tunnel %d: must be nonzero", ErrBadRecord, receive, next)
	}
	return roleOf(flags)
}

// SealShortReply turns the hop's own record records[own] into its reply
// and applies the hop's ChaCha20 layer to every other record, in place
// (tunnel-creation-ecies.rst §"Record Encryption"; i2pd
// HandleShortTunnelBuildMsg):
//
//	own:    ENCRYPT(replyKey, n = own, 202-byte reply, ad = h) ‖ MAC
//	others: ChaCha20(replyKey, iv = 00000000 ‖ index (8 bytes LE), counter 1)
//
// The reply is the empty options Mapping, zero padding and code.
func SealShortReply(records []i2np.ShortBuildRecord, own int, code uint8, s *RecordSecrets) error {
	if own < 0 || own >= len(records) {
		return fmt.Errorf("%w: own record %d of %d", ErrConfig, own, len(records))
	}
	pt, err := i2np.ShortBuildReplyRecord{Reply: code}.Append(make([]byte, 0, i2np.ShortBuildReplyRecordLen))
	if err != nil {
		return fmt.Errorf("tunnel: short reply: %w", err)
	}
	for j := range records {
		if j == own {
			crypto.AEADSeal(&s.Keys.Reply, uint64(j), records[j][:0], pt, s.H[:])
			continue
		}
		chachaRecord(&records[j], j, &s.Keys.Reply)
	}
	return nil
}

// chachaRecord applies (or removes: it is an XOR) one short reply layer to
// record index idx.
func chachaRecord(rec *i2np.ShortBuildRecord, idx int, key *[32]byte) {
	nonce := crypto.Nonce(uint64(idx))
	crypto.ChaCha20XOR(rec[:], rec[:], key, &nonce)
}

// SealLongReply is SealShortReply for long ECIES records (tunnel-creation-
// ecies.rst §"Reply Record Encryption"; i2pd HandleBuildRequestRecords):
//
//	own:    ENCRYPT(k = ck, n = 0, 512-byte reply, ad = h) ‖ MAC
//	others: AES-256-CBC(replyKey, replyIV), each record on its own
func SealLongReply(records []i2np.BuildRecord, own int, code uint8, s *RecordSecrets) error {
	if own < 0 || own >= len(records) {
		return fmt.Errorf("%w: own record %d of %d", ErrConfig, own, len(records))
	}
	pt, err := i2np.BuildReplyRecord{Reply: code}.Append(make([]byte, 0, i2np.BuildReplyRecordLen))
	if err != nil {
		return fmt.Errorf("tunnel: long reply: %w", err)
	}
	for j := range records {
		if j == own {
			crypto.AEADSeal(&s.CK, 0, records[j][:0], pt, s.H[:])
			continue
		}
		if _, err := crypto.AESCBCEncrypt(&s.Keys.Reply, s.Keys.ReplyIV, records[j][:], records[j][:]); err != nil {
			return fmt.Errorf("tunnel: long reply layer: %w", err)
		}
	}
	return nil
}

// openShortReply authenticates and decrypts a hop's own short reply record
// at index idx and returns its reply code.
func openShortReply(rec *i2np.ShortBuildRecord, idx int, s *RecordSecrets) (uint8, error) {
	pt, err := crypto.AEADOpen(&s.Keys.Reply, uint64(idx), nil, rec[:], s.H[:])
	if err != nil {
		return 0, fmt.Errorf("%w: reply record %d: %w", ErrBadRecord, idx, err)
	}
	r, _, err := i2np.ParseShortBuildReplyRecord(pt)
	if err != nil {
		return 0, fmt.Errorf("%w: reply record %d: %w", ErrBadRecord, idx, err)
	}
	return r.Reply, nil
}

// openLongReply is openShortReply for a long record (k = ck, n = 0).
func openLongReply(rec *i2np.BuildRecord, s *RecordSecrets) (uint8, error) {
	pt, err := crypto.AEADOpen(&s.CK, 0, nil, rec[:], s.H[:])
	if err != nil {
		return 0, fmt.Errorf("%w: long reply record: %w", ErrBadRecord, err)
	}
	r, _, err := i2np.ParseBuildReplyRecord(pt)
	if err != nil {
		return 0, fmt.Errorf("%w: long reply record: %w", ErrBadRecord, err)
	}
	return r.Reply, nil
}

// undoLongLayer removes (creator, reply) or pre-applies (creator, request)
// one hop's AES-CBC record layer: CBC decryption with the hop's reply key
// and IV. The hop's CBC encryption undoes it on the request path.
func undoLongLayer(rec *i2np.BuildRecord, k *HopKeys) error {
	if _, err := crypto.AESCBCDecrypt(&k.Reply, k.ReplyIV, rec[:], rec[:]); err != nil {
		return fmt.Errorf("tunnel: long record layer: %w", err)
	}
	return nil
}
