package garlic

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/flynn/noise"

	"i2pbridge/router/crypto"
	"i2pbridge/router/crypto/elligator"
)

// i2pd 2.45.0 libi2pd/Crypto.cpp InitNoiseIKState hard-codes the hashes
// its New Session state starts from.
func TestNewSessionStateMatchesI2pdConstants(t *testing.T) {
	nameHash := hx("4caf11ef2c8e36564c53e88885064dbaacbe0054ad178f8079a646827e6ee40c") // SHA256(protocol name)
	hh := hx("9ccf852cc93bb9504441e950e01d52322e0d47add1e9a555f755b569ae183b5c")       // SHA256(that)
	var s crypto.SymmetricState
	s.Init(NewSessionProtocolName)
	if ck := s.CK(); !bytes.Equal(ck[:], nameHash) {
		t.Fatalf("ck = %x, want i2pd's %x", ck, nameHash)
	}
	s.MixHash(nil)
	if h := s.H(); !bytes.Equal(h[:], hh) {
		t.Fatalf("h after MixHash(null prologue) = %x, want i2pd's %x", h, hh)
	}
	bpk := [32]byte{9}
	st := newSessionState(NewSessionProtocolName, bpk)
	want := sha256.Sum256(append(hh, bpk[:]...))
	if st.H() != want {
		t.Fatalf("h after MixHash(bpk) = %x, want %x", st.H(), want)
	}
}

var flynnSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

func dhKey(k crypto.X25519Keys) noise.DHKey {
	return noise.DHKey{Private: bytes.Clone(k.Private[:]), Public: bytes.Clone(k.Public[:])}
}

// With the Elligator2 encoding, the name and the tag taken out, a bound NS
// and its reply are Noise IK messages 1 and 2 (ecies.rst §"Handshake
// Patterns": "e es s ss p ->", "<- tag e ee se"), so flynn/noise checks
// our KDF chain byte for byte: message 1 both ways, the key section of
// message 2, and Split.
func TestNewSessionAgreesWithFlynnIK(t *testing.T) {
	const ikName = "Noise_IK_25519_ChaChaPoly_SHA256"
	src := testRand(20)
	r := rand.New(src)
	gen := func() crypto.X25519Keys { k, _ := crypto.GenerateX25519(src); return k }
	for round := range 30 {
		alice, bob, ae, be := gen(), gen(), gen(), gen()
		payload := make([]byte, r.IntN(1000))
		src.Read(payload)

		fi, err := noise.NewHandshakeState(noise.Config{
			CipherSuite: flynnSuite, Pattern: noise.HandshakeIK, Initiator: true,
			StaticKeypair: dhKey(alice), PeerStatic: bob.Public[:], Random: bytes.NewReader(ae.Private[:]),
		})
		if err != nil {
			t.Fatal(err)
		}
		fr, err := noise.NewHandshakeState(noise.Config{
			CipherSuite: flynnSuite, Pattern: noise.HandshakeIK,
			StaticKeypair: dhKey(bob), Random: bytes.NewReader(be.Private[:]),
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _, _, err := fi.WriteMessage(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		init := newSessionState(ikName, bob.Public)
		got, stA, err := sealNewSession(init, bob.Public, &ae, ae.Public, &alice, nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: message 1\nours  %x\nflynn %x", round, got, want)
		}
		if pt, _, _, err := fr.ReadMessage(nil, got); err != nil || !bytes.Equal(pt, payload) {
			t.Fatalf("round %d: flynn reads our message 1: %v", round, err)
		}
		o, err := openNewSession(&init, &bob, ae.Public, want)
		if err != nil || !bytes.Equal(o.payload, payload) || o.apk != alice.Public || o.st != stA {
			t.Fatalf("round %d: we read flynn's message 1: %v", round, err)
		}

		// Message 2 with an empty payload is e ‖ ENCRYPT(k, 0, "", h).
		msg2, csR1, csR2, err := fr.WriteMessage(nil, nil)
		if err != nil || csR1 == nil {
			t.Fatalf("round %d: flynn message 2: %v", round, err)
		}
		ee, _ := be.DH(ae.Public)
		se, _ := be.DH(alice.Public)
		ours, keys, err := nsrKeySection(o.st, nil, be.Public, ee, se, bytes.Clone(be.Public[:]), nil)
		if err != nil || !bytes.Equal(ours, msg2) {
			t.Fatalf("round %d: message 2\nours  %x\nflynn %x (%v)", round, ours, msg2, err)
		}
		if keys.kab != csR1.UnsafeKey() || keys.kba != csR2.UnsafeKey() {
			t.Fatalf("round %d: Split keys differ from flynn's", round)
		}
		// ecies.rst §"KDF for Payload Section": Alice sends on
		// DH_INITIALIZE(chainKey, k_ab), k_ab being the initiator's
		// Split key, and Bob on DH_INITIALIZE(chainKey, k_ba).
		kab, kba := csR1.UnsafeKey(), csR2.UnsafeKey()
		for _, dir := range []struct {
			name string
			c    chains
			k    [32]byte
		}{{"Alice→Bob", keys.tagSetAB(), kab}, {"Bob→Alice", keys.tagSetBA(), kba}} {
			wantTags, wantKeys, _ := refTagSet(keys.ck[:], dir.k[:], 2)
			ts := newSendTagSet(0, dir.c)
			for i := range 2 {
				_, tag, key, _ := ts.next()
				if string(tag[:]) != string(wantTags[i]) || string(key[:]) != string(wantKeys[i]) {
					t.Fatalf("round %d: %s tag set entry %d differs from the spec's", round, dir.name, i)
				}
			}
		}
		// Alice's side of the key section accepts flynn's MAC.
		eeA, _ := ae.DH(be.Public)
		seA, _ := alice.DH(be.Public)
		if _, keysA, err := nsrKeySection(stA, nil, be.Public, eeA, seA, nil, msg2[32:]); err != nil || keysA != keys {
			t.Fatalf("round %d: Alice's key section: %v", round, err)
		}
	}
}

// An unbound NS starts as Noise N with 32 zero bytes as the payload (the
// flags section); flynn/noise checks that prefix.
func TestUnboundNewSessionPrefixAgreesWithFlynnN(t *testing.T) {
	src := testRand(21)
	for round := range 20 {
		bob, _ := crypto.GenerateX25519(src)
		e, _ := crypto.GenerateX25519(src)
		fi, err := noise.NewHandshakeState(noise.Config{
			CipherSuite: flynnSuite, Pattern: noise.HandshakeN, Initiator: true,
			PeerStatic: bob.Public[:], Random: bytes.NewReader(e.Private[:]),
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _, _, err := fi.WriteMessage(nil, make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := sealNewSession(newSessionState(NoiseNProtocolName, bob.Public), bob.Public, &e, e.Public, nil, nil, []byte("payload"))
		if err != nil || !bytes.Equal(got[:nsStaticEnd], want) {
			t.Fatalf("round %d: flags section\nours  %x\nflynn %x (%v)", round, got[:nsStaticEnd], want, err)
		}
	}
}

// ecies.rst §"KDF for Payload Section (without Alice static key)": the
// payload of an unbound NS uses the flags section's k with n = 1 and ad =
// h after MixHash(flags ciphertext), with no further MixHash. Rebuilt here
// from SHA-256, HKDF and the AEAD alone, without the Noise state.
func TestUnboundNewSessionUsesNonceOne(t *testing.T) {
	src := testRand(22)
	bob, _ := crypto.GenerateX25519(src)
	e, repr, err := elligator.GenerateKey(src)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("raw datagram")
	got, _, err := sealNewSession(newSessionState(NewSessionProtocolName, bob.Public), bob.Public, &e, repr, nil, nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	mix := func(h [32]byte, d []byte) [32]byte { return sha256.Sum256(append(h[:], d...)) }
	h := sha256.Sum256([]byte(NewSessionProtocolName))
	ck := h
	h = sha256.Sum256(h[:])
	h = mix(h, bob.Public[:])
	h = mix(h, e.Public[:])
	dh, _ := crypto.X25519(e.Private, bob.Public)
	kd := refHKDF(ck[:], dh[:], "", 64)
	k := key32(kd[32:])
	c1 := crypto.AEADSeal(&k, 0, nil, make([]byte, 32), h[:])
	h = mix(h, c1)
	c2 := crypto.AEADSeal(&k, 1, nil, payload, h[:])
	want := cat(repr[:], c1, c2)
	if !bytes.Equal(got, want) {
		t.Fatalf("unbound NS\n got %x\nwant %x", got, want)
	}
	// The payload does not open with n = 0 under the same k.
	if _, err := crypto.AEADOpen(&k, 0, nil, got[nsStaticEnd:], h[:]); err == nil {
		t.Fatal("payload opened with n = 0")
	}
	init := newSessionState(NewSessionProtocolName, bob.Public)
	o, err := openNewSession(&init, &bob, e.Public, got)
	if err != nil || o.bound() || !bytes.Equal(o.payload, payload) {
		t.Fatalf("open unbound NS: %v, bound %v", err, o.bound())
	}
}

// The "+hs2" of the protocol name: the NSR tag is hashed before bepk, so
// the same reply under another tag of the same tag set does not open.
func TestNewSessionReplyHashesItsTag(t *testing.T) {
	src := testRand(23)
	alice, _ := crypto.GenerateX25519(src)
	bob, _ := crypto.GenerateX25519(src)
	ae, repr, _ := elligator.GenerateKey(src)
	be, brepr, _ := elligator.GenerateKey(src)
	init := newSessionState(NewSessionProtocolName, bob.Public)
	_, stA, err := sealNewSession(init, bob.Public, &ae, repr, &alice, nil, []byte{0, 0, 4, 1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	tags := newSendTagSet(0, nsrChains(stA.CK()))
	_, tag0, _, _ := tags.next()
	_, tag1, _, _ := tags.next()
	ee, _ := be.DH(ae.Public)
	se, _ := be.DH(alice.Public)
	msg, _, err := sealNSR(stA, tag0, be.Public, brepr, ee, se, nil, []byte("reply"))
	if err != nil {
		t.Fatal(err)
	}
	eeA, _ := ae.DH(be.Public)
	seA, _ := alice.DH(be.Public)
	if pt, _, err := openNSR(stA, be.Public, eeA, seA, msg); err != nil || string(pt) != "reply" {
		t.Fatalf("open NSR: %q, %v", pt, err)
	}
	retagged := bytes.Clone(msg)
	copy(retagged, tag1[:])
	if _, _, err := openNSR(stA, be.Public, eeA, seA, retagged); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("re-tagged NSR: err = %v, want ErrDecrypt", err)
	}
	if _, _, err := openNSR(stA, be.Public, eeA, seA, msg[:NewSessionReplyOverhead-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short NSR: err = %v, want ErrTruncated", err)
	}
}

// Every truncation of an NS fails cleanly, and so does every single-bit
// change.
func TestOpenNewSessionRefusesTruncationAndTampering(t *testing.T) {
	src := testRand(24)
	alice, _ := crypto.GenerateX25519(src)
	bob, _ := crypto.GenerateX25519(src)
	ae, repr, _ := elligator.GenerateKey(src)
	init := newSessionState(NewSessionProtocolName, bob.Public)
	msg, _, err := sealNewSession(init, bob.Public, &ae, repr, &alice, nil, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range msg {
		if _, err := openNewSession(&init, &bob, ae.Public, msg[:i]); err == nil {
			t.Fatalf("prefix %d opened", i)
		}
	}
	for i := 32; i < len(msg); i++ {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x10
		if _, err := openNewSession(&init, &bob, ae.Public, bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d changed: err = %v", i, err)
		}
	}
}
