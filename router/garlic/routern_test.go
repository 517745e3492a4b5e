package garlic

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"

	"i2pbridge/router/crypto"
	"i2pbridge/router/i2np"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func key32(b []byte) (k [32]byte) {
	if len(b) != 32 {
		panic("key32: need 32 bytes")
	}
	copy(k[:], b)
	return k
}

// testRand is a deterministic randomness source for reproducible tests.
func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// The Noise_N_25519_ChaChaPoly_SHA256 vectors with an empty prologue from
// github.com/flynn/noise v1.1.0 vectors.txt (copied in
// router/crypto/testdata/flynn-noise-vectors.txt): resp_static is Bob's
// (the router's) private key, gen_init_ephemeral Alice's ephemeral private
// key, msg_0 the handshake message. An I2P router-level N message is
// exactly that message (ecies-routers.rst §"KDF for Message": protocol
// name, null prologue, e, es, payload with ad = h).
var noiseNVectors = []struct {
	name                      string
	respStatic, initEphemeral string
	payload, message          string
}{
	{
		name:          "empty payload",
		respStatic:    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		initEphemeral: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		payload:       "",
		message:       "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd16625466758477eb5e8e0b273460a89ef8d8bb",
	},
	{
		name:          "test_msg_0",
		respStatic:    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		initEphemeral: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		payload:       "746573745f6d73675f30",
		message:       "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254a703e3bfcc38dbdb465b7d5ded3686008b3ff4c92f20e9fe4b44",
	},
}

func TestSealRouterReproducesNoiseNVectors(t *testing.T) {
	for _, v := range noiseNVectors {
		t.Run(v.name, func(t *testing.T) {
			bob := crypto.X25519KeysFromPrivate(key32(hx(v.respStatic)))
			e := crypto.X25519KeysFromPrivate(key32(hx(v.initEphemeral)))
			got, err := sealRouterWith(&e, bob.Public, []byte{0xAA}, hx(v.payload))
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0xAA || !bytes.Equal(got[1:], hx(v.message)) {
				t.Fatalf("N message\n got %x\nwant %s", got[1:], v.message)
			}
			pt, err := OpenRouter(&bob, nil, hx(v.message))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, hx(v.payload)) {
				t.Fatalf("opened %x, want %s", pt, v.payload)
			}
		})
	}
}

// flynn/noise as a live oracle: random router keys, ephemeral keys and
// payloads must give flynn's N message byte for byte, both ways.
func TestSealRouterAgreesWithFlynnNoise(t *testing.T) {
	cs := noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)
	src := testRand(1)
	r := rand.New(src)
	for round := range 50 {
		var p [32]byte
		src.Read(p[:])
		bob := crypto.X25519KeysFromPrivate(p)
		src.Read(p[:])
		e := crypto.X25519KeysFromPrivate(p)
		payload := make([]byte, r.IntN(1200))
		src.Read(payload)

		fi, err := noise.NewHandshakeState(noise.Config{
			CipherSuite: cs, Pattern: noise.HandshakeN, Initiator: true,
			PeerStatic: bob.Public[:], Random: bytes.NewReader(e.Private[:]),
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _, _, err := fi.WriteMessage(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sealRouterWith(&e, bob.Public, nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: ours %x\nflynn %x", round, got, want)
		}
		pt, err := OpenRouter(&bob, nil, want)
		if err != nil || !bytes.Equal(pt, payload) {
			t.Fatalf("round %d: open flynn's message: %v", round, err)
		}
	}
}

func TestOpenRouterRefusesTamperingWrongKeysAndShortInput(t *testing.T) {
	src := testRand(2)
	bob, _ := crypto.GenerateX25519(src)
	eve, _ := crypto.GenerateX25519(src)
	msg, err := SealRouter(src, bob.Public, nil, []byte("a payload of some length"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range msg {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x01
		if i == 31 {
			// Bit 255 of an X25519 key is ignored (RFC 7748 §5), so flip a
			// bit that counts.
			bad[i] ^= 0x41
		}
		if _, err := OpenRouter(&bob, nil, bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}
	if _, err := OpenRouter(&eve, nil, msg); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong router key: err = %v, want ErrDecrypt", err)
	}
	for n := range RouterNOverhead {
		if _, err := OpenRouter(&bob, nil, msg[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("%d-byte message: err = %v, want ErrTruncated", n, err)
		}
	}
	// A low-order ephemeral key (zero) makes DH all zeros: refused before
	// any decryption.
	zero := append(make([]byte, 32), msg[32:]...)
	if _, err := OpenRouter(&bob, nil, zero); !errors.Is(err, ErrDecrypt) || !errors.Is(err, crypto.ErrLowOrderPoint) {
		t.Fatalf("zero ephemeral key: err = %v, want ErrDecrypt wrapping ErrLowOrderPoint", err)
	}
	if _, err := SealRouter(src, [32]byte{}, nil, nil); !errors.Is(err, crypto.ErrLowOrderPoint) {
		t.Fatalf("seal to a zero router key: err = %v, want ErrLowOrderPoint", err)
	}
}

// The tag-only format, checked against x/crypto's ChaCha20-Poly1305 used
// directly: tag ‖ ENCRYPT(key, nonce 0, payload, ad = tag) (i2np.rst
// §"Reply format"; i2pd WrapECIESX25519Message: nonce all zero, ad = the
// 8 tag bytes).
func TestSealTaggedIsTagThenAEADWithTagAsAD(t *testing.T) {
	key := key32(hx("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
	tag := Tag(hx("a1a2a3a4a5a6a7a8"))
	payload := []byte("tag-only reply payload")
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	want := append(tag[:], aead.Seal(nil, make([]byte, 12), payload, tag[:])...)
	got := SealTagged(&key, tag, nil, payload)
	if !bytes.Equal(got, want) {
		t.Fatalf("tag-only message\n got %x\nwant %x", got, want)
	}
	pt, err := OpenTagged(&key, nil, got)
	if err != nil || !bytes.Equal(pt, payload) {
		t.Fatalf("OpenTagged: %x, %v", pt, err)
	}
	bad := bytes.Clone(got)
	bad[3] ^= 1 // the tag is the associated data
	if _, err := OpenTagged(&key, nil, bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered tag: err = %v, want ErrDecrypt", err)
	}
	for n := range TagLen + crypto.AEADTagSize {
		if _, err := OpenTagged(&key, nil, got[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("%d bytes: err = %v, want ErrTruncated", n, err)
		}
	}
}

func testMessage(typ i2np.Type, id uint32, exp time.Time, payload []byte) i2np.Message {
	return i2np.Message{Type: typ, ID: id, Expiration: uint64(exp.Unix()) * 1000, Payload: payload}
}

func TestRouterReceiverOpensTaggedThenN(t *testing.T) {
	src := testRand(3)
	now := time.Unix(1_700_000_000, 0)
	router, _ := crypto.GenerateX25519(src)
	tags := NewTagTable(0)
	rx := NewRouterReceiver(router, tags)
	inner := testMessage(i2np.TypeDeliveryStatus, 77, now.Add(8*time.Second), bytes.Repeat([]byte{5}, 12))

	t.Run("N with DateTime", func(t *testing.T) {
		g, err := WrapForRouter(src, now, router.Public, inner)
		if err != nil {
			t.Fatal(err)
		}
		if g.Type != i2np.TypeGarlic {
			t.Fatalf("wrapped type %v", g.Type)
		}
		body, _, err := i2np.ParseGarlic(g.Payload)
		if err != nil {
			t.Fatal(err)
		}
		p, kind, err := rx.Open(now.Add(30*time.Second), body.Data)
		if err != nil || kind != KindN {
			t.Fatalf("Open: kind %v, %v", kind, err)
		}
		if !p.HasDateTime || p.DateTime != uint32(now.Unix()) || len(p.Cloves) != 1 || p.Padding < 0 || p.Padding > maxWrapPadding {
			t.Fatalf("payload %+v", p)
		}
		c := p.Cloves[0]
		if c.Delivery.Type != i2np.DeliveryLocal || c.Message.Type != inner.Type || c.Message.ID != inner.ID ||
			c.Message.Expiration != inner.Expiration || !bytes.Equal(c.Message.Payload, inner.Payload) {
			t.Fatalf("clove %+v, want %+v", c, inner)
		}
		// The same message again is a replay.
		if _, _, err := rx.Open(now.Add(40*time.Second), body.Data); !errors.Is(err, ErrReplay) {
			t.Fatalf("replayed N message: err = %v, want ErrReplay", err)
		}
	})

	t.Run("N outside the DateTime window", func(t *testing.T) {
		for _, skew := range []time.Duration{-MaxNMessageAge - time.Second, MaxNMessageFuture + time.Second} {
			g, err := WrapForRouter(src, now.Add(skew), router.Public, inner)
			if err != nil {
				t.Fatal(err)
			}
			body, _, _ := i2np.ParseGarlic(g.Payload)
			if _, _, err := rx.Open(now, body.Data); !errors.Is(err, ErrStale) {
				t.Fatalf("DateTime off by %v: err = %v, want ErrStale", skew, err)
			}
		}
	})

	t.Run("N without DateTime", func(t *testing.T) {
		p, _ := Payload{Padding: -1, Cloves: []i2np.Clove{{Message: inner}}}.Append(nil)
		msg, err := SealRouter(src, router.Public, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rx.Open(now, msg); !errors.Is(err, ErrStale) {
			t.Fatalf("undated N message: err = %v, want ErrStale", err)
		}
	})

	t.Run("tagged, single use", func(t *testing.T) {
		var key [32]byte
		src.Read(key[:])
		tag := Tag{1, 2, 3, 4, 5, 6, 7, 8}
		if err := tags.Add(tag, key, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		g, err := WrapTagged(src, now, &key, tag, inner)
		if err != nil {
			t.Fatal(err)
		}
		body, _, _ := i2np.ParseGarlic(g.Payload)
		p, kind, err := rx.Open(now, body.Data)
		if err != nil || kind != KindTagged {
			t.Fatalf("Open: kind %v, %v", kind, err)
		}
		if p.HasDateTime || len(p.Cloves) != 1 || p.Cloves[0].Message.ID != inner.ID {
			t.Fatalf("payload %+v", p)
		}
		// i2pd's SymmetricKeyTagSet reads the first block as the clove.
		pt, _ := OpenTagged(&key, nil, body.Data)
		if BlockType(pt[0]) != BlockGarlicClove {
			t.Fatalf("first block type %d, want a garlic clove", pt[0])
		}
		// The tag is gone: the same message is now tried as N and fails.
		if _, kind, err := rx.Open(now, body.Data); !errors.Is(err, ErrDecrypt) || kind != KindN {
			t.Fatalf("second use of a tag: kind %v, err %v, want N and ErrDecrypt", kind, err)
		}
	})

	t.Run("tagged with a wrong key consumes the tag", func(t *testing.T) {
		var key, wrong [32]byte
		src.Read(key[:])
		src.Read(wrong[:])
		tag := Tag{9, 9, 9, 9, 9, 9, 9, 9}
		if err := tags.Add(tag, key, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		g, _ := WrapTagged(src, now, &wrong, tag, inner)
		body, _, _ := i2np.ParseGarlic(g.Payload)
		if _, kind, err := rx.Open(now, body.Data); !errors.Is(err, ErrDecrypt) || kind != KindTagged {
			t.Fatalf("kind %v, err %v, want tagged and ErrDecrypt", kind, err)
		}
		if tags.Len() != 0 {
			t.Fatalf("%d tags left, want 0", tags.Len())
		}
	})
}

// The keySet forgets a key no earlier than its window and no later than
// twice the window.
func TestKeySetRemembersForAtLeastTheWindow(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := newKeySet(time.Minute)
	k := [32]byte{1}
	if s.seen(start, k) {
		t.Fatal("new key reported as seen")
	}
	for _, d := range []time.Duration{time.Second, 59 * time.Second, time.Minute, 90 * time.Second} {
		if !s.seen(start.Add(d), k) {
			t.Fatalf("key forgotten after %v", d)
		}
	}
	// The last seen call re-recorded nothing (it was present); after two
	// rotations without it the key is gone.
	if s.seen(start.Add(3*time.Minute), [32]byte{2}) {
		t.Fatal("other key reported as seen")
	}
	if s.seen(start.Add(5*time.Minute), k) {
		t.Fatal("key still remembered after more than twice the window")
	}
}
