package sam

import (
	"fmt"
	"strconv"
	"strings"

	"i2pbridge/router/data"
	"i2pbridge/router/tunnel/pool"
)

// version is a SAM protocol version, "3.1" = {3, 1}.
type version struct{ major, minor int }

// The versions this server speaks: 3.0 to 3.3. PRIMARY (3.2: MASTER)
// sessions are not tied to 3.3: i2pd 2.45 speaks 3.1 and has them, so its
// clients may use them after agreeing on 3.1.
var (
	minVersion = version{3, 0}
	maxVersion = version{3, 3}
	v32        = version{3, 2}
)

// parseVersion reads "3.1", or "3" (= 3.0, allowed since SAM 3.1).
func parseVersion(s string) (version, error) {
	maj, mnr, hasMinor := strings.Cut(s, ".")
	a, err := strconv.Atoi(maj)
	if err != nil || a < 0 || maj == "" || maj[0] == '+' {
		return version{}, fmt.Errorf("bad version %q", s)
	}
	b := 0
	if hasMinor {
		if b, err = strconv.Atoi(mnr); err != nil || b < 0 || mnr[0] == '+' {
			return version{}, fmt.Errorf("bad version %q", s)
		}
	}
	return version{a, b}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v version) less(o version) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

// hasPorts: SAM 3.2 added FROM_PORT/TO_PORT to the lines the bridge
// writes (accepted streams, received datagrams).
func (v version) hasPorts() bool { return !v.less(v32) }

// negotiate picks the highest version both sides speak (samv3.html "SAM
// Connection Handshake": the highest possible within MIN and MAX, the
// current version without constraints). ok is false for NOVERSION.
func negotiate(minS, maxS string, hasMin, hasMax bool) (v version, ok bool, err error) {
	lo, hi := minVersion, maxVersion
	if hasMin {
		m, err := parseVersion(minS)
		if err != nil {
			return version{}, false, fmt.Errorf("MIN: %w", err)
		}
		if lo.less(m) {
			lo = m
		}
	}
	if hasMax {
		m, err := parseVersion(maxS)
		if err != nil {
			return version{}, false, fmt.Errorf("MAX: %w", err)
		}
		// MAX=3 (a single digit, allowed since 3.1) means any 3.x.
		if !strings.Contains(maxS, ".") {
			m.minor = int(^uint(0) >> 1)
		}
		if m.less(hi) {
			hi = m
		}
	}
	if hi.less(lo) {
		return version{}, false, nil
	}
	return hi, true, nil
}

// sigTypeNames are the SIGNATURE_TYPE names of common-structures.rst
// "Key Certificates" (matched case-insensitively, as samv3.html asks).
var sigTypeNames = map[string]uint16{
	"DSA_SHA1":               data.SigTypeDSASHA1,
	"ECDSA_SHA256_P256":      data.SigTypeECDSASHA256P256,
	"ECDSA_SHA384_P384":      data.SigTypeECDSASHA384P384,
	"ECDSA_SHA512_P521":      data.SigTypeECDSASHA512P521,
	"RSA_SHA256_2048":        data.SigTypeRSASHA2562048,
	"RSA_SHA384_3072":        data.SigTypeRSASHA3843072,
	"RSA_SHA512_4096":        data.SigTypeRSASHA5124096,
	"EDDSA_SHA512_ED25519":   data.SigTypeEd25519,
	"EDDSA_SHA512_ED25519PH": data.SigTypeEd25519ph,
	"REDDSA_SHA512_ED25519":  data.SigTypeRedDSA,
}

// checkSignatureType accepts SIGNATURE_TYPE when it names Ed25519, the only
// type our destinations sign with. Absent means Ed25519 too: the spec's
// default, DSA_SHA1, is refused by today's routers for new destinations
// anyway.
func checkSignatureType(l Line) error {
	v, ok := l.Get("SIGNATURE_TYPE")
	if !ok {
		return nil
	}
	t, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		n, known := sigTypeNames[strings.ToUpper(v)]
		if !known {
			return fmt.Errorf("unknown SIGNATURE_TYPE %q", v)
		}
		t = uint64(n)
	}
	if t != data.SigTypeEd25519 {
		name := "unknown"
		if info, ok := data.SigningTypeInfo(uint16(t)); ok {
			name = info.Name
		}
		return fmt.Errorf("SIGNATURE_TYPE %s (%d, %s) is not supported: only EdDSA_SHA512_Ed25519 (7)", v, t, name)
	}
	return nil
}

// checkCryptoType accepts CRYPTO_TYPE (i2pd's extension) when absent or
// X25519, the only destination crypto type we generate.
func checkCryptoType(l Line) error {
	v, ok := l.Get("CRYPTO_TYPE")
	if !ok || v == "4" {
		return nil
	}
	return fmt.Errorf("CRYPTO_TYPE %q is not supported: only ECIES_X25519 (4)", v)
}

// parseBool reads a SAM boolean ("true"/"false", any case); absent or
// empty is def.
func parseBool(l Line, key string, def bool) (bool, error) {
	v, ok := l.Get(key)
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: want true or false", key, v)
}

// parseInt reads an integer option within [lo, hi]; absent or empty is
// def.
func parseInt(l Line, key string, lo, hi, def int) (int, error) {
	v, ok := l.Get(key)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a number from %d to %d", key, v, lo, hi)
	}
	return n, nil
}

// poolOptions reads the I2CP tunnel options of SESSION CREATE
// (i2cp.html "Options": inbound.length, .quantity, .lengthVariance and
// the same for outbound). Zero fields take the router's client defaults.
// A length of 0 becomes 1: the router builds no zero-hop tunnels, and one
// more hop only adds anonymity. Options we do not know are left alone, as
// routers ignore them.
func poolOptions(l Line) (in, out pool.DirConfig, err error) {
	for _, dir := range []struct {
		name string
		d    *pool.DirConfig
	}{{"inbound", &in}, {"outbound", &out}} {
		if dir.d.Length, err = parseInt(l, dir.name+".length", 0, pool.MaxLength, 0); err != nil {
			return in, out, err
		}
		if _, set := l.Get(dir.name + ".length"); set && dir.d.Length < pool.MinLength {
			dir.d.Length = pool.MinLength
		}
		if dir.d.Quantity, err = parseInt(l, dir.name+".quantity", 1, pool.MaxQuantity, 0); err != nil {
			return in, out, err
		}
		if dir.d.Variance, err = parseInt(l, dir.name+".lengthVariance", -pool.MaxLength, pool.MaxLength, 0); err != nil {
			return in, out, err
		}
	}
	return in, out, nil
}

// parseAddress reads DESTINATION= of STREAM CONNECT, DATAGRAM SEND and the
// UDP header: a base64 Destination, a .b32.i2p name or, through lookup, a
// host name. It returns the destination when the text holds one, else the
// hash to look up.
func parseAddress(s string) (dest data.Destination, hash data.Hash, err error) {
	if strings.HasSuffix(strings.ToLower(s), data.B32Suffix) {
		h, err := data.ParseB32(s)
		return data.Destination{}, h, err
	}
	d, err := data.ParseDestinationBase64(s)
	if err != nil {
		return data.Destination{}, data.Hash{}, err
	}
	return d, d.Hash(), nil
}
