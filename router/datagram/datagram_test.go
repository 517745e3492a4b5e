package datagram

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"i2pbridge/router/data"
	"i2pbridge/router/payload"
)

// The key files are the ones router/data pins (see
// ../data/testdata/i2pd/README.md): written or accepted by i2pd 2.45.1.
// Expected datagrams are assembled from the file bytes and the layout in
// datagrams.rst §"Datagram1 (Repliable)", with signatures from RFC 8032 or
// crypto/ed25519, never from the code under test.

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "data", "testdata", "i2pd", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keys(t testing.TB, name string) data.PrivateKeys {
	t.Helper()
	k, err := data.ParsePrivateKeys(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Ed25519 destination files: Destination (391 bytes: 384-byte key area,
// KEY certificate 05 0004 0007 0004), X25519 private key (32), Ed25519
// seed (32).
const (
	edDestLen = 391
	edSeedOff = edDestLen + 32
)

// rfc8032Test1Sig is RFC 8032 §7.1 TEST 1: the signature of the empty
// message by the seed 9d61b19d…7f60 that generated-rfc.dat holds.
var rfc8032Test1Sig = hx("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
	"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

func TestAppendRepliableMatchesSpecLayout(t *testing.T) {
	rfc := fixture(t, "generated-rfc.dat")
	i2pd := fixture(t, "ed25519-x25519.dat")
	edSign := func(file, msg []byte) []byte {
		return ed25519.Sign(ed25519.NewKeyFromSeed(file[edSeedOff:edSeedOff+32]), msg)
	}
	hello := []byte("hello, i2p")
	tests := []struct {
		name    string
		file    string
		payload []byte
		want    []byte
	}{
		{"RFC 8032 TEST 1, empty payload", "generated-rfc.dat", nil, cat(rfc[:edDestLen], rfc8032Test1Sig)},
		{"RFC key, payload", "generated-rfc.dat", hello, cat(rfc[:edDestLen], edSign(rfc, hello), hello)},
		{"i2pd-written key", "ed25519-x25519.dat", hello, cat(i2pd[:edDestLen], edSign(i2pd, hello), hello)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := keys(t, tc.file)
			got, err := AppendRepliable([]byte{0xee}, k, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0xee || !bytes.Equal(got[1:], tc.want) {
				t.Fatalf("AppendRepliable:\n got %x\nwant %x", got[1:], tc.want)
			}
			from, p, err := ParseRepliable(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if from != k.Destination() || !bytes.Equal(p, tc.payload) {
				t.Fatalf("ParseRepliable = %s, %x; want %s, %x", from, p, k.Destination(), tc.payload)
			}
		})
	}
}

// TestParseRepliableNamesI2pdAddress: the sender is the destination i2pd
// showed for that key file.
func TestParseRepliableNamesI2pdAddress(t *testing.T) {
	b, err := AppendRepliable(nil, keys(t, "ed25519-x25519.dat"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	from, _, err := ParseRepliable(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "tbrnljk7kdtr2wkknd4rnqk7d2ujzqe7snvvubkqlprtg6ciyqla.b32.i2p"; from.B32() != want {
		t.Fatalf("from = %s, want %s (../data/testdata/i2pd/b32.txt)", from.B32(), want)
	}
}

func TestParseRepliableRejectsTampering(t *testing.T) {
	k := keys(t, "generated-rfc.dat")
	other := keys(t, "ed25519-x25519.dat")
	pl := []byte("attack at dawn")
	good, err := AppendRepliable(nil, k, pl)
	if err != nil {
		t.Fatal(err)
	}
	sigOff := edDestLen
	payOff := edDestLen + 64
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x01; return b }
	seed := fixture(t, "generated-rfc.dat")[edSeedOff : edSeedOff+32]
	hashed := sha256.Sum256(pl)
	tests := []struct {
		name string
		b    []byte
	}{
		{"signature first byte", flip(sigOff)},
		{"signature last byte", flip(payOff - 1)},
		{"payload first byte", flip(payOff)},
		{"payload last byte", flip(len(good) - 1)},
		{"payload extended", append(bytes.Clone(good), '!')},
		{"payload shortened", good[:len(good)-1]},
		{"signing key first byte", flip(data.KeyAreaLen - 32)},
		{"signing key last byte", flip(data.KeyAreaLen - 1)},
		{"another sender", cat(other.Destination().Bytes(), good[sigOff:])},
		// The DSA rule (sign SHA-256 of the payload) applied to Ed25519: i2pd
		// and the spec sign the payload itself for every type but DSA_SHA1.
		{"Ed25519 over SHA-256(payload)", cat(good[:sigOff], ed25519.Sign(ed25519.NewKeyFromSeed(seed), hashed[:]), pl)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, p, err := ParseRepliable(tc.b)
			if !errors.Is(err, ErrBadSignature) || !errors.Is(err, data.ErrBadSignature) {
				t.Fatalf("ParseRepliable = %s, %q, %v; want ErrBadSignature", from, p, err)
			}
			if !from.IsZero() || p != nil {
				t.Fatalf("returned %s, %q with an error", from, p)
			}
		})
	}
}

// TestSignatureDoesNotCoverDestinationPadding pins a property of the
// format (documented in the package doc): only the signing key of "from"
// is bound by the signature, so bytes of the encryption-key area and
// padding can change in transit, giving another sender hash.
func TestSignatureDoesNotCoverDestinationPadding(t *testing.T) {
	k := keys(t, "generated-rfc.dat")
	b, err := AppendRepliable(nil, k, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   int
		val  byte
	}{
		{"encryption key byte", 0, b[0] ^ 0xff},
		{"KEY certificate crypto type 4 to 0", edDestLen - 1, 0x00},
	} {
		mod := bytes.Clone(b)
		mod[tc.at] = tc.val
		from, p, err := ParseRepliable(mod)
		if err != nil {
			t.Fatalf("%s: ParseRepliable: %v", tc.name, err)
		}
		if from == k.Destination() || string(p) != "data" {
			t.Fatalf("%s: from = %s (signer %s), payload %q", tc.name, from, k.Destination(), p)
		}
	}
}

// TestRepliableEveryPrefixFails: a prefix that ends inside the destination
// or the signature is ErrTruncated; one that ends inside the payload has a
// complete structure and fails the signature. Nothing panics.
func TestRepliableEveryPrefixFails(t *testing.T) {
	for _, file := range []string{"generated-rfc.dat", "dsa.dat", "p256.dat"} {
		k := keys(t, file)
		dest := k.Destination()
		sig := bytes.Repeat([]byte{0x5a}, dest.SignatureLen())
		b := cat(dest.Bytes(), sig, []byte("payload"))
		if file == "generated-rfc.dat" {
			if b, _ = AppendRepliable(nil, k, []byte("payload")); b == nil {
				t.Fatal("AppendRepliable failed")
			}
		}
		overhead := RepliableOverhead(dest)
		for i := range len(b) {
			_, _, err := ParseRepliable(b[:i])
			switch {
			case i < overhead && !errors.Is(err, ErrTruncated):
				t.Fatalf("%s: prefix %d: err = %v, want ErrTruncated", file, i, err)
			case i >= overhead && file == "generated-rfc.dat" && !errors.Is(err, ErrBadSignature):
				t.Fatalf("%s: prefix %d: err = %v, want ErrBadSignature", file, i, err)
			case i >= overhead && file != "generated-rfc.dat" && !errors.Is(err, data.ErrUnsupportedSigType):
				t.Fatalf("%s: prefix %d: err = %v, want data.ErrUnsupportedSigType", file, i, err)
			}
		}
	}
}

// TestOtherSigningTypes: the layout follows the sender's signing type
// (DSA_SHA1: 387-byte destination + 40-byte signature, the spec's "427+
// bytes of overhead"; P-256: 391 + 64), but only Ed25519 can be verified
// or signed.
func TestOtherSigningTypes(t *testing.T) {
	tests := []struct {
		file            string
		destLen, sigLen int
	}{
		{"dsa.dat", 387, 40},
		{"p256.dat", 391, 64},
		{"p521.dat", 395, 132},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			k := keys(t, tc.file)
			dest := k.Destination()
			if got := RepliableOverhead(dest); got != tc.destLen+tc.sigLen {
				t.Fatalf("RepliableOverhead = %d, want %d", got, tc.destLen+tc.sigLen)
			}
			b := cat(dest.Bytes(), bytes.Repeat([]byte{1}, tc.sigLen), []byte("xyz"))
			from, sig, p, err := splitRepliable(b)
			if err != nil || from != dest || len(sig) != tc.sigLen || string(p) != "xyz" {
				t.Fatalf("splitRepliable = %s, %d-byte sig, %q, %v", from, len(sig), p, err)
			}
			if _, _, err := ParseRepliable(b); !errors.Is(err, data.ErrUnsupportedSigType) {
				t.Fatalf("ParseRepliable err = %v, want data.ErrUnsupportedSigType", err)
			}
			dst := []byte{9}
			got, err := AppendRepliable(dst, k, []byte("xyz"))
			if !errors.Is(err, data.ErrUnsupportedSigType) || !bytes.Equal(got, dst) {
				t.Fatalf("AppendRepliable = %x, %v; want dst unchanged, data.ErrUnsupportedSigType", got, err)
			}
		})
	}
}

func TestUnknownSigningTypeIsRefused(t *testing.T) {
	// A KEY certificate naming signing type 0x1234 (unassigned).
	dest := cat(make([]byte, data.KeyAreaLen), hx("05 0004 1234 0000"))
	_, _, err := ParseRepliable(cat(dest, make([]byte, 100)))
	if !errors.Is(err, data.ErrUnknownSigType) {
		t.Fatalf("err = %v, want data.ErrUnknownSigType", err)
	}
}

func TestSignedMessage(t *testing.T) {
	pl := []byte("payload")
	h := sha256.Sum256(pl)
	tests := []struct {
		sigType uint16
		want    []byte
	}{
		{data.SigTypeDSASHA1, h[:]},
		{data.SigTypeECDSASHA256P256, pl},
		{data.SigTypeEd25519, pl},
		{data.SigTypeEd25519ph, pl},
	}
	for _, tc := range tests {
		if got := signedMessage(tc.sigType, pl); !bytes.Equal(got, tc.want) {
			t.Errorf("signing type %d: signs %x, want %x", tc.sigType, got, tc.want)
		}
	}
}

func TestSizeLimits(t *testing.T) {
	k := keys(t, "generated-rfc.dat")
	overhead := RepliableOverhead(k.Destination())
	if overhead != 455 {
		t.Fatalf("Ed25519 overhead = %d, want 391 + 64", overhead)
	}
	fits, err := AppendRepliable(nil, k, make([]byte, MaxLen-overhead))
	if err != nil || len(fits) != MaxLen {
		t.Fatalf("largest repliable datagram: %d bytes, %v", len(fits), err)
	}
	if _, _, err := ParseRepliable(fits); err != nil {
		t.Fatalf("ParseRepliable(largest): %v", err)
	}
	dst := []byte{1, 2}
	got, err := AppendRepliable(dst, k, make([]byte, MaxLen-overhead+1))
	if !errors.Is(err, ErrTooLarge) || !bytes.Equal(got, dst) {
		t.Fatalf("one byte over: %x, %v; want dst unchanged, ErrTooLarge", got, err)
	}
	if _, _, err := ParseRepliable(append(bytes.Clone(fits), 0)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseRepliable(MaxLen+1): %v, want ErrTooLarge", err)
	}

	raw, err := AppendRaw(dst, make([]byte, MaxLen))
	if err != nil || len(raw) != MaxLen+len(dst) || !bytes.Equal(raw[:2], dst) {
		t.Fatalf("AppendRaw(MaxLen) = %d bytes, %v", len(raw), err)
	}
	if got, err := AppendRaw(dst, make([]byte, MaxLen+1)); !errors.Is(err, ErrTooLarge) || !bytes.Equal(got, dst) {
		t.Fatalf("AppendRaw(MaxLen+1) = %d bytes, %v", len(got), err)
	}
	if p, err := ParseRaw(raw[2:]); err != nil || len(p) != MaxLen {
		t.Fatalf("ParseRaw(MaxLen) = %d bytes, %v", len(p), err)
	}
	if _, err := ParseRaw(make([]byte, MaxLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseRaw(MaxLen+1): %v", err)
	}
	if p, err := ParseRaw(nil); err != nil || len(p) != 0 {
		t.Fatalf("ParseRaw(empty) = %x, %v", p, err)
	}
}

// badSigner lets tests break the Signer contract.
type badSigner struct {
	dest data.Destination
	sig  []byte
	err  error
}

func (s badSigner) Destination() data.Destination   { return s.dest }
func (s badSigner) Sign(msg []byte) ([]byte, error) { return s.sig, s.err }

func TestAppendRepliableChecksSigner(t *testing.T) {
	dest := keys(t, "generated-rfc.dat").Destination()
	boom := errors.New("boom")
	tests := []struct {
		name string
		s    badSigner
		want error
	}{
		{"no destination", badSigner{sig: make([]byte, 64)}, ErrInvalid},
		{"short signature", badSigner{dest: dest, sig: make([]byte, 63)}, ErrInvalid},
		{"long signature", badSigner{dest: dest, sig: make([]byte, 65)}, ErrInvalid},
		{"sign error", badSigner{dest: dest, err: boom}, boom},
	}
	for _, tc := range tests {
		dst := []byte{7}
		got, err := AppendRepliable(dst, tc.s, []byte("p"))
		if !errors.Is(err, tc.want) || !bytes.Equal(got, dst) {
			t.Errorf("%s: %x, %v; want dst unchanged, %v", tc.name, got, err, tc.want)
		}
	}
}

// TestRepliableThroughI2CPPayload runs the largest datagram through the
// I2CP payload codec with MaxLen as the decompression limit, as the
// destination layer does, at the two levels i2pd uses.
func TestRepliableThroughI2CPPayload(t *testing.T) {
	k := keys(t, "ed25519-x25519.dat")
	dg, err := AppendRepliable(nil, k, bytes.Repeat([]byte("udp "), (MaxLen-455)/4))
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []int{payload.LevelStored, payload.LevelDefault} {
		b, err := payload.Append(nil, payload.Payload{SrcPort: 7, DstPort: 9, Protocol: payload.ProtoDatagram, Data: dg}, level)
		if err != nil {
			t.Fatal(err)
		}
		p, err := payload.Parse(b, MaxLen)
		if err != nil {
			t.Fatalf("level %d: payload.Parse: %v", level, err)
		}
		from, pl, err := ParseRepliable(p.Data)
		if err != nil || from != k.Destination() || len(pl) != len(dg)-455 {
			t.Fatalf("level %d: ParseRepliable = %s, %d bytes, %v", level, from, len(pl), err)
		}
	}
}
