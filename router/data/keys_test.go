package data

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// i2pdFixture describes one key file under testdata/i2pd (see its README).
type i2pdFixture struct {
	file       string
	sigType    uint16
	cryptoType uint16
	destLen    int
	fileLen    int
}

var i2pdFixtures = []i2pdFixture{
	{"ed25519-default.dat", SigTypeEd25519, CryptoTypeElGamal, 391, 391 + 256 + 32},
	{"ed25519-elgamal.dat", SigTypeEd25519, CryptoTypeElGamal, 391, 391 + 256 + 32},
	{"ed25519-x25519.dat", SigTypeEd25519, CryptoTypeX25519, 391, 391 + 32 + 32},
	{"p256.dat", SigTypeECDSASHA256P256, CryptoTypeElGamal, 391, 391 + 256 + 32},
	{"p521.dat", SigTypeECDSASHA512P521, CryptoTypeElGamal, 395, 395 + 256 + 66},
	{"dsa.dat", SigTypeDSASHA1, CryptoTypeElGamal, 387, 387 + 256 + 20},
	{"router.keys", SigTypeEd25519, CryptoTypeX25519, 391, 391 + 32 + 32},
	{"generated-rfc.dat", SigTypeEd25519, CryptoTypeX25519, 391, 391 + 32 + 32},
}

// i2pdB32 reads testdata/i2pd/b32.txt: the addresses i2pd showed.
func i2pdB32(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "i2pd", "b32.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, b32, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad b32.txt line %q", sc.Text())
		}
		m[file] = b32
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "i2pd", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestI2pdKeyFilesParseAndMatchI2pdB32(t *testing.T) {
	want := i2pdB32(t)
	for _, fx := range i2pdFixtures {
		t.Run(fx.file, func(t *testing.T) {
			raw := readFixture(t, fx.file)
			if len(raw) != fx.fileLen {
				t.Fatalf("fixture is %d bytes, want %d", len(raw), fx.fileLen)
			}
			k, err := LoadPrivateKeyFile(filepath.Join("testdata", "i2pd", fx.file))
			if err != nil {
				t.Fatal(err)
			}
			d := k.Destination()
			if wantB32, ok := want[fx.file]; ok && d.B32() != wantB32 {
				t.Errorf("B32 = %s, i2pd showed %s", d.B32(), wantB32)
			}
			if got := d.Hash(); got != sha256.Sum256(raw[:fx.destLen]) {
				t.Errorf("Hash is not SHA-256 of the stored destination bytes")
			}
			if d.SigningType() != fx.sigType || d.CryptoType() != fx.cryptoType {
				t.Errorf("types = %d/%d, want %d/%d", d.SigningType(), d.CryptoType(), fx.sigType, fx.cryptoType)
			}
			if d.Len() != fx.destLen || k.Len() != fx.fileLen {
				t.Errorf("lengths = %d/%d, want %d/%d", d.Len(), k.Len(), fx.destLen, fx.fileLen)
			}
			// Byte-for-byte round trips: file, base64, destination.
			if !bytes.Equal(k.Bytes(), raw) {
				t.Errorf("Bytes() differs from the file")
			}
			k2, err := ParsePrivateKeysBase64(k.Base64())
			if err != nil || k2 != k {
				t.Errorf("base64 round trip: %v", err)
			}
			d2, err := ParseDestinationBase64(d.Base64())
			if err != nil || d2 != d {
				t.Errorf("destination base64 round trip: %v", err)
			}
			d3, n, err := ParseDestination(raw)
			if err != nil || n != fx.destLen || d3 != d {
				t.Errorf("ParseDestination(file) = %d, %v", n, err)
			}
			h, err := ParseB32(d.B32())
			if err != nil || h != d.Hash() {
				t.Errorf("ParseB32(B32()) = %x, %v", h, err)
			}
			pub, err := d.SigningPublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if info, _ := SigningTypeInfo(fx.sigType); len(pub) != info.PublicKeyLen {
				t.Errorf("signing key is %d bytes, want %d", len(pub), info.PublicKeyLen)
			}
		})
	}
}

// TestECDSAKeysSitWhereTheSpecSays checks the key placement rules with
// curves that reject misplaced bytes: the P-256 key is the last 64 bytes of
// the signing area, the P-521 key is the whole area plus 4 excess bytes from
// the KEY certificate. Both must be points on their curve and match the
// private keys i2pd stored.
func TestECDSAKeysSitWhereTheSpecSays(t *testing.T) {
	for _, tt := range []struct {
		file  string
		curve ecdh.Curve
	}{
		{"p256.dat", ecdh.P256()},
		{"p521.dat", ecdh.P521()},
	} {
		t.Run(tt.file, func(t *testing.T) {
			k, err := ParsePrivateKeys(readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := k.Destination().SigningPublicKey()
			if err != nil {
				t.Fatal(err)
			}
			// I2P stores X||Y; SEC 1 uncompressed form is 04||X||Y.
			p, err := tt.curve.NewPublicKey(append([]byte{4}, pub...))
			if err != nil {
				t.Fatalf("signing key is not a point on the curve: %v", err)
			}
			priv, err := tt.curve.NewPrivateKey(k.SigningPrivateKey())
			if err != nil {
				t.Fatal(err)
			}
			if !priv.PublicKey().Equal(p) {
				t.Fatal("stored private key does not produce the stored public key")
			}
		})
	}
}

func TestI2pdDestinationPaddingIsRepeatedBlock(t *testing.T) {
	// i2pd 2.45 (IdentityEx constructor) fills everything but the Ed25519
	// key with one random 32-byte block; confirm our reading of the area.
	for _, name := range []string{"ed25519-x25519.dat", "ed25519-elgamal.dat"} {
		raw := readFixture(t, name)
		block := raw[:32]
		for off := 0; off < KeyAreaLen-32; off += 32 {
			if !bytes.Equal(raw[off:off+32], block) {
				t.Fatalf("%s: block at %d differs", name, off)
			}
		}
	}
}

func TestRouterKeysX25519IsClampedAndMatchesPublicKey(t *testing.T) {
	// router.keys was made by i2pd's OpenSSL X25519 keygen: this pins the
	// layout we write (raw 32 bytes, little endian, clamped).
	k, err := ParsePrivateKeys(readFixture(t, "router.keys"))
	if err != nil {
		t.Fatal(err)
	}
	priv := k.EncryptionPrivateKey()
	if priv[0]&7 != 0 || priv[31]&0x80 != 0 || priv[31]&0x40 == 0 {
		t.Fatalf("i2pd router X25519 key is not clamped: %x", priv)
	}
	xp, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Destination().CryptoPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(xp.PublicKey().Bytes(), pub) {
		t.Fatal("X25519(private) differs from the identity's crypto key")
	}
}

func TestGeneratePrivateKeysLayout(t *testing.T) {
	// RFC 7748 §6.1 (Alice) and RFC 8032 §7.1 TEST 1 as inputs, so the
	// public keys are known independently of this package.
	xPriv := mustHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	xPub := mustHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	seed := mustHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	edPub := mustHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	pad := make([]byte, 32)
	for i := range pad {
		pad[i] = byte(i)
	}
	src := bytes.NewReader(bytes.Join([][]byte{xPriv, seed, pad}, nil))
	k, err := GeneratePrivateKeys(src)
	if err != nil {
		t.Fatal(err)
	}
	b := k.Bytes()
	clamped := append([]byte(nil), xPriv...)
	clamped[0], clamped[31] = 0x70, 0x6a

	want := bytes.Join([][]byte{
		xPub,
		bytes.Repeat(pad, 10),
		edPub,
		{0x05, 0x00, 0x04, 0x00, 0x07, 0x00, 0x04},
		clamped,
		seed,
	}, nil)
	if !bytes.Equal(b, want) {
		t.Fatalf("GeneratePrivateKeys =\n%x\nwant\n%x", b, want)
	}
	if !bytes.Equal(b, readFixture(t, "generated-rfc.dat")) {
		t.Fatal("differs from testdata/i2pd/generated-rfc.dat, the file i2pd accepted")
	}
	if got, want := k.Destination().B32(), i2pdB32(t)["generated-rfc.dat"]; got != want {
		t.Fatalf("B32 = %s, i2pd showed %s", got, want)
	}
}

func TestGeneratePrivateKeysRandom(t *testing.T) {
	k1, err := GeneratePrivateKeys(cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GeneratePrivateKeys(cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 || k1.Destination().Hash() == k2.Destination().Hash() {
		t.Fatal("two generated keys are equal")
	}
	d := k1.Destination()
	if d.SigningType() != SigTypeEd25519 || d.CryptoType() != CryptoTypeX25519 || d.Len() != 391 || k1.Len() != 455 {
		t.Fatalf("types %d/%d lengths %d/%d", d.SigningType(), d.CryptoType(), d.Len(), k1.Len())
	}
	xp, err := ecdh.X25519().NewPrivateKey(k1.EncryptionPrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := d.CryptoPublicKey()
	if !bytes.Equal(xp.PublicKey().Bytes(), pub) {
		t.Fatal("X25519 public key does not match the private key")
	}
	msg := []byte("leaseset bytes")
	sig, err := k1.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(msg, sig); err != nil {
		t.Fatalf("Verify own signature: %v", err)
	}
	if err := d.Verify([]byte("other bytes"), sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify(tampered) = %v, want ErrBadSignature", err)
	}
	if err := k2.Destination().Verify(msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify by other key = %v, want ErrBadSignature", err)
	}
	if err := d.Verify(msg, sig[:63]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify(short sig) = %v, want ErrBadSignature", err)
	}
}

func TestGeneratePrivateKeysReaderFailure(t *testing.T) {
	for _, n := range []int{0, 31, 32, 64, 95} {
		_, err := GeneratePrivateKeys(bytes.NewReader(make([]byte, n)))
		if err == nil {
			t.Fatalf("GeneratePrivateKeys with %d random bytes succeeded", n)
		}
	}
}

func TestPrivateKeysNeverPrintSecrets(t *testing.T) {
	k := mustGenerate(t)
	seedB64 := Base64Encode(k.SigningPrivateKey())[:20]
	for _, s := range []string{k.String(), k.GoString(), k.LogValue().String()} {
		if strings.Contains(s, seedB64) || strings.Contains(s, k.Base64()[:100]) {
			t.Fatalf("%q leaks key material", s)
		}
		if !strings.Contains(s, k.Destination().B32()) {
			t.Fatalf("%q does not name the destination", s)
		}
	}
}

func TestZeroValues(t *testing.T) {
	var d Destination
	var k PrivateKeys
	if !d.IsZero() || d.Bytes() != nil || d.Base64() != "" || d.B32() != "" || d.Len() != 0 {
		t.Fatal("zero Destination is not empty")
	}
	if _, err := d.Append(nil); err == nil {
		t.Fatal("zero Destination Append succeeded")
	}
	if _, err := d.SigningPublicKey(); err == nil {
		t.Fatal("zero Destination has a signing key")
	}
	if !k.IsZero() || k.Bytes() != nil || k.Base64() != "" || !k.Destination().IsZero() {
		t.Fatal("zero PrivateKeys is not empty")
	}
	if _, err := k.Sign([]byte("x")); err == nil {
		t.Fatal("zero PrivateKeys signed")
	}
	if _, err := k.Append(nil); err == nil {
		t.Fatal("zero PrivateKeys Append succeeded")
	}
}

func mustGenerate(t testing.TB) PrivateKeys {
	t.Helper()
	k, err := GeneratePrivateKeys(cryptoRand{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// edFixture returns an Ed25519/X25519 key file with a fresh key pair, for
// tests that mutate bytes.
func edFixture(t testing.TB) []byte {
	t.Helper()
	return mustGenerate(t).Bytes()
}

// withCert returns a key file made of b's key area, the given certificate
// bytes, then rest.
func withCert(b []byte, cert []byte, rest []byte) []byte {
	out := append([]byte(nil), b[:KeyAreaLen]...)
	out = append(out, cert...)
	return append(out, rest...)
}

func TestParsePrivateKeysRejectsMalformedFiles(t *testing.T) {
	base := edFixture(t)
	encAndSeed := base[391:]
	destKeys := mustGenerate(t)
	dest := destKeys.Bytes()[:391]
	edPriv, _ := destKeys.Ed25519PrivateKey()

	// offline builds an i2pd-style offline section (PrivateKeys::FromBuffer):
	// expires, transient type, transient key, signature by the destination,
	// transient private key.
	offline := func(transType uint16, pubLen, privLen int) []byte {
		hdr := binary.BigEndian.AppendUint32(nil, 1700000000)
		hdr = binary.BigEndian.AppendUint16(hdr, transType)
		hdr = append(hdr, bytes.Repeat([]byte{9}, pubLen)...)
		sig := ed25519.Sign(edPriv, hdr)
		return bytes.Join([][]byte{dest, destKeys.EncryptionPrivateKey(), make([]byte, 32), hdr, sig, bytes.Repeat([]byte{8}, privLen)}, nil)
	}

	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantMsg string
	}{
		{"empty", nil, ErrTruncated, "at least 387"},
		{"trailing byte", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "1 bytes after"},
		{"unknown signing type", withCert(base, []byte{5, 0, 4, 0, 99, 0, 4}, encAndSeed), ErrUnknownSigType, "99"},
		{"crypto type 1 private key length disputed", withCert(base, []byte{5, 0, 4, 0, 7, 0, 1}, encAndSeed), ErrUnsupportedCryptoType, "crypto type 1"},
		{"unknown crypto type", withCert(base, []byte{5, 0, 4, 0, 7, 0x12, 0x34}, encAndSeed), ErrUnsupportedCryptoType, "4660"},
		{"KEY cert too short", withCert(base, []byte{5, 0, 3, 0, 7, 0}, encAndSeed), ErrCertificate, "at least 4"},
		{"KEY cert excess data", withCert(base, []byte{5, 0, 5, 0, 7, 0, 4, 0}, encAndSeed), ErrCertificate, "want 4"},
		{"P521 without excess key bytes", withCert(base, []byte{5, 0, 4, 0, 3, 0, 4}, encAndSeed), ErrCertificate, "want 8"},
		{"NULL cert with payload", withCert(base, []byte{0, 0, 1, 0}, encAndSeed), ErrCertificate, "NULL"},
		{"seed does not match public key", append(append([]byte(nil), base[:423]...), bytes.Repeat([]byte{1}, 32)...), ErrKeyMismatch, "Ed25519"},
		{"offline: header missing", append(append([]byte(nil), base[:423]...), make([]byte, 32)...), ErrTruncated, "offline header"},
		{"offline: unknown transient type", offline(77, 0, 0), ErrUnknownSigType, "transient"},
		{"offline: transient key truncated", offline(SigTypeEd25519, 32, 0)[:391+32+32+6+10], ErrTruncated, "offline section"},
		{"offline: well formed", offline(SigTypeEd25519, 32, 32), ErrOfflineKeys, "expires 2023-11-14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKeys(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParsePrivateKeys = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestParsersRejectEveryTruncation(t *testing.T) {
	files := [][]byte{edFixture(t)}
	for _, fx := range i2pdFixtures {
		files = append(files, readFixture(t, fx.file))
	}
	for _, raw := range files {
		k, err := ParsePrivateKeys(raw)
		if err != nil {
			t.Fatal(err)
		}
		destLen := k.Destination().Len()
		for i := range len(raw) {
			if _, err := ParsePrivateKeys(raw[:i]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ParsePrivateKeys(%d of %d bytes) = %v, want ErrTruncated", i, len(raw), err)
			}
			if i < destLen {
				if _, n, err := ParseDestination(raw[:i]); !errors.Is(err, ErrTruncated) || n != 0 {
					t.Fatalf("ParseDestination(%d of %d bytes) = %d, %v, want ErrTruncated", i, destLen, n, err)
				}
				if _, err := ParseDestinationBase64(Base64Encode(raw[:i])); !errors.Is(err, ErrTruncated) {
					t.Fatalf("ParseDestinationBase64(%d bytes) = %v, want ErrTruncated", i, err)
				}
			}
		}
		cert := raw[KeyAreaLen:destLen]
		for i := range len(cert) {
			if _, _, err := ParseCertificate(cert[:i]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ParseCertificate(%x) = %v, want ErrTruncated", cert[:i], err)
			}
		}
	}
}

func TestParseDestinationBase64RejectsTrailingBytes(t *testing.T) {
	raw := readFixture(t, "ed25519-x25519.dat")
	// A whole key file is a destination followed by more bytes: exactly the
	// mistake of passing a SAM private key where a destination is expected.
	_, err := ParseDestinationBase64(Base64Encode(raw))
	if !errors.Is(err, ErrTrailingBytes) {
		t.Fatalf("ParseDestinationBase64(key file) = %v, want ErrTrailingBytes", err)
	}
	if _, err := ParseDestinationBase64("not base64!"); !errors.Is(err, ErrBase64) {
		t.Fatalf("ParseDestinationBase64(garbage) = %v, want ErrBase64", err)
	}
}

func TestDestinationWithLegacyCertificates(t *testing.T) {
	area := bytes.Repeat([]byte{0xab}, KeyAreaLen)
	tests := []struct {
		name       string
		cert       []byte
		sigType    uint16
		cryptoType uint16
		wantErr    error
	}{
		{"NULL", []byte{0, 0, 0}, SigTypeDSASHA1, CryptoTypeElGamal, nil},
		{"HIDDEN", []byte{2, 0, 0}, SigTypeDSASHA1, CryptoTypeElGamal, nil},
		{"HASHCASH skipped by length", []byte{1, 0, 5, 'a', ':', 'b', ':', 'c'}, SigTypeDSASHA1, CryptoTypeElGamal, nil},
		{"SIGNED 40 bytes skipped", append([]byte{3, 0, 40}, make([]byte, 40)...), SigTypeDSASHA1, CryptoTypeElGamal, nil},
		{"unknown type 9 skipped", []byte{9, 0, 2, 1, 2}, SigTypeDSASHA1, CryptoTypeElGamal, nil},
		{"KEY unknown signing type", []byte{5, 0, 4, 0xff, 0x00, 0, 4}, 0xff00, CryptoTypeX25519, nil},
		{"KEY unknown types with extra payload", []byte{5, 0, 6, 0xff, 0x00, 0xff, 1, 1, 2}, 0xff00, 0xff01, nil},
		{"RSA-2048 with 128 excess bytes", append([]byte{5, 0, 132, 0, 4, 0, 0}, make([]byte, 128)...), SigTypeRSASHA2562048, CryptoTypeElGamal, nil},
		{"RSA-2048 short excess", append([]byte{5, 0, 131, 0, 4, 0, 0}, make([]byte, 127)...), 0, 0, ErrCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := append(append([]byte(nil), area...), tt.cert...)
			d, n, err := ParseDestination(append(raw, 0xee)) // one byte of what follows
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseDestination = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != len(raw) || !bytes.Equal(d.Bytes(), raw) || d.Hash() != sha256.Sum256(raw) {
				t.Fatalf("n = %d, want %d (or bytes/hash differ)", n, len(raw))
			}
			if d.SigningType() != tt.sigType || d.CryptoType() != tt.cryptoType {
				t.Fatalf("types = %d/%d, want %d/%d", d.SigningType(), d.CryptoType(), tt.sigType, tt.cryptoType)
			}
			c := d.Certificate()
			if c.Type != tt.cert[0] || c.Len() != len(tt.cert) {
				t.Fatalf("certificate = %+v", c)
			}
		})
	}
}

func TestKeyAccessorsRefuseUnknownTypes(t *testing.T) {
	raw := append(bytes.Repeat([]byte{1}, KeyAreaLen), 5, 0, 4, 0x12, 0x34, 0x56, 0x78)
	d, _, err := ParseDestination(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SigningPublicKey(); !errors.Is(err, ErrUnknownSigType) {
		t.Fatalf("SigningPublicKey = %v, want ErrUnknownSigType", err)
	}
	if err := d.Verify(nil, nil); !errors.Is(err, ErrUnknownSigType) {
		t.Fatalf("Verify = %v, want ErrUnknownSigType", err)
	}
	if _, err := d.CryptoPublicKey(); !errors.Is(err, ErrUnsupportedCryptoType) {
		t.Fatalf("CryptoPublicKey = %v, want ErrUnsupportedCryptoType", err)
	}
	k, err := ParsePrivateKeys(readFixture(t, "p256.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(nil); !errors.Is(err, ErrUnsupportedSigType) {
		t.Fatalf("Sign with P256 = %v, want ErrUnsupportedSigType", err)
	}
	if err := k.Destination().Verify(nil, make([]byte, 64)); !errors.Is(err, ErrUnsupportedSigType) {
		t.Fatalf("Verify with P256 = %v, want ErrUnsupportedSigType", err)
	}
}

func TestCertificateCodec(t *testing.T) {
	tests := []struct {
		name string
		cert Certificate
		want []byte
	}{
		{"NULL", Certificate{Type: CertTypeNull}, []byte{0, 0, 0}},
		{"KEY Ed25519/X25519", NewKeyCertificate(SigTypeEd25519, CryptoTypeX25519), []byte{5, 0, 4, 0, 7, 0, 4}},
		{"KEY Ed25519/ElGamal", NewKeyCertificate(SigTypeEd25519, CryptoTypeElGamal), []byte{5, 0, 4, 0, 7, 0, 0}},
		{"HASHCASH", Certificate{Type: CertTypeHashCash, Payload: []byte("x:y")}, []byte{1, 0, 3, 'x', ':', 'y'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cert.Append(nil)
			if err != nil || !bytes.Equal(got, tt.want) || tt.cert.Len() != len(tt.want) {
				t.Fatalf("Append = %x, %v; want %x", got, err, tt.want)
			}
			c, n, err := ParseCertificate(append(got, 0xff))
			if err != nil || n != len(tt.want) || c.Type != tt.cert.Type || !bytes.Equal(c.Payload, tt.cert.Payload) {
				t.Fatalf("ParseCertificate = %+v, %d, %v", c, n, err)
			}
		})
	}
	if _, err := (Certificate{Type: CertTypeKey, Payload: []byte{0, 7}}).Append(nil); !errors.Is(err, ErrCertificate) {
		t.Fatalf("Append(short KEY) = %v", err)
	}
	if _, err := (Certificate{Type: 1, Payload: make([]byte, 1<<16)}).Append(nil); !errors.Is(err, ErrCertificate) {
		t.Fatalf("Append(64 KiB payload) = %v", err)
	}
	sig, crypto := NewKeyCertificate(SigTypeEd25519, CryptoTypeX25519).KeyTypes()
	if sig != SigTypeEd25519 || crypto != CryptoTypeX25519 {
		t.Fatalf("KeyTypes = %d/%d", sig, crypto)
	}
}

func TestSigningTypeTable(t *testing.T) {
	// common-structures.rst "SigningPublicKey"/"SigningPrivateKey"/
	// "Signature" tables, restated so a typo in either place fails.
	tests := []struct {
		typ               uint16
		pub, priv, siglen int
	}{
		{0, 128, 20, 40}, {1, 64, 32, 64}, {2, 96, 48, 96}, {3, 132, 66, 132},
		{4, 256, 512, 256}, {5, 384, 768, 384}, {6, 512, 1024, 512},
		{7, 32, 32, 64}, {8, 32, 32, 64}, {9, 64, 32, 64}, {10, 128, 64, 128}, {11, 32, 32, 64},
	}
	for _, tt := range tests {
		info, ok := SigningTypeInfo(tt.typ)
		if !ok || info.PublicKeyLen != tt.pub || info.PrivateKeyLen != tt.priv || info.SignatureLen != tt.siglen {
			t.Errorf("SigningTypeInfo(%d) = %+v, %v", tt.typ, info, ok)
		}
	}
	if _, ok := SigningTypeInfo(12); ok {
		t.Error("type 12 is not defined in 0.9.57")
	}
	for typ, want := range map[uint16]int{0: 256, 1: 64, 2: 96, 3: 132, 4: 32} {
		if n, ok := CryptoPublicKeyLen(typ); !ok || n != want {
			t.Errorf("CryptoPublicKeyLen(%d) = %d, %v", typ, n, ok)
		}
	}
}

func FuzzDestinationRoundTrip(f *testing.F) {
	for _, fx := range i2pdFixtures {
		f.Add(readFixture(f, fx.file))
	}
	f.Add(append(bytes.Repeat([]byte{1}, KeyAreaLen), 1, 0, 2, 'a', 'b'))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, n, err := ParseDestination(b)
		if err != nil {
			if n != 0 || !d.IsZero() {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		if !bytes.Equal(d.Bytes(), b[:n]) || d.Len() != n {
			t.Fatal("Bytes() differs from the parsed input")
		}
		if d.Hash() != sha256.Sum256(b[:n]) {
			t.Fatal("Hash() is not SHA-256 of the parsed bytes")
		}
		out, err := d.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		d2, n2, err := ParseDestination(out)
		if err != nil || n2 != n || d2 != d {
			t.Fatalf("reparse: %d, %v", n2, err)
		}
		d3, err := ParseDestinationBase64(d.Base64())
		if err != nil || d3 != d {
			t.Fatalf("base64 reparse: %v", err)
		}
	})
}

func FuzzPrivateKeysRoundTrip(f *testing.F) {
	for _, fx := range i2pdFixtures {
		f.Add(readFixture(f, fx.file))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKeys(b)
		if err != nil {
			if !k.IsZero() {
				t.Fatal("error with non-zero keys")
			}
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatal("Bytes() differs from the parsed input")
		}
		if !bytes.HasPrefix(b, k.Destination().Bytes()) {
			t.Fatal("destination is not a prefix of the file")
		}
		k2, err := ParsePrivateKeysBase64(k.Base64())
		if err != nil || k2 != k {
			t.Fatalf("reparse: %v", err)
		}
		if k.Destination().SigningType() == SigTypeEd25519 {
			sig, err := k.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Destination().Verify(b, sig); err != nil {
				t.Fatalf("accepted keys cannot sign: %v", err)
			}
		}
	})
}

func TestRouterIdentityHashMatchesI2pd(t *testing.T) {
	// i2pd logged its own router hash as "Tunnels: Can't select next hop
	// for 7bsnKlu1…" while running with testdata/i2pd/router.keys; the
	// router.keys file starts with the RouterIdentity.
	const i2pdHash = "7bsnKlu1ypub3bITeQaKKQIpHR-GEhi1I8vqXH~3i~Y="
	raw := readFixture(t, "router.keys")
	ri, n, err := ParseRouterIdentity(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n != 391 || ri.Hash().Base64() != i2pdHash {
		t.Fatalf("n = %d, hash = %s, want 391, %s", n, ri.Hash().Base64(), i2pdHash)
	}
	if ri.String() != i2pdHash[:6] {
		t.Fatalf("String() = %q", ri.String())
	}
	for i := range n {
		if _, _, err := ParseRouterIdentity(raw[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ParseRouterIdentity(%d bytes) = %v, want ErrTruncated", i, err)
		}
	}
}
