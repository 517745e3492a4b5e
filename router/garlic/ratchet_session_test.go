package garlic

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/crypto/elligator"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

var t0 = time.Unix(1_700_000_000, 0)

func newTestKeyring(t testing.TB, seed byte, cfg KeyringConfig) *Keyring {
	t.Helper()
	static, err := crypto.GenerateX25519(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Static = static
	if cfg.Rand == nil {
		cfg.Rand = testRand(seed + 100)
	}
	k, err := NewKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func dataClove(t testing.TB, body string) i2np.Clove {
	t.Helper()
	m, err := i2np.NewMessage(uint32(len(body)), i2np.ExpirationMillis(t0.Add(time.Hour)), i2np.Data{Payload: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return MessageClove(m, nil)
}

// bodies returns the payloads of the Data cloves of p.
func bodies(t testing.TB, p RatchetPayload) []string {
	t.Helper()
	var out []string
	for _, c := range p.Cloves {
		if c.Message.Type != i2np.TypeData {
			continue
		}
		d, _, err := i2np.ParseData(c.Message.Payload)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(d.Payload))
	}
	return out
}

func seal(t testing.TB, s *Session, now time.Time, body string) Sealed {
	t.Helper()
	var m Outgoing
	if body != "" {
		m.Cloves = []i2np.Clove{dataClove(t, body)}
	}
	out, err := s.Seal(now, m)
	if err != nil {
		t.Fatalf("seal %q in %v: %v", body, s.State(), err)
	}
	return out
}

func open(t testing.TB, k *Keyring, now time.Time, msg []byte, wantBody string) Inbound {
	t.Helper()
	in, err := k.Open(now, msg)
	if err != nil {
		t.Fatalf("open %q: %v", wantBody, err)
	}
	if got := bodies(t, in.Payload); wantBody != "" && (len(got) != 1 || got[0] != wantBody) {
		t.Fatalf("open: bodies %q, want %q", got, wantBody)
	}
	return in
}

// handshake runs NS, NSR and Alice's first ES, and returns both
// established sessions.
func handshake(t testing.TB, alice, bob *Keyring, now time.Time) (sa, sb *Session) {
	t.Helper()
	sa = alice.NewOutboundSession(now, bob.Static(), true)
	ns := seal(t, sa, now, "hello bob")
	if ns.Kind != KindNewSession || sa.State() != StateNewSessionSent {
		t.Fatalf("first message: %v, state %v", ns.Kind, sa.State())
	}
	in := open(t, bob, now, ns.Data, "hello bob")
	if in.Kind != KindNewSession || in.Session == nil || in.RemoteStatic != alice.Static() {
		t.Fatalf("Bob got %v, session %v, remote %x", in.Kind, in.Session != nil, in.RemoteStatic[:4])
	}
	sb = in.Session
	if sb.State() != StateNewSessionReceived || !sb.NeedsReply() {
		t.Fatalf("Bob's session: %v, needs reply %v", sb.State(), sb.NeedsReply())
	}
	nsr := seal(t, sb, now, "hello alice")
	if nsr.Kind != KindNewSessionReply || sb.State() != StateNewSessionReplySent {
		t.Fatalf("Bob's reply: %v, state %v", nsr.Kind, sb.State())
	}
	in = open(t, alice, now, nsr.Data, "hello alice")
	if in.Kind != KindNewSessionReply || in.Session != sa || sa.State() != StateEstablished || !sa.NeedsReply() {
		t.Fatalf("Alice got %v on her session %v, state %v", in.Kind, in.Session == sa, sa.State())
	}
	es := seal(t, sa, now, "es 0")
	if es.Kind != KindExistingSession || es.TagSetID != 0 || es.N != 0 || sa.NeedsReply() {
		t.Fatalf("Alice's first ES: %+v", es)
	}
	in = open(t, bob, now, es.Data, "es 0")
	if in.Kind != KindExistingSession || in.Session != sb || sb.State() != StateEstablished {
		t.Fatalf("Bob got %v, state %v", in.Kind, sb.State())
	}
	bob.mu.Lock()
	forgotten := sb.nsr == nil
	bob.mu.Unlock()
	if !forgotten {
		t.Fatal("Bob still holds his NSR ephemeral key after Alice's ES")
	}
	return sa, sb
}

func TestRatchetRoundTripsBothDirections(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	if alice.Session(bob.Static()) != sa || bob.Session(alice.Static()) != sb {
		t.Fatal("the established sessions are not the current ones")
	}
	r := rand.New(testRand(3))
	var na, nb int
	for i := range 200 {
		now := t0.Add(time.Duration(i) * time.Second)
		if r.IntN(2) == 0 {
			na++
			body := fmt.Sprintf("a→b %d", i)
			m := seal(t, sa, now, body)
			if m.Kind != KindExistingSession || int(m.N) != na {
				t.Fatalf("Alice's message %d: %+v", i, m)
			}
			if in := open(t, bob, now, m.Data, body); in.N != m.N || in.Session != sb {
				t.Fatalf("Bob saw N %d, sent %d", in.N, m.N)
			}
		} else {
			body := fmt.Sprintf("b→a %d", i)
			m := seal(t, sb, now, body)
			if m.Kind != KindExistingSession || int(m.N) != nb {
				t.Fatalf("Bob's message %d: %+v", i, m)
			}
			nb++
			open(t, alice, now, m.Data, body)
		}
	}
	if sessions, tags := bob.Stats(); sessions != 1 || tags == 0 {
		t.Fatalf("Bob's keyring: %d sessions, %d tags", sessions, tags)
	}
}

func TestNewSessionCarriesDateTimeAndLeaseSet(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	aliceDest := data.Hash{0xa1}
	ls := bytes.Repeat([]byte{0x4c}, 300)
	alice.SetLeaseSet(aliceDest, ls)
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	ns := seal(t, sa, t0, "get /")
	in := open(t, bob, t0, ns.Data, "get /")
	p := in.Payload
	if !p.HasDateTime || p.DateTime != uint32(t0.Unix()) || len(p.Cloves) != 2 {
		t.Fatalf("NS payload %+v", p)
	}
	c := p.Cloves[0]
	if c.Delivery.Type != i2np.DeliveryLocal || c.Message.Type != i2np.TypeDatabaseStore {
		t.Fatalf("first clove %v %v", c.Delivery.Type, c.Message.Type)
	}
	dsm, _, err := i2np.ParseDatabaseStore(c.Message.Payload)
	if err != nil || dsm.Key != aliceDest || dsm.StoreType != i2np.StoreLeaseSet2 || dsm.ReplyToken != 0 || !bytes.Equal(dsm.Data, ls) {
		t.Fatalf("LeaseSet clove: %+v, %v", dsm, err)
	}
	// The representative decodes to a key Bob could use: it is the NS
	// ephemeral key, and Elligator2 makes it look random.
	var repr [32]byte
	copy(repr[:], ns.Data)
	if _, err := elligator.Decode(repr); err != nil {
		t.Fatalf("NS does not start with a representative: %v", err)
	}
	// Bob's reply carries a DateTime too (as i2pd's does), and no
	// LeaseSet: Bob has none set.
	nsr := seal(t, in.Session, t0, "200 ok")
	back := open(t, alice, t0, nsr.Data, "200 ok")
	if !back.Payload.HasDateTime || len(back.Payload.Cloves) != 1 {
		t.Fatalf("NSR payload %+v", back.Payload)
	}
	// The reply confirmed Alice's LeaseSet: her first ES has none.
	es := seal(t, sa, t0, "ack")
	if in := open(t, bob, t0, es.Data, "ack"); len(in.Payload.Cloves) != 1 || in.Payload.AckRequest {
		t.Fatalf("first ES payload %+v", in.Payload)
	}
}

// i2pd's Bob sends every NSR of a session with the same ephemeral key and
// the next NSR tag; Alice accepts them in any order, and only the first
// she sees sets up the tag sets, which all of them share.
func TestRepeatedNewSessionRepliesShareKeysLikeI2pd(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	sb := open(t, bob, t0, seal(t, sa, t0, "post 1").Data, "post 1").Session
	var replies []Sealed
	for i := range 4 {
		m := seal(t, sb, t0, fmt.Sprintf("part %d", i))
		if m.Kind != KindNewSessionReply {
			t.Fatalf("reply %d is %v", i, m.Kind)
		}
		replies = append(replies, m)
	}
	for i := 1; i < len(replies); i++ {
		if !bytes.Equal(replies[i].Data[8:40], replies[0].Data[8:40]) || bytes.Equal(replies[i].Data[:8], replies[0].Data[:8]) {
			t.Fatalf("reply %d: same key %v, same tag %v", i, bytes.Equal(replies[i].Data[8:40], replies[0].Data[8:40]),
				bytes.Equal(replies[i].Data[:8], replies[0].Data[:8]))
		}
	}
	for _, i := range []int{2, 0, 3, 1} {
		in := open(t, alice, t0, replies[i].Data, fmt.Sprintf("part %d", i))
		if in.Kind != KindNewSessionReply || sa.State() != StateEstablished {
			t.Fatalf("reply %d: %v, state %v", i, in.Kind, sa.State())
		}
	}
	// Bob keeps replying with NSRs until Alice's first ES arrives.
	if m := seal(t, sb, t0, "part 4"); m.Kind != KindNewSessionReply {
		t.Fatalf("Bob sent %v before Alice's ES", m.Kind)
	}
	open(t, bob, t0, seal(t, sa, t0, "thanks").Data, "thanks")
	m := seal(t, sb, t0, "part 5")
	if m.Kind != KindExistingSession {
		t.Fatalf("Bob sent %v after Alice's ES", m.Kind)
	}
	open(t, alice, t0, m.Data, "part 5")
}

// A spec-following Bob (Java) uses a new ephemeral key for every NSR; our
// Alice accepts those too.
func TestAliceAcceptsRepliesWithFreshKeys(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	sb := open(t, bob, t0, seal(t, sa, t0, "post").Data, "post").Session
	first := seal(t, sb, t0, "one")
	open(t, alice, t0, first.Data, "one")
	// A second reply built by hand: next NSR tag, fresh ephemeral key.
	src := testRand(9)
	be, repr, err := elligator.GenerateKey(src)
	if err != nil {
		t.Fatal(err)
	}
	bob.mu.Lock()
	_, tag, _, _ := sb.nsr.tags.next()
	ee, _ := be.DH(sb.aepk)
	se, _ := be.DH(sb.remote)
	payload, _ := (RatchetPayload{Cloves: []i2np.Clove{dataClove(t, "two")}, Padding: -1}).Append(nil)
	msg, _, err := sealNSR(sb.nsBase, tag, be.Public, repr, ee, se, nil, payload)
	bob.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	open(t, alice, t0, msg, "two")
}

// Alice may send several NS before a reply (ecies.rst "HTTP POST" option
// 3); Bob answers on the newest session, and Alice's first ES makes it the
// only one.
func TestSeveralNewSessionsBeforeTheReply(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	var keys [][]byte
	var bobSessions []*Session
	for i := range 3 {
		ns := seal(t, sa, t0, fmt.Sprintf("post %d", i))
		if ns.Kind != KindNewSession {
			t.Fatalf("message %d is %v", i, ns.Kind)
		}
		keys = append(keys, ns.Data[:32])
		bobSessions = append(bobSessions, open(t, bob, t0, ns.Data, fmt.Sprintf("post %d", i)).Session)
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[1], keys[2]) {
		t.Fatal("an ephemeral key was reused")
	}
	cur := bob.Session(alice.Static())
	if cur != bobSessions[2] {
		t.Fatal("Bob's current session is not the newest")
	}
	open(t, alice, t0, seal(t, cur, t0, "ok").Data, "ok")
	open(t, bob, t0, seal(t, sa, t0, "more").Data, "more")
	if sessions, _ := bob.Stats(); sessions != 1 || bobSessions[0].State() != StateTerminated || cur.State() != StateEstablished {
		t.Fatalf("Bob keeps %d sessions; first %v, current %v", sessions, bobSessions[0].State(), cur.State())
	}
}

func TestUnboundNewSessionsMakeNoSession(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	alice.SetLeaseSet(data.Hash{1}, []byte("ls"))
	s := alice.NewOutboundSession(t0, bob.Static(), false)
	for i := range 3 {
		m := seal(t, s, t0, fmt.Sprintf("datagram %d", i))
		if m.Kind != KindNewSession || s.State() != StateOneTime {
			t.Fatalf("datagram %d: %v, state %v", i, m.Kind, s.State())
		}
		in := open(t, bob, t0, m.Data, fmt.Sprintf("datagram %d", i))
		if in.Session != nil || in.RemoteStatic != ([32]byte{}) || len(in.Payload.Cloves) != 1 {
			t.Fatalf("unbound NS at Bob: session %v, remote %x, %d cloves", in.Session != nil, in.RemoteStatic[:4], len(in.Payload.Cloves))
		}
	}
	if sessions, tags := bob.Stats(); sessions != 0 || tags != 0 {
		t.Fatalf("Bob keeps %d sessions and %d tags", sessions, tags)
	}
	if sessions, tags := alice.Stats(); sessions != 0 || tags != 0 {
		t.Fatalf("Alice keeps %d sessions and %d tags", sessions, tags)
	}
}

func TestReplaysAreRefused(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	ns := seal(t, sa, t0, "ns")
	sb := open(t, bob, t0, ns.Data, "ns").Session
	if _, err := bob.Open(t0, ns.Data); !errors.Is(err, ErrReplay) {
		t.Fatalf("NS replay: err = %v, want ErrReplay", err)
	}
	// Flipping the representative's two random bits gives other bytes for
	// the same key: still a replay.
	flipped := bytes.Clone(ns.Data)
	flipped[31] ^= elligator.TopBitsMask
	if _, err := bob.Open(t0.Add(time.Minute), flipped); !errors.Is(err, ErrReplay) {
		t.Fatalf("NS replay with other top bits: err = %v, want ErrReplay", err)
	}
	nsr := seal(t, sb, t0, "nsr")
	open(t, alice, t0, nsr.Data, "nsr")
	if _, err := alice.Open(t0, nsr.Data); !errors.Is(err, ErrReplay) {
		t.Fatalf("NSR replay: err = %v, want ErrReplay", err)
	}
	es := seal(t, sa, t0, "es")
	open(t, bob, t0, es.Data, "es")
	if _, err := bob.Open(t0, es.Data); !errors.Is(err, ErrReplay) {
		t.Fatalf("ES replay: err = %v, want ErrReplay", err)
	}
	// A forged message under a fresh tag burns the tag; the real one is
	// then refused too (i2pd does the same).
	es2 := seal(t, sa, t0, "es2")
	forged := bytes.Clone(es2.Data)
	forged[len(forged)-1] ^= 1
	if _, err := bob.Open(t0, forged); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("forged ES: err = %v, want ErrDecrypt", err)
	}
	if _, err := bob.Open(t0, es2.Data); !errors.Is(err, ErrReplay) {
		t.Fatalf("ES after its tag was burnt: err = %v, want ErrReplay", err)
	}
}

func TestNewSessionDateTimeWindow(t *testing.T) {
	cases := []struct {
		name string
		skew time.Duration // Bob's clock minus Alice's
		ok   bool
	}{
		{"same time", 0, true},
		{"4 min old", 4*time.Minute + 59*time.Second, true},
		{"6 min old", 6 * time.Minute, false},
		{"1 min in the future", -time.Minute, true},
		{"3 min in the future", -3 * time.Minute, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alice := newTestKeyring(t, byte(10+i), KeyringConfig{})
			bob := newTestKeyring(t, 2, KeyringConfig{})
			ns := seal(t, alice.NewOutboundSession(t0, bob.Static(), true), t0, "x")
			_, err := bob.Open(t0.Add(c.skew), ns.Data)
			if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrStale)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestOutOfOrderTagsWithinTheWindow(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	// Indices 1-23 are in Bob's first window (24 tags); deliver them
	// backwards.
	var msgs []Sealed
	for i := 1; i <= 23; i++ {
		msgs = append(msgs, seal(t, sa, t0, fmt.Sprint(i)))
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if in := open(t, bob, t0, msgs[i].Data, fmt.Sprint(i+1)); int(in.N) != i+1 {
			t.Fatalf("N = %d, want %d", in.N, i+1)
		}
	}
	// Shuffled delivery of the next 100, each within the window that
	// grows as messages arrive.
	msgs = msgs[:0]
	for i := 24; i < 124; i++ {
		msgs = append(msgs, seal(t, sa, t0, fmt.Sprint(i)))
	}
	r := rand.New(testRand(4))
	for lo := 0; lo < len(msgs); lo += 20 {
		batch := msgs[lo:min(lo+20, len(msgs))]
		for _, j := range r.Perm(len(batch)) {
			open(t, bob, t0, batch[j].Data, fmt.Sprint(24+lo+j))
		}
	}
}

func TestTagsBeyondTheWindow(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0) // Bob received index 0: tags 0-23 are registered
	var msgs []Sealed
	for i := 1; i <= 400; i++ {
		msgs = append(msgs, seal(t, sa, t0, fmt.Sprint(i)))
	}
	// Index 349 is past the window and past i2pd's 320-tag search from
	// it: refused, and the search is not repeated for the next miss.
	if _, err := bob.Open(t0, msgs[348].Data); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("index 349: err = %v, want ErrDecrypt", err)
	}
	// The search registered tags up to 343, so a message there opens.
	open(t, bob, t0, msgs[299].Data, "300")
	// Index 380 is past the window (300 + 99) but within the search.
	open(t, bob, t0, msgs[379].Data, "380")
	// Tags more than 320 behind the last index received are trimmed.
	for i := 381; i <= 400; i++ {
		open(t, bob, t0, msgs[i-1].Data, fmt.Sprint(i))
	}
	if _, err := bob.Open(t0, msgs[9].Data); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("index 10, 390 behind: err = %v, want ErrDecrypt", err)
	}
	open(t, bob, t0, msgs[99].Data, "100") // 300 behind: still there
}

// ratchetRun exchanges messages, Alice sending aliceRatio of them, and
// records the tag set IDs and NextKey blocks seen.
type ratchetLog struct {
	aliceSets, bobSets []uint16 // tag set ID of each message sent
	aliceKeys, bobKeys []NextKey
}

func runRatchet(t *testing.T, sa, sb *Session, alice, bob *Keyring, msgs int, aliceShare float64, seed byte) ratchetLog {
	t.Helper()
	var log ratchetLog
	r := rand.New(testRand(seed))
	for i := range msgs {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		body := fmt.Sprint(i)
		if r.Float64() < aliceShare {
			m := seal(t, sa, now, body)
			in := open(t, bob, now, m.Data, body)
			if in.TagSetID != m.TagSetID || in.N != m.N {
				t.Fatalf("message %d: sent (%d, %d), received (%d, %d)", i, m.TagSetID, m.N, in.TagSetID, in.N)
			}
			log.aliceSets = append(log.aliceSets, m.TagSetID)
			log.aliceKeys = append(log.aliceKeys, in.Payload.NextKeys...)
		} else {
			m := seal(t, sb, now, body)
			in := open(t, alice, now, m.Data, body)
			if in.TagSetID != m.TagSetID || in.N != m.N {
				t.Fatalf("message %d: sent (%d, %d), received (%d, %d)", i, m.TagSetID, m.N, in.TagSetID, in.N)
			}
			log.bobSets = append(log.bobSets, m.TagSetID)
			log.bobKeys = append(log.bobKeys, in.Payload.NextKeys...)
		}
	}
	return log
}

// checkSequential requires tag set IDs to start at 0 and grow by one.
func checkSequential(t *testing.T, who string, ids []uint16, atLeast uint16) {
	t.Helper()
	last := uint16(0)
	for i, id := range ids {
		if id != last && id != last+1 {
			t.Fatalf("%s message %d: tag set %d after %d", who, i, id, last)
		}
		last = id
	}
	if last < atLeast {
		t.Fatalf("%s reached tag set %d, want at least %d", who, last, atLeast)
	}
}

func TestNextKeyRatchetsBothDirections(t *testing.T) {
	for _, c := range []struct {
		name       string
		aliceShare float64
	}{
		{"balanced", 0.5},
		{"mostly alice", 0.9},
		{"mostly bob", 0.1},
	} {
		t.Run(c.name, func(t *testing.T) {
			const after = 5
			alice := newTestKeyring(t, 1, KeyringConfig{NextKeyAfter: after})
			bob := newTestKeyring(t, 2, KeyringConfig{NextKeyAfter: after})
			sa, sb := handshake(t, alice, bob, t0)
			log := runRatchet(t, sa, sb, alice, bob, 3000, c.aliceShare, 5)
			checkSequential(t, "Alice", log.aliceSets, 10)
			checkSequential(t, "Bob", log.bobSets, 10)
			// Forward keys follow ecies.rst's table: key 0 new with a
			// request, then alternately a new key and a reused one
			// with a request.
			checkForwardKeys(t, "Alice", log.aliceKeys)
			checkForwardKeys(t, "Bob", log.bobKeys)
			if sessions, _ := bob.Stats(); sessions != 1 {
				t.Fatalf("Bob has %d sessions", sessions)
			}
		})
	}
}

// checkForwardKeys walks the forward NextKey blocks one side sent (with
// repeats) and checks IDs and flags against the spec's table.
func checkForwardKeys(t *testing.T, who string, keys []NextKey) {
	t.Helper()
	type step struct {
		id     uint16
		newKey bool
	}
	var seen []step
	for _, k := range keys {
		if k.IsReverse() {
			continue
		}
		s := step{k.KeyID, k.HasKey()}
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
	}
	if len(seen) < 4 {
		t.Fatalf("%s sent %d distinct forward keys", who, len(seen))
	}
	for i, s := range seen {
		// Tag set i+1: key ID (i+1)/2, new for odd tag sets 1, 2, 4, 6, ….
		want := step{uint16((i + 1) / 2), i == 0 || i%2 == 1}
		if s != want {
			t.Fatalf("%s forward key %d: %+v, want %+v", who, i, s, want)
		}
	}
}

// i2pd's figure: the first NextKey block goes out in the message after
// index 8192 of tag set 0, and the sender moves to tag set 1 as soon as the
// reverse key arrives.
func TestNextKeyAfterI2pdDefault(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	for n := 1; n <= DefaultNextKeyAfter+1; n++ {
		m := seal(t, sa, t0, "")
		in, err := bob.Open(t0, m.Data)
		if err != nil {
			t.Fatalf("index %d: %v", n, err)
		}
		if n%500 == 0 {
			open(t, alice, t0, seal(t, sb, t0, "ack").Data, "ack")
		}
		switch {
		case n <= DefaultNextKeyAfter && len(in.Payload.NextKeys) != 0:
			t.Fatalf("NextKey in message %d", n)
		case n == DefaultNextKeyAfter+1:
			if len(in.Payload.NextKeys) != 1 || in.Payload.NextKeys[0].Flags != NextKeyPresent|NextKeyRequestReverse || in.Payload.NextKeys[0].KeyID != 0 {
				t.Fatalf("message %d: NextKeys %+v", n, in.Payload.NextKeys)
			}
		}
	}
	reply := open(t, alice, t0, seal(t, sb, t0, "reverse").Data, "reverse")
	if len(reply.Payload.NextKeys) != 1 || reply.Payload.NextKeys[0].Flags != NextKeyReverse|NextKeyPresent || reply.Payload.NextKeys[0].KeyID != 0 {
		t.Fatalf("Bob's answer: %+v", reply.Payload.NextKeys)
	}
	m := seal(t, sa, t0, "tag set 1")
	if m.TagSetID != 1 || m.N != 0 {
		t.Fatalf("Alice's next message: tag set %d, N %d", m.TagSetID, m.N)
	}
	if in := open(t, bob, t0, m.Data, "tag set 1"); in.TagSetID != 1 || len(in.Payload.NextKeys) != 0 {
		t.Fatalf("Bob: tag set %d, NextKeys %+v", in.TagSetID, in.Payload.NextKeys)
	}
}

// Messages sent on the old tag set before the ratchet still open for
// PreviousTagSetLifetime, and not after.
func TestPreviousTagSetExpires(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{NextKeyAfter: 2})
	bob := newTestKeyring(t, 2, KeyringConfig{NextKeyAfter: 2})
	sa, sb := handshake(t, alice, bob, t0)
	var late []Sealed
	for i := 1; i <= 5; i++ {
		m := seal(t, sa, t0, fmt.Sprint(i))
		if i >= 4 {
			late = append(late, m) // held back; 3 carries the first NextKey
			continue
		}
		open(t, bob, t0, m.Data, fmt.Sprint(i))
	}
	open(t, alice, t0, seal(t, sb, t0, "reverse").Data, "reverse")
	if m := seal(t, sa, t0, "new"); m.TagSetID != 1 {
		t.Fatalf("no ratchet: tag set %d", m.TagSetID)
	} else {
		open(t, bob, t0, m.Data, "new")
	}
	open(t, bob, t0.Add(PreviousTagSetLifetime), late[0].Data, "4")
	if _, err := bob.Open(t0.Add(PreviousTagSetLifetime+time.Second), late[1].Data); !errors.Is(err, ErrStale) {
		t.Fatalf("message on the expired tag set: err = %v, want ErrStale", err)
	}
}

func TestAckRequestIsAnswered(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	m, err := sa.Seal(t0, Outgoing{Cloves: []i2np.Clove{dataClove(t, "ack me")}, AckRequest: true})
	if err != nil {
		t.Fatal(err)
	}
	in := open(t, bob, t0, m.Data, "ack me")
	if !in.Payload.AckRequest || !sb.NeedsReply() {
		t.Fatalf("AckRequest %v, Bob needs reply %v", in.Payload.AckRequest, sb.NeedsReply())
	}
	back := open(t, alice, t0, seal(t, sb, t0, "").Data, "")
	if len(back.Payload.Acks) != 1 || back.Payload.Acks[0] != (Ack{TagSetID: m.TagSetID, N: m.N}) || sb.NeedsReply() {
		t.Fatalf("Acks %+v for (%d, %d)", back.Payload.Acks, m.TagSetID, m.N)
	}
}

func TestPendingAcksAreBounded(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	var last Sealed
	for range maxPendingAcks + 10 {
		m, err := sa.Seal(t0, Outgoing{AckRequest: true})
		if err != nil {
			t.Fatal(err)
		}
		open(t, bob, t0, m.Data, "")
		last = m
	}
	acks := open(t, alice, t0, seal(t, sb, t0, "").Data, "").Payload.Acks
	if len(acks) != maxPendingAcks || acks[len(acks)-1] != (Ack{last.TagSetID, last.N}) || acks[0].N != 11 {
		t.Fatalf("%d acks, first %+v, last %+v", len(acks), acks[0], acks[len(acks)-1])
	}
}

// Wrap gives the I2NP Garlic message around a sealed message, and a
// DESTINATION clove (how i2pd addresses its data cloves) arrives as sent.
func TestWrapAndDestinationCloves(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	dest := data.Hash{0xde, 0x57}
	m, err := i2np.NewMessage(9, i2np.ExpirationMillis(t0.Add(time.Minute)), i2np.Data{Payload: []byte("to a destination")})
	if err != nil {
		t.Fatal(err)
	}
	msg, sealed, err := sa.Wrap(t0, Outgoing{Cloves: []i2np.Clove{MessageClove(m, &dest)}})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := i2np.ParseGarlic(msg.Payload)
	if err != nil || msg.Type != i2np.TypeGarlic || !bytes.Equal(g.Data, sealed.Data) || msg.Expiration != i2np.ExpirationMillis(t0.Add(i2np.DefaultExpiration)) {
		t.Fatalf("Garlic message %v, %v", msg.Type, err)
	}
	in := open(t, bob, t0, g.Data, "to a destination")
	if c := in.Payload.Cloves[0]; c.Delivery.Type != i2np.DeliveryDestination || c.Delivery.Hash != dest {
		t.Fatalf("clove delivery %+v", c.Delivery)
	}
}

func TestLeaseSetIsResentUntilAcked(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	hasLS := func(p RatchetPayload) bool {
		return len(p.Cloves) > 0 && p.Cloves[0].Message.Type == i2np.TypeDatabaseStore && p.AckRequest
	}
	alice.SetLeaseSet(data.Hash{7}, []byte("new leaseset"))
	if n := alice.LeaseSetUnconfirmed(); n != 1 {
		t.Fatalf("LeaseSetUnconfirmed %d before sending, want 1", n)
	}
	now := t0
	if !hasLS(open(t, bob, now, seal(t, sa, now, "1").Data, "1").Payload) {
		t.Fatal("updated LeaseSet not sent")
	}
	if hasLS(open(t, bob, now, seal(t, sa, now, "2").Data, "2").Payload) {
		t.Fatal("LeaseSet sent again before its ack was due")
	}
	// No ack within LeaseSetConfirmTimeout: sent again.
	now = now.Add(LeaseSetConfirmTimeout + time.Millisecond)
	if !hasLS(open(t, bob, now, seal(t, sa, now, "3").Data, "3").Payload) {
		t.Fatal("unconfirmed LeaseSet not resent")
	}
	if n := alice.LeaseSetUnconfirmed(); n != 1 {
		t.Fatalf("LeaseSetUnconfirmed %d before the ack, want 1", n)
	}
	open(t, alice, now, seal(t, sb, now, "ack").Data, "ack") // carries Bob's Ack
	if n := alice.LeaseSetUnconfirmed(); n != 0 {
		t.Fatalf("LeaseSetUnconfirmed %d after the ack, want 0", n)
	}
	now = now.Add(time.Hour)
	open(t, alice, now, seal(t, sb, now, "keep alive").Data, "keep alive")
	if hasLS(open(t, bob, now, seal(t, sa, now, "4").Data, "4").Payload) {
		t.Fatal("acked LeaseSet sent again")
	}
}

// Alice sends her first ES on DH_INITIALIZE(chainKey, k_ab) of the reply
// she received, and Bob his on DH_INITIALIZE(chainKey, k_ba): recomputed
// here from Alice's NS state and Bob's reply bytes, with the tag sets
// written out from the spec (refTagSet).
func TestTagSetsZeroFollowTheReply(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	sb := open(t, bob, t0, seal(t, sa, t0, "ns").Data, "ns").Session
	nsr := seal(t, sb, t0, "nsr")
	alice.mu.Lock()
	ns := sa.pending[0]
	alice.mu.Unlock()
	var repr [32]byte
	copy(repr[:], nsr.Data[TagLen:])
	bepk, err := elligator.Decode(repr)
	if err != nil {
		t.Fatal(err)
	}
	ee, _ := ns.eph.DH(bepk)
	se, _ := alice.static.DH(bepk)
	_, keys, err := openNSR(ns.st, bepk, ee, se, nsr.Data)
	if err != nil {
		t.Fatal(err)
	}
	open(t, alice, t0, nsr.Data, "nsr")
	abTags, _, _ := refTagSet(keys.ck[:], keys.kab[:], 1)
	baTags, _, _ := refTagSet(keys.ck[:], keys.kba[:], 1)
	if es := seal(t, sa, t0, "es"); !bytes.Equal(es.Data[:TagLen], abTags[0]) {
		t.Fatalf("Alice's first tag %x, want %x", es.Data[:TagLen], abTags[0])
	} else {
		open(t, bob, t0, es.Data, "es")
	}
	if es := seal(t, sb, t0, "es"); !bytes.Equal(es.Data[:TagLen], baTags[0]) {
		t.Fatalf("Bob's first tag %x, want %x", es.Data[:TagLen], baTags[0])
	}
}

// The receive window after index n reaches min(24 + n/4, 320) tags past n
// and keeps 320 behind it (i2pd 2.45 HandleExistingSessionMessage); an NSR
// tag set refills 12 when fewer than 6 remain.
func TestReceiveWindowFollowsI2pd(t *testing.T) {
	cases := []struct {
		kind              recvKind
		initial, n        int
		wantNext, wantLow int
	}{
		{recvES, 24, 0, 24, 0},
		{recvES, 24, 4, 29, 0},
		{recvES, 24, 23, 52, 0},
		{recvES, 320, 100, 320, 0},
		{recvES, 100, 100, 149, 0},
		{recvES, 320, 319, 422, 0},
		{recvES, 1600, 1200, 1600, 880},
		{recvES, 65536, 65500, 65536, 65180},
		{recvNSR, 12, 5, 12, 0},
		{recvNSR, 12, 6, 12, 0},
		{recvNSR, 12, 7, 24, 0},
	}
	for _, c := range cases {
		k := &Keyring{tags: map[Tag]tagRef{}}
		ts := newRecvTagSet(&Session{k: k}, c.kind, 0, dhInitialize([32]byte{1}, [32]byte{2}))
		k.extend(ts, c.initial)
		k.refill(ts, c.n)
		if ts.tags.next != c.wantNext || ts.trimBehind != c.wantLow || len(ts.live) != c.wantNext-c.wantLow || len(k.tags) != len(ts.live) {
			t.Errorf("%v after %d of %d: next %d (want %d), trimmed below %d (want %d), %d live, %d indexed",
				c.kind, c.n, c.initial, ts.tags.next, c.wantNext, ts.trimBehind, c.wantLow, len(ts.live), len(k.tags))
		}
	}
}

// Only the Ack of the message that carried the LeaseSet confirms it.
func TestLeaseSetConfirmedOnlyByItsOwnAck(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	hasLS := func(p RatchetPayload) bool {
		return len(p.Cloves) > 0 && p.Cloves[0].Message.Type == i2np.TypeDatabaseStore
	}
	other, err := sa.Seal(t0, Outgoing{Cloves: []i2np.Clove{dataClove(t, "x")}, AckRequest: true})
	if err != nil {
		t.Fatal(err)
	}
	open(t, bob, t0, other.Data, "x")
	alice.SetLeaseSet(data.Hash{7}, []byte("leaseset"))
	lost := seal(t, sa, t0, "carries the LeaseSet")
	_ = lost // never delivered
	back := open(t, alice, t0, seal(t, sb, t0, "").Data, "")
	if len(back.Payload.Acks) != 1 || back.Payload.Acks[0].N != other.N {
		t.Fatalf("Bob acked %+v", back.Payload.Acks)
	}
	now := t0.Add(LeaseSetConfirmTimeout + time.Millisecond)
	if !hasLS(open(t, bob, now, seal(t, sa, now, "again").Data, "again").Payload) {
		t.Fatal("LeaseSet confirmed by another message's Ack")
	}
}

// Padding is 0-15 bytes and never pushes a payload that fits in
// OptimalPayloadLen past it (i2pd CreatePayload).
func TestRandomPaddingKeepsTheOptimalSize(t *testing.T) {
	cases := []struct{ n, want int }{
		{0, 15}, {1000, 15}, {1893, 15}, {1900, 9}, {1908, 1}, {1909, -1}, {1912, -1}, {1913, 15}, {5000, 15},
	}
	for _, c := range cases {
		got, err := randomPadding(bytes.NewReader([]byte{0, 0, 0, 15}), c.n)
		if err != nil || got != c.want {
			t.Errorf("payload %d: padding %d (%v), want %d", c.n, got, err, c.want)
		}
	}
	if got, _ := randomPadding(bytes.NewReader([]byte{0, 0, 0, 16}), 0); got != 0 {
		t.Errorf("random value 16 gave %d bytes", got)
	}
	if _, err := randomPadding(bytes.NewReader(nil), 0); err == nil {
		t.Error("no error from an empty random source")
	}
}

// craftNS seals payload as a bound NS from alice to bob, bypassing the
// session's payload builder.
func craftNS(t *testing.T, alice, bob *Keyring, payload []byte) []byte {
	t.Helper()
	eph, repr, err := elligator.GenerateKey(testRand(77))
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := sealNewSession(newSessionState(NewSessionProtocolName, bob.Static()), bob.Static(), &eph, repr, &alice.static, nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestNewSessionNeedsALeadingDateTime(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	dt := RatchetPayload{DateTime: uint32(t0.Unix()), HasDateTime: true, Padding: -1}
	withClove := dt
	withClove.Cloves = []i2np.Clove{dataClove(t, "x")}
	good, _ := withClove.Append(nil)
	noDate, _ := (RatchetPayload{Cloves: withClove.Cloves, Padding: -1}).Append(nil)
	dateSecond := cat(good[BlockHeaderLen+dateTimeLen:], good[:BlockHeaderLen+dateTimeLen])
	for _, c := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"DateTime first", good, nil},
		{"no DateTime", noDate, ErrStale},
		{"DateTime second", dateSecond, ErrStale},
		{"malformed payload", hx("00 0003 000000"), ErrMalformed},
	} {
		bob := newTestKeyring(t, 2, KeyringConfig{})
		in, err := bob.Open(t0, craftNS(t, alice, bob, c.payload))
		if !errors.Is(err, c.want) || (err == nil) != (in.Session != nil) {
			t.Errorf("%s: err = %v, want %v (session %v)", c.name, err, c.want, in.Session != nil)
		}
	}
}

// Blocks only an ES may carry are dropped from NS and NSR payloads and do
// nothing.
func TestNewSessionIgnoresExistingSessionBlocks(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	p := RatchetPayload{
		DateTime: uint32(t0.Unix()), HasDateTime: true, Cloves: []i2np.Clove{dataClove(t, "x")},
		AckRequest: true, Acks: []Ack{{0, 1}}, NextKeys: []NextKey{{Flags: NextKeyPresent | NextKeyRequestReverse}},
		PN: 3, HasPN: true, Termination: &Termination{}, Padding: -1,
	}
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := bob.Open(t0, craftNS(t, alice, bob, b))
	if err != nil {
		t.Fatal(err)
	}
	got := in.Payload
	if got.AckRequest || got.Acks != nil || got.NextKeys != nil || got.HasPN || got.Termination != nil || len(got.Cloves) != 1 {
		t.Fatalf("NS payload kept ES blocks: %+v", got)
	}
	if in.Session.State() != StateNewSessionReceived {
		t.Fatalf("state %v", in.Session.State())
	}
}

// Alice answers replies to her last maxPendingNS New Sessions only.
func TestAliceKeepsTheLastPendingNewSessions(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{MaxSessions: 100})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	var bobs []*Session
	for i := range maxPendingNS + 1 {
		bobs = append(bobs, open(t, bob, t0, seal(t, sa, t0, fmt.Sprint(i)).Data, fmt.Sprint(i)).Session)
	}
	alice.mu.Lock()
	pending, sets := len(sa.pending), len(sa.recvSets)
	alice.mu.Unlock()
	if pending != maxPendingNS || sets != maxPendingNS {
		t.Fatalf("%d pending NS and %d NSR tag sets, want %d", pending, sets, maxPendingNS)
	}
	if _, err := alice.Open(t0, seal(t, bobs[0], t0, "too late").Data); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("reply to the dropped NS: err = %v, want ErrDecrypt", err)
	}
	open(t, alice, t0, seal(t, bobs[1], t0, "in time").Data, "in time")
}

// The tag search gives up on a tag set that already holds three windows.
func TestTagSearchIsBounded(t *testing.T) {
	for _, c := range []struct {
		held  int
		found bool
	}{{3*maxLookahead - 1, true}, {3 * maxLookahead, false}} {
		k := &Keyring{tags: map[Tag]tagRef{}}
		chains := dhInitialize([32]byte{3}, [32]byte{4})
		ts := newRecvTagSet(&Session{k: k}, recvES, 0, chains)
		k.extend(ts, c.held)
		send := newSendTagSet(0, chains)
		var tag Tag
		for range c.held + 10 {
			_, tag, _, _ = send.next()
		}
		k.lastES = ts
		if _, ok := k.recoverTag(t0, tag); ok != c.found || k.lastES != nil && !ok {
			t.Errorf("%d tags held: found %v, want %v", c.held, ok, c.found)
		}
	}
}

// Past key ID 32767 the sender cannot ratchet again and ends the session
// so that the next message starts a new one (ecies.rst §"KEY AND TAG SET
// IDS").
func TestKeyIDExhaustionEndsTheSession(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{NextKeyAfter: 1})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	alice.mu.Lock()
	sa.nextSend = &dhRatchet{keyID: MaxKeyID, newKey: false}
	alice.mu.Unlock()
	m := seal(t, sa, t0, "1") // index 1 ≥ NextKeyAfter: the ratchet is due
	open(t, bob, t0, m.Data, "1")
	if sa.State() != StateTerminated {
		t.Fatalf("state %v after the last key ID", sa.State())
	}
	if s := alice.SessionFor(t0, bob.Static()); s == sa || s.State() != StateNew {
		t.Fatal("SessionFor did not start a new session")
	}
}

// craftES seals payload on s's send tag set, bypassing the session's
// payload builder, so that tests can send blocks the session would not.
func craftES(t *testing.T, s *Session, p RatchetPayload) []byte {
	t.Helper()
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	n, tag, key, err := s.send.next()
	if err != nil {
		t.Fatal(err)
	}
	return sealES(tag, n, &key, nil, b)
}

// A reverse key whose ID fits no exchange in progress is ignored: Alice
// keeps her tag set and keeps offering her key.
func TestUnexpectedReverseKeyIsIgnored(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{NextKeyAfter: 1})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	in := open(t, bob, t0, seal(t, sa, t0, "1").Data, "1") // index 1: the ratchet starts after it
	if len(in.Payload.NextKeys) != 0 {
		t.Fatal("NextKey too early")
	}
	wrong := NextKey{Flags: NextKeyReverse | NextKeyPresent, KeyID: 5, Key: bob.Static()}
	open(t, alice, t0, craftES(t, sb, RatchetPayload{NextKeys: []NextKey{wrong}, Padding: -1}), "")
	m := seal(t, sa, t0, "2")
	in = open(t, bob, t0, m.Data, "2")
	if m.TagSetID != 0 || len(in.Payload.NextKeys) != 1 || in.Payload.NextKeys[0].KeyID != 0 {
		t.Fatalf("after a wrong reverse key: tag set %d, NextKeys %+v", m.TagSetID, in.Payload.NextKeys)
	}
	// Bob's real answer then completes the ratchet.
	open(t, alice, t0, seal(t, sb, t0, "answer").Data, "answer")
	if m := seal(t, sa, t0, "3"); m.TagSetID != 1 {
		t.Fatalf("tag set %d after the real answer", m.TagSetID)
	}
}

// A terminated session delivers messages still under way but acts on
// none of their blocks.
func TestTerminatedSessionActsOnNothing(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	late := craftES(t, sa, RatchetPayload{
		Cloves: []i2np.Clove{dataClove(t, "late")}, AckRequest: true,
		NextKeys: []NextKey{{Flags: NextKeyPresent | NextKeyRequestReverse, Key: alice.Static()}}, Padding: -1,
	})
	bye, err := sa.Seal(t0, Outgoing{Terminate: true})
	if err != nil {
		t.Fatal(err)
	}
	open(t, bob, t0, bye.Data, "")
	_, before := bob.Stats()
	open(t, bob, t0, late, "late")
	if _, after := bob.Stats(); after != before || sb.NeedsReply() {
		t.Fatalf("tags %d → %d, needs reply %v", before, after, sb.NeedsReply())
	}
}

// Alice's first ES establishes Bob's session even when its payload does
// not parse: the tag and the AEAD already proved it.
func TestMalformedFirstExistingSessionStillEstablishes(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	sb := open(t, bob, t0, seal(t, sa, t0, "ns").Data, "ns").Session
	open(t, alice, t0, seal(t, sb, t0, "nsr").Data, "nsr")
	alice.mu.Lock()
	n, tag, key, _ := sa.send.next()
	alice.mu.Unlock()
	in, err := bob.Open(t0, sealES(tag, n, &key, nil, hx("00 0003 000000")))
	if !errors.Is(err, ErrMalformed) || in.Session != sb || sb.State() != StateEstablished {
		t.Fatalf("err %v, state %v", err, sb.State())
	}
}

// Bob may send many replies before Alice's ES; Alice's NSR window refills.
func TestManyNewSessionReplies(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	sb := open(t, bob, t0, seal(t, sa, t0, "ns").Data, "ns").Session
	for i := range 40 {
		open(t, alice, t0, seal(t, sb, t0, fmt.Sprint(i)).Data, fmt.Sprint(i))
	}
}

// A first forward key that asks Bob to reuse a key he never made cannot
// be answered: Bob ignores it.
func TestForwardKeyWithoutARequestFirstIsIgnored(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	odd := NextKey{Flags: NextKeyPresent, KeyID: 0, Key: alice.Static()}
	open(t, bob, t0, craftES(t, sa, RatchetPayload{NextKeys: []NextKey{odd}, Padding: -1}), "")
	bob.mu.Lock()
	started := sb.nextRecv != nil || len(sb.recvSets) != 1
	bob.mu.Unlock()
	if started || sb.NeedsReply() {
		t.Fatalf("Bob ratcheted (%v) or owes a reply (%v)", started, sb.NeedsReply())
	}
}

func TestFullKeyringExpiresBeforeRefusing(t *testing.T) {
	bob := newTestKeyring(t, 2, KeyringConfig{MaxSessions: 1})
	a1 := newTestKeyring(t, 21, KeyringConfig{})
	a2 := newTestKeyring(t, 22, KeyringConfig{})
	open(t, bob, t0, seal(t, a1.NewOutboundSession(t0, bob.Static(), true), t0, "1").Data, "1")
	later := t0.Add(ReceiveExpiration + time.Second)
	open(t, bob, later, seal(t, a2.NewOutboundSession(later, bob.Static(), true), later, "2").Data, "2")
	if sessions, _ := bob.Stats(); sessions != 1 || bob.Session(a1.Static()) != nil {
		t.Fatalf("%d sessions", sessions)
	}
}

// Sending keeps a session alive as well (i2pd CheckExpired needs both
// directions idle).
func TestSendingKeepsASessionAlive(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	seal(t, sa, t0.Add(500*time.Second), "still here")
	if n := alice.Expire(t0.Add(ReceiveExpiration + time.Second)); n != 0 {
		t.Fatalf("expired %d sessions that just sent", n)
	}
	if n := alice.Expire(t0.Add(500*time.Second + SendExpiration + time.Second)); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
}

// Both sides start a session at once. Whichever replies cross, every
// message afterwards opens, both ways.
func TestSimultaneousOpenConverges(t *testing.T) {
	for _, crossReplies := range []bool{false, true} {
		t.Run(fmt.Sprintf("crossing replies %v", crossReplies), func(t *testing.T) {
			a := newTestKeyring(t, 1, KeyringConfig{})
			b := newTestKeyring(t, 2, KeyringConfig{})
			nsA := seal(t, a.SessionFor(t0, b.Static()), t0, "from a")
			nsB := seal(t, b.SessionFor(t0, a.Static()), t0, "from b")
			open(t, b, t0, nsA.Data, "from a")
			open(t, a, t0, nsB.Data, "from b")
			// Each side now replies on the other's NS.
			replyA := seal(t, a.SessionFor(t0, b.Static()), t0, "reply a")
			if replyA.Kind != KindNewSessionReply {
				t.Fatalf("a sent %v", replyA.Kind)
			}
			if crossReplies {
				replyB := seal(t, b.SessionFor(t0, a.Static()), t0, "reply b")
				open(t, a, t0, replyB.Data, "reply b")
			}
			open(t, b, t0, replyA.Data, "reply a")
			for i := range 20 {
				now := t0.Add(time.Duration(i) * time.Second)
				ab := seal(t, a.SessionFor(now, b.Static()), now, fmt.Sprint("a", i))
				open(t, b, now, ab.Data, fmt.Sprint("a", i))
				ba := seal(t, b.SessionFor(now, a.Static()), now, fmt.Sprint("b", i))
				open(t, a, now, ba.Data, fmt.Sprint("b", i))
			}
			for _, k := range []*Keyring{a, b} {
				other := b.Static()
				if k == b {
					other = a.Static()
				}
				if m := seal(t, k.SessionFor(t0, other), t0, ""); m.Kind != KindExistingSession {
					t.Fatalf("still sending %v", m.Kind)
				}
			}
		})
	}
}

func TestTerminationEndsTheSession(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	inFlight := seal(t, sb, t0, "in flight")
	if _, err := sa.Seal(t0, Outgoing{Terminate: true}); err != nil {
		t.Fatal(err)
	} else if sa.State() != StateTerminated || alice.Session(bob.Static()) != nil {
		t.Fatalf("Alice after sending Termination: %v", sa.State())
	}
	if _, err := sa.Seal(t0, Outgoing{}); !errors.Is(err, ErrSessionState) {
		t.Fatalf("seal after Termination: %v", err)
	}
	// Bob's message already under way still opens for a while.
	open(t, alice, t0.Add(time.Minute), inFlight.Data, "in flight")
	if n := alice.Expire(t0.Add(PreviousTagSetLifetime + time.Second)); n != 1 {
		t.Fatalf("Alice expired %d sessions", n)
	}
	if sessions, tags := alice.Stats(); sessions != 0 || tags != 0 {
		t.Fatalf("Alice keeps %d sessions and %d tags", sessions, tags)
	}
	if _, err := sb.Seal(t0, Outgoing{}); err != nil {
		t.Fatalf("Bob, not yet told, still seals: %v", err)
	}
}

func TestTerminationReceived(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, sb := handshake(t, alice, bob, t0)
	m, err := sa.Seal(t0, Outgoing{Cloves: []i2np.Clove{dataClove(t, "bye")}, Terminate: true, TerminationReason: 0})
	if err != nil {
		t.Fatal(err)
	}
	in := open(t, bob, t0, m.Data, "bye")
	if in.Payload.Termination == nil || sb.State() != StateTerminated || bob.Session(alice.Static()) != nil {
		t.Fatalf("Bob: termination %v, state %v", in.Payload.Termination, sb.State())
	}
	if _, err := sb.Seal(t0, Outgoing{}); !errors.Is(err, ErrSessionState) {
		t.Fatalf("Bob seals after Termination: %v", err)
	}
	if _, err := alice.NewOutboundSession(t0, bob.Static(), true).Seal(t0, Outgoing{Terminate: true}); !errors.Is(err, ErrSessionState) {
		t.Fatalf("Termination in an NS: %v", err)
	}
}

func TestSessionsExpire(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	if n := bob.Expire(t0.Add(SendExpiration)); n != 0 {
		t.Fatalf("expired %d sessions early", n)
	}
	// Receiving keeps a session alive.
	open(t, bob, t0.Add(500*time.Second), seal(t, sa, t0.Add(500*time.Second), "alive").Data, "alive")
	if n := bob.Expire(t0.Add(ReceiveExpiration + time.Second)); n != 0 {
		t.Fatalf("expired %d sessions that just received", n)
	}
	if n := bob.Expire(t0.Add(500*time.Second + ReceiveExpiration + time.Second)); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	if sessions, tags := bob.Stats(); sessions != 0 || tags != 0 {
		t.Fatalf("Bob keeps %d sessions and %d tags", sessions, tags)
	}
	// An NS without a reply is given up with its NSR tag set.
	other := newTestKeyring(t, 3, KeyringConfig{})
	s := alice.NewOutboundSession(t0, other.Static(), true)
	seal(t, s, t0, "anyone?")
	alice.Expire(t0.Add(PreviousTagSetLifetime + time.Second))
	if s.State() != StateTerminated || alice.Session(other.Static()) != nil {
		t.Fatalf("unanswered session: %v", s.State())
	}
}

func TestSessionForRestartsInactiveSessions(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa, _ := handshake(t, alice, bob, t0)
	if alice.SessionFor(t0.Add(time.Minute), bob.Static()) != sa {
		t.Fatal("active session replaced")
	}
	s := alice.SessionFor(t0.Add(RestartAfter+time.Second), bob.Static())
	if s == sa || s.State() != StateNew || alice.Session(bob.Static()) != s {
		t.Fatalf("inactive session kept (new state %v)", s.State())
	}
}

func TestReplyTagMessages(t *testing.T) {
	tags := NewTagTable(0)
	bob := newTestKeyring(t, 2, KeyringConfig{ReplyTags: tags})
	key, tag := [32]byte{5}, Tag{1, 2, 3, 4, 5, 6, 7, 8}
	if err := tags.Add(tag, key, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	payload, _ := (RatchetPayload{Cloves: []i2np.Clove{dataClove(t, "lookup reply")}, Padding: 2}).Append(nil)
	msg := SealTagged(&key, tag, nil, payload)
	in := open(t, bob, t0, msg, "lookup reply")
	if in.Kind != KindReplyTag || in.Session != nil {
		t.Fatalf("kind %v", in.Kind)
	}
	if _, err := bob.Open(t0, msg); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("second use of a reply tag: %v", err)
	}
}

func TestTooManySessions(t *testing.T) {
	bob := newTestKeyring(t, 2, KeyringConfig{MaxSessions: 2})
	for i := range 3 {
		alice := newTestKeyring(t, byte(20+i), KeyringConfig{})
		_, err := bob.Open(t0, seal(t, alice.NewOutboundSession(t0, bob.Static(), true), t0, "x").Data)
		if (i < 2) != (err == nil) || (i == 2 && !errors.Is(err, ErrTooManySessions)) {
			t.Fatalf("session %d: %v", i, err)
		}
	}
}

func TestNewKeyringRefusesBadConfig(t *testing.T) {
	good, _ := crypto.GenerateX25519(testRand(1))
	bad := good
	bad.Public[0] ^= 1
	for _, cfg := range []KeyringConfig{
		{Static: bad},
		{Static: good, NextKeyAfter: -1},
		{Static: good, NextKeyAfter: MaxTagIndex},
		{Static: good, MaxSessions: -1},
	} {
		if _, err := NewKeyring(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

// Every truncation of each message form, and random bytes, fail cleanly.
func TestKeyringOpenRefusesTruncationAndGarbage(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{})
	bob := newTestKeyring(t, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	ns := seal(t, sa, t0, "ns")
	for i := range ns.Data {
		if _, err := bob.Open(t0, ns.Data[:i]); err == nil {
			t.Fatalf("NS prefix %d opened", i)
		}
	}
	sb := open(t, bob, t0, ns.Data, "ns").Session
	nsr := seal(t, sb, t0, "nsr")
	for i := range nsr.Data {
		if _, err := alice.Open(t0, nsr.Data[:i]); err == nil {
			t.Fatalf("NSR prefix %d opened", i)
		}
	}
	// Each failed try burnt the first NSR tag; the next reply opens.
	open(t, alice, t0, seal(t, sb, t0, "nsr 2").Data, "nsr 2")
	for range 30 {
		es := seal(t, sa, t0, "es")
		for i := range es.Data {
			if _, err := bob.Open(t0, es.Data[:i]); err == nil {
				t.Fatalf("ES prefix %d opened", i)
			}
		}
	}
	src := testRand(30)
	for n := range 300 {
		b := make([]byte, n)
		src.Read(b)
		if _, err := bob.Open(t0, b); !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("%d random bytes: %v", n, err)
		}
	}
}

// FuzzKeyringOpen: no input makes Open panic, whatever state the
// keyring's sessions are in.
func FuzzKeyringOpen(f *testing.F) {
	alice := newTestKeyring(f, 1, KeyringConfig{})
	bob := newTestKeyring(f, 2, KeyringConfig{})
	sa := alice.NewOutboundSession(t0, bob.Static(), true)
	ns := seal(f, sa, t0, "ns")
	sb := open(f, bob, t0, ns.Data, "ns").Session
	nsr := seal(f, sb, t0, "nsr")
	open(f, alice, t0, nsr.Data, "nsr")
	f.Add(ns.Data)
	f.Add(seal(f, sb, t0, "nsr").Data)
	f.Add(seal(f, sa, t0, "es").Data)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = bob.Open(t0, b)
		_, _ = alice.Open(t0, b)
	})
}

// Sessions of one keyring are sealed and opened from several goroutines
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	alice := newTestKeyring(t, 1, KeyringConfig{NextKeyAfter: 50})
	bob := newTestKeyring(t, 2, KeyringConfig{NextKeyAfter: 50})
	sa, sb := handshake(t, alice, bob, t0)
	for round := range 20 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var toBob, toAlice [][]byte
		for g := range 4 {
			wg.Go(func() {
				for i := range 5 {
					body := fmt.Sprint(round, g, i)
					a, errA := sa.Seal(t0, Outgoing{Cloves: []i2np.Clove{dataClove(t, body)}})
					b, errB := sb.Seal(t0, Outgoing{Cloves: []i2np.Clove{dataClove(t, body)}})
					if errA != nil || errB != nil {
						t.Error(errA, errB)
						return
					}
					mu.Lock()
					toBob, toAlice = append(toBob, a.Data), append(toAlice, b.Data)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, batch := range []struct {
			k    *Keyring
			msgs [][]byte
		}{{bob, toBob}, {alice, toAlice}} {
			for _, m := range batch.msgs {
				wg.Go(func() {
					if _, err := batch.k.Open(t0, m); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
	}
}

func BenchmarkNewSessionSeal(b *testing.B) {
	alice := newTestKeyring(b, 1, KeyringConfig{})
	bob := newTestKeyring(b, 2, KeyringConfig{})
	s := alice.NewOutboundSession(t0, bob.Static(), true)
	m := Outgoing{Cloves: []i2np.Clove{dataClove(b, string(make([]byte, 1024)))}}
	for b.Loop() {
		if _, err := s.Seal(t0, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewSessionOpen(b *testing.B) {
	alice := newTestKeyring(b, 1, KeyringConfig{})
	bob := newTestKeyring(b, 2, KeyringConfig{MaxSessions: 1 << 30})
	s := alice.NewOutboundSession(t0, bob.Static(), true)
	m := Outgoing{Cloves: []i2np.Clove{dataClove(b, string(make([]byte, 1024)))}}
	msgs := make([][]byte, b.N)
	for i := range msgs {
		out, err := s.Seal(t0, m)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = out.Data
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := bob.Open(t0, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// esBench runs an established pair; every 256 messages Bob answers (off
// the clock) so that the NextKey ratchets complete and tag sets never run
// out.
func esBench(b *testing.B, timeSeal bool) {
	alice := newTestKeyring(b, 1, KeyringConfig{})
	bob := newTestKeyring(b, 2, KeyringConfig{})
	sa, sb := handshake(b, alice, bob, t0)
	m := Outgoing{Cloves: []i2np.Clove{dataClove(b, string(make([]byte, 1024)))}}
	const chunk = 256
	msgs := make([][]byte, 0, chunk)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		msgs = msgs[:0]
		if !timeSeal {
			b.StopTimer()
		}
		for range n {
			out, err := sa.Seal(t0, m)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, out.Data)
		}
		if timeSeal {
			b.StopTimer()
		} else {
			b.StartTimer()
		}
		for _, msg := range msgs {
			if _, err := bob.Open(t0, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		out, err := sb.Seal(t0, Outgoing{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := alice.Open(t0, out.Data); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		done += n
	}
}

func BenchmarkExistingSessionSeal(b *testing.B) { esBench(b, true) }
func BenchmarkExistingSessionOpen(b *testing.B) { esBench(b, false) }
