// Package crypto holds the primitive wrappers that the router core shares:
// NTCP2, tunnel builds, router-level ECIES and the ECIES-X25519-AEAD-Ratchet
// all build on these few functions, so each I2P convention (argument order,
// nonce layout, byte order, starting block counter) is fixed once, here, and
// pinned by published test vectors.
//
// Specification: i2p/i2p.www i2p2www/spec/cryptography.rst (overview),
// ntcp2.rst §"Additions to the Framework" and §"SipHash obfuscated length",
// ecies.rst §"Definitions" and §"3) AEAD (ChaChaPoly)",
// encryptedleaseset.rst §"STREAM", tunnel-creation-ecies.rst §"Record
// Encryption"; pages/site/docs/tunnels/implementation.html §"Participant
// Processing". Behaviour checked against i2pd 2.45.0 libi2pd/Crypto.cpp.
//
// # What is here
//
//	HKDF(salt, ikm, info, n)   RFC 5869 with HMAC-SHA256, the spec's argument
//	                           order (salt first); the only HKDF call site
//	X25519                     raw 32-byte little-endian keys; DH refuses an
//	                           all-zero shared secret
//	Ed25519Key                 signing key kept as its 32-byte RFC 8032 seed
//	AEAD, Nonce                ChaCha20-Poly1305 (RFC 8439) with the nonce
//	                           00 00 00 00 ‖ counter (8 bytes, little endian)
//	ChaCha20XOR                raw ChaCha20, block counter starting at 1
//	TunnelLayer                the tunnel data layer: AES-256 "ECB" on the IV,
//	                           AES-256-CBC on 1008 bytes, AES "ECB" on the IV
//	                           again
//	AESCBCEncrypt/Decrypt      plain AES-256-CBC (NTCP2 key obfuscation, long
//	                           build record replies)
//	SipHash24, LengthObfuscator  SipHash-2-4 and the NTCP2 frame-length mask
//	SymmetricState             the Noise symmetric state (ck, h, k, n) with raw
//	                           access to ck and h
//
// Elligator2 (ecies.rst §"2a) Elligator2") lives in the sub-package
// router/crypto/elligator because it needs field arithmetic from
// filippo.io/edwards25519.
//
// # Byte order
//
// X25519 keys, Ed25519 keys and signatures, the ChaCha20 nonce counter and
// the SipHash keys and output are little endian; everything else in I2P is
// big endian. The functions here take and return bytes exactly as they
// appear on the wire.
package crypto
