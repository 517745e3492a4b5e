package netdb

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"i2pbridge/router/data"
)

// Bootstrap sources. A router that knows nobody starts from RouterInfos
// handed to it out of band (network-database.html §"Bootstrapping",
// reseed.html): loose files (a directory such as another router's netDb),
// a zip of them (i2pd reseed.zipfile) or a signed su3 file (what reseed
// servers serve as i2pseeds.su3, updates.rst §"SU3 Reseed File
// Specification").

// maxSeedFile bounds one RouterInfo file read from a seed directory or
// archive (i2pd's RouterInfo buffer).
const maxSeedFile = data.MaxRouterInfoLen

// maxReseedFile bounds a zip or su3 file read into memory.
const maxReseedFile = 64 << 20

// LoadSeedDir reads every RouterInfo file under dir, recursively: files
// named routerInfo-*.dat (an i2pd or Java netDb, or a flat folder of them),
// any other *.dat, and router.info (a router's own file). As i2pd does,
// content counts, not names. Files that do not parse or verify are skipped
// and reported in the joined error; ris holds the good ones.
func LoadSeedDir(dir string) (ris []data.RouterInfo, err error) {
	var errs []error
	werr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || !(strings.HasSuffix(name, ".dat") || name == "router.info") {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > maxSeedFile {
			errs = append(errs, fmt.Errorf("netdb: seed %s: too large or unreadable", path))
			return nil
		}
		ri, err := readRouterInfoFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("netdb: seed %s: %w", path, err))
			return nil
		}
		ris = append(ris, ri)
		return nil
	})
	if werr != nil {
		errs = append(errs, werr)
	}
	return ris, errors.Join(errs...)
}

// ReadZip reads the RouterInfos of a reseed zip. The central directory is
// trusted, not the local headers, so archives with data descriptors (sizes
// after the data, as Go's and Java's writers make them) and without (as
// i2pd expects) both work. Entries that are not valid RouterInfos are
// skipped and reported in the joined error.
func ReadZip(b []byte) ([]data.RouterInfo, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: zip: %w", ErrFormat, err)
	}
	var ris []data.RouterInfo
	var errs []error
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if f.UncompressedSize64 > maxSeedFile {
			errs = append(errs, fmt.Errorf("netdb: zip entry %s: %d bytes", f.Name, f.UncompressedSize64))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			errs = append(errs, fmt.Errorf("netdb: zip entry %s: %w", f.Name, err))
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(rc, maxSeedFile+1))
		rc.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("netdb: zip entry %s: %w", f.Name, err))
			continue
		}
		ri, err := ParseRouterInfo(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("netdb: zip entry %s: %w", f.Name, err))
			continue
		}
		ris = append(ris, ri)
	}
	return ris, errors.Join(errs...)
}

// WriteZip writes RouterInfos as a reseed zip that i2pd 2.45 can read
// (reseed.zipfile). i2pd's reader (Reseeder::ProcessZIPStream) walks the
// local headers and takes sizes from them; for an entry with a data
// descriptor it scans for the descriptor and then reads 4 bytes too many,
// so it misreads every following entry. Go's zip writer normally emits
// data descriptors; here each entry is written raw, stored, with CRC and
// sizes in its local header and no descriptor.
func WriteZip(w io.Writer, ris []data.RouterInfo) error {
	zw := zip.NewWriter(w)
	for _, ri := range ris {
		b := ri.Bytes()
		fh := &zip.FileHeader{
			Name:               data.RouterInfoFileName(ri.Hash()),
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(b),
			CompressedSize64:   uint64(len(b)),
			UncompressedSize64: uint64(len(b)),
		}
		fw, err := zw.CreateRaw(fh)
		if err != nil {
			return fmt.Errorf("netdb: zip: %w", err)
		}
		if _, err := fw.Write(b); err != nil {
			return fmt.Errorf("netdb: zip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("netdb: zip: %w", err)
	}
	return nil
}

// su3 constants (updates.rst §"SU3 File Specification").
const (
	su3Magic          = "I2Psu3"
	su3HeaderLen      = 40
	su3FileTypeZip    = 0x00
	su3ContentReseed  = 0x03
	su3MinVersionLen  = 16
	su3SigECDSAP256   = 1
	su3SigECDSAP384   = 2
	su3SigECDSAP521   = 3
	su3SigRSA2048     = 4
	su3SigRSA3072     = 5
	su3SigRSA4096     = 6
	su3SigEd25519ph   = 8
	su3VersionOffset  = 40
	su3ContentLenOffs = 16
)

// SU3 is a parsed su3 file.
//
//	offset  size  field
//	0       6     magic "I2Psu3"
//	6       1     unused (0)
//	7       1     file format version (0)
//	8       2     signature type
//	10      2     signature length
//	12      1     unused
//	13      1     version length (≥ 16)
//	14      1     unused
//	15      1     signer ID length
//	16      8     content length
//	24      1     unused
//	25      1     file type (0 zip)
//	26      1     unused
//	27      1     content type (3 reseed)
//	28      12    unused
//	40      v     version (UTF-8, zero padded)
//	40+v    s     signer ID (UTF-8)
//	…       c     content
//	…       sig   signature over every byte before it
type SU3 struct {
	SigType     uint16
	Version     string
	Signer      string
	FileType    uint8
	ContentType uint8
	Content     []byte // aliases the input
	Signed      []byte // header through content: what the signature covers
	Signature   []byte
}

// ParseSU3 parses an su3 file without verifying it.
func ParseSU3(b []byte) (SU3, error) {
	if len(b) < su3HeaderLen || string(b[:6]) != su3Magic {
		return SU3{}, fmt.Errorf("%w: not an su3 file", ErrFormat)
	}
	if b[7] != 0 {
		return SU3{}, fmt.Errorf("%w: su3 format version %d", ErrFormat, b[7])
	}
	s := SU3{
		SigType:     binary.BigEndian.Uint16(b[8:]),
		FileType:    b[25],
		ContentType: b[27],
	}
	sigLen := int(binary.BigEndian.Uint16(b[10:]))
	verLen, signerLen := int(b[13]), int(b[15])
	contentLen := binary.BigEndian.Uint64(b[su3ContentLenOffs:])
	if verLen < su3MinVersionLen {
		return SU3{}, fmt.Errorf("%w: su3 version length %d", ErrFormat, verLen)
	}
	off := su3VersionOffset
	end := uint64(off) + uint64(verLen) + uint64(signerLen) + contentLen + uint64(sigLen)
	if contentLen > uint64(len(b)) || end != uint64(len(b)) {
		return SU3{}, fmt.Errorf("%w: su3 lengths add up to %d, file has %d bytes", ErrFormat, end, len(b))
	}
	s.Version = strings.TrimRight(string(b[off:off+verLen]), "\x00")
	off += verLen
	s.Signer = string(b[off : off+signerLen])
	off += signerLen
	s.Content = b[off : off+int(contentLen)]
	off += int(contentLen)
	s.Signed = b[:off]
	s.Signature = b[off:]
	return s, nil
}

// Verify checks the signature with the signer's public key: the hash
// implied by the signature type over Signed, then a raw signature check
// ("NONEwithRSA": PKCS#1 v1.5 padding around the bare digest, no
// DigestInfo), ECDSA r‖s, or Ed25519ph. Reseed servers sign with RSA-4096
// and SHA-512 (type 6), the only type i2pd 2.45 verifies.
func (s SU3) Verify(pub crypto.PublicKey) error {
	var h crypto.Hash
	switch s.SigType {
	case su3SigECDSAP256, su3SigRSA2048:
		h = crypto.SHA256
	case su3SigECDSAP384, su3SigRSA3072:
		h = crypto.SHA384
	case su3SigECDSAP521, su3SigRSA4096, su3SigEd25519ph:
		h = crypto.SHA512
	default:
		return fmt.Errorf("%w: unsupported su3 signature type %d", ErrSignature, s.SigType)
	}
	d := h.New()
	d.Write(s.Signed)
	digest := d.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if s.SigType < su3SigRSA2048 || s.SigType > su3SigRSA4096 {
			return fmt.Errorf("%w: RSA key for signature type %d", ErrSignature, s.SigType)
		}
		// Java pads short signatures with leading zeros; so does this.
		if err := rsa.VerifyPKCS1v15(k, 0, digest, s.Signature); err != nil {
			return fmt.Errorf("%w: signer %s: %w", ErrSignature, s.Signer, err)
		}
	case *ecdsa.PublicKey:
		if s.SigType < su3SigECDSAP256 || s.SigType > su3SigECDSAP521 || len(s.Signature)%2 != 0 {
			return fmt.Errorf("%w: ECDSA key for signature type %d", ErrSignature, s.SigType)
		}
		half := len(s.Signature) / 2
		r, ss := new(big.Int).SetBytes(s.Signature[:half]), new(big.Int).SetBytes(s.Signature[half:])
		if !ecdsa.Verify(k, digest, r, ss) {
			return fmt.Errorf("%w: signer %s", ErrSignature, s.Signer)
		}
	case ed25519.PublicKey:
		if s.SigType != su3SigEd25519ph {
			return fmt.Errorf("%w: Ed25519 key for signature type %d", ErrSignature, s.SigType)
		}
		if err := ed25519.VerifyWithOptions(k, digest, s.Signature, &ed25519.Options{Hash: crypto.SHA512}); err != nil {
			return fmt.Errorf("%w: signer %s: %w", ErrSignature, s.Signer, err)
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrSignature, pub)
	}
	return nil
}

// ReseedSigners maps su3 signer IDs ("name@mail.i2p") to their keys.
type ReseedSigners map[string]crypto.PublicKey

// LoadReseedSigners reads the *.crt PEM certificates of a directory such as
// i2pd's certificates/reseed. As i2pd does (Reseeder::LoadCertificate),
// the signer ID is the certificate's issuer CN; reseed certificates are
// self-signed, so it is also the subject CN.
func LoadReseedSigners(dir string) (ReseedSigners, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed certificates: %w", err)
	}
	out := ReseedSigners{}
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".crt") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			errs = append(errs, fmt.Errorf("netdb: %s: no PEM certificate", e.Name()))
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("netdb: %s: %w", e.Name(), err))
			continue
		}
		id := cert.Issuer.CommonName
		if id == "" {
			id = cert.Subject.CommonName
		}
		if id == "" {
			errs = append(errs, fmt.Errorf("netdb: %s: no CN", e.Name()))
			continue
		}
		out[id] = cert.PublicKey
	}
	return out, errors.Join(errs...)
}

// ReadSU3 verifies a reseed su3 file against signers and returns its
// RouterInfos. A nil signers map skips verification, which only a private
// test network should do (i2pd's reseed.verify=false).
func ReadSU3(b []byte, signers ReseedSigners) ([]data.RouterInfo, error) {
	s, err := ParseSU3(b)
	if err != nil {
		return nil, err
	}
	if s.FileType != su3FileTypeZip || s.ContentType != su3ContentReseed {
		return nil, fmt.Errorf("%w: su3 file type %d, content type %d; want a reseed zip (0, 3)", ErrFormat, s.FileType, s.ContentType)
	}
	if signers != nil {
		pub, ok := signers[s.Signer]
		if !ok {
			return nil, fmt.Errorf("%w: unknown signer %q", ErrSignature, s.Signer)
		}
		if err := s.Verify(pub); err != nil {
			return nil, err
		}
	}
	return ReadZip(s.Content)
}

// ReadReseedFile reads a bootstrap file of any kind, told apart by
// content: an su3 file (verified against signers, see ReadSU3), a zip, or a
// single RouterInfo.
func ReadReseedFile(path string, signers ReseedSigners) ([]data.RouterInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReseedFile+1))
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed %s: %w", path, err)
	}
	if len(b) > maxReseedFile {
		return nil, fmt.Errorf("netdb: reseed %s: larger than %d bytes", path, maxReseedFile)
	}
	var ris []data.RouterInfo
	switch {
	case bytes.HasPrefix(b, []byte(su3Magic)):
		ris, err = ReadSU3(b, signers)
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		ris, err = ReadZip(b)
	default:
		var ri data.RouterInfo
		ri, err = ParseRouterInfo(b)
		if err == nil {
			ris = append(ris, ri)
		}
	}
	if err != nil {
		err = fmt.Errorf("netdb: reseed %s: %w", path, err)
	}
	return ris, err
}

// WriteSU3 builds a reseed su3 file around a zip, signed with RSA (type 4,
// 5 or 6 by key size, SHA-256/384/512) or Ed25519ph (type 8). It exists
// for tests and for operators of private networks who run their own
// reseed; version is the su3 version string (seconds since the epoch for
// reseed files).
func WriteSU3(zipContent []byte, version, signer string, key crypto.Signer) ([]byte, error) {
	var sigType uint16
	var h crypto.Hash
	var sigLen int
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		sigLen = k.Size()
		switch {
		case sigLen >= 512:
			sigType, h = su3SigRSA4096, crypto.SHA512
		case sigLen >= 384:
			sigType, h = su3SigRSA3072, crypto.SHA384
		default:
			sigType, h = su3SigRSA2048, crypto.SHA256
		}
	case ed25519.PublicKey:
		sigType, h, sigLen = su3SigEd25519ph, crypto.SHA512, ed25519.SignatureSize
	default:
		return nil, fmt.Errorf("%w: su3 signing key %T", ErrConfig, k)
	}
	ver := []byte(version)
	for len(ver) < su3MinVersionLen {
		ver = append(ver, 0)
	}
	if len(ver) > 255 || len(signer) > 255 {
		return nil, fmt.Errorf("%w: su3 version or signer too long", ErrConfig)
	}
	b := make([]byte, su3HeaderLen, su3HeaderLen+len(ver)+len(signer)+len(zipContent)+sigLen)
	copy(b, su3Magic)
	binary.BigEndian.PutUint16(b[8:], sigType)
	binary.BigEndian.PutUint16(b[10:], uint16(sigLen))
	b[13] = byte(len(ver))
	b[15] = byte(len(signer))
	binary.BigEndian.PutUint64(b[su3ContentLenOffs:], uint64(len(zipContent)))
	b[25] = su3FileTypeZip
	b[27] = su3ContentReseed
	b = append(b, ver...)
	b = append(b, signer...)
	b = append(b, zipContent...)
	var digest []byte
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(b)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(b)
		digest = d[:]
	default:
		d := sha512.Sum512(b)
		digest = d[:]
	}
	var opts crypto.SignerOpts = crypto.Hash(0) // raw PKCS#1 v1.5 over the bare digest
	if sigType == su3SigEd25519ph {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	sig, err := key.Sign(nil, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("netdb: su3 sign: %w", err)
	}
	if len(sig) != sigLen {
		return nil, fmt.Errorf("netdb: su3 sign: %d-byte signature, want %d", len(sig), sigLen)
	}
	return append(b, sig...), nil
}

// ReseedUserAgent is the User-Agent reseed servers expect: they serve only
// clients that look like Java I2P's and i2pd's downloader.
const ReseedUserAgent = "Wget/1.11.4"

// FetchReseed downloads i2pseeds.su3 from a reseed server, checks it
// against signers and returns its RouterInfos (reseed.html; updates.rst
// §"SU3 Reseed File Specification"). baseURL is the server's directory
// ("https://host/"); the request carries "?netid=N" as the spec asks since
// 0.9.42. Trust comes from the su3 signature, not from TLS: signers must be
// non-nil. client nil means http.DefaultClient.
func FetchReseed(ctx context.Context, client *http.Client, baseURL string, netID int, signers ReseedSigners) ([]data.RouterInfo, error) {
	if signers == nil {
		return nil, fmt.Errorf("%w: reseed from %s without signer certificates", ErrConfig, baseURL)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: reseed URL %q", ErrConfig, baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.Path += "i2pseeds.su3"
	u.RawQuery = url.Values{"netid": {strconv.Itoa(netID)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed: %w", err)
	}
	req.Header.Set("User-Agent", ReseedUserAgent)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("netdb: reseed %s: HTTP %s", u.Host, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReseedFile+1))
	if err != nil {
		return nil, fmt.Errorf("netdb: reseed %s: %w", u.Host, err)
	}
	if len(b) > maxReseedFile {
		return nil, fmt.Errorf("netdb: reseed %s: more than %d bytes", u.Host, maxReseedFile)
	}
	ris, err := ReadSU3(b, signers)
	if err != nil && len(ris) == 0 {
		return nil, fmt.Errorf("netdb: reseed %s: %w", u.Host, err)
	}
	return ris, nil
}
