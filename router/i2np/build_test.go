package i2np

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestBuildRecordSizesMatchSpec(t *testing.T) {
	// tunnel-creation-ecies.rst: encrypted records are 528 / 218 bytes;
	// hash prefix + ephemeral key + cleartext + MAC fill them exactly.
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"long record", BuildRecordLen, 528},
		{"short record", ShortBuildRecordLen, 218},
		{"long request cleartext", BuildRequestRecordLen, 464},
		{"short request cleartext", ShortBuildRequestRecordLen, 154},
		{"long reply cleartext", BuildReplyRecordLen, 512},
		{"short reply cleartext", ShortBuildReplyRecordLen, 202},
		{"long request framing", RecordToPeerLen + RecordEphemeralKeyLen + BuildRequestRecordLen + RecordMACLen, BuildRecordLen},
		{"short request framing", RecordToPeerLen + RecordEphemeralKeyLen + ShortBuildRequestRecordLen + RecordMACLen, ShortBuildRecordLen},
		{"long reply framing", BuildReplyRecordLen + RecordMACLen, BuildRecordLen},
		{"short reply framing", ShortBuildReplyRecordLen + RecordMACLen, ShortBuildRecordLen},
		{"TunnelBuild", TunnelBuildLen, 4224},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// records returns n records of size sz, record i filled with byte 0xA0+i.
func records(n, sz int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, rep(0xA0+byte(i), sz)...)
	}
	return b
}

func TestTunnelBuildIsEightRecords(t *testing.T) {
	b := records(8, 528)
	tb := mustRoundTrip(t, ParseTunnelBuild, b, 4224)
	for i, r := range tb.Records {
		if r[0] != 0xA0+byte(i) || r[527] != 0xA0+byte(i) {
			t.Fatalf("record %d starts %x", i, r[0])
		}
	}
	allPrefixesTruncated(t, ParseTunnelBuild, b)
	tbr := mustRoundTrip(t, ParseTunnelBuildReply, b, 4224)
	if tbr.Records[7][0] != 0xA7 {
		t.Fatal("reply record 7")
	}
	allPrefixesTruncated(t, ParseTunnelBuildReply, b)
}

func TestVariableAndShortBuildCounts(t *testing.T) {
	vb := cat(hx("04"), records(4, 528))
	v := mustRoundTrip(t, ParseVariableTunnelBuild, vb, 1+4*528)
	if len(v.Records) != 4 || v.Records[3][0] != 0xA3 {
		t.Fatalf("%d records", len(v.Records))
	}
	allPrefixesTruncated(t, ParseVariableTunnelBuild, vb)
	vr := mustRoundTrip(t, ParseVariableTunnelBuildReply, vb, 1+4*528)
	if vr.Records[0][0] != 0xA0 {
		t.Fatal("VTBRM record 0")
	}
	allPrefixesTruncated(t, ParseVariableTunnelBuildReply, vb)

	// i2np.rst §"ShortTunnelBuild": "typical ... 4, for a total size of 873".
	sb := cat(hx("04"), records(4, 218))
	if len(sb) != 873 {
		t.Fatalf("4-record STBM is %d bytes", len(sb))
	}
	s := mustRoundTrip(t, ParseShortTunnelBuild, sb, 873)
	if len(s.Records) != 4 || s.Records[2][217] != 0xA2 {
		t.Fatal("STBM records")
	}
	allPrefixesTruncated(t, ParseShortTunnelBuild, sb)
	o := mustRoundTrip(t, ParseOutboundTunnelBuildReply, sb, 873)
	if o.Records[1][0] != 0xA1 {
		t.Fatal("OTBRM records")
	}
	allPrefixesTruncated(t, ParseOutboundTunnelBuildReply, sb)

	eight := cat(hx("08"), records(8, 218))
	mustRoundTrip(t, ParseShortTunnelBuild, eight, len(eight))

	for _, bad := range [][]byte{cat(hx("00")), cat(hx("09"), records(9, 218))} {
		if _, _, err := ParseShortTunnelBuild(bad); !errors.Is(err, ErrRecordCount) {
			t.Errorf("count %d: %v", bad[0], err)
		}
		if _, _, err := ParseVariableTunnelBuild(bad); !errors.Is(err, ErrRecordCount) {
			t.Errorf("VTBM count %d: %v", bad[0], err)
		}
	}
	if _, err := (ShortTunnelBuild{}).Append(nil); !errors.Is(err, ErrRecordCount) {
		t.Errorf("empty STBM append: %v", err)
	}
	if _, err := (VariableTunnelBuildReply{Records: make([]BuildRecord, 9)}).Append(nil); !errors.Is(err, ErrRecordCount) {
		t.Errorf("9-record VTBRM append: %v", err)
	}
}

func TestEncryptedRecordViews(t *testing.T) {
	var r ShortBuildRecord
	copy(r[:], seq(0, 218))
	if !bytes.Equal(r.ToPeer(), seq(0, 16)) || !bytes.Equal(r.EphemeralKey(), seq(16, 32)) || !bytes.Equal(r.Sealed(), seq(48, 170)) {
		t.Fatal("short record views")
	}
	r.ToPeer()[0] = 0xff
	if r[0] != 0xff {
		t.Fatal("ToPeer must be a view into the record")
	}
	var l BuildRecord
	copy(l[:], cat(seq(0, 255), seq(0, 255), seq(0, 18)))
	if !bytes.Equal(l.ToPeer(), seq(0, 16)) || !bytes.Equal(l.EphemeralKey(), seq(16, 32)) || len(l.Sealed()) != 464+16 || l.Sealed()[0] != 48 {
		t.Fatal("long record views")
	}
}

// tunnel-creation-ecies.rst §"Short Request Record Unencrypted", as i2pd's
// ShortECIESTunnelHopConfig::CreateBuildRequestRecord fills it for an OBEP.
var shortRequest = cat(
	hx("00000101"),       // 0-3 receive tunnel
	hx("00000202"),       // 4-7 next tunnel
	rep(0x5a, 32),        // 8-39 next ident
	hx("40"),             // 40 flags: OBEP
	hx("0000"),           // 41-42 more flags
	hx("00"),             // 43 layer encryption: AES
	hx("01bf7130"),       // 44-47 request time: 29323568 min (2025-10-02T14:08Z)
	hx("00000258"),       // 48-51 expiration 600 s
	hx("cafef00d"),       // 52-55 next message ID
	hx("0000"),           // 56-57 empty options Mapping
	make([]byte, 154-58), // 58-153 padding (i2pd: zeros)
)

func TestShortBuildRequestRecordFields(t *testing.T) {
	r := mustRoundTrip(t, ParseShortBuildRequestRecord, shortRequest, 154)
	if r.ReceiveTunnel != 0x101 || r.NextTunnel != 0x202 || r.NextIdent != hash(0x5a) ||
		r.Flags != BuildFlagEndpoint || !r.IsEndpoint() || r.IsGateway() || r.MoreFlags != [2]byte{} ||
		r.LayerEncryption != LayerEncryptionAES || r.RequestTime != 29323568 ||
		r.Expiration != DefaultRequestExpiration || r.SendMessageID != 0xcafef00d ||
		!bytes.Equal(r.Options, hx("0000")) || len(r.Padding) != 96 {
		t.Fatalf("%+v", r)
	}
	allPrefixesTruncated(t, ParseShortBuildRequestRecord, shortRequest)
	if RequestMinutes(time.Date(2025, 10, 2, 14, 8, 59, 0, time.UTC)) != 29323568 {
		t.Fatal("RequestMinutes must round down to whole minutes")
	}
	// Built from fields with nil options and padding: i2pd's bytes.
	built := ShortBuildRequestRecord{ReceiveTunnel: 0x101, NextTunnel: 0x202, NextIdent: hash(0x5a),
		Flags: BuildFlagEndpoint, RequestTime: 29323568, Expiration: 600, SendMessageID: 0xcafef00d}
	out, err := built.Append(nil)
	if err != nil || !bytes.Equal(out, shortRequest) {
		t.Fatalf("built record = %x, %v", out, err)
	}
}

func TestShortBuildRequestRecordOptions(t *testing.T) {
	// Mapping {"m": "5"}: size 6, String "m", '=', String "5", ';'.
	opts := hx("0006 016d 3d 0135 3b")
	b := cat(shortRequest[:56], opts, rep(0xee, 154-56-len(opts)))
	r := mustRoundTrip(t, ParseShortBuildRequestRecord, b, 154)
	if !bytes.Equal(r.Options, opts) || len(r.Padding) != 90 || r.Padding[0] != 0xee {
		t.Fatalf("options %x padding %d", r.Options, len(r.Padding))
	}
	// The largest Mapping fills the record (spec: at most 98 bytes with size).
	full := cat(shortRequest[:56], hx("0060"), rep('x', 96))
	r = mustRoundTrip(t, ParseShortBuildRequestRecord, full, 154)
	if len(r.Options) != 98 || len(r.Padding) != 0 {
		t.Fatalf("options %d padding %d", len(r.Options), len(r.Padding))
	}
	over := cat(shortRequest[:56], hx("0061"), rep('x', 96))
	if _, _, err := ParseShortBuildRequestRecord(over); !errors.Is(err, ErrMalformed) {
		t.Fatalf("99-byte Mapping: %v", err)
	}
	for name, rec := range map[string]ShortBuildRequestRecord{
		"unsized options":     {Options: hx("01")},
		"size mismatch":       {Options: hx("0003 0102")},
		"short padding":       {Padding: make([]byte, 95)},
		"padding with option": {Options: opts, Padding: make([]byte, 96)},
	} {
		if _, err := rec.Append(nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (ShortBuildRequestRecord{Options: cat(hx("0061"), rep('x', 97))}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("99-byte options: %v", err)
	}
}

// tunnel-creation-ecies.rst §"Request Record Unencrypted" (long, 464 bytes).
var longRequest = cat(
	hx("0000aaaa"),     // 0-3 receive tunnel
	hx("0000bbbb"),     // 4-7 next tunnel
	rep(0x01, 32),      // 8-39 next ident
	rep(0x02, 32),      // 40-71 layer key
	rep(0x03, 32),      // 72-103 IV key
	rep(0x04, 32),      // 104-135 reply key
	rep(0x05, 16),      // 136-151 reply IV
	hx("80"),           // 152 flags: IBGW
	hx("000000"),       // 153-155 more flags
	hx("01bf7130"),     // 156-159 request time, minutes
	hx("00000258"),     // 160-163 expiration 600
	hx("12345678"),     // 164-167 next message ID
	hx("0000"),         // 168-169 empty options
	rep(0x99, 464-170), // padding
)

func TestBuildRequestRecordFields(t *testing.T) {
	r := mustRoundTrip(t, ParseBuildRequestRecord, longRequest, 464)
	if r.ReceiveTunnel != 0xaaaa || r.NextTunnel != 0xbbbb || r.NextIdent != hash(1) ||
		r.LayerKey != [32]byte(rep(2, 32)) || r.IVKey != [32]byte(rep(3, 32)) || r.ReplyKey != [32]byte(rep(4, 32)) ||
		r.ReplyIV != [16]byte(rep(5, 16)) || !r.IsGateway() || r.IsEndpoint() || r.MoreFlags != [3]byte{} ||
		r.RequestTime != 29323568 || r.Expiration != 600 || r.SendMessageID != 0x12345678 ||
		!bytes.Equal(r.Options, hx("0000")) || len(r.Padding) != 294 || r.Padding[0] != 0x99 {
		t.Fatalf("%+v", r)
	}
	allPrefixesTruncated(t, ParseBuildRequestRecord, longRequest)
	// Largest Mapping: 296 bytes with its size.
	full := cat(longRequest[:168], hx("0126"), rep('y', 294))
	if r := mustRoundTrip(t, ParseBuildRequestRecord, full, 464); len(r.Options) != 296 || len(r.Padding) != 0 {
		t.Fatalf("options %d", len(r.Options))
	}
	over := cat(longRequest[:168], hx("0127"), rep('y', 294))
	if _, _, err := ParseBuildRequestRecord(over); !errors.Is(err, ErrMalformed) {
		t.Fatalf("297-byte Mapping: %v", err)
	}
}

func TestBuildReplyRecordFields(t *testing.T) {
	// §"Short Reply Record Unencrypted" as i2pd writes a rejection: empty
	// Mapping, padding, reply byte 30 at offset 201.
	short := cat(hx("0000"), rep(0x77, 199), hx("1e"))
	r := mustRoundTrip(t, ParseShortBuildReplyRecord, short, 202)
	if !bytes.Equal(r.Options, hx("0000")) || len(r.Padding) != 199 || r.Reply != ReplyRejectBandwidth {
		t.Fatalf("%+v", r)
	}
	allPrefixesTruncated(t, ParseShortBuildReplyRecord, short)
	out, err := (ShortBuildReplyRecord{Reply: ReplyAccept}).Append(nil)
	if err != nil || !bytes.Equal(out, make([]byte, 202)) {
		t.Fatalf("zero accept reply = %x, %v", out, err)
	}
	// §"Reply Record Unencrypted" (long): reply byte at 511; the Mapping
	// may take everything before it.
	long := cat(hx("01fd"), rep('z', 509), hx("00"))
	lr := mustRoundTrip(t, ParseBuildReplyRecord, long, 512)
	if len(lr.Options) != 511 || len(lr.Padding) != 0 || lr.Reply != ReplyAccept {
		t.Fatalf("options %d padding %d", len(lr.Options), len(lr.Padding))
	}
	allPrefixesTruncated(t, ParseBuildReplyRecord, long)
	if _, _, err := ParseBuildReplyRecord(cat(hx("01fe"), rep('z', 510))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Mapping over the reply byte: %v", err)
	}
}

func TestBuildRecordAppendKeepsBOnError(t *testing.T) {
	prefix := []byte{1, 2}
	for name, r := range map[string]codec{
		"long request, bad padding":   BuildRequestRecord{Padding: make([]byte, 1)},
		"short request, bad options":  ShortBuildRequestRecord{Options: hx("0005")},
		"long reply, unsized options": BuildReplyRecord{Options: hx("01")},
		"short reply, bad padding":    ShortBuildReplyRecord{Padding: make([]byte, 200)},
	} {
		out, err := r.Append(prefix)
		if !errors.Is(err, ErrInvalid) || !bytes.Equal(out, prefix) {
			t.Errorf("%s: out %x, err %v", name, out, err)
		}
	}
}
