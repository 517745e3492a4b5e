package netdb

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/data"
)

func hashes(ris []data.RouterInfo) map[data.Hash]bool {
	m := map[data.Hash]bool{}
	for _, ri := range ris {
		m[ri.Hash()] = true
	}
	return m
}

// TestLoadSeedDirTakesAnyTree reads i2pd's netDb folder, a router.info and
// a loose .dat, and reports (but survives) a bad file.
func TestLoadSeedDirTakesAnyTree(t *testing.T) {
	dir := t.TempDir()
	ri1, ri2 := newRouter(t, riOpts{}), newRouter(t, riOpts{})
	os.WriteFile(filepath.Join(dir, "router.info"), ri1.ri.Bytes(), 0o644)
	os.MkdirAll(filepath.Join(dir, "flat"), 0o755)
	os.WriteFile(filepath.Join(dir, "flat", "peer.dat"), ri2.ri.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "flat", "junk.dat"), []byte("not a RouterInfo"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("ignored"), 0o644)
	ris, err := LoadSeedDir(dir)
	if err == nil || !strings.Contains(err.Error(), "junk.dat") {
		t.Fatalf("error %v, want junk.dat reported", err)
	}
	got := hashes(ris)
	if len(ris) != 2 || !got[ri1.hash()] || !got[ri2.hash()] {
		t.Fatalf("loaded %d RouterInfos", len(ris))
	}
	ris, err = LoadSeedDir(i2pdNetDb)
	if err != nil || len(ris) != 3 {
		t.Fatalf("i2pd netDb as a seed dir: %d, %v", len(ris), err)
	}
}

// localHeaders walks a zip's local file headers the way i2pd 2.45 does
// (Reseeder::ProcessZIPStream) and returns, per entry, the flags, method,
// sizes and CRC it sees there.
type localHeader struct {
	flags, method            uint16
	crc, compSize, uncompLen uint32
	name                     string
}

func localHeaders(t *testing.T, b []byte) []localHeader {
	t.Helper()
	var out []localHeader
	for off := 0; off+30 <= len(b) && binary.LittleEndian.Uint32(b[off:]) == 0x04034b50; {
		h := localHeader{
			flags:     binary.LittleEndian.Uint16(b[off+6:]),
			method:    binary.LittleEndian.Uint16(b[off+8:]),
			crc:       binary.LittleEndian.Uint32(b[off+14:]),
			compSize:  binary.LittleEndian.Uint32(b[off+18:]),
			uncompLen: binary.LittleEndian.Uint32(b[off+22:]),
		}
		nameLen := int(binary.LittleEndian.Uint16(b[off+26:]))
		extraLen := int(binary.LittleEndian.Uint16(b[off+28:]))
		h.name = string(b[off+30 : off+30+nameLen])
		out = append(out, h)
		off += 30 + nameLen + extraLen + int(h.compSize)
	}
	return out
}

// TestWriteZipIsReadableByI2pd: every entry is stored, carries its CRC and
// sizes in the local header and has no data descriptor, so i2pd's
// local-header walk finds each RouterInfo; ReadZip gets them all back.
func TestWriteZipIsReadableByI2pd(t *testing.T) {
	var ris []data.RouterInfo
	for range 3 {
		ris = append(ris, newRouter(t, riOpts{}).ri)
	}
	var buf bytes.Buffer
	if err := WriteZip(&buf, ris); err != nil {
		t.Fatal(err)
	}
	hs := localHeaders(t, buf.Bytes())
	if len(hs) != len(ris) {
		t.Fatalf("walking local headers found %d entries, want %d", len(hs), len(ris))
	}
	for i, h := range hs {
		if h.flags&0x08 != 0 || h.method != zip.Store || int(h.compSize) != ris[i].Len() || h.uncompLen != h.compSize || h.crc == 0 {
			t.Errorf("entry %d local header %+v: want stored, sizes %d, CRC, no data descriptor", i, h, ris[i].Len())
		}
		if h.name != data.RouterInfoFileName(ris[i].Hash()) {
			t.Errorf("entry %d named %q", i, h.name)
		}
	}
	back, err := ReadZip(buf.Bytes())
	if err != nil || len(back) != 3 {
		t.Fatalf("ReadZip: %d, %v", len(back), err)
	}
	for i := range ris {
		if !bytes.Equal(back[i].Bytes(), ris[i].Bytes()) {
			t.Fatalf("entry %d changed", i)
		}
	}
}

// TestReadZipWithDataDescriptors reads the layout Go's and Java's zip
// writers produce (deflated, sizes after the data), which i2pd misreads.
func TestReadZipWithDataDescriptors(t *testing.T) {
	ri := newRouter(t, riOpts{})
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a.dat", "b.dat"} {
		w, err := zw.Create(name) // deflate + data descriptor
		if err != nil {
			t.Fatal(err)
		}
		w.Write(ri.ri.Bytes())
	}
	w, _ := zw.Create("bad.dat")
	w.Write([]byte("junk"))
	zw.Close()
	if hs := localHeaders(t, buf.Bytes()); len(hs) == 0 || hs[0].flags&0x08 == 0 {
		t.Fatal("test zip has no data descriptor; it tests nothing")
	}
	ris, err := ReadZip(buf.Bytes())
	if len(ris) != 2 || err == nil || !strings.Contains(err.Error(), "bad.dat") {
		t.Fatalf("ReadZip: %d RouterInfos, %v", len(ris), err)
	}
	if _, err := ReadZip([]byte("PK\x03\x04 not really")); !errors.Is(err, ErrFormat) {
		t.Fatalf("garbage zip: %v", err)
	}
}

// selfSigned writes a reseed-style certificate (self-signed, CN = signer
// ID) for key into dir.
func selfSigned(t *testing.T, dir, signer string, key crypto.Signer) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: signer, Organization: []string{"I2P Anonymous Network"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(signer, "@", "_at_") + ".crt"
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSU3SignedReseed: an su3 reseed file verifies against its signer's
// certificate and yields its RouterInfos; tampering, an unknown signer, a
// wrong key, a wrong content type and truncation are refused.
func TestSU3SignedReseed(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	selfSigned(t, certs, "rsa@mail.i2p", rsaKey)
	selfSigned(t, certs, "ed@mail.i2p", edKey)
	selfSigned(t, certs, "other@mail.i2p", otherKey)
	os.WriteFile(filepath.Join(certs, "README.txt"), []byte("not a cert"), 0o644)
	signers, err := LoadReseedSigners(certs)
	if err != nil || len(signers) != 3 {
		t.Fatalf("LoadReseedSigners: %d, %v", len(signers), err)
	}
	ris := []data.RouterInfo{newRouter(t, riOpts{}).ri, newRouter(t, riOpts{floodfill: true}).ri}
	var z bytes.Buffer
	if err := WriteZip(&z, ris); err != nil {
		t.Fatal(err)
	}
	version := "1767225600"
	tests := []struct {
		name    string
		signer  string
		key     crypto.Signer
		mutate  func([]byte) []byte
		signers ReseedSigners
		want    error
	}{
		{"rsa", "rsa@mail.i2p", rsaKey, nil, signers, nil},
		{"ed25519ph", "ed@mail.i2p", edKey, nil, signers, nil},
		{"unverified on request", "nobody@mail.i2p", rsaKey, nil, nil, nil},
		{"tampered content", "rsa@mail.i2p", rsaKey, func(b []byte) []byte { b[len(b)-300] ^= 1; return b }, signers, ErrSignature},
		{"tampered header", "rsa@mail.i2p", rsaKey, func(b []byte) []byte { b[45] ^= 1; return b }, signers, ErrSignature},
		{"unknown signer", "nobody@mail.i2p", rsaKey, nil, signers, ErrSignature},
		{"signer's name, other key", "other@mail.i2p", rsaKey, nil, signers, ErrSignature},
		{"not reseed content", "rsa@mail.i2p", rsaKey, func(b []byte) []byte { b[27] = 1; return b }, signers, ErrFormat},
		{"truncated", "rsa@mail.i2p", rsaKey, func(b []byte) []byte { return b[:len(b)-1] }, signers, ErrFormat},
		{"not su3", "rsa@mail.i2p", rsaKey, func(b []byte) []byte { b[0] = 'X'; return b }, signers, ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := WriteSU3(z.Bytes(), version, tc.signer, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				b = tc.mutate(b)
			}
			got, err := ReadSU3(b, tc.signers)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadSU3 error %v, want %v", err, tc.want)
			}
			if err == nil && (len(got) != 2 || !hashes(got)[ris[1].Hash()]) {
				t.Fatalf("ReadSU3 returned %d RouterInfos", len(got))
			}
		})
	}
	// Header fields as the spec lays them out.
	b, _ := WriteSU3(z.Bytes(), version, "rsa@mail.i2p", rsaKey)
	s, err := ParseSU3(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != version || s.Signer != "rsa@mail.i2p" || s.SigType != 4 || len(s.Signature) != 256 || !bytes.Equal(s.Content, z.Bytes()) || b[13] != 16 {
		t.Fatalf("parsed su3 %+v", s)
	}
}

// TestSU3RSA4096 is the type the reseed servers and i2pd use
// (RSA-SHA512-4096, signature type 6).
func TestSU3RSA4096(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-4096 key generation is slow; -short only, never in CI (make test does not pass -short)")
	}
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	WriteZip(&z, []data.RouterInfo{newRouter(t, riOpts{}).ri})
	b, err := WriteSU3(z.Bytes(), "1", "big@mail.i2p", key)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseSU3(b)
	if s.SigType != 6 || len(s.Signature) != 512 {
		t.Fatalf("sig type %d, %d-byte signature", s.SigType, len(s.Signature))
	}
	if _, err := ReadSU3(b, ReseedSigners{"big@mail.i2p": &key.PublicKey}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadI2pdReseedCertificates reads the reseed certificates Debian's
// i2pd ships: every one loads, keyed by its issuer CN as i2pd does.
func TestLoadI2pdReseedCertificates(t *testing.T) {
	const dir = "/usr/share/i2pd/certificates/reseed"
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v (i2pd must be installed in CI)", dir, err)
		}
		t.Skipf("%s: %v (i2pd not installed; a failure when CI=true)", dir, err)
	}
	signers, err := LoadReseedSigners(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.crt"))
	if len(signers) != len(entries) || len(signers) == 0 {
		t.Fatalf("%d signers from %d certificates", len(signers), len(entries))
	}
	for id, k := range signers {
		if !strings.Contains(id, "@") {
			t.Errorf("signer ID %q does not look like name@host", id)
		}
		if _, ok := k.(*rsa.PublicKey); !ok {
			t.Errorf("%s: %T key, reseed signers use RSA", id, k)
		}
	}
}

// TestReadReseedFileTellsKindsApart: su3, zip and a bare RouterInfo are
// recognised by content.
func TestReadReseedFileTellsKindsApart(t *testing.T) {
	dir := t.TempDir()
	r := newRouter(t, riOpts{})
	var z bytes.Buffer
	WriteZip(&z, []data.RouterInfo{r.ri})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	su3, err := WriteSU3(z.Bytes(), "1", "ed@mail.i2p", ed)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"seeds.su3": su3, "seeds.zip": z.Bytes(), "one.dat": r.ri.Bytes()}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		ris, err := ReadReseedFile(p, ReseedSigners{"ed@mail.i2p": ed.Public()})
		if err != nil || len(ris) != 1 || ris[0].Hash() != r.hash() {
			t.Errorf("%s: %d RouterInfos, %v", name, len(ris), err)
		}
	}
	if _, err := ReadReseedFile(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

// TestFetchReseed serves a signed i2pseeds.su3 over HTTPS the way reseed
// servers do and fetches it: the path, the netid query and the Wget
// User-Agent are what servers expect; a bad signature or an HTTP error
// fails.
func TestFetchReseed(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	ris := []data.RouterInfo{newRouter(t, riOpts{}).ri, newRouter(t, riOpts{}).ri}
	var z bytes.Buffer
	WriteZip(&z, ris)
	su3, err := WriteSU3(z.Bytes(), "1", "ed@mail.i2p", key)
	if err != nil {
		t.Fatal(err)
	}
	var gotUA, gotQuery string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/seeds/i2pseeds.su3" {
			http.NotFound(w, r)
			return
		}
		gotUA, gotQuery = r.UserAgent(), r.URL.RawQuery
		w.Write(su3)
	}))
	defer srv.Close()
	ctx := context.Background()
	good := ReseedSigners{"ed@mail.i2p": key.Public()}
	got, err := FetchReseed(ctx, srv.Client(), srv.URL+"/seeds", 99, good)
	if err != nil || len(got) != 2 {
		t.Fatalf("FetchReseed: %d, %v", len(got), err)
	}
	if gotUA != ReseedUserAgent || gotQuery != "netid=99" {
		t.Fatalf("request had User-Agent %q, query %q", gotUA, gotQuery)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := FetchReseed(ctx, srv.Client(), srv.URL+"/seeds/", 99, ReseedSigners{"ed@mail.i2p": other.Public()}); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := FetchReseed(ctx, srv.Client(), srv.URL+"/nothing/", 99, good); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: %v", err)
	}
	if _, err := FetchReseed(ctx, srv.Client(), srv.URL+"/seeds/", 99, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("no signers: %v", err)
	}
	if _, err := FetchReseed(ctx, srv.Client(), "ftp://x/", 99, good); !errors.Is(err, ErrConfig) {
		t.Fatalf("ftp URL: %v", err)
	}
}
