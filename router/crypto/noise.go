package crypto

import (
	"crypto/sha256"
	"fmt"
	"math"
)

// SymmetricState is the Noise SymmetricState with its CipherState folded in
// (Noise rev 34 §5.1, §5.2) for the 25519_ChaChaPoly_SHA256 suites I2P uses:
// chaining key ck, handshake hash h, cipher key k and nonce n.
//
// Unlike a general Noise library it exposes ck and h, and leaves token
// processing to the caller, because the I2P protocols step outside the
// standard patterns:
//
//   - NTCP2 mixes cleartext padding into h between messages, AES-obfuscates
//     the ephemeral keys, and derives the data phase SipHash keys from the
//     final ck and h (ntcp2.rst §"Key Derivation Function (KDF) (for data
//     phase)").
//   - The ratchet's New Session mixes the tag and the Elligator2-decoded key
//     and, when the static key is all zeros, encrypts the payload with the
//     same k at n=1 without a MixHash (ecies.rst §"1f) KDFs for New Session
//     Message").
//   - Short tunnel build records chain further HKDFs from the raw ck
//     (tunnel-creation-ecies.rst §"KDF").
//
// The zero value is not ready; call Init. A SymmetricState is a plain value:
// copying it forks the handshake (the ratchet does, per NSR). Not safe for
// concurrent use.
type SymmetricState struct {
	ck     [32]byte
	h      [32]byte
	k      [32]byte
	n      uint64
	hasKey bool
}

// NewSymmetricState returns a state initialised with protocolName.
func NewSymmetricState(protocolName string) *SymmetricState {
	s := new(SymmetricState)
	s.Init(protocolName)
	return s
}

// Init is InitializeSymmetric(protocol_name) (Noise §5.2): a name of at most
// 32 bytes is zero-padded to 32 bytes ("Noise_N_25519_ChaChaPoly_SHA256" is
// 31), a longer one is hashed ("Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256",
// "Noise_IKelg2+hs2_25519_ChaChaPoly_SHA256"); h = ck = that value, and there
// is no cipher key yet. The I2P protocols then MixHash an empty prologue
// (ntcp2.rst: "MixHash(null prologue)"); Init does not, so that the caller
// states it.
func (s *SymmetricState) Init(protocolName string) {
	*s = SymmetricState{}
	if len(protocolName) <= len(s.h) {
		copy(s.h[:], protocolName)
	} else {
		s.h = sha256.Sum256([]byte(protocolName))
	}
	s.ck = s.h
}

// MixHash sets h = SHA256(h ‖ data[0] ‖ data[1] ‖ …). Several arguments hash
// as their concatenation, as i2pd's MixHash over a buffer list does.
func (s *SymmetricState) MixHash(data ...[]byte) {
	d := sha256.New()
	d.Write(s.h[:])
	for _, b := range data {
		d.Write(b)
	}
	d.Sum(s.h[:0])
}

// MixKey sets ck, k = HKDF(ck, ikm, "", 64) and resets n to 0 (Noise §5.2;
// ecies.rst §"Definitions": MixKey(d) := output = HKDF(chainKey, d, "", 64)).
// ikm is normally a 32-byte DH result.
func (s *SymmetricState) MixKey(ikm []byte) {
	s.ck, s.k = HKDF64(s.ck[:], ikm, "")
	s.n = 0
	s.hasKey = true
}

// EncryptAndHash encrypts plaintext with ENCRYPT(k, n++, plaintext, ad=h),
// appends the ciphertext and tag to dst, and MixHashes the ciphertext. Before
// the first MixKey it copies the plaintext and MixHashes it instead (Noise
// §5.2). dst must not overlap plaintext except as plaintext[:0].
func (s *SymmetricState) EncryptAndHash(dst, plaintext []byte) ([]byte, error) {
	if !s.hasKey {
		out := append(dst, plaintext...)
		s.MixHash(out[len(dst):])
		return out, nil
	}
	out, err := s.Encrypt(dst, plaintext)
	if err != nil {
		return nil, err
	}
	s.MixHash(out[len(dst):])
	return out, nil
}

// DecryptAndHash is the inverse of EncryptAndHash: it authenticates and
// decrypts ciphertext with ad=h, then MixHashes the ciphertext (not the
// plaintext). On failure the state is left unchanged and the error wraps
// ErrAuthFailed (the bytes of dst up to its capacity may have been
// overwritten, as with any cipher.AEAD). To decrypt in place use
// ciphertext[:0] as dst.
func (s *SymmetricState) DecryptAndHash(dst, ciphertext []byte) ([]byte, error) {
	if !s.hasKey {
		out := append(dst, ciphertext...)
		s.MixHash(ciphertext)
		return out, nil
	}
	// Hash first from a copy of h: decrypting in place would otherwise
	// destroy the ciphertext before it is hashed.
	h := s.h
	next := s.hashed(ciphertext)
	out, err := s.decryptWithAD(dst, ciphertext, h[:])
	if err != nil {
		return nil, err
	}
	s.h = next
	return out, nil
}

// Encrypt is ENCRYPT(k, n, plaintext, ad=h) with n incremented afterwards,
// without a MixHash: the ratchet's New Session payload after an all-zero
// static key uses it (ecies.rst §"1f) KDFs for New Session Message"). It
// fails with ErrNoKey before the first MixKey.
func (s *SymmetricState) Encrypt(dst, plaintext []byte) ([]byte, error) {
	if !s.hasKey {
		return nil, fmt.Errorf("noise encrypt: %w", ErrNoKey)
	}
	if s.n == math.MaxUint64 {
		return nil, fmt.Errorf("noise encrypt: %w", ErrNonceExhausted)
	}
	out := AEADSeal(&s.k, s.n, dst, plaintext, s.h[:])
	s.n++
	return out, nil
}

// Decrypt is DECRYPT(k, n, ciphertext, ad=h) with n incremented on success,
// without a MixHash; the counterpart of Encrypt.
func (s *SymmetricState) Decrypt(dst, ciphertext []byte) ([]byte, error) {
	return s.decryptWithAD(dst, ciphertext, s.h[:])
}

func (s *SymmetricState) decryptWithAD(dst, ciphertext, ad []byte) ([]byte, error) {
	if !s.hasKey {
		return nil, fmt.Errorf("noise decrypt: %w", ErrNoKey)
	}
	if s.n == math.MaxUint64 {
		return nil, fmt.Errorf("noise decrypt: %w", ErrNonceExhausted)
	}
	out, err := AEADOpen(&s.k, s.n, dst, ciphertext, ad)
	if err != nil {
		return nil, fmt.Errorf("noise decrypt: %w", err)
	}
	s.n++
	return out, nil
}

// hashed returns SHA256(h ‖ data) without changing h.
func (s *SymmetricState) hashed(data []byte) [32]byte {
	d := sha256.New()
	d.Write(s.h[:])
	d.Write(data)
	var out [32]byte
	d.Sum(out[:0])
	return out
}

// Split returns the two transport keys HKDF(ck, ZEROLEN, "", 64): the first
// for initiator-to-responder messages, the second for the other direction
// (Noise §5.2; ntcp2.rst: k_ab, k_ba; ecies.rst: k_ab, k_ba after the NSR).
// The state itself is unchanged, so ck and h stay readable afterwards.
func (s *SymmetricState) Split() (initiatorToResponder, responderToInitiator [32]byte) {
	return HKDF64(s.ck[:], nil, "")
}

// CK returns the chaining key.
func (s *SymmetricState) CK() [32]byte { return s.ck }

// H returns the handshake hash, the associated data of the next AEAD.
func (s *SymmetricState) H() [32]byte { return s.h }

// K returns the current cipher key and whether MixKey has set one: the
// second half of the last MixKey's HKDF output (i2pd reads it as m_CK + 32).
func (s *SymmetricState) K() (k [32]byte, ok bool) { return s.k, s.hasKey }

// N returns the nonce the next Encrypt or Decrypt will use.
func (s *SymmetricState) N() uint64 { return s.n }

// SetNonce sets the nonce for the next Encrypt or Decrypt. The ratchet's New
// Session with an all-zero static key encrypts its payload at n=1 under the
// same key; NTCP2 message 3 part 1 likewise continues message 2's key at
// n=1 (ntcp2.rst §"Encryption for for handshake message 3 part 1, using
// message 2 KDF)"), which the normal increment already provides.
func (s *SymmetricState) SetNonce(n uint64) { s.n = n }
