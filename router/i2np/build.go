package i2np

import "fmt"

// Build record sizes (i2np.rst §"BuildRequestRecord", tunnel-creation-ecies.rst
// §"Long Record Specification", §"Short Record Specification").
const (
	// BuildRecordLen is a long (ElGamal-era and ECIES) encrypted record,
	// as in TunnelBuild, VariableTunnelBuild and their replies.
	BuildRecordLen = 528
	// ShortBuildRecordLen is a short encrypted record, as in
	// ShortTunnelBuild and OutboundTunnelBuildReply.
	ShortBuildRecordLen = 218
	// TunnelBuildRecords is the fixed record count of TunnelBuild and
	// TunnelBuildReply.
	TunnelBuildRecords = 8
	// MaxBuildRecords is the largest record count of the variable-length
	// build messages (spec "Valid values: 1-8").
	MaxBuildRecords = 8
	// TunnelBuildLen is the TunnelBuild/TunnelBuildReply body length.
	TunnelBuildLen = TunnelBuildRecords * BuildRecordLen

	// RecordToPeerLen is the hash prefix that opens an encrypted request
	// record: the first 16 bytes of the hop's router hash.
	RecordToPeerLen = 16
	// RecordEphemeralKeyLen is the creator's X25519 ephemeral public key
	// that follows it in an ECIES request record (raw little-endian bytes,
	// not Elligator2-encoded).
	RecordEphemeralKeyLen = 32
	// RecordMACLen is the Poly1305 tag closing an ECIES record.
	RecordMACLen = 16
	// recordSealedOffset is where the AEAD ciphertext of a request begins.
	recordSealedOffset = RecordToPeerLen + RecordEphemeralKeyLen
)

// BuildRecord is one encrypted 528-byte record. As an ECIES request
// (tunnel-creation-ecies.rst §"Request Record Encrypted"):
//
//	bytes   0-15  hop's truncated identity hash (ToPeer)
//	bytes  16-47  sender's ephemeral X25519 public key (EphemeralKey)
//	bytes 48-511  ChaCha20 ciphertext of the 464-byte BuildRequestRecord
//	bytes 512-527 Poly1305 MAC                     (48-527: Sealed)
//
// As an ECIES reply the hop's own record is ChaCha20/Poly1305 of the
// 512-byte BuildReplyRecord plus the MAC; other records are AES-CBC layers.
// As a fake or not-yet-decrypted record it is opaque.
type BuildRecord [BuildRecordLen]byte

// ToPeer returns bytes 0-15, a view into r.
func (r *BuildRecord) ToPeer() []byte { return r[:RecordToPeerLen] }

// EphemeralKey returns bytes 16-47, a view into r.
func (r *BuildRecord) EphemeralKey() []byte { return r[RecordToPeerLen:recordSealedOffset] }

// Sealed returns bytes 48-527 (464-byte ciphertext + MAC), a view into r.
func (r *BuildRecord) Sealed() []byte { return r[recordSealedOffset:] }

// ShortBuildRecord is one encrypted 218-byte record. As a request
// (tunnel-creation-ecies.rst §"Short Request Record Encrypted"):
//
//	bytes   0-15  hop's truncated identity hash (ToPeer)
//	bytes  16-47  sender's ephemeral X25519 public key (EphemeralKey)
//	bytes 48-201  ChaCha20 ciphertext of the 154-byte ShortBuildRequestRecord
//	bytes 202-217 Poly1305 MAC                     (48-217: Sealed)
//
// As a reply (§"Short Reply Record Encrypted") the hop's own record is
// ChaCha20/Poly1305 of the 202-byte ShortBuildReplyRecord plus the MAC,
// with nonce = record index; every other record gets a raw ChaCha20 layer
// (counter 1, iv[4] = record index).
type ShortBuildRecord [ShortBuildRecordLen]byte

// ToPeer returns bytes 0-15, a view into r.
func (r *ShortBuildRecord) ToPeer() []byte { return r[:RecordToPeerLen] }

// EphemeralKey returns bytes 16-47, a view into r.
func (r *ShortBuildRecord) EphemeralKey() []byte {
	return r[RecordToPeerLen:recordSealedOffset]
}

// Sealed returns bytes 48-217 (154-byte ciphertext + MAC), a view into r.
func (r *ShortBuildRecord) Sealed() []byte { return r[recordSealedOffset:] }

// TunnelBuild (type 21) is 8 long records and nothing else (i2np.rst
// §"TunnelBuild"): 8 × 528 = 4224 bytes. Deprecated; i2pd 2.45 refuses it
// ("too old for ECIES router") but it must still parse.
type TunnelBuild struct {
	Records [TunnelBuildRecords]BuildRecord
}

// TunnelBuildReply (type 22) has TunnelBuild's layout with reply records
// (i2np.rst §"TunnelBuildReply"). i2pd 2.45 ignores it.
type TunnelBuildReply struct {
	Records [TunnelBuildRecords]BuildRecord
}

func parseFixedRecords(b []byte, what string) ([TunnelBuildRecords]BuildRecord, int, error) {
	var rs [TunnelBuildRecords]BuildRecord
	if len(b) < TunnelBuildLen {
		return rs, 0, fmt.Errorf("%w: %s needs %d bytes, have %d", ErrTruncated, what, TunnelBuildLen, len(b))
	}
	for i := range rs {
		copy(rs[i][:], b[i*BuildRecordLen:])
	}
	return rs, TunnelBuildLen, nil
}

func appendFixedRecords(b []byte, rs *[TunnelBuildRecords]BuildRecord) []byte {
	for i := range rs {
		b = append(b, rs[i][:]...)
	}
	return b
}

// ParseTunnelBuild reads a TunnelBuild body from the start of b.
func ParseTunnelBuild(b []byte) (TunnelBuild, int, error) {
	rs, n, err := parseFixedRecords(b, "TunnelBuild")
	return TunnelBuild{Records: rs}, n, err
}

// Type is TypeTunnelBuild.
func (t TunnelBuild) Type() Type { return TypeTunnelBuild }

// Len is TunnelBuildLen.
func (t TunnelBuild) Len() int { return TunnelBuildLen }

// Append appends the 8 records to b.
func (t TunnelBuild) Append(b []byte) ([]byte, error) {
	return appendFixedRecords(b, &t.Records), nil
}

// ParseTunnelBuildReply reads a TunnelBuildReply body from the start of b.
func ParseTunnelBuildReply(b []byte) (TunnelBuildReply, int, error) {
	rs, n, err := parseFixedRecords(b, "TunnelBuildReply")
	return TunnelBuildReply{Records: rs}, n, err
}

// Type is TypeTunnelBuildReply.
func (t TunnelBuildReply) Type() Type { return TypeTunnelBuildReply }

// Len is TunnelBuildLen.
func (t TunnelBuildReply) Len() int { return TunnelBuildLen }

// Append appends the 8 records to b.
func (t TunnelBuildReply) Append(b []byte) ([]byte, error) {
	return appendFixedRecords(b, &t.Records), nil
}

// VariableTunnelBuild (type 23) is a count and that many long records
// (i2np.rst §"VariableTunnelBuild"):
//
//	offset size       field
//	0      1          num: 1-8
//	1      num × 528  records
//
// i2pd 2.45 sends it (with ECIES long records) only when a hop or its own
// destination cannot take short records; it accepts it as a hop.
type VariableTunnelBuild struct {
	Records []BuildRecord
}

// VariableTunnelBuildReply (type 24) has VariableTunnelBuild's layout with
// reply records (i2np.rst §"VariableTunnelBuildReply"); an OBEP that got a
// VariableTunnelBuild sends it.
type VariableTunnelBuildReply struct {
	Records []BuildRecord
}

// ShortTunnelBuild (type 25) is a count and that many short records
// (i2np.rst §"ShortTunnelBuild", proposal 157):
//
//	offset size       field
//	0      1          num: 1-8
//	1      num × 218  records
type ShortTunnelBuild struct {
	Records []ShortBuildRecord
}

// OutboundTunnelBuildReply (type 26) has ShortTunnelBuild's layout with
// short reply records (i2np.rst §"OutboundTunnelBuildReply"); the OBEP of a
// short build sends it, garlic-wrapped, to the creator.
type OutboundTunnelBuildReply struct {
	Records []ShortBuildRecord
}

func checkCount(n int, what string) error {
	if n < 1 || n > MaxBuildRecords {
		return fmt.Errorf("%w: %s with %d records, want 1-%d", ErrRecordCount, what, n, MaxBuildRecords)
	}
	return nil
}

func parseRecords(b []byte, what string) ([]BuildRecord, int, error) {
	if len(b) < 1 {
		return nil, 0, fmt.Errorf("%w: %s record count missing", ErrTruncated, what)
	}
	num := int(b[0])
	if err := checkCount(num, what); err != nil {
		return nil, 0, err
	}
	if len(b)-1 < num*BuildRecordLen {
		return nil, 0, fmt.Errorf("%w: %s of %d records needs %d bytes, have %d", ErrTruncated, what, num, num*BuildRecordLen, len(b)-1)
	}
	rs := make([]BuildRecord, num)
	for i := range rs {
		copy(rs[i][:], b[1+i*BuildRecordLen:])
	}
	return rs, 1 + num*BuildRecordLen, nil
}

func appendRecords(b []byte, rs []BuildRecord, what string) ([]byte, error) {
	if err := checkCount(len(rs), what); err != nil {
		return b, err
	}
	b = append(b, byte(len(rs)))
	for i := range rs {
		b = append(b, rs[i][:]...)
	}
	return b, nil
}

func parseShortRecords(b []byte, what string) ([]ShortBuildRecord, int, error) {
	if len(b) < 1 {
		return nil, 0, fmt.Errorf("%w: %s record count missing", ErrTruncated, what)
	}
	num := int(b[0])
	if err := checkCount(num, what); err != nil {
		return nil, 0, err
	}
	if len(b)-1 < num*ShortBuildRecordLen {
		return nil, 0, fmt.Errorf("%w: %s of %d records needs %d bytes, have %d", ErrTruncated, what, num, num*ShortBuildRecordLen, len(b)-1)
	}
	rs := make([]ShortBuildRecord, num)
	for i := range rs {
		copy(rs[i][:], b[1+i*ShortBuildRecordLen:])
	}
	return rs, 1 + num*ShortBuildRecordLen, nil
}

func appendShortRecords(b []byte, rs []ShortBuildRecord, what string) ([]byte, error) {
	if err := checkCount(len(rs), what); err != nil {
		return b, err
	}
	b = append(b, byte(len(rs)))
	for i := range rs {
		b = append(b, rs[i][:]...)
	}
	return b, nil
}

// ParseVariableTunnelBuild reads a VariableTunnelBuild body from the start
// of b.
func ParseVariableTunnelBuild(b []byte) (VariableTunnelBuild, int, error) {
	rs, n, err := parseRecords(b, "VariableTunnelBuild")
	return VariableTunnelBuild{Records: rs}, n, err
}

// Type is TypeVariableTunnelBuild.
func (t VariableTunnelBuild) Type() Type { return TypeVariableTunnelBuild }

// Len is 1 + 528 × len(Records).
func (t VariableTunnelBuild) Len() int { return 1 + len(t.Records)*BuildRecordLen }

// Append appends the count and records to b (1-8 records).
func (t VariableTunnelBuild) Append(b []byte) ([]byte, error) {
	return appendRecords(b, t.Records, "VariableTunnelBuild")
}

// ParseVariableTunnelBuildReply reads a VariableTunnelBuildReply body from
// the start of b.
func ParseVariableTunnelBuildReply(b []byte) (VariableTunnelBuildReply, int, error) {
	rs, n, err := parseRecords(b, "VariableTunnelBuildReply")
	return VariableTunnelBuildReply{Records: rs}, n, err
}

// Type is TypeVariableTunnelBuildReply.
func (t VariableTunnelBuildReply) Type() Type { return TypeVariableTunnelBuildReply }

// Len is 1 + 528 × len(Records).
func (t VariableTunnelBuildReply) Len() int { return 1 + len(t.Records)*BuildRecordLen }

// Append appends the count and records to b (1-8 records).
func (t VariableTunnelBuildReply) Append(b []byte) ([]byte, error) {
	return appendRecords(b, t.Records, "VariableTunnelBuildReply")
}

// ParseShortTunnelBuild reads a ShortTunnelBuild body from the start of b.
func ParseShortTunnelBuild(b []byte) (ShortTunnelBuild, int, error) {
	rs, n, err := parseShortRecords(b, "ShortTunnelBuild")
	return ShortTunnelBuild{Records: rs}, n, err
}

// Type is TypeShortTunnelBuild.
func (t ShortTunnelBuild) Type() Type { return TypeShortTunnelBuild }

// Len is 1 + 218 × len(Records).
func (t ShortTunnelBuild) Len() int { return 1 + len(t.Records)*ShortBuildRecordLen }

// Append appends the count and records to b (1-8 records).
func (t ShortTunnelBuild) Append(b []byte) ([]byte, error) {
	return appendShortRecords(b, t.Records, "ShortTunnelBuild")
}

// ParseOutboundTunnelBuildReply reads an OutboundTunnelBuildReply body from
// the start of b.
func ParseOutboundTunnelBuildReply(b []byte) (OutboundTunnelBuildReply, int, error) {
	rs, n, err := parseShortRecords(b, "OutboundTunnelBuildReply")
	return OutboundTunnelBuildReply{Records: rs}, n, err
}

// Type is TypeOutboundTunnelBuildReply.
func (t OutboundTunnelBuildReply) Type() Type { return TypeOutboundTunnelBuildReply }

// Len is 1 + 218 × len(Records).
func (t OutboundTunnelBuildReply) Len() int {
	return 1 + len(t.Records)*ShortBuildRecordLen
}

// Append appends the count and records to b (1-8 records).
func (t OutboundTunnelBuildReply) Append(b []byte) ([]byte, error) {
	return appendShortRecords(b, t.Records, "OutboundTunnelBuildReply")
}
