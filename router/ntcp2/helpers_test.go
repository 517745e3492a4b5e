package ntcp2

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"i2pbridge/router/data"
)

const testNetID = 99

// testRouter is a router identity with its NTCP2 key and signed RouterInfo.
type testRouter struct {
	keys   data.RouterKeys
	static StaticKey
	ri     data.RouterInfo
}

type routerOpts struct {
	netID     string // netId option; "" means testNetID
	published time.Time
	addr      netip.AddrPort // zero: 198.19.0.200:12345
	caps      string
	// publishStatic overrides the s published in the RouterInfo.
	publishStatic *[32]byte
}

func newTestRouter(t testing.TB, o routerOpts) testRouter {
	t.Helper()
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	static, err := GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return testRouter{keys: keys, static: static, ri: buildRI(t, keys, static, o)}
}

func buildRI(t testing.TB, keys data.RouterKeys, static StaticKey, o routerOpts) data.RouterInfo {
	t.Helper()
	if o.netID == "" {
		o.netID = "99"
	}
	if o.published.IsZero() {
		o.published = time.Now()
	}
	if !o.addr.IsValid() {
		o.addr = netip.MustParseAddrPort("198.19.0.200:12345")
	}
	if o.caps == "" {
		o.caps = "LR"
	}
	s := static.Public
	if o.publishStatic != nil {
		s = *o.publishStatic
	}
	addr, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: s, IV: static.IV, AddrPort: o.addr})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := data.NewMapping(map[string]string{
		data.OptionCaps:          o.caps,
		data.OptionNetID:         o.netID,
		data.OptionRouterVersion: "0.9.57",
	})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{
		Published: o.published,
		Addresses: []data.RouterAddress{addr},
		Options:   opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

func (r testRouter) config() Config {
	return Config{RouterInfo: r.ri, Static: r.static}
}

// fixedPad returns a PadLen that always picks n, capped at max.
func fixedPad(n int) func(int) int {
	return func(max int) int { return min(n, max) }
}

// pair is one handshake's two sides.
type pair struct {
	alice *Initiator
	bob   *Responder
}

type pairOpts struct {
	aliceNow, bobNow func() time.Time
	alicePad         func(int) int
	bobPad           func(int) int
	aliceNetID       *uint8
	aliceRI          *data.RouterInfo
	replay           *ReplayCache
	aliceRand        io.Reader
	bobRand          io.Reader
}

func newPair(t testing.TB, a, b testRouter, o pairOpts) pair {
	t.Helper()
	netID := uint8(testNetID)
	if o.aliceNetID != nil {
		netID = *o.aliceNetID
	}
	ri := a.ri
	if o.aliceRI != nil {
		ri = *o.aliceRI
	}
	if o.replay == nil {
		o.replay = NewReplayCache(0, 0)
	}
	alice, err := NewInitiator(InitiatorConfig{
		HandshakeOptions: HandshakeOptions{Now: o.aliceNow, PadLen: o.alicePad, Rand: o.aliceRand},
		NetID:            netID,
		Static:           a.static,
		RouterInfo:       ri,
		PeerHash:         b.ri.Hash(),
		PeerStatic:       b.static.Public,
		PeerIV:           b.static.IV,
	})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := NewResponder(ResponderConfig{
		HandshakeOptions: HandshakeOptions{Now: o.bobNow, PadLen: o.bobPad, Replay: o.replay, Rand: o.bobRand},
		NetID:            testNetID,
		Static:           b.static,
		Hash:             b.ri.Hash(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return pair{alice, bob}
}

// transcript is the bytes of one complete handshake.
type transcript struct {
	msg1, msg2, msg3 []byte
	pad1, pad2       int // announced padding lengths
}

// messageOne runs Alice's first step and Bob's reading of it.
func (p pair) messageOne(t testing.TB) (msg1 []byte, pad1 int) {
	t.Helper()
	msg1, err := p.alice.SessionRequest()
	if err != nil {
		t.Fatalf("SessionRequest: %v", err)
	}
	return msg1, len(msg1) - HeadLen
}

// run drives a complete handshake and fails the test on any error.
func (p pair) run(t testing.TB) (transcript, data.RouterInfo) {
	t.Helper()
	tr, ri, err := p.try()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return tr, ri
}

// try drives a complete handshake and returns the first error.
func (p pair) try() (transcript, data.RouterInfo, error) {
	var tr transcript
	var err error
	if tr.msg1, err = p.alice.SessionRequest(); err != nil {
		return tr, data.RouterInfo{}, err
	}
	if tr.pad1, err = p.bob.ReadSessionRequest(tr.msg1[:HeadLen]); err != nil {
		return tr, data.RouterInfo{}, err
	}
	if tr.msg2, err = p.bob.SessionCreated(tr.msg1[HeadLen:]); err != nil {
		return tr, data.RouterInfo{}, err
	}
	if tr.pad2, err = p.alice.ReadSessionCreated(tr.msg2[:HeadLen]); err != nil {
		return tr, data.RouterInfo{}, err
	}
	if tr.msg3, err = p.alice.SessionConfirmed(tr.msg2[HeadLen:]); err != nil {
		return tr, data.RouterInfo{}, err
	}
	ri, err := p.bob.ReadSessionConfirmed(tr.msg3)
	return tr, ri, err
}

// mustFail checks that err matches want (errors.Is) and is not nil.
func mustFail(t testing.TB, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, want)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// flip returns a copy of b with bit 0 of byte i inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
