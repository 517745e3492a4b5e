package i2np

import (
	"bytes"
	"errors"
	"testing"

	"i2pbridge/router/data"
)

func hash(c byte) data.Hash {
	var h data.Hash
	for i := range h {
		h[i] = c
	}
	return h
}

// i2np.rst §"DatabaseStore", the "with reply token" drawing: a RouterInfo
// store as i2pd's CreateDatabaseStoreMsg writes it when publishing.
var dsmRouterInfo = cat(
	rep(0x11, 32),    // key
	hx("00"),         // type: RouterInfo
	hx("0000002a"),   // reply token 42
	hx("00000000"),   // reply tunnel 0: reply directly
	rep(0x22, 32),    // reply gateway
	hx("0005"),       // size of the compressed RouterInfo
	hx("1f8b080000"), // 5 opaque "gzip" bytes (the codec does not inflate)
)

// The "with reply token == 0" drawing, LeaseSet2: the data runs to the end.
var dsmLeaseSet2 = cat(
	rep(0x33, 32),  // key
	hx("03"),       // type: LeaseSet2
	hx("00000000"), // reply token 0, no reply fields
	seq(0x40, 20),  // raw LeaseSet2 bytes
)

func TestDatabaseStoreRouterInfoFields(t *testing.T) {
	d := mustRoundTrip(t, ParseDatabaseStore, dsmRouterInfo, len(dsmRouterInfo))
	if d.Key != hash(0x11) || d.StoreType != StoreRouterInfo || !d.IsRouterInfo() ||
		d.ReplyToken != 42 || d.ReplyTunnel != 0 || d.ReplyGateway != hash(0x22) ||
		!bytes.Equal(d.Data, hx("1f8b080000")) {
		t.Fatalf("%+v", d)
	}
	allPrefixesTruncated(t, ParseDatabaseStore, dsmRouterInfo)
}

func TestDatabaseStoreRouterInfoEndsAfterItsSize(t *testing.T) {
	b := cat(dsmRouterInfo, hx("99"))
	mustRoundTrip(t, ParseDatabaseStore, b, len(dsmRouterInfo))
	if _, err := ParseBody(TypeDatabaseStore, b); !errors.Is(err, ErrTrailingBytes) {
		t.Fatalf("ParseBody with a trailing byte: %v", err)
	}
}

func TestDatabaseStoreLeaseSet2Fields(t *testing.T) {
	d := mustRoundTrip(t, ParseDatabaseStore, dsmLeaseSet2, len(dsmLeaseSet2))
	if d.Key != hash(0x33) || d.StoreType != StoreLeaseSet2 || d.IsRouterInfo() ||
		d.ReplyToken != 0 || !bytes.Equal(d.Data, seq(0x40, 20)) {
		t.Fatalf("%+v", d)
	}
	// The header (key, type, token) must be complete; after it every
	// length is a valid, shorter LeaseSet. Inside a Message the size field
	// catches the truncation.
	prefixesTruncated(t, ParseDatabaseStore, dsmLeaseSet2, 37)
	msg, err := (Message{Type: TypeDatabaseStore, ID: 1, Payload: dsmLeaseSet2}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	allPrefixesTruncated(t, ParseMessage, msg)
}

func TestDatabaseStoreWithTokenAndLeaseSet(t *testing.T) {
	// As i2pd publishes a LeaseSet: token, reply tunnel, gateway, raw LS2.
	b := cat(rep(0x33, 32), hx("03"), hx("01020304"), hx("00000abc"), rep(0x44, 32), seq(0, 7))
	d := mustRoundTrip(t, ParseDatabaseStore, b, len(b))
	if d.ReplyToken != 0x01020304 || d.ReplyTunnel != 0xabc || d.ReplyGateway != hash(0x44) || !bytes.Equal(d.Data, seq(0, 7)) {
		t.Fatalf("%+v", d)
	}
	prefixesTruncated(t, ParseDatabaseStore, b, 37+36)
}

func TestDatabaseStoreTypeByteFollowsI2pd(t *testing.T) {
	// Spec: bits 7-4 ignored, so 0x10 would be a RouterInfo. i2pd: any
	// nonzero byte is a LeaseSet variant whose bytes run to the end.
	b := cat(rep(0x55, 32), hx("10"), hx("00000000"), hx("0005 0102"))
	d := mustRoundTrip(t, ParseDatabaseStore, b, len(b))
	if d.IsRouterInfo() || d.StoreType != 0x10 || !bytes.Equal(d.Data, hx("0005 0102")) {
		t.Fatalf("%+v", d)
	}
}

func TestDatabaseStoreAppendRefusesUnencodable(t *testing.T) {
	for name, d := range map[string]DatabaseStore{
		"gateway without token": {StoreType: StoreLeaseSet2, ReplyGateway: hash(1)},
		"tunnel without token":  {StoreType: StoreLeaseSet2, ReplyTunnel: 5},
	} {
		if _, err := d.Append(nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	big := DatabaseStore{Data: make([]byte, 0x10000)}
	if _, err := big.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("RouterInfo over 65535 bytes: %v", err)
	}
}

func TestRouterInfoGzipJavaHeader(t *testing.T) {
	ri := bytes.Repeat([]byte("router info bytes "), 40)
	gz, err := CompressRouterInfo(ri)
	if err != nil {
		t.Fatal(err)
	}
	// i2np.rst §"DatabaseStore" notes: 1F 8B 08 00 00 00 00 00 02 FF.
	if want := hx("1f8b08 00 00000000 02 ff"); !bytes.Equal(gz[:10], want) {
		t.Fatalf("gzip header %x, want %x", gz[:10], want)
	}
	back, err := DecompressRouterInfo(gz)
	if err != nil || !bytes.Equal(back, ri) {
		t.Fatalf("decompress: %v", err)
	}
}

func TestDecompressRouterInfoLimits(t *testing.T) {
	// i2pd accepts uncompressed sizes below 3072 only.
	gz, _ := CompressRouterInfo(make([]byte, MaxRouterInfoLen-1))
	if _, err := DecompressRouterInfo(gz); err != nil {
		t.Fatalf("3071 bytes: %v", err)
	}
	gz, _ = CompressRouterInfo(make([]byte, MaxRouterInfoLen))
	if _, err := DecompressRouterInfo(gz); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3072 bytes: %v", err)
	}
	if _, err := DecompressRouterInfo(make([]byte, MaxRouterInfoLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("compressed over 3072: %v", err)
	}
	for name, in := range map[string][]byte{
		"not gzip": hx("0102030405060708090a0b0c"),
		"empty":    nil,
	} {
		if _, err := DecompressRouterInfo(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	gz, _ = CompressRouterInfo(ri(60))
	if _, err := DecompressRouterInfo(gz[:len(gz)-6]); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut stream: %v", err)
	}
}

func ri(n int) []byte { return bytes.Repeat([]byte{'r'}, n) }

func TestDatabaseLookupVariants(t *testing.T) {
	tests := []struct {
		name  string
		b     []byte
		check func(t *testing.T, d DatabaseLookup)
	}{{
		// i2pd CreateRouterInfoDatabaseLookupMsg, direct reply.
		name: "RI lookup, direct",
		b: cat(rep(0x01, 32), rep(0x02, 32),
			hx("08"),   // flags: RI lookup
			hx("0000"), // no excluded peers
		),
		check: func(t *testing.T, d DatabaseLookup) {
			if d.Key != hash(1) || d.From != hash(2) || d.Flags != 0x08 || d.LookupType() != LookupRouterInfo ||
				d.ReplyTunnel != 0 || d.Exclude != nil || d.Encrypted() {
				t.Fatalf("%+v", d)
			}
		},
	}, {
		// i2pd CreateLeaseSetDatabaseLookupMsg with replyECIES: flags
		// delivery | LS | ECIES, reply tunnel, excluded floodfills, key,
		// one 8-byte tag.
		name: "LS lookup, ECIES reply",
		b: cat(rep(0x03, 32), rep(0x04, 32),
			hx("15"),                     // flags 0x01|0x04|0x10
			hx("0badcafe"),               // reply tunnel
			hx("0002"),                   // 2 excluded
			rep(0x05, 32), rep(0x06, 32), // excluded hashes
			rep(0x07, 32),          // reply key
			hx("01"),               // 1 tag
			hx("a1a2a3a4a5a6a7a8"), // 8-byte tag
		),
		check: func(t *testing.T, d DatabaseLookup) {
			if d.LookupType() != LookupLeaseSet || d.ReplyTunnel != 0x0badcafe || len(d.Exclude) != 2 ||
				d.Exclude[0] != hash(5) || d.Exclude[1] != hash(6) || d.ReplyKey != [32]byte(rep(7, 32)) ||
				len(d.ReplyTags) != 1 || d.ReplyTags[0] != SessionTag(hx("a1a2a3a4a5a6a7a8")) || d.ElGamalReplyTags != nil {
				t.Fatalf("%+v", d)
			}
		},
	}, {
		// The same from i2pd without replyECIES: 32-byte ElGamal tag.
		name: "LS lookup, ElGamal reply",
		b: cat(rep(0x03, 32), rep(0x04, 32), hx("07"), hx("00000001"), hx("0000"),
			rep(0x07, 32), hx("01"), rep(0x08, 32)),
		check: func(t *testing.T, d DatabaseLookup) {
			if len(d.ElGamalReplyTags) != 1 || d.ElGamalReplyTags[0] != [32]byte(rep(8, 32)) || d.ReplyTags != nil {
				t.Fatalf("%+v", d)
			}
		},
	}, {
		// Bits 4 and 1 ("TBD" in the spec): i2pd reads 8-byte tags.
		name: "both encryption bits",
		b:    cat(rep(0x03, 32), rep(0x04, 32), hx("12"), hx("0000"), rep(0x07, 32), hx("02"), seq(0, 16)),
		check: func(t *testing.T, d DatabaseLookup) {
			if len(d.ReplyTags) != 2 || d.ReplyTags[1] != SessionTag(seq(8, 8)) {
				t.Fatalf("%+v", d)
			}
		},
	}, {
		// flags 0xfd: reserved bits 7-5, ECIES, exploratory, delivery.
		name: "exploratory, reserved bits kept, zero tags",
		b:    cat(rep(0x09, 32), rep(0x0a, 32), hx("fd"), hx("00000002"), hx("0000"), rep(0x0b, 32), hx("00")),
		check: func(t *testing.T, d DatabaseLookup) {
			if d.Flags != 0xfd || d.LookupType() != LookupExploratory || d.ReplyTunnel != 2 || d.ReplyKey != [32]byte(rep(0x0b, 32)) || d.ReplyTags != nil {
				t.Fatalf("%+v", d)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustRoundTrip(t, ParseDatabaseLookup, tc.b, len(tc.b))
			tc.check(t, d)
			allPrefixesTruncated(t, ParseDatabaseLookup, tc.b)
		})
	}
}

func TestDatabaseLookupExcludeLimit(t *testing.T) {
	b := cat(rep(1, 32), rep(2, 32), hx("08"), hx("0201"), make([]byte, 513*32))
	if _, _, err := ParseDatabaseLookup(b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("513 excluded: %v", err)
	}
	b = cat(rep(1, 32), rep(2, 32), hx("08"), hx("0200"), make([]byte, 512*32))
	d := mustRoundTrip(t, ParseDatabaseLookup, b, len(b))
	if len(d.Exclude) != MaxExcludedPeers {
		t.Fatalf("%d excluded", len(d.Exclude))
	}
	d.Exclude = append(d.Exclude, data.Hash{})
	if _, err := d.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("append 513: %v", err)
	}
}

func TestDatabaseLookupAppendRefusesInconsistentFlags(t *testing.T) {
	for name, d := range map[string]DatabaseLookup{
		"tunnel without delivery flag": {Flags: LookupLeaseSet, ReplyTunnel: 3},
		"key without encryption flag":  {ReplyKey: [32]byte{1}},
		"tags without encryption flag": {ReplyTags: []SessionTag{{1}}},
		"ElGamal tags with ECIES flag": {Flags: LookupECIES, ElGamalReplyTags: [][32]byte{{1}}},
		"ECIES tags with ElGamal flag": {Flags: LookupEncryption, ReplyTags: []SessionTag{{1}}},
	} {
		if _, err := d.Append(nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	many := DatabaseLookup{Flags: LookupECIES, ReplyTags: make([]SessionTag, 256)}
	if _, err := many.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("256 tags: %v", err)
	}
}

// i2np.rst §"DatabaseSearchReply", as i2pd's CreateDatabaseSearchReply
// writes it: key, num, peers, our hash.
var dsrm = cat(rep(0x0c, 32), hx("03"), rep(0x0d, 32), rep(0x0e, 32), rep(0x0f, 32), rep(0x10, 32))

func TestDatabaseSearchReplyFields(t *testing.T) {
	d := mustRoundTrip(t, ParseDatabaseSearchReply, dsrm, len(dsrm))
	if d.Key != hash(0x0c) || len(d.Peers) != 3 || d.Peers[0] != hash(0x0d) || d.Peers[2] != hash(0x0f) || d.From != hash(0x10) {
		t.Fatalf("%+v", d)
	}
	allPrefixesTruncated(t, ParseDatabaseSearchReply, dsrm)
	empty := cat(rep(1, 32), hx("00"), rep(2, 32))
	d = mustRoundTrip(t, ParseDatabaseSearchReply, empty, len(empty))
	if d.Peers != nil || d.From != hash(2) {
		t.Fatalf("%+v", d)
	}
	if _, err := (DatabaseSearchReply{Peers: make([]data.Hash, 256)}).Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("256 peers: %v", err)
	}
}
