package tunnel

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// builtTunnel is a tunnel built through runChain with its hops' transit
// tunnels.
type builtTunnel struct {
	res      *BuildResult
	transits []*TransitTunnel
	hops     []testHop
}

func buildThrough(t *testing.T, r *rand.ChaCha8, c buildCase) builtTunnel {
	t.Helper()
	b, hops, creator := newCaseBuild(t, r, c)
	ch := runChain(t, r, b, hops, creator, nil)
	res, err := b.HandleReply(testNow, ch.reply)
	if err != nil {
		t.Fatal(err)
	}
	bt := builtTunnel{res: res, hops: hops}
	for _, q := range ch.requests {
		bt.transits = append(bt.transits, NewTransitTunnel(testNow, q, EndpointConfig{}, nil))
	}
	return bt
}

// Layer encryption through 1 to 7 hops (and 8 outbound), with the keys
// the build derived on both sides: an outbound tunnel's pre-encryption is
// undone by its participants and endpoint; an inbound gateway's and
// participants' layers are undone by the creator. Both record sizes.
func TestLayersRoundTripThroughEveryLength(t *testing.T) {
	r := testRand(30)
	for _, c := range allBuildCases() {
		t.Run(c.String(), func(t *testing.T) {
			bt := buildThrough(t, r, c)
			msgs := []i2np.Message{dataMsg(r, 1, 10), dataMsg(r, 2, 3000)}
			if c.inbound {
				// Someone hands two messages to the gateway; they travel
				// hop by hop to us.
				out, err := bt.transits[0].HandleGateway(r, testNow, msgs)
				if err != nil {
					t.Fatal(err)
				}
				var got []Delivered
				for _, o := range out {
					m := o.Msg
					for i := 1; i < len(bt.transits); i++ {
						if o.To != bt.hops[i].hash {
							t.Fatalf("hop %d sends to %s", i-1, o.To.Short())
						}
						td := parseTD(t, m)
						fwd, _, err := bt.transits[i].HandleData(r, testNow, &td)
						if err != nil || len(fwd) != 1 {
							t.Fatalf("hop %d: %v", i, err)
						}
						o, m = fwd[0], fwd[0].Msg
					}
					td := parseTD(t, m)
					ds, err := bt.res.Inbound.Receive(testNow, &td)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ds...)
				}
				checkDelivered(t, got, msgs, Delivery{Type: DeliveryLocal})
				return
			}
			dest := Delivery{Type: DeliveryTunnel, TunnelID: 99, Hash: data.Hash{9}}
			blocks := []Block{{Delivery: dest, Msg: msgs[0]}, {Delivery: dest, Msg: msgs[1]}}
			tms, err := bt.res.Outbound.Send(r, testNow, blocks)
			if err != nil {
				t.Fatal(err)
			}
			var sent []Outgoing
			for _, m := range tms {
				for i, tr := range bt.transits {
					td := parseTD(t, m)
					fwd, local, err := tr.HandleData(r, testNow, &td)
					if err != nil || len(local) != 0 {
						t.Fatalf("hop %d: %v", i, err)
					}
					if i < len(bt.transits)-1 {
						m = fwd[0].Msg
						continue
					}
					sent = append(sent, fwd...)
				}
			}
			if len(sent) != 2 {
				t.Fatalf("endpoint sent %d messages", len(sent))
			}
			for i, o := range sent {
				tg, _, err := i2np.ParseTunnelGateway(o.Msg.Payload)
				if err != nil || o.To != dest.Hash || tg.TunnelID != dest.TunnelID {
					t.Fatalf("endpoint sends %v to %s", o.Msg.Type, o.To.Short())
				}
				inner, err := tg.Inner()
				if err != nil || !sameMessage(inner, msgs[i]) {
					t.Fatalf("message %d altered: %v", i, err)
				}
			}
		})
	}
}

func parseTD(t *testing.T, m i2np.Message) i2np.TunnelData {
	t.Helper()
	if m.Type != i2np.TypeTunnelData {
		t.Fatalf("%v, want TunnelData", m.Type)
	}
	td, _, err := i2np.ParseTunnelData(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return td
}

func checkDelivered(t *testing.T, got []Delivered, want []i2np.Message, d Delivery) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages delivered, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Delivery != d || !sameMessage(got[i].Msg, want[i]) {
			t.Fatalf("message %d altered", i)
		}
	}
}

// unwrapLayers is the exact inverse of the hops' EncryptLayer in traversal
// order, for any number of layers.
func TestUnwrapLayersInvertsEncryptionInOrder(t *testing.T) {
	r := testRand(31)
	for n := 1; n <= 8; n++ {
		keys := make([]HopKeys, n)
		for i := range keys {
			r.Read(keys[i].Layer[:])
			r.Read(keys[i].IV[:])
		}
		layers := layersOf(keys)
		var plain [crypto.TunnelMessageSize]byte
		r.Read(plain[:])
		m := plain
		for _, l := range layers {
			l.EncryptLayer(&m)
		}
		if m == plain {
			t.Fatal("encryption did nothing")
		}
		unwrapLayers(layers, &m)
		if m != plain {
			t.Fatalf("%d layers: unwrap does not invert", n)
		}
		// Reversed order does not (n > 1): the order matters.
		if n > 1 {
			for _, l := range layers {
				l.EncryptLayer(&m)
			}
			for _, l := range layers {
				l.DecryptLayer(&m)
			}
			if m == plain {
				t.Fatalf("%d layers: first-to-last decryption also inverts", n)
			}
		}
	}
}

func TestIVFilter(t *testing.T) {
	r := testRand(32)
	f, err := NewIVFilter(r, 16, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var m [crypto.TunnelMessageSize]byte
	r.Read(m[:])
	if f.Seen(testNow, &m) {
		t.Fatal("new message seen")
	}
	if !f.Seen(testNow.Add(time.Second), &m) {
		t.Fatal("duplicate not detected")
	}
	// Swapping IV and first block gives the same XOR: still a duplicate.
	swapped := m
	copy(swapped[:16], m[16:32])
	copy(swapped[16:32], m[:16])
	if !f.Seen(testNow.Add(2*time.Second), &swapped) {
		t.Fatal("IV/first-block swap not detected")
	}
	// Remembered through one rotation, forgotten after two.
	if !f.Seen(testNow.Add(70*time.Second), &m) {
		t.Fatal("forgotten after one window")
	}
	f.Seen(testNow.Add(140*time.Second), &[crypto.TunnelMessageSize]byte{1})
	if f.Seen(testNow.Add(210*time.Second), &m) {
		t.Fatal("remembered after more than two windows")
	}
	// False positives among 5000 distinct messages in 2^16 bits (k = 4):
	// expected rate (1 − e^(−4·5000/65536))^4 ≈ 0.5%; allow 2%.
	g, _ := NewIVFilter(r, 16, time.Hour)
	fp := 0
	for range 5000 {
		r.Read(m[:])
		if g.Seen(testNow, &m) {
			fp++
		}
	}
	if fp > 100 {
		t.Fatalf("%d false positives in 5000", fp)
	}
	for _, bits := range []int{9, 31} {
		if _, err := NewIVFilter(r, bits, 0); !errors.Is(err, ErrConfig) {
			t.Fatalf("2^%d bits: err = %v", bits, err)
		}
	}
}

func TestRecordFilterRemembersForTheWindow(t *testing.T) {
	f := newRecordFilter(time.Minute)
	k := [32]byte{1}
	if f.seen(testNow, k) {
		t.Fatal("new key seen")
	}
	for _, d := range []time.Duration{time.Second, time.Minute, 119 * time.Second} {
		if !f.seen(testNow.Add(d), k) {
			t.Fatalf("forgotten after %v", d)
		}
	}
	if f.seen(testNow.Add(5*time.Minute), k) {
		t.Fatal("remembered after two windows")
	}
}

func newTable(t *testing.T, r *rand.ChaCha8, max int) *TransitTable {
	t.Helper()
	f, err := NewIVFilter(r, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := NewTransitTable(TransitConfig{MaxTunnels: max, Filter: f, Rand: r})
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func testRequest(role Role, id i2np.TunnelID) *Request {
	q := &Request{Role: role, ReceiveID: id, NextID: id + 1000, Next: data.Hash{byte(id)}}
	q.Secrets.Keys.Layer[0], q.Secrets.Keys.IV[0] = byte(id), byte(id>>8)
	return q
}

func TestTransitParticipantForwards(t *testing.T) {
	r := testRand(33)
	tt := newTable(t, r, 0)
	q := testRequest(RoleParticipant, 5)
	if _, err := tt.Add(testNow, q); err != nil {
		t.Fatal(err)
	}
	td := i2np.TunnelData{TunnelID: 5}
	r.Read(td.Data[:])
	out, local, err := tt.HandleTunnelData(testNow, &td)
	if err != nil || len(local) != 0 || len(out) != 1 {
		t.Fatalf("%d out, %d local, %v", len(out), len(local), err)
	}
	got := parseTD(t, out[0].Msg)
	want := td.Data
	crypto.NewTunnelLayer(&q.Secrets.Keys.Layer, &q.Secrets.Keys.IV).EncryptLayer(&want)
	if out[0].To != q.Next || got.TunnelID != q.NextID || got.Data != want {
		t.Fatal("participant does not forward EncryptLayer(data) to the next hop under the next ID")
	}
	if exp := out[0].Msg.ExpirationTime(); exp.Before(testNow) || exp.After(testNow.Add(10*time.Second)) {
		t.Fatalf("forwarded message expires at %v", exp)
	}
	// The same message again is a duplicate.
	_, _, err = tt.HandleTunnelData(testNow, &td)
	mustErr(t, "duplicate", err, ErrReplay)
	// A participant takes no TunnelGateway.
	gw, _ := i2np.NewTunnelGateway(5, dataMsg(r, 1, 5))
	_, err = tt.HandleTunnelGateway(testNow, gw)
	mustErr(t, "TunnelGateway at a participant", err, ErrState)
	td.TunnelID = 6
	_, _, err = tt.HandleTunnelData(testNow, &td)
	mustErr(t, "unknown tunnel", err, ErrUnknownTunnel)
	if m, b := tt.m[5].Stats(); m != 1 || b != i2np.TunnelDataLen {
		t.Fatalf("stats %d/%d", m, b)
	}
}

// The outbound endpoint delivers by instructions: TUNNEL in a
// TunnelGateway, ROUTER as is, LOCAL to us; expired messages stop.
func TestTransitEndpointDelivers(t *testing.T) {
	r := testRand(34)
	tt := newTable(t, r, 0)
	q := testRequest(RoleEndpoint, 7)
	if _, err := tt.Add(testNow, q); err != nil {
		t.Fatal(err)
	}
	layer := crypto.NewTunnelLayer(&q.Secrets.Keys.Layer, &q.Secrets.Keys.IV)
	expired := dataMsg(r, 4, 20)
	expired.Expiration = i2np.ExpirationMillis(testNow.Add(-2 * time.Minute))
	blocks := []Block{
		{Delivery: Delivery{Type: DeliveryTunnel, TunnelID: 42, Hash: data.Hash{0xa}}, Msg: dataMsg(r, 1, 30)},
		{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{0xb}}, Msg: dataMsg(r, 2, 2000)},
		{Delivery: Delivery{Type: DeliveryLocal}, Msg: dataMsg(r, 3, 40)},
		{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{0xc}}, Msg: expired},
	}
	plain, err := Preprocess(r, blocks)
	if err != nil {
		t.Fatal(err)
	}
	var out []Outgoing
	var local []Delivered
	for _, p := range plain {
		layer.DecryptLayer(p) // what the creator's pre-encryption leaves for the last hop
		o, l, err := tt.HandleTunnelData(testNow, &i2np.TunnelData{TunnelID: 7, Data: *p})
		if err != nil {
			t.Fatal(err)
		}
		out, local = append(out, o...), append(local, l...)
	}
	if len(out) != 2 || len(local) != 1 {
		t.Fatalf("%d out, %d local", len(out), len(local))
	}
	tg, _, _ := i2np.ParseTunnelGateway(out[0].Msg.Payload)
	inner, _ := tg.Inner()
	if out[0].To != (data.Hash{0xa}) || out[0].Msg.Type != i2np.TypeTunnelGateway || tg.TunnelID != 42 || !sameMessage(inner, blocks[0].Msg) {
		t.Fatal("TUNNEL delivery wrong")
	}
	if out[1].To != (data.Hash{0xb}) || !sameMessage(out[1].Msg, blocks[1].Msg) {
		t.Fatal("ROUTER delivery wrong")
	}
	if !sameMessage(local[0].Msg, blocks[2].Msg) {
		t.Fatal("LOCAL delivery wrong")
	}
}

func TestTransitTableAdmissionAndExpiry(t *testing.T) {
	r := testRand(35)
	tt := newTable(t, r, 2)
	for id := i2np.TunnelID(1); id <= 2; id++ {
		if _, err := tt.Add(testNow, testRequest(RoleParticipant, id)); err != nil {
			t.Fatal(err)
		}
	}
	mustErr(t, "third tunnel", tt.Admit(testRequest(RoleParticipant, 3)), ErrLimit)
	tt2 := newTable(t, r, 0)
	if _, err := tt2.Add(testNow, testRequest(RoleGateway, 1)); err != nil {
		t.Fatal(err)
	}
	mustErr(t, "ID in use", tt2.Admit(testRequest(RoleParticipant, 1)), ErrLimit)
	if n := tt.Expire(testNow.Add(Lifetime + ExpiryGrace - time.Second)); n != 0 || tt.Len() != 2 {
		t.Fatalf("expired %d early", n)
	}
	// Still forwarding after Lifetime, until Lifetime + ExpiryGrace.
	td := i2np.TunnelData{TunnelID: 1}
	if _, _, err := tt.HandleTunnelData(testNow.Add(Lifetime+time.Second), &td); err != nil {
		t.Fatal(err)
	}
	if n := tt.Expire(testNow.Add(Lifetime + ExpiryGrace)); n != 2 || tt.Len() != 0 {
		t.Fatalf("expired %d, %d left", n, tt.Len())
	}
	if _, err := NewTransitTable(TransitConfig{}); !errors.Is(err, ErrConfig) {
		t.Fatal("transit table without a filter")
	}
}

func TestOwnTunnelStates(t *testing.T) {
	r := testRand(36)
	bt := buildThrough(t, r, buildCase{hops: 2})
	ob := bt.res.Outbound
	for _, c := range []struct {
		at      time.Duration
		want    State
		replace bool
	}{
		{0, StateEstablished, false},
		{Lifetime + ExpiryGrace - ReplaceAhead - time.Second, StateEstablished, false},
		{Lifetime + ExpiryGrace - ReplaceAhead, StateEstablished, true},
		{Lifetime, StateExpiring, true},
		{Lifetime + ExpiryGrace, StateExpired, true},
	} {
		if s := ob.State(testNow.Add(c.at)); s != c.want || ob.NeedsReplacement(testNow.Add(c.at)) != c.replace {
			t.Fatalf("at %v: %v (replace %v), want %v", c.at, s, ob.NeedsReplacement(testNow.Add(c.at)), c.want)
		}
	}
	if _, err := ob.Send(r, testNow.Add(Lifetime+ExpiryGrace), []Block{{Msg: dataMsg(r, 1, 1)}}); !errors.Is(err, ErrState) {
		t.Fatalf("send through an expired tunnel: %v", err)
	}
	// States only move forward.
	if s := ob.State(testNow); s != StateExpired {
		t.Fatalf("state went back to %v", s)
	}
	for _, s := range []State{StateBuilding, StateEstablished, StateExpiring, StateExpired, StateFailed, 9} {
		if s.String() == "" {
			t.Fatal("empty state name")
		}
	}
}

// An inbound endpoint drops non-LOCAL instructions.
func TestInboundTunnelDropsNonLocalDeliveries(t *testing.T) {
	r := testRand(37)
	bt := buildThrough(t, r, buildCase{inbound: true, hops: 1})
	msg := dataMsg(r, 1, 10)
	plain, _ := Preprocess(r, []Block{{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{1}}, Msg: msg}, {Msg: msg}})
	gwLayer := bt.transits[0].layer
	var got []Delivered
	for _, p := range plain {
		gwLayer.EncryptLayer(p)
		ds, err := bt.res.Inbound.Receive(testNow, &i2np.TunnelData{TunnelID: bt.res.Inbound.ID(), Data: *p})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ds...)
	}
	if len(got) != 1 || got[0].Delivery.Type != DeliveryLocal {
		t.Fatalf("%d delivered", len(got))
	}
	_, err := bt.res.Inbound.Receive(testNow, &i2np.TunnelData{TunnelID: bt.res.Inbound.ID() + 1})
	mustErr(t, "wrong ID", err, ErrUnknownTunnel)
	if !bytes.Equal(bt.res.Inbound.Hops()[0].Hash[:], bt.hops[0].hash[:]) {
		t.Fatal("hops")
	}
}
