package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// Tunnel data layer sizes (tunnel-message.rst; i2pd TunnelBase.h).
//
// A TunnelData message body is tunnel ID(4) ‖ IV(16) ‖ encrypted data(1008).
// The layer operations work on the 1024 bytes after the tunnel ID:
//
//	offset  size  field
//	0       16    IV
//	16      1008  data, 63 AES blocks
const (
	TunnelIVSize      = aes.BlockSize // 16
	TunnelDataSize    = 1008
	TunnelMessageSize = TunnelIVSize + TunnelDataSize // 1024
)

// TunnelLayer is one hop's tunnel encryption layer: an AES-256 layer key for
// the data and an AES-256 IV key for the IV (the two keys of a tunnel build
// record). Its key schedules are expanded once; it is safe for concurrent
// use.
//
// Participant processing (pages/site/docs/tunnels/implementation.html
// §"Participant Processing"): "encrypts the received IV with AES256/ECB using
// their IV key to determine the current IV, uses that IV with the
// participant's layer key to encrypt the data, encrypts the current IV with
// AES256/ECB using their IV key again". i2pd does exactly this in
// Crypto.cpp TunnelEncryption::Encrypt, and the inverse in
// TunnelDecryption::Decrypt.
type TunnelLayer struct {
	layer cipher.Block
	iv    cipher.Block
}

// NewTunnelLayer expands the layer and IV keys.
func NewTunnelLayer(layerKey, ivKey *[32]byte) *TunnelLayer {
	l, err := aes.NewCipher(layerKey[:])
	if err != nil {
		panic("crypto: aes: " + err.Error()) // only a bad key length fails
	}
	v, err := aes.NewCipher(ivKey[:])
	if err != nil {
		panic("crypto: aes: " + err.Error())
	}
	return &TunnelLayer{layer: l, iv: v}
}

// EncryptLayer applies this layer in place to the 1024-byte IV‖data of a
// tunnel message:
//
//	IV1  = AES-ECB-Encrypt(ivKey, IV)
//	data = AES-CBC-Encrypt(layerKey, IV1, data)
//	IV   = AES-ECB-Encrypt(ivKey, IV1)
//
// Every participant, the inbound gateway and the outbound endpoint run
// this ("they always encrypt for the next hop"). Encrypting the IV both
// before and after use keeps colluding hops from matching messages by IV.
func (t *TunnelLayer) EncryptLayer(msg *[TunnelMessageSize]byte) {
	iv, data := msg[:TunnelIVSize], msg[TunnelIVSize:]
	t.iv.Encrypt(iv, iv)
	cipher.NewCBCEncrypter(t.layer, iv).CryptBlocks(data, data)
	t.iv.Encrypt(iv, iv)
}

// DecryptLayer removes this layer in place; it is the exact inverse of
// EncryptLayer:
//
//	IV1  = AES-ECB-Decrypt(ivKey, IV)
//	data = AES-CBC-Decrypt(layerKey, IV1, data)
//	IV   = AES-ECB-Decrypt(ivKey, IV1)
//
// The outbound gateway pre-decrypts with every hop's layer, last hop
// first, so that the hops' encryptions reveal the plaintext at the
// endpoint; the inbound endpoint (the creator) undoes the hops' layers in
// reverse order of traversal.
func (t *TunnelLayer) DecryptLayer(msg *[TunnelMessageSize]byte) {
	iv, data := msg[:TunnelIVSize], msg[TunnelIVSize:]
	t.iv.Decrypt(iv, iv)
	cipher.NewCBCDecrypter(t.layer, iv).CryptBlocks(data, data)
	t.iv.Decrypt(iv, iv)
}

// AESCBCEncrypt encrypts src (a whole number of 16-byte blocks) into dst
// with AES-256-CBC and returns the last ciphertext block, which is the IV
// to continue the chain with. NTCP2 needs that continuation: message 2's
// AES step uses message 1's last ciphertext block as its IV (ntcp2.rst
// §"2) SessionCreated": "the AES state from message 1"). Long ECIES build
// replies use AES-256-CBC with the reply key and IV for the other hops'
// records (tunnel-creation-ecies.rst §"Symmetric Encryption of Records").
// dst and src may be the same slice.
func AESCBCEncrypt(key *[32]byte, iv [aes.BlockSize]byte, dst, src []byte) ([aes.BlockSize]byte, error) {
	if err := checkCBC(dst, src); err != nil {
		return iv, fmt.Errorf("aes-cbc encrypt: %w", err)
	}
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("crypto: aes: " + err.Error())
	}
	if len(src) == 0 {
		return iv, nil
	}
	cipher.NewCBCEncrypter(b, iv[:]).CryptBlocks(dst[:len(src)], src)
	var next [aes.BlockSize]byte
	copy(next[:], dst[len(src)-aes.BlockSize:len(src)])
	return next, nil
}

// AESCBCDecrypt decrypts src into dst with AES-256-CBC and returns the last
// ciphertext block of src (the IV for the next part of the chain). dst and
// src may be the same slice.
func AESCBCDecrypt(key *[32]byte, iv [aes.BlockSize]byte, dst, src []byte) ([aes.BlockSize]byte, error) {
	if err := checkCBC(dst, src); err != nil {
		return iv, fmt.Errorf("aes-cbc decrypt: %w", err)
	}
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("crypto: aes: " + err.Error())
	}
	if len(src) == 0 {
		return iv, nil
	}
	var next [aes.BlockSize]byte
	copy(next[:], src[len(src)-aes.BlockSize:]) // before an in-place decrypt overwrites it
	cipher.NewCBCDecrypter(b, iv[:]).CryptBlocks(dst[:len(src)], src)
	return next, nil
}

func checkCBC(dst, src []byte) error {
	if len(src)%aes.BlockSize != 0 {
		return fmt.Errorf("%w: %d bytes is not a multiple of %d", ErrBlockSize, len(src), aes.BlockSize)
	}
	if len(dst) < len(src) {
		return fmt.Errorf("%w: destination %d bytes, source %d", ErrBlockSize, len(dst), len(src))
	}
	return nil
}
