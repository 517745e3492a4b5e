package tunnel

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// The oracles in this file are independent of the code under test:
// flynn/noise v1.1.0 for the Noise N message, its handshake hash and (via
// Split) the chaining key; golang.org/x/crypto/hkdf for the short record
// key chain, called directly with RFC 5869's (secret, salt, info) order;
// x/crypto's chacha20poly1305 and chacha20 for the reply records. The
// formulas are those of tunnel-creation-ecies.rst §"KDF" and §"Record
// Encryption" and of i2pd 2.45's TunnelConfig.cpp / I2NPProtocol.cpp.

// flynnN runs the Noise N initiator of flynn/noise for hop key rs with
// ephemeral private key e: the message (sepk ‖ ciphertext ‖ MAC), h, and
// the two Split keys, which are HKDF(ck, "", "", 64).
func flynnN(t *testing.T, rs [32]byte, e [32]byte, plaintext []byte) (msg []byte, h []byte, split [2][32]byte) {
	t.Helper()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256),
		Pattern:     noise.HandshakeN, Initiator: true,
		PeerStatic: rs[:], Random: bytes.NewReader(e[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, c1, c2, err := hs.WriteMessage(nil, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return msg, hs.ChannelBinding(), [2][32]byte{c1.UnsafeKey(), c2.UnsafeKey()}
}

// oracleHKDF is HKDF-SHA256(salt = ck, ikm = empty, info = label) split
// into (new ck, key).
func oracleHKDF(t *testing.T, ck [32]byte, label string) (next, key [32]byte) {
	t.Helper()
	var out [64]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, nil, ck[:], []byte(label)), out[:]); err != nil {
		t.Fatal(err)
	}
	copy(next[:], out[:32])
	copy(key[:], out[32:])
	return next, key
}

// oracleShortKeys is the §"KDF" chain, spelled out per role.
func oracleShortKeys(t *testing.T, ck [32]byte, role Role) HopKeys {
	var k HopKeys
	ck, k.Reply = oracleHKDF(t, ck, "SMTunnelReplyKey")
	ck, k.Layer = oracleHKDF(t, ck, "SMTunnelLayerKey")
	if role != RoleEndpoint {
		k.IV = ck // "IV key for non-OBEP record: ivKey = keydata[0:31] because it's last"
		return k
	}
	ck, k.IV = oracleHKDF(t, ck, "TunnelLayerIVKey")
	ck, k.GarlicKey = oracleHKDF(t, ck, "RGarlicKeyAndTag")
	copy(k.GarlicTag[:], ck[:8]) // "garlicReplyTag = keydata[0:7]"
	return k
}

func oracleNonce(idx int) []byte {
	n := make([]byte, 12)
	n[4] = byte(idx) // i2pd: nonce[4] = index
	return n
}

func shortRequest(r io.Reader, role Role, next data.Hash) i2np.ShortBuildRequestRecord {
	return i2np.ShortBuildRequestRecord{
		ReceiveTunnel: i2np.TunnelID(0x01020304), NextTunnel: i2np.TunnelID(0x05060708), NextIdent: next,
		Flags: flagsOf(role), RequestTime: i2np.RequestMinutes(testNow), Expiration: 600, SendMessageID: 0x0a0b0c0d,
	}
}

// Every role and every record position: the sealed request equals
// flynn's N message, both sides derive the oracle's keys, and the hop's
// reply equals the oracle's AEAD (own record) and ChaCha20 (others).
func TestShortRecordsAgreeWithOraclesInEveryPosition(t *testing.T) {
	r := testRand(1)
	for _, role := range []Role{RoleParticipant, RoleGateway, RoleEndpoint} {
		for idx := range MaxRecords {
			t.Run(fmt.Sprintf("%v/index %d", role, idx), func(t *testing.T) {
				hop := newTestHop(r)
				var next data.Hash
				r.Read(next[:])
				e, _ := crypto.GenerateX25519(r)
				req := shortRequest(r, role, next)
				rec, creator, err := sealShortRecordWith(&e, hop.peer(), req)
				if err != nil {
					t.Fatal(err)
				}
				pt, _ := req.Append(nil)
				msg, h, split := flynnN(t, hop.keys.Public, e.Private, pt)
				if !bytes.Equal(rec[:16], hop.hash[:16]) || !bytes.Equal(rec[16:], msg) {
					t.Fatalf("record\n got %x\nwant %x ‖ %x", rec[:], hop.hash[:16], msg)
				}
				if !bytes.Equal(creator.H[:], h) {
					t.Fatalf("h = %x, flynn %x", creator.H, h)
				}
				if a, b := crypto.HKDF64(creator.CK[:], nil, ""); a != split[0] || b != split[1] {
					t.Fatal("ck does not Split into flynn's transport keys")
				}
				if want := oracleShortKeys(t, creator.CK, role); creator.Keys != want {
					t.Fatalf("creator keys\n got %+v\nwant %+v", creator.Keys, want)
				}

				// The hop's view.
				o := NewRecordOpener(hop.keys, hop.hash)
				if !o.IsOurs(rec.ToPeer()) {
					t.Fatal("hop does not recognise its record")
				}
				got, hopSecrets, err := o.OpenShort(&rec)
				if err != nil {
					t.Fatal(err)
				}
				if hopSecrets != creator {
					t.Fatal("hop and creator secrets differ")
				}
				if got.ReceiveTunnel != req.ReceiveTunnel || got.NextIdent != next || got.Flags != req.Flags || got.SendMessageID != req.SendMessageID {
					t.Fatalf("decrypted request %+v", got)
				}

				// The reply, in a message of MaxRecords records with ours at idx.
				recs := make([]i2np.ShortBuildRecord, MaxRecords)
				for i := range recs {
					r.Read(recs[i][:])
				}
				recs[idx] = rec
				before := append([]i2np.ShortBuildRecord(nil), recs...)
				if err := SealShortReply(recs, idx, i2np.ReplyAccept, &hopSecrets); err != nil {
					t.Fatal(err)
				}
				aead, _ := chacha20poly1305.New(hopSecrets.Keys.Reply[:])
				reply := make([]byte, 202) // empty Mapping 00 00, zero padding, code 0 at byte 201
				want := aead.Seal(nil, oracleNonce(idx), reply, h)
				if !bytes.Equal(recs[idx][:], want) {
					t.Fatalf("own reply\n got %x\nwant %x", recs[idx][:], want)
				}
				for j := range recs {
					if j == idx {
						continue
					}
					c, _ := chacha20.NewUnauthenticatedCipher(hopSecrets.Keys.Reply[:], oracleNonce(j))
					c.SetCounter(1)
					w := make([]byte, 218)
					c.XORKeyStream(w, before[j][:])
					if !bytes.Equal(recs[j][:], w) {
						t.Fatalf("record %d after reply layer\n got %x\nwant %x", j, recs[j][:], w)
					}
				}
				code, err := openShortReply(&recs[idx], idx, &creator)
				if err != nil || code != i2np.ReplyAccept {
					t.Fatalf("creator opens reply: code %d, %v", code, err)
				}
			})
		}
	}
}

// Long records: the N part agrees with flynn; the own reply is AEAD under
// ck with n = 0 (tunnel-creation-ecies.rst §"Reply Record Encryption": "k =
// chainkey from build request"; i2pd uses noiseState.m_CK, the 32 bytes
// after MixKey), the others AES-256-CBC(replyKey, replyIV), each record
// with the same IV.
func TestLongRecordsAgreeWithOracles(t *testing.T) {
	r := testRand(2)
	for idx := range MaxRecords {
		hop := newTestHop(r)
		e, _ := crypto.GenerateX25519(r)
		req := i2np.BuildRequestRecord{
			ReceiveTunnel: 7, NextTunnel: 9, Flags: i2np.BuildFlagGateway, RequestTime: i2np.RequestMinutes(testNow),
			Expiration: 600, SendMessageID: 11,
		}
		r.Read(req.NextIdent[:])
		r.Read(req.LayerKey[:])
		r.Read(req.IVKey[:])
		r.Read(req.ReplyKey[:])
		r.Read(req.ReplyIV[:])
		rec, creator, err := sealLongRecordWith(&e, hop.peer(), req)
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := req.Append(nil)
		msg, h, split := flynnN(t, hop.keys.Public, e.Private, pt)
		if !bytes.Equal(rec[16:], msg) || !bytes.Equal(creator.H[:], h) {
			t.Fatalf("index %d: long record differs from flynn's N message", idx)
		}
		if a, b := crypto.HKDF64(creator.CK[:], nil, ""); a != split[0] || b != split[1] {
			t.Fatal("ck does not Split into flynn's transport keys")
		}
		o := NewRecordOpener(hop.keys, hop.hash)
		got, s, err := o.OpenLong(&rec)
		if err != nil || s != creator || got.LayerKey != req.LayerKey || got.ReplyIV != req.ReplyIV {
			t.Fatalf("index %d: OpenLong: %v", idx, err)
		}
		recs := make([]i2np.BuildRecord, MaxRecords)
		for i := range recs {
			r.Read(recs[i][:])
		}
		recs[idx] = rec
		before := append([]i2np.BuildRecord(nil), recs...)
		if err := SealLongReply(recs, idx, i2np.ReplyRejectBandwidth, &s); err != nil {
			t.Fatal(err)
		}
		aead, _ := chacha20poly1305.New(creator.CK[:])
		reply := make([]byte, 512)
		reply[511] = 30
		if want := aead.Seal(nil, make([]byte, 12), reply, h); !bytes.Equal(recs[idx][:], want) {
			t.Fatalf("index %d: own long reply differs from the oracle", idx)
		}
		for j := range recs {
			if j == idx {
				continue
			}
			w := make([]byte, 528)
			if _, err := crypto.AESCBCEncrypt(&req.ReplyKey, req.ReplyIV, w, before[j][:]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(recs[j][:], w) {
				t.Fatalf("index %d: record %d after the CBC reply layer differs", idx, j)
			}
		}
		if code, err := openLongReply(&recs[idx], &creator); err != nil || code != 30 {
			t.Fatalf("index %d: long reply code %d, %v", idx, code, err)
		}
	}
}

// A fixed record, byte for byte: the regression anchor for the whole
// short-record path (hash prefix, key, ciphertext), checked against the
// flynn/noise oracle at the same inputs.
func TestShortRecordFixedVector(t *testing.T) {
	hopPriv := [32]byte(hx("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"))
	ePriv := [32]byte(hx("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"))
	hop := crypto.X25519KeysFromPrivate(hopPriv)
	e := crypto.X25519KeysFromPrivate(ePriv)
	var hash, next data.Hash
	copy(hash[:], bytes.Repeat([]byte{0xab}, 32))
	copy(next[:], bytes.Repeat([]byte{0xcd}, 32))
	req := i2np.ShortBuildRequestRecord{
		ReceiveTunnel: 0x11223344, NextTunnel: 0x55667788, NextIdent: next, Flags: i2np.BuildFlagEndpoint,
		RequestTime: 28333333, Expiration: 600, SendMessageID: 0x99aabbcc,
	}
	// The 154-byte cleartext, field by field (§"Short Request Record
	// Unencrypted").
	wantPT := cat(hx("11223344 55667788"), next[:], hx("40 0000 00"), hx("01b05515"), hx("00000258"), hx("99aabbcc"), hx("0000"), make([]byte, 154-58))
	pt, _ := req.Append(nil)
	if !bytes.Equal(pt, wantPT) {
		t.Fatalf("cleartext\n got %x\nwant %x", pt, wantPT)
	}
	rec, s, err := sealShortRecordWith(&e, Peer{Hash: hash, Key: hop.Public}, req)
	if err != nil {
		t.Fatal(err)
	}
	msg, h, _ := flynnN(t, hop.Public, ePriv, wantPT)
	if !bytes.Equal(rec[:], cat(hash[:16], msg)) || !bytes.Equal(s.H[:], h) {
		t.Fatal("fixed record differs from the oracle")
	}
	// The N message starts with the ephemeral key of flynn's published
	// Noise_N vectors (the same gen_init_ephemeral).
	if !bytes.Equal(rec[16:48], hx("358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254")) {
		t.Fatalf("ephemeral key %x", rec[16:48])
	}
	if s.Keys.GarlicTag == ([8]byte{}) || s.Keys.GarlicKey == ([32]byte{}) {
		t.Fatal("OBEP record without garlic key and tag")
	}
}

func TestDeriveShortKeysDiffersForTheEndpointOnly(t *testing.T) {
	ck := [32]byte(hx("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
	p, g, e := deriveShortKeys(ck, RoleParticipant), deriveShortKeys(ck, RoleGateway), deriveShortKeys(ck, RoleEndpoint)
	if p != g {
		t.Fatal("participant and gateway keys differ")
	}
	if e.Reply != p.Reply || e.Layer != p.Layer {
		t.Fatal("endpoint reply or layer key differs")
	}
	if e.IV == p.IV {
		t.Fatal("endpoint IV key equals the others' (TunnelLayerIVKey step missing)")
	}
	for _, role := range []Role{RoleParticipant, RoleEndpoint} {
		if got, want := deriveShortKeys(ck, role), oracleShortKeys(t, ck, role); got != want {
			t.Fatalf("%v: keys differ from the oracle", role)
		}
	}
}

func TestOpenShortRefusesBadRecords(t *testing.T) {
	r := testRand(3)
	hop := newTestHop(r)
	o := NewRecordOpener(hop.keys, hop.hash)
	seal := func(req i2np.ShortBuildRequestRecord) i2np.ShortBuildRecord {
		e, _ := crypto.GenerateX25519(r)
		pt, err := req.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Seal the raw cleartext, bypassing sealShortRecordWith's role check.
		var rec i2np.ShortBuildRecord
		copy(rec[:], hop.hash[:16])
		if _, _, err := sealRecord(&e, hop.keys.Public, pt, rec[16:]); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	good := shortRequest(r, RoleParticipant, data.Hash{1})
	cases := []struct {
		name string
		mod  func(*i2np.ShortBuildRequestRecord)
		want error
	}{
		{"layer encryption type 1", func(q *i2np.ShortBuildRequestRecord) { q.LayerEncryption = 1 }, ErrUnsupported},
		{"both role flags", func(q *i2np.ShortBuildRequestRecord) { q.Flags = 0xc0 }, ErrBadRecord},
		{"receive tunnel 0", func(q *i2np.ShortBuildRequestRecord) { q.ReceiveTunnel = 0 }, ErrBadRecord},
		{"next tunnel 0", func(q *i2np.ShortBuildRequestRecord) { q.NextTunnel = 0 }, ErrBadRecord},
		{"options overrun", func(q *i2np.ShortBuildRequestRecord) {
			q.Options = append([]byte{0, 96}, make([]byte, 96)...)
			q.Padding = []byte{}
		}, nil},
	}
	for _, c := range cases {
		q := good
		c.mod(&q)
		rec := seal(q)
		_, _, err := o.OpenShort(&rec)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Every single-bit flip of the sealed part fails authentication (bit
	// 255 of the ephemeral key is ignored by X25519, so skip it).
	rec := seal(good)
	for i := 16; i < len(rec); i++ {
		bad := rec
		bad[i] ^= 0x10
		if i == 47 {
			bad[i] ^= 0x90
		}
		if _, _, err := o.OpenShort(&bad); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("byte %d flipped: err = %v, want ErrBadRecord", i, err)
		}
	}
	// Another router's key cannot open it.
	other := newTestHop(r)
	if _, _, err := NewRecordOpener(other.keys, hop.hash).OpenShort(&rec); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("wrong key: err = %v", err)
	}
	// A low-order ephemeral key.
	zero := rec
	copy(zero[16:48], make([]byte, 32))
	if _, _, err := o.OpenShort(&zero); !errors.Is(err, ErrBadRecord) || !errors.Is(err, crypto.ErrLowOrderPoint) {
		t.Fatalf("zero ephemeral key: err = %v", err)
	}
}

func TestSealShortReplyChecksIndex(t *testing.T) {
	recs := make([]i2np.ShortBuildRecord, 4)
	for _, idx := range []int{-1, 4} {
		if err := SealShortReply(recs, idx, 0, &RecordSecrets{}); !errors.Is(err, ErrConfig) {
			t.Fatalf("index %d: err = %v", idx, err)
		}
		if err := SealLongReply(make([]i2np.BuildRecord, 4), idx, 0, &RecordSecrets{}); !errors.Is(err, ErrConfig) {
			t.Fatalf("long index %d: err = %v", idx, err)
		}
	}
}

func TestPeerOfTakesTheIdentityX25519Key(t *testing.T) {
	keys, err := data.GenerateRouterKeys(testRand(4))
	if err != nil {
		t.Fatal(err)
	}
	p, err := PeerOf(keys.Identity())
	if err != nil {
		t.Fatal(err)
	}
	priv := [32]byte(keys.X25519PrivateKey())
	if p.Hash != keys.Hash() || p.Key != crypto.X25519Public(priv) {
		t.Fatal("PeerOf does not carry the hash and the identity's X25519 key")
	}
	if _, err := PeerOf(data.RouterIdentity{}); err == nil {
		t.Fatal("PeerOf accepted an empty identity")
	}
}
