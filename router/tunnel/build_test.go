package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// chain carries a build through simulated hops without a network: each
// hop's HopHandler opens its record, replies (accepting unless reject
// says otherwise), and the message moves to the next hop, until the reply
// reaches the creator. It returns the reply as the creator receives it,
// the hops' requests, and the creator's tag table (for an outbound short
// build's garlic reply).
type chainResult struct {
	reply    i2np.Message
	requests []*Request
}

func runChain(t *testing.T, r *rand.ChaCha8, b *PendingBuild, hops []testHop, creator data.Hash, reject map[int]bool) chainResult {
	t.Helper()
	tags := garlic.NewTagTable(0)
	if key, tag, ok := b.GarlicReply(); ok {
		if err := tags.Add(tag, key, testNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	msg := b.Request()
	if b.Inbound() {
		// The creator sends the build Noise-N-wrapped through some outbound
		// tunnel; the gateway opens the garlic and finds the request in a
		// LOCAL clove (i2pd WrapECIESX25519MessageForRouter).
		w, err := b.WrapRequest(r, testNow, data.Hash{0xee})
		if err != nil {
			t.Fatal(err)
		}
		if !b.cfg.Long {
			if w.Type != i2np.TypeGarlic {
				t.Fatalf("inbound short build travels as %v, want Garlic", w.Type)
			}
			g, _, _ := i2np.ParseGarlic(w.Payload)
			p, kind, err := garlic.NewRouterReceiver(hops[0].keys, nil).Open(testNow, g.Data)
			if err != nil || kind != garlic.KindN || len(p.Cloves) != 1 {
				t.Fatalf("gateway opens the wrapped build: %v %v", kind, err)
			}
			msg = p.Cloves[0].Message
		}
	}
	var res chainResult
	for i, h := range hops {
		hh := NewHopHandler(HopConfig{Keys: h.keys, Hash: h.hash})
		q, err := hh.Open(testNow, msg)
		if err != nil {
			t.Fatalf("hop %d opens the build: %v", i, err)
		}
		res.requests = append(res.requests, q)
		out, err := q.Reply(r, testNow, !reject[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 {
			t.Fatalf("hop %d sends %d messages", i, len(out))
		}
		o := out[0]
		want := creator
		if i < len(hops)-1 {
			want = hops[i+1].hash
		}
		if q.Role == RoleEndpoint {
			want = b.cfg.ReplyGateway
		}
		if o.To != want {
			t.Fatalf("hop %d sends to %s, want %s", i, o.To.Short(), want.Short())
		}
		if o.Msg.ID != q.SendMessageID && q.Role != RoleEndpoint {
			t.Fatalf("hop %d forwards with ID %d, record says %d", i, o.Msg.ID, q.SendMessageID)
		}
		msg = o.Msg
	}
	if b.Inbound() {
		res.reply = msg
		return res
	}
	// The outbound endpoint's reply: a TunnelGateway for the reply tunnel,
	// carrying the reply, garlic-wrapped unless long or self-addressed.
	if msg.Type != i2np.TypeTunnelGateway {
		t.Fatalf("OBEP sends %v, want TunnelGateway", msg.Type)
	}
	tg, _, err := i2np.ParseTunnelGateway(msg.Payload)
	if err != nil || tg.TunnelID != b.cfg.ReplyTunnel {
		t.Fatalf("reply TunnelGateway for %d (%v), want %d", tg.TunnelID, err, b.cfg.ReplyTunnel)
	}
	inner, err := tg.Inner()
	if err != nil {
		t.Fatal(err)
	}
	if inner.Type == i2np.TypeGarlic {
		g, _, _ := i2np.ParseGarlic(inner.Payload)
		p, kind, err := garlic.NewRouterReceiver(newTestHop(r).keys, tags).Open(testNow, g.Data)
		if err != nil || kind != garlic.KindTagged || len(p.Cloves) != 1 {
			t.Fatalf("creator opens the garlic reply: %v %v", kind, err)
		}
		inner = p.Cloves[0].Message
	} else if _, _, ok := b.GarlicReply(); ok {
		t.Fatalf("reply arrived unwrapped although a garlic reply was expected")
	}
	res.reply = inner
	return res
}

type buildCase struct {
	inbound, long bool
	hops          int
}

func (c buildCase) String() string {
	dir, kind := "outbound", "short"
	if c.inbound {
		dir = "inbound"
	}
	if c.long {
		kind = "long"
	}
	return fmt.Sprintf("%s/%s/%d hops", dir, kind, c.hops)
}

func allBuildCases() []buildCase {
	var cs []buildCase
	for _, long := range []bool{false, true} {
		for n := 1; n <= MaxHops; n++ {
			cs = append(cs, buildCase{inbound: false, long: long, hops: n})
			if n < MaxHops {
				cs = append(cs, buildCase{inbound: true, long: long, hops: n})
			}
		}
	}
	return cs
}

func newCaseBuild(t *testing.T, r *rand.ChaCha8, c buildCase) (*PendingBuild, []testHop, data.Hash) {
	t.Helper()
	hops := newTestHops(r, c.hops)
	creator := newTestHop(r).hash
	cfg := BuildConfig{Hops: peersOf(hops), Inbound: c.inbound, Long: c.long}
	if c.inbound {
		cfg.Creator = creator
	} else {
		cfg.ReplyGateway, cfg.ReplyTunnel = newTestHop(r).hash, 0x0bad0bad
	}
	b, err := NewBuild(r, testNow, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, hops, creator
}

// Every length, both directions, both record sizes: every hop decrypts
// its record in whatever position the shuffle put it, the roles are
// right, and the creator decrypts every reply.
func TestBuildEveryHopPosition(t *testing.T) {
	r := testRand(10)
	for _, c := range allBuildCases() {
		t.Run(c.String(), func(t *testing.T) {
			b, hops, creator := newCaseBuild(t, r, c)
			wantRecords := max(MinRecords, c.hops)
			if c.inbound {
				wantRecords = max(MinRecords, c.hops+1)
			}
			if b.cfg.Records != wantRecords {
				t.Fatalf("%d records, want %d", b.cfg.Records, wantRecords)
			}
			ch := runChain(t, r, b, hops, creator, nil)
			for i, q := range ch.requests {
				want := RoleParticipant
				if c.inbound && i == 0 {
					want = RoleGateway
				}
				if !c.inbound && i == c.hops-1 {
					want = RoleEndpoint
				}
				if q.Role != want || q.Long != c.long {
					t.Fatalf("hop %d: role %v long %v, want %v", i, q.Role, q.Long, want)
				}
				if i > 0 && ch.requests[i-1].NextID != q.ReceiveID {
					t.Fatalf("hop %d receives on %d, hop %d sends to %d", i, q.ReceiveID, i-1, ch.requests[i-1].NextID)
				}
				if q.Index != b.hops[i].index {
					t.Fatalf("hop %d found itself at %d, creator put it at %d", i, q.Index, b.hops[i].index)
				}
			}
			if ch.reply.ID != b.ReplyMsgID() {
				t.Fatalf("reply ID %d, want %d", ch.reply.ID, b.ReplyMsgID())
			}
			res, err := b.HandleReply(testNow, ch.reply)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Codes) != c.hops || b.State() != StateEstablished {
				t.Fatalf("codes %v, state %v", res.Codes, b.State())
			}
			if c.inbound {
				if res.Inbound == nil || res.Inbound.ID() != ch.requests[c.hops-1].NextID {
					t.Fatal("no inbound tunnel, or its ID is not the last hop's next ID")
				}
				gw, id := res.Inbound.Gateway()
				if gw != hops[0].hash || id != ch.requests[0].ReceiveID {
					t.Fatal("inbound gateway is not the first hop and its receive ID")
				}
			} else if res.Outbound == nil || res.Outbound.ID() != ch.requests[0].ReceiveID || res.Outbound.Endpoint() != hops[c.hops-1].hash {
				t.Fatal("outbound tunnel does not start at the first hop's receive ID")
			}
			if _, err := b.HandleReply(testNow, ch.reply); !errors.Is(err, ErrState) {
				t.Fatalf("second reply: err = %v, want ErrState", err)
			}
		})
	}
}

// A hop that declines (code 30) fails the build; the codes say which.
func TestBuildRejectedByOneHop(t *testing.T) {
	r := testRand(11)
	for _, c := range []buildCase{{false, false, 3}, {true, false, 3}, {false, true, 3}, {true, true, 2}} {
		for k := range c.hops {
			t.Run(fmt.Sprintf("%v/hop %d rejects", c, k), func(t *testing.T) {
				b, hops, creator := newCaseBuild(t, r, c)
				ch := runChain(t, r, b, hops, creator, map[int]bool{k: true})
				res, err := b.HandleReply(testNow, ch.reply)
				mustErr(t, "rejected build", err, ErrRejected)
				for i, code := range res.Codes {
					want := uint8(i2np.ReplyAccept)
					if i == k {
						want = i2np.ReplyRejectBandwidth
					}
					if code != want {
						t.Fatalf("codes %v", res.Codes)
					}
				}
				if res.Inbound != nil || res.Outbound != nil || b.State() != StateFailed {
					t.Fatal("a rejected build produced a tunnel")
				}
			})
		}
	}
}

// Any modified reply record, hop or fake, fails the build.
func TestBuildReplyTampering(t *testing.T) {
	r := testRand(12)
	for _, c := range []buildCase{{false, false, 2}, {true, false, 2}, {false, true, 2}, {true, true, 2}} {
		b, hops, creator := newCaseBuild(t, r, c)
		ch := runChain(t, r, b, hops, creator, nil)
		recLen := i2np.ShortBuildRecordLen
		if c.long {
			recLen = i2np.BuildRecordLen
		}
		for idx := range b.cfg.Records {
			bad := ch.reply
			bad.Payload = bytes.Clone(ch.reply.Payload)
			bad.Payload[1+idx*recLen+recLen/2] ^= 1
			b2 := *b
			b2.state = StateBuilding
			if _, err := b2.HandleReply(testNow, bad); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("%v: record %d tampered: err = %v, want ErrBadRecord", c, idx, err)
			}
		}
		wrongID := ch.reply
		wrongID.ID++
		b3 := *b
		if _, err := b3.HandleReply(testNow, wrongID); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("%v: reply with another message ID: err = %v", c, err)
		}
		wrongType := ch.reply
		wrongType.Type = i2np.TypeTunnelBuildReply
		b2 := *b
		if _, err := b2.HandleReply(testNow, wrongType); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("%v: reply of the wrong type: err = %v", c, err)
		}
	}
}

func TestBuildTimesOut(t *testing.T) {
	r := testRand(13)
	b, hops, creator := newCaseBuild(t, r, buildCase{hops: 2})
	ch := runChain(t, r, b, hops, creator, nil)
	late := testNow.Add(BuildTimeout + time.Second)
	if _, err := b.HandleReply(late, ch.reply); !errors.Is(err, ErrState) {
		t.Fatalf("late reply: err = %v, want ErrState", err)
	}
	if b.State() != StateFailed || b.Expire(late) != StateFailed {
		t.Fatalf("state %v after the timeout", b.State())
	}
}

func TestGarlicReplyOnlyForShortOutboundWithARemoteGateway(t *testing.T) {
	r := testRand(14)
	hops := newTestHops(r, 2)
	cases := []struct {
		name string
		cfg  BuildConfig
		want bool
	}{
		{"short outbound", BuildConfig{Hops: peersOf(hops), ReplyGateway: data.Hash{1}, ReplyTunnel: 5}, true},
		{"long outbound", BuildConfig{Hops: peersOf(hops), ReplyGateway: data.Hash{1}, ReplyTunnel: 5, Long: true}, false},
		{"OBEP is the reply gateway", BuildConfig{Hops: peersOf(hops), ReplyGateway: hops[1].hash, ReplyTunnel: 5}, false},
		{"inbound", BuildConfig{Hops: peersOf(hops), Inbound: true, Creator: data.Hash{2}}, false},
	}
	for _, c := range cases {
		b, err := NewBuild(r, testNow, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		key, tag, ok := b.GarlicReply()
		if ok != c.want {
			t.Fatalf("%s: GarlicReply ok = %v", c.name, ok)
		}
		if ok && (key != b.hops[1].secrets.Keys.GarlicKey || tag != b.hops[1].secrets.Keys.GarlicTag) {
			t.Fatalf("%s: key/tag are not the endpoint's RGarlicKeyAndTag", c.name)
		}
	}
}

// An OBEP that is also the reply gateway sends the reply unwrapped to
// itself; the build still completes.
func TestBuildWithTheEndpointAsReplyGateway(t *testing.T) {
	r := testRand(15)
	hops := newTestHops(r, 2)
	b, err := NewBuild(r, testNow, BuildConfig{Hops: peersOf(hops), ReplyGateway: hops[1].hash, ReplyTunnel: 77})
	if err != nil {
		t.Fatal(err)
	}
	ch := runChain(t, r, b, hops, data.Hash{}, nil)
	if ch.reply.Type != i2np.TypeOutboundTunnelBuildReply {
		t.Fatalf("reply %v", ch.reply.Type)
	}
	if _, err := b.HandleReply(testNow, ch.reply); err != nil {
		t.Fatal(err)
	}
}

func TestNewBuildRefusesBadConfigs(t *testing.T) {
	r := testRand(16)
	hops := peersOf(newTestHops(r, 9))
	cases := []struct {
		name string
		cfg  BuildConfig
	}{
		{"no hops", BuildConfig{ReplyGateway: data.Hash{1}, ReplyTunnel: 1}},
		{"9 hops", BuildConfig{Hops: hops, ReplyGateway: data.Hash{1}, ReplyTunnel: 1}},
		{"8 inbound hops", BuildConfig{Hops: hops[:8], Inbound: true, Creator: data.Hash{1}}},
		{"inbound without creator", BuildConfig{Hops: hops[:2], Inbound: true}},
		{"outbound without reply tunnel", BuildConfig{Hops: hops[:2], ReplyGateway: data.Hash{1}}},
		{"fewer records than hops", BuildConfig{Hops: hops[:5], ReplyGateway: data.Hash{1}, ReplyTunnel: 1, Records: 4}},
		{"inbound without a slot for the originator", BuildConfig{Hops: hops[:4], Inbound: true, Creator: data.Hash{1}, Records: 4}},
		{"hop without hash", BuildConfig{Hops: []Peer{{}}, ReplyGateway: data.Hash{1}, ReplyTunnel: 1}},
	}
	for _, c := range cases {
		if _, err := NewBuild(r, testNow, c.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", c.name, err)
		}
	}
}

// The originator's fake record of an inbound build carries the creator's
// hash prefix and looks like an X25519 key at byte 47.
func TestInboundBuildHasTheOriginatorRecord(t *testing.T) {
	r := testRand(17)
	hops := newTestHops(r, 3)
	creator := data.Hash{0x42, 0x43}
	b, err := NewBuild(r, testNow, BuildConfig{Hops: peersOf(hops), Inbound: true, Creator: creator})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := b.Request().Body()
	recs := body.(i2np.ShortTunnelBuild).Records
	found := 0
	for _, rec := range recs {
		if bytes.Equal(rec.ToPeer(), creator[:16]) {
			found++
			if rec[47]&0x80 != 0 {
				t.Fatal("originator record's byte 47 has bit 7 set")
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d records carry the creator's prefix, want 1", found)
	}
}
