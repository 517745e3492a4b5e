// Package data implements the I2P common structures that every other layer
// shares: I2P base64 and ".b32.i2p" names, Hash, Certificate, KeysAndCert,
// Destination, RouterIdentity and the private key file (PrivateKeys); the
// netDb structures Date, String, Mapping, RouterAddress (with NTCP2 helpers),
// RouterInfo, RouterKeys (i2pd's router.keys) and LeaseSet2. Signed
// structures keep the bytes they were parsed from, so Append and Verify never
// re-serialise. Codecs follow the Parse/Append/Len pattern, do no I/O and keep no locks; the only I/O in the
// package is the small set of key-file helpers in keyfile.go.
//
// Specification: i2p/i2p.www i2p2www/spec/common-structures.rst (sections
// "Common type specification", "Certificate", "Key Certificates",
// "KeysAndCert", "Destination", "Mapping", "RouterAddress", "RouterInfo",
// "LeaseSet2"); behaviour checked against i2pd 2.45.0
// libi2pd/Identity.cpp.
//
// # Encodings
//
// Base64 is RFC 4648 with '-' and '~' in place of '+' and '/', with '='
// padding. A ".b32.i2p" name is the lowercase, unpadded RFC 4648 base32 of
// the 32-byte SHA-256 of a Destination: 52 characters, then ".b32.i2p".
// Longer names (56+ characters) are encrypted-LeaseSet addresses, which this
// package refuses.
//
// # KeysAndCert / Destination layout
//
//	offset  size  field
//	0       256   crypto public key area: key at the start, padding after
//	256     128   signing public key area: padding first, key at the end
//	384     1     certificate type (0 NULL, 5 KEY, others skipped by length)
//	385     2     certificate payload length L (big endian)
//	387     L     payload; for KEY: signing type(2) crypto type(2)
//	              [excess signing key][excess crypto key]
//
// A signing key longer than 128 bytes (P521, RSA) fills the whole signing
// area and continues in the KEY certificate after the two type fields.
// Without a KEY certificate the types are DSA_SHA1 (0) and ElGamal (0).
// The hash of a Destination is the SHA-256 of the bytes exactly as parsed;
// nothing is ever re-serialized to be hashed.
//
// # Private key file (i2pd/Java ".dat", SAM private key)
//
//	Destination (387+L bytes)
//	encryption private key: 32 bytes when the crypto type is X25519 (4),
//	                        256 bytes when it is ElGamal (0)
//	signing private key:    length by signing type (Ed25519: 32-byte seed)
//
// If the signing private key is all zeros the file is offline-signed (i2pd
// PrivateKeys::FromBuffer): it continues with expires(4, seconds)
// transient sig type(2) transient public key, a signature by the
// destination key over those bytes, then the transient private key.
// ParsePrivateKeys measures such a file and then refuses it with
// ErrOfflineKeys: this module never produces offline-signed LeaseSets, so a
// destination loaded from such a file could not publish itself.
//
// An Ed25519 seed that does not produce the destination's public key is
// refused (ErrKeyMismatch): such a file could only sign unverifiable data.
// i2pd writes random bytes, unrelated to anything public, as the encryption
// private key of a destination (its LeaseSet2 keys are separate), and its
// tunnels.conf default crypto type for new key files is 0 (ElGamal); both
// parse fine. GeneratePrivateKeys writes a real X25519 key pair instead.
//
// Crypto types other than 0 and 4 are refused in key files because i2pd
// (256 bytes for everything except type 4) and Java (length by type)
// disagree on their private key length. Trailing bytes after the last
// field are an error, even though i2pd ignores them, so that every accepted
// file round-trips byte for byte. A file holding the base64 text form (as
// SAM prints it) is reported as such (ErrTextKeyFile), not parsed.
package data
