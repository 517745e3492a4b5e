package ntcp2

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flynn/noise"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
)

// The Noise constants i2pd hard-codes (Crypto.cpp InitNoiseXKState):
// SHA256(protocol name) and SHA256 of that (the null prologue).
func TestProtocolNameHashesMatchI2pd(t *testing.T) {
	h := sha256.Sum256([]byte(ProtocolName))
	if got := hex.EncodeToString(h[:4]); got != "72e842c5" {
		t.Fatalf("SHA256(protocol name) starts %s, i2pd has 72e842c5", got)
	}
	var ss crypto.SymmetricState
	ss.Init(ProtocolName)
	ss.MixHash()
	hh := ss.H()
	if got := hex.EncodeToString(hh[:4]); got != "49ff483f" {
		t.Fatalf("h after MixHash(prologue) starts %s, i2pd has 49ff483f", got)
	}
}

func TestHandshakeRoundTripPaddingSizes(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	for _, pad := range []int{0, 1, 15, 16, 17, 100, MaxHandshakePadding, 1000} {
		t.Run(fmt.Sprintf("pad%d", pad), func(t *testing.T) {
			p := newPair(t, a, b, pairOpts{alicePad: fixedPad(pad), bobPad: fixedPad(pad)})
			tr, ri := p.run(t)
			want := min(pad, MaxHandshakePadding)
			if tr.pad1 != want || tr.pad2 != want || len(tr.msg1) != HeadLen+want || len(tr.msg2) != HeadLen+want {
				t.Fatalf("padding: msg1 %d (pad %d), msg2 %d (pad %d), want pad %d", len(tr.msg1), tr.pad1, len(tr.msg2), tr.pad2, want)
			}
			if len(tr.msg1) > MaxHandshakeMessageLen || len(tr.msg2) > MaxHandshakeMessageLen {
				t.Fatalf("message over 287 bytes: %d, %d", len(tr.msg1), len(tr.msg2))
			}
			// Message 3 part 2 padding is capped at 64 bytes plus a header.
			wantM3 := ConfirmedPart1Len + RouterInfoBlock{RouterInfo: a.ri.Bytes()}.Len() + macLen
			if pm3 := min(pad, m3Padding); pm3 > 0 {
				wantM3 += BlockHeaderLen + pm3
			}
			if len(tr.msg3) != wantM3 || p.bob.ConfirmedLen() != wantM3 {
				t.Fatalf("msg3 %d bytes, ConfirmedLen %d, want %d", len(tr.msg3), p.bob.ConfirmedLen(), wantM3)
			}
			checkAgreement(t, p, a, ri)
		})
	}
}

func TestHandshakeRoundTripRandomPadding(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	replay := NewReplayCache(0, 0) // one cache for all, as a listener has
	for i := 0; i < 50; i++ {
		p := newPair(t, a, b, pairOpts{replay: replay})
		_, ri := p.run(t)
		checkAgreement(t, p, a, ri)
	}
	if replay.Len() != 50 {
		t.Fatalf("replay cache holds %d keys, want 50", replay.Len())
	}
}

func checkAgreement(t *testing.T, p pair, a testRouter, ri data.RouterInfo) {
	t.Helper()
	if !bytes.Equal(ri.Bytes(), a.ri.Bytes()) {
		t.Fatal("Bob got a different RouterInfo")
	}
	if p.bob.PeerStatic() != a.static.Public {
		t.Fatal("Bob got a different static key")
	}
	ka, err := p.alice.DataKeys()
	if err != nil {
		t.Fatal(err)
	}
	kb, err := p.bob.DataKeys()
	if err != nil {
		t.Fatal(err)
	}
	if ka.Send != kb.Recv || ka.Recv != kb.Send || ka.SendSip != kb.RecvSip || ka.RecvSip != kb.SendSip {
		t.Fatal("data phase keys do not mirror")
	}
	if ka.Send == ka.Recv || ka.SendSip == ka.RecvSip {
		t.Fatal("directions share keys")
	}
	if p.alice.State() != "done" || p.bob.State() != "done" {
		t.Fatalf("states %s/%s, want done", p.alice.State(), p.bob.State())
	}
}

// With zero padding NTCP2 is Noise XK with a custom name, once the AES layer
// is removed (protocol-map.md §1): flynn/noise, given the same keys and
// payloads, must produce the same frames, handshake hash and transport keys.
func TestHandshakeMatchesFlynnNoiseOracle(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	eA, eB := make([]byte, 32), make([]byte, 32)
	rand.Read(eA)
	rand.Read(eB)
	now := time.Now()
	clock := func() time.Time { return now }
	p := newPair(t, a, b, pairOpts{
		alicePad: fixedPad(0), bobPad: fixedPad(0), aliceNow: clock, bobNow: clock,
		aliceRand: bytes.NewReader(eA), bobRand: bytes.NewReader(eB),
	})
	tr, _ := p.run(t)

	suite := noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)
	pattern := noise.HandshakePattern{
		Name:                 "XKaesobfse+hs2+hs3",
		ResponderPreMessages: []noise.MessagePattern{noise.MessagePatternS},
		Messages: [][]noise.MessagePattern{
			{noise.MessagePatternE, noise.MessagePatternDHES},
			{noise.MessagePatternE, noise.MessagePatternDHEE},
			{noise.MessagePatternS, noise.MessagePatternDHSE},
		},
	}
	// flynn/noise draws each ephemeral key from Config.Random.
	ini, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: suite, Pattern: pattern, Initiator: true,
		StaticKeypair: noise.DHKey{Private: a.static.Private[:], Public: a.static.Public[:]},
		Random:        bytes.NewReader(eA),
		PeerStatic:    b.static.Public[:],
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: suite, Pattern: pattern,
		StaticKeypair: noise.DHKey{Private: b.static.Private[:], Public: b.static.Public[:]},
		Random:        bytes.NewReader(eB),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := unixSeconds(now)
	m3p2 := RouterInfoBlock{RouterInfo: a.ri.Bytes()}
	m3p2Bytes, _ := m3p2.Append(nil)
	opts1 := requestOptions{NetID: testNetID, Version: 2, M3P2Len: uint16(len(m3p2Bytes) + macLen), TsA: ts}.append(nil)
	opts2 := createdOptions{TsB: ts}.append(nil)

	f1, _, _, err := ini.WriteMessage(nil, opts1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := resp.ReadMessage(nil, f1); err != nil {
		t.Fatal(err)
	}
	f2, _, _, err := resp.WriteMessage(nil, opts2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ini.ReadMessage(nil, f2); err != nil {
		t.Fatal(err)
	}
	f3, csAB, csBA, err := ini.WriteMessage(nil, m3p2Bytes)
	if err != nil {
		t.Fatal(err)
	}

	// Remove the AES obfuscation of X and Y: one CBC chain over both.
	key := [32]byte(b.ri.Hash())
	var x, y [32]byte
	next, err := crypto.AESCBCDecrypt(&key, b.static.IV, x[:], tr.msg1[:32])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.AESCBCDecrypt(&key, next, y[:], tr.msg2[:32]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x[:], f1[:32]) || !bytes.Equal(tr.msg1[32:], f1[32:]) {
		t.Fatalf("message 1 differs from Noise:\n ours  %x ‖ %x\n noise %x", x, tr.msg1[32:], f1)
	}
	if !bytes.Equal(y[:], f2[:32]) || !bytes.Equal(tr.msg2[32:], f2[32:]) {
		t.Fatalf("message 2 differs from Noise:\n ours  %x ‖ %x\n noise %x", y, tr.msg2[32:], f2)
	}
	if !bytes.Equal(tr.msg3, f3) {
		t.Fatalf("message 3 differs from Noise:\n ours  %x\n noise %x", tr.msg3, f3)
	}
	if h := p.alice.ss.H(); !bytes.Equal(h[:], ini.ChannelBinding()) {
		t.Fatalf("final h differs: %x vs %x", h, ini.ChannelBinding())
	}
	keys, _ := p.alice.DataKeys()
	for _, c := range []struct {
		name string
		cs   *noise.CipherState
		k    [32]byte
	}{{"k_ab", csAB, keys.Send}, {"k_ba", csBA, keys.Recv}} {
		want, _ := c.cs.Encrypt(nil, nil, []byte("frame zero"))
		got := crypto.AEADSeal(&c.k, 0, nil, []byte("frame zero"), nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from Noise Split", c.name)
		}
	}
}

// SipHash keys are not Noise; pin their derivation to the spec's HMAC
// formulation (ntcp2.rst §"KDF (for data phase)"), written out with
// crypto/hmac rather than the HKDF helper.
func TestDataPhaseSipKeysFollowSpecHMACs(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	p := newPair(t, a, b, pairOpts{})
	p.run(t)
	ck, h := p.alice.ss.CK(), p.alice.ss.H()
	temp := hmacSHA256(ck[:], nil)
	askMaster := hmacSHA256(temp, []byte("ask\x01"))
	temp = hmacSHA256(askMaster, append(h[:], "siphash"...))
	sipMaster := hmacSHA256(temp, []byte{1})
	temp = hmacSHA256(sipMaster, nil)
	ab := hmacSHA256(temp, []byte{1})
	ba := hmacSHA256(temp, append(bytes.Clone(ab), 2))
	keys, _ := p.alice.DataKeys()
	if !bytes.Equal(keys.SendSip[:], ab) || !bytes.Equal(keys.RecvSip[:], ba) {
		t.Fatalf("SipHash keys differ from the spec's derivation")
	}
	kab := hmacSHA256(hmacSHA256(ck[:], nil), []byte{1})
	if !bytes.Equal(keys.Send[:], kab) {
		t.Fatal("k_ab differs from the spec's derivation")
	}
}

func TestHandshakeTruncatedMessagesFailCleanly(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	pads := pairOpts{alicePad: fixedPad(20), bobPad: fixedPad(20)}

	// Message 1 head, every short prefix.
	ref, _, _ := newPair(t, a, b, pads).try()
	for i := 0; i < HeadLen; i++ {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		_, err := p.bob.ReadSessionRequest(msg1[:i])
		mustFail(t, fmt.Sprintf("message 1 head %d bytes", i), err, ErrTruncated)
	}
	// Message 1 padding shorter and longer than announced.
	for _, n := range []int{0, 19, 21} {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		if _, err := p.bob.ReadSessionRequest(msg1[:HeadLen]); err != nil {
			t.Fatal(err)
		}
		_, err := p.bob.SessionCreated(make([]byte, n))
		mustFail(t, fmt.Sprintf("message 1 padding %d bytes", n), err, nil)
	}
	// Message 2 head and padding.
	for i := 0; i < HeadLen; i++ {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		p.bob.ReadSessionRequest(msg1[:HeadLen])
		msg2, err := p.bob.SessionCreated(msg1[HeadLen:])
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.alice.ReadSessionCreated(msg2[:i])
		mustFail(t, fmt.Sprintf("message 2 head %d bytes", i), err, ErrTruncated)
	}
	for _, n := range []int{0, 19} {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		p.bob.ReadSessionRequest(msg1[:HeadLen])
		msg2, _ := p.bob.SessionCreated(msg1[HeadLen:])
		if _, err := p.alice.ReadSessionCreated(msg2[:HeadLen]); err != nil {
			t.Fatal(err)
		}
		_, err := p.alice.SessionConfirmed(msg2[HeadLen : HeadLen+n])
		mustFail(t, fmt.Sprintf("message 2 padding %d bytes", n), err, ErrTruncated)
	}
	// Message 3, every short prefix and one byte too many.
	for i := 0; i <= len(ref.msg3); i++ {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		p.bob.ReadSessionRequest(msg1[:HeadLen])
		msg2, _ := p.bob.SessionCreated(msg1[HeadLen:])
		p.alice.ReadSessionCreated(msg2[:HeadLen])
		msg3, err := p.alice.SessionConfirmed(msg2[HeadLen:])
		if err != nil {
			t.Fatal(err)
		}
		in := msg3[:i]
		want := ErrTruncated
		if i == len(ref.msg3) {
			in, want = append(msg3, 0), ErrLength
		}
		_, err = p.bob.ReadSessionConfirmed(in)
		mustFail(t, fmt.Sprintf("message 3 %d bytes", len(in)), err, want)
	}
}

func TestHandshakeRejectsTamperedMessages(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	pads := pairOpts{alicePad: fixedPad(8), bobPad: fixedPad(8)}

	// Each byte of message 1 (head and padding): Bob rejects the head, or
	// Alice rejects message 2 because h absorbed the padding.
	for i := 0; i < HeadLen+8; i++ {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		msg1 = flip(msg1, i)
		_, err := p.bob.ReadSessionRequest(msg1[:HeadLen])
		if i < HeadLen {
			mustFail(t, fmt.Sprintf("message 1 byte %d", i), err, crypto.ErrAuthFailed)
			continue
		}
		if err != nil {
			t.Fatalf("message 1 padding byte %d: Bob failed early: %v", i, err)
		}
		msg2, err := p.bob.SessionCreated(msg1[HeadLen:])
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.alice.ReadSessionCreated(msg2[:HeadLen])
		mustFail(t, fmt.Sprintf("message 1 padding byte %d", i), err, crypto.ErrAuthFailed)
	}
	// Each byte of message 2.
	for i := 0; i < HeadLen+8; i++ {
		p := newPair(t, a, b, pads)
		msg1, _ := p.messageOne(t)
		p.bob.ReadSessionRequest(msg1[:HeadLen])
		msg2, _ := p.bob.SessionCreated(msg1[HeadLen:])
		msg2 = flip(msg2, i)
		_, err := p.alice.ReadSessionCreated(msg2[:HeadLen])
		if i < HeadLen {
			mustFail(t, fmt.Sprintf("message 2 byte %d", i), err, crypto.ErrAuthFailed)
			continue
		}
		if err != nil {
			t.Fatalf("message 2 padding byte %d: Alice failed early: %v", i, err)
		}
		msg3, err := p.alice.SessionConfirmed(msg2[HeadLen:])
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.bob.ReadSessionConfirmed(msg3)
		mustFail(t, fmt.Sprintf("message 2 padding byte %d", i), err, crypto.ErrAuthFailed)
	}
	// A sample of message 3 bytes: both frames, first and last bytes.
	ref, _, _ := newPair(t, a, b, pads).try()
	for _, i := range []int{0, 31, 32, 47, 48, 100, len(ref.msg3) - 17, len(ref.msg3) - 1} {
		p := newPair(t, a, b, pads)
		err := p.tamperedConfirmed(i)
		mustFail(t, fmt.Sprintf("message 3 byte %d", i), err, crypto.ErrAuthFailed)
	}
}

// tamperedConfirmed runs a handshake, flips byte i of message 3 and
// returns Bob's verdict on it.
func (p pair) tamperedConfirmed(i int) error {
	msg1, _ := p.alice.SessionRequest()
	p.bob.ReadSessionRequest(msg1[:HeadLen])
	msg2, _ := p.bob.SessionCreated(msg1[HeadLen:])
	p.alice.ReadSessionCreated(msg2[:HeadLen])
	msg3, _ := p.alice.SessionConfirmed(msg2[HeadLen:])
	_, err := p.bob.ReadSessionConfirmed(flip(msg3, i))
	return err
}

func TestHandshakeRejectsClockSkew(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	at := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	for _, c := range []struct {
		name       string
		alice, bob time.Duration
		wantErr    bool
	}{
		{"in sync", 0, 0, false},
		{"alice 55s ahead", 55 * time.Second, 0, false},
		{"alice 55s behind", -55 * time.Second, 0, false},
		{"alice 65s ahead", 65 * time.Second, 0, true},
		{"alice 65s behind", -65 * time.Second, 0, true},
		{"bob 65s ahead", 0, 65 * time.Second, true},
		{"alice 1h behind", -time.Hour, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, a, b, pairOpts{aliceNow: at(c.alice), bobNow: at(c.bob)})
			msg1, _ := p.messageOne(t)
			if _, err := p.bob.ReadSessionRequest(msg1[:HeadLen]); err != nil {
				t.Fatal(err)
			}
			msg2, err := p.bob.SessionCreated(msg1[HeadLen:])
			if !c.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			// Bob refuses, but answers first so that Alice learns his
			// time; Alice, whose clock is just as far from his, refuses
			// message 2 in turn.
			mustFail(t, "Bob", err, ErrClockSkew)
			if len(msg2) < HeadLen {
				t.Fatalf("Bob sent no message 2 (%d bytes) to tell Alice his time", len(msg2))
			}
			if _, err := p.bob.ReadSessionConfirmed(make([]byte, p.bob.ConfirmedLen())); !errors.Is(err, ErrState) {
				t.Fatalf("Bob after refusing: %v, want ErrState", err)
			}
			_, err = p.alice.ReadSessionCreated(msg2[:HeadLen])
			mustFail(t, "Alice", err, ErrClockSkew)
		})
	}
	// Bob's clock 90 s behind: Alice stamps message 1 with the same wrong
	// time, so Bob accepts it; message 2 then carries Bob's time, and
	// Alice, back on the right time, refuses it.
	calls := 0
	aliceNow := func() time.Time {
		calls++
		if calls == 1 {
			return time.Now().Add(-90 * time.Second)
		}
		return time.Now()
	}
	p := newPair(t, a, b, pairOpts{aliceNow: aliceNow, bobNow: at(-90 * time.Second)})
	msg1, _ := p.messageOne(t)
	if _, err := p.bob.ReadSessionRequest(msg1[:HeadLen]); err != nil {
		t.Fatal(err)
	}
	msg2, err := p.bob.SessionCreated(msg1[HeadLen:])
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.alice.ReadSessionCreated(msg2[:HeadLen])
	mustFail(t, "Alice", err, ErrClockSkew)
}

func TestHandshakeRejectsWrongNetID(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	for _, c := range []struct {
		netID uint8
		ok    bool
	}{{testNetID, true}, {0, true}, {2, false}, {98, false}, {255, false}} {
		p := newPair(t, a, b, pairOpts{aliceNetID: &c.netID})
		msg1, _ := p.messageOne(t)
		_, err := p.bob.ReadSessionRequest(msg1[:HeadLen])
		if c.ok {
			if err != nil {
				t.Fatalf("netId %d: %v", c.netID, err)
			}
			continue
		}
		mustFail(t, fmt.Sprintf("netId %d", c.netID), err, ErrNetID)
	}
}

func TestHandshakeRejectsReplayedRequest(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	replay := NewReplayCache(0, 0)
	p := newPair(t, a, b, pairOpts{replay: replay})
	msg1, _ := p.messageOne(t)
	if _, err := p.bob.ReadSessionRequest(msg1[:HeadLen]); err != nil {
		t.Fatal(err)
	}
	again := newPair(t, a, b, pairOpts{replay: replay})
	_, err := again.bob.ReadSessionRequest(msg1[:HeadLen])
	mustFail(t, "replay", err, ErrReplay)
	if again.bob.State() != "failed" {
		t.Fatalf("state %s after replay, want failed", again.bob.State())
	}
	// A failed handshake refuses every later step.
	_, err = again.bob.SessionCreated(nil)
	mustFail(t, "step after failure", err, ErrState)
}

// craftRequest builds a message 1 with arbitrary options, the way a
// non-conforming peer would, to reach Bob's checks behind the AEAD.
func craftRequest(t *testing.T, b testRouter, o requestOptions) []byte {
	t.Helper()
	e, err := crypto.GenerateX25519(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ss crypto.SymmetricState
	ss.Init(ProtocolName)
	ss.MixHash()
	ss.MixHash(b.static.Public[:])
	ss.MixHash(e.Public[:])
	dh, err := crypto.X25519(e.Private, b.static.Public)
	if err != nil {
		t.Fatal(err)
	}
	ss.MixKey(dh[:])
	key := [32]byte(b.ri.Hash())
	msg := make([]byte, 32, HeadLen)
	if _, err := crypto.AESCBCEncrypt(&key, b.static.IV, msg, e.Public[:]); err != nil {
		t.Fatal(err)
	}
	msg, err = ss.EncryptAndHash(msg, o.append(nil))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestResponderRejectsBadRequestOptions(t *testing.T) {
	b := newTestRouter(t, routerOpts{})
	ts := unixSeconds(time.Now())
	good := requestOptions{NetID: testNetID, Version: 2, M3P2Len: 600, TsA: ts}
	for _, c := range []struct {
		name string
		mod  func(*requestOptions)
		want error
	}{
		{"good", func(*requestOptions) {}, nil},
		{"version 1", func(o *requestOptions) { o.Version = 1 }, ErrVersion},
		{"version 3", func(o *requestOptions) { o.Version = 3 }, ErrVersion},
		{"padding 224", func(o *requestOptions) { o.PadLen = MaxHandshakePadding + 1 }, ErrPadding},
		{"m3p2Len 15", func(o *requestOptions) { o.M3P2Len = 15 }, ErrLength},
		{"m3p2Len 65488", func(o *requestOptions) { o.M3P2Len = MaxConfirmedPart2Len + 1 }, ErrLength},
		{"netId 2", func(o *requestOptions) { o.NetID = 2 }, ErrNetID},
		{"tsA 0", func(o *requestOptions) { o.TsA = 0 }, ErrClockSkew},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.mod(&o)
			bob, err := NewResponder(ResponderConfig{
				HandshakeOptions: HandshakeOptions{Replay: NewReplayCache(0, 0)},
				NetID:            testNetID, Static: b.static, Hash: b.ri.Hash(),
			})
			if err != nil {
				t.Fatal(err)
			}
			pad, err := bob.ReadSessionRequest(craftRequest(t, b, o))
			if errors.Is(c.want, ErrClockSkew) && err == nil {
				// Refused after message 2 (see Responder).
				_, err = bob.SessionCreated(make([]byte, pad))
			}
			if c.want == nil {
				if err != nil || pad != 0 || bob.ConfirmedLen() != 48+600 {
					t.Fatalf("pad %d, ConfirmedLen %d, err %v", pad, bob.ConfirmedLen(), err)
				}
				return
			}
			mustFail(t, c.name, err, c.want)
		})
	}
}

func TestResponderChecksRouterInfoInMessageThree(t *testing.T) {
	b := newTestRouter(t, routerOpts{})
	a := newTestRouter(t, routerOpts{})
	other := [32]byte{9}
	badSig := a.ri.Bytes()
	badSig[len(badSig)-1] ^= 1
	badSigRI, _, err := data.ParseRouterInfo(badSig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ri   data.RouterInfo
		want error
	}{
		{"fresh", a.ri, nil},
		{"89 minutes old", buildRI(t, a.keys, a.static, routerOpts{published: time.Now().Add(-89 * time.Minute)}), nil},
		{"91 minutes old", buildRI(t, a.keys, a.static, routerOpts{published: time.Now().Add(-91 * time.Minute)}), ErrRouterInfo},
		{"3 minutes ahead", buildRI(t, a.keys, a.static, routerOpts{published: time.Now().Add(3 * time.Minute)}), ErrRouterInfo},
		{"netId 2", buildRI(t, a.keys, a.static, routerOpts{netID: "2"}), ErrNetID},
		{"other s", buildRI(t, a.keys, a.static, routerOpts{publishStatic: &other}), ErrStaticKey},
		{"bad signature", badSigRI, ErrRouterInfo},
	} {
		t.Run(c.name, func(t *testing.T) {
			ri := c.ri
			p := newPair(t, a, b, pairOpts{aliceRI: &ri})
			_, got, err := p.try()
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got.Hash() != a.ri.Hash() {
					t.Fatal("wrong peer identity")
				}
				return
			}
			mustFail(t, c.name, err, c.want)
		})
	}
}

func TestConfirmedPayloadBlockRules(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	ri := RouterInfoBlock{RouterInfo: a.ri.Bytes()}
	withTrailing := RouterInfoBlock{RouterInfo: append(a.ri.Bytes(), 0)}
	for _, c := range []struct {
		name   string
		blocks []Block
		want   error
	}{
		{"RI", []Block{ri}, nil},
		{"RI padding", []Block{ri, Padding{Data: make([]byte, 7)}}, nil},
		{"RI options padding", []Block{ri, Options{}, Padding{}}, nil},
		{"empty", nil, ErrPayload},
		{"padding first", []Block{Padding{}, ri}, ErrPayload},
		{"options first", []Block{Options{}, ri}, ErrPayload},
		{"I2NP after RI", []Block{ri, I2NPMessage{}}, ErrPayload},
		{"DateTime after RI", []Block{ri, DateTime{}}, ErrPayload},
		{"unknown after RI", []Block{ri, UnknownBlock{Kind: 200}}, ErrPayload},
		{"two RIs", []Block{ri, ri}, ErrPayload},
		{"padding then options", []Block{ri, Padding{}, Options{}}, ErrPayload},
		{"RI with trailing byte", []Block{withTrailing}, ErrRouterInfo},
		{"RI garbage", []Block{RouterInfoBlock{RouterInfo: []byte{1, 2, 3}}}, ErrRouterInfo},
	} {
		t.Run(c.name, func(t *testing.T) {
			payload, err := AppendBlocks(nil, c.blocks...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := confirmedRouterInfo(payload)
			if c.want == nil {
				if err != nil || got.Hash() != a.ri.Hash() {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			mustFail(t, c.name, err, c.want)
		})
	}
}

func TestHandshakeStepsOutOfOrder(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	p := newPair(t, a, b, pairOpts{})
	if _, err := p.alice.ReadSessionCreated(make([]byte, HeadLen)); err == nil {
		t.Fatal("ReadSessionCreated before SessionRequest succeeded")
	}
	if _, err := p.alice.DataKeys(); err == nil {
		t.Fatal("DataKeys before the handshake succeeded")
	}
	if _, err := p.bob.ReadSessionConfirmed(nil); err == nil {
		t.Fatal("ReadSessionConfirmed first succeeded")
	}
	p = newPair(t, a, b, pairOpts{})
	p.run(t)
	if _, err := p.alice.SessionRequest(); err == nil {
		t.Fatal("second SessionRequest succeeded")
	}
}

func TestInitiatorRejectsLowOrderPeerKey(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	b.static.Public = [32]byte{} // the zero point: DH would be all zeros
	p := newPair(t, a, b, pairOpts{})
	_, err := p.alice.SessionRequest()
	mustFail(t, "zero static key", err, crypto.ErrLowOrderPoint)
}

func TestStaticKeyFileRoundTrip(t *testing.T) {
	k, err := GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Append(nil)
	got, err := ParseStaticKey(b)
	if err != nil || got != k {
		t.Fatalf("round trip: %v", err)
	}
	for i := 0; i < len(b); i++ {
		_, err := ParseStaticKey(b[:i])
		mustFail(t, fmt.Sprintf("%d bytes", i), err, ErrLength)
	}
	_, err = ParseStaticKey(flip(b, 0))
	mustFail(t, "mismatched public key", err, data.ErrKeyMismatch)
	if s := fmt.Sprintf("%v %#v", k, k); bytes.Contains([]byte(s), []byte(data.Base64Encode(k.Private[:])[:8])) {
		t.Fatalf("formatting leaks the private key: %s", s)
	}
}

// i2pd's own ntcp2.keys files (router/data/testdata/i2pd-ri) parse, and
// their public halves are what the matching router.info publishes.
func TestStaticKeyParsesI2pdFiles(t *testing.T) {
	for _, r := range []string{"a", "b", "c"} {
		b, err := os.ReadFile("../data/testdata/i2pd-ri/ntcp2-" + r + ".keys")
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseStaticKey(b)
		if err != nil {
			t.Fatalf("ntcp2-%s.keys: %v", r, err)
		}
		riBytes, err := os.ReadFile("../data/testdata/i2pd-ri/router-" + r + ".info")
		if err != nil {
			t.Fatal(err)
		}
		ri, _, err := data.ParseRouterInfo(riBytes)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := PeerAddress(ri)
		if err != nil {
			t.Fatalf("router-%s.info: %v", r, err)
		}
		if addr.StaticKey != k.Public || addr.IV != k.IV {
			t.Fatalf("router-%s.info publishes other s/i than ntcp2-%s.keys", r, r)
		}
	}
}

func BenchmarkHandshake(b *testing.B) {
	a := newTestRouter(b, routerOpts{})
	r := newTestRouter(b, routerOpts{})
	replay := NewReplayCache(0, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := newPair(b, a, r, pairOpts{replay: replay})
		if _, _, err := p.try(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInitiatorRecognisesI2pdSkewReply: i2pd 2.45 answers a request with
// a bad timestamp before reading its padding, so its message 2 is keyed
// to a hash over its (zeroed) buffer instead of our padding. Alice still
// reports clock skew for it; with a good clock the same mismatch stays an
// AEAD failure, and so does a message 2 that is simply corrupt.
func TestInitiatorRecognisesI2pdSkewReply(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	at := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	for _, c := range []struct {
		name    string
		bob     time.Duration
		corrupt bool
		want    error
	}{
		{"bob 90s ahead", 90 * time.Second, false, ErrClockSkew},
		{"bob 90s behind", -90 * time.Second, false, ErrClockSkew},
		{"bob in time", 0, false, crypto.ErrAuthFailed},
		{"bob 90s ahead, frame corrupt", 90 * time.Second, true, crypto.ErrAuthFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, a, b, pairOpts{alicePad: fixedPad(40), bobPad: fixedPad(0), bobNow: at(c.bob)})
			msg1, _ := p.messageOne(t)
			if _, err := p.bob.ReadSessionRequest(msg1[:HeadLen]); err != nil {
				t.Fatal(err)
			}
			// Bob hashes zeros where Alice's 40 bytes of padding were.
			msg2, _ := p.bob.SessionCreated(make([]byte, len(msg1)-HeadLen))
			if c.corrupt {
				msg2[40] ^= 1
			}
			_, err := p.alice.ReadSessionCreated(msg2[:HeadLen])
			mustFail(t, "Alice", err, c.want)
		})
	}
}
