package data

// Signing types (common-structures.rst "SigningPublicKey"). The lengths are
// in sigTypes below.
const (
	SigTypeDSASHA1         = 0
	SigTypeECDSASHA256P256 = 1
	SigTypeECDSASHA384P384 = 2
	SigTypeECDSASHA512P521 = 3
	SigTypeRSASHA2562048   = 4
	SigTypeRSASHA3843072   = 5
	SigTypeRSASHA5124096   = 6
	SigTypeEd25519         = 7
	SigTypeEd25519ph       = 8
	SigTypeGOST256         = 9  // i2pd only (proposal 134)
	SigTypeGOST512         = 10 // i2pd only (proposal 134)
	SigTypeRedDSA          = 11 // LeaseSet blinding only
)

// Crypto (encryption) types (common-structures.rst "PublicKey").
const (
	CryptoTypeElGamal   = 0
	CryptoTypeECIESP256 = 1
	CryptoTypeECIESP384 = 2
	CryptoTypeECIESP521 = 3
	CryptoTypeX25519    = 4
)

// SigTypeInfo gives the sizes of one signing type.
type SigTypeInfo struct {
	Name          string
	PublicKeyLen  int
	PrivateKeyLen int
	SignatureLen  int
}

// sigTypes is the table in common-structures.rst "SigningPublicKey",
// "SigningPrivateKey" and "Signature"; GOST lengths from i2pd
// (libi2pd/Gost.h), which is the only implementation.
var sigTypes = map[uint16]SigTypeInfo{
	SigTypeDSASHA1:         {"DSA_SHA1", 128, 20, 40},
	SigTypeECDSASHA256P256: {"ECDSA_SHA256_P256", 64, 32, 64},
	SigTypeECDSASHA384P384: {"ECDSA_SHA384_P384", 96, 48, 96},
	SigTypeECDSASHA512P521: {"ECDSA_SHA512_P521", 132, 66, 132},
	SigTypeRSASHA2562048:   {"RSA_SHA256_2048", 256, 512, 256},
	SigTypeRSASHA3843072:   {"RSA_SHA384_3072", 384, 768, 384},
	SigTypeRSASHA5124096:   {"RSA_SHA512_4096", 512, 1024, 512},
	SigTypeEd25519:         {"EdDSA_SHA512_Ed25519", 32, 32, 64},
	SigTypeEd25519ph:       {"EdDSA_SHA512_Ed25519ph", 32, 32, 64},
	SigTypeGOST256:         {"GOSTR3410_CRYPTO_PRO_A_GOSTR3411_256", 64, 32, 64},
	SigTypeGOST512:         {"GOSTR3410_TC26_A_512_GOSTR3411_512", 128, 64, 128},
	SigTypeRedDSA:          {"RedDSA_SHA512_Ed25519", 32, 32, 64},
}

// SigningTypeInfo returns the sizes of signing type t, or false when t is
// not in the specification's table.
func SigningTypeInfo(t uint16) (SigTypeInfo, bool) {
	info, ok := sigTypes[t]
	return info, ok
}

// cryptoPublicKeyLens is the table in common-structures.rst "PublicKey".
var cryptoPublicKeyLens = map[uint16]int{
	CryptoTypeElGamal:   256,
	CryptoTypeECIESP256: 64,
	CryptoTypeECIESP384: 96,
	CryptoTypeECIESP521: 132,
	CryptoTypeX25519:    32,
}

// CryptoPublicKeyLen returns the public key length of crypto type t, or
// false when t is not in the specification's table.
func CryptoPublicKeyLen(t uint16) (int, bool) {
	n, ok := cryptoPublicKeyLens[t]
	return n, ok
}
