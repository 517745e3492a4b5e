package tunnel

import (
	"errors"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// Per-hop processing of one TunnelData: what a transit router does per
// 1 KiB tunnel message.

func benchTable(b *testing.B, role Role) (*TransitTable, *Request) {
	r := testRand(60)
	f, err := NewIVFilter(r, DefaultIVFilterLog2Bits, 0)
	if err != nil {
		b.Fatal(err)
	}
	tt, err := NewTransitTable(TransitConfig{Filter: f, Rand: r})
	if err != nil {
		b.Fatal(err)
	}
	q := testRequest(role, 5)
	if _, err := tt.Add(testNow, q); err != nil {
		b.Fatal(err)
	}
	return tt, q
}

// BenchmarkParticipantTunnelData: duplicate filter + AES layer + the
// forwarded message (fresh ID, expiration), via the TransitTable.
func BenchmarkParticipantTunnelData(b *testing.B) {
	tt, _ := benchTable(b, RoleParticipant)
	td := i2np.TunnelData{TunnelID: 5}
	testRand(61).Read(td.Data[:])
	b.SetBytes(i2np.TunnelDataLen)
	b.ReportAllocs()
	replays := 0
	for i := 0; b.Loop(); i++ {
		// A new IV each time, as real traffic has.
		td.Data[0], td.Data[1], td.Data[2], td.Data[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		_, _, err := tt.HandleTunnelData(testNow, &td)
		if errors.Is(err, ErrReplay) {
			replays++ // a Bloom false positive, once the filter fills up
		} else if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(replays)/float64(b.N), "fp/op") // Bloom false positives at a fixed clock (no decay)
}

// BenchmarkParticipantLayerOnly is the AES part alone: IV ECB, 63 CBC
// blocks, IV ECB.
func BenchmarkParticipantLayerOnly(b *testing.B) {
	_, q := benchTable(b, RoleParticipant)
	t := NewTransitTunnel(testNow, q, EndpointConfig{}, nil)
	var m [1024]byte
	b.SetBytes(1024)
	for b.Loop() {
		t.layer.EncryptLayer(&m)
	}
}

// BenchmarkOutboundEndpointTunnelData: layer, checksum, reassembly of a
// one-fragment 900-byte message and its ROUTER delivery.
func BenchmarkOutboundEndpointTunnelData(b *testing.B) {
	r := testRand(62)
	_, q := benchTable(b, RoleEndpoint)
	t := NewTransitTunnel(testNow, q, EndpointConfig{}, nil)
	m := dataMsg(r, 1, 900)
	m.Expiration = i2np.ExpirationMillis(testNow.Add(time.Minute))
	plain, err := Preprocess(r, []Block{{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{1}}, Msg: m}})
	if err != nil {
		b.Fatal(err)
	}
	t.layer.DecryptLayer(plain[0])
	td := i2np.TunnelData{TunnelID: 5, Data: *plain[0]}
	b.SetBytes(i2np.TunnelDataLen)
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := t.HandleData(r, testNow, &td)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkInboundGatewayMessage: one 900-byte message in, fragments,
// padding, checksum, layer, one TunnelData out.
func BenchmarkInboundGatewayMessage(b *testing.B) {
	r := testRand(63)
	_, q := benchTable(b, RoleGateway)
	t := NewTransitTunnel(testNow, q, EndpointConfig{}, nil)
	msgs := []i2np.Message{dataMsg(r, 1, 900)}
	b.SetBytes(i2np.TunnelDataLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.HandleGateway(r, testNow, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOutboundSend3Hops: the creator's side of one tunnel message
// through 3 hops (fragmenting and three layers of pre-encryption).
func BenchmarkOutboundSend3Hops(b *testing.B) {
	r := testRand(64)
	ob := benchOutbound(b, r, 3)
	blocks := []Block{{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{1}}, Msg: dataMsg(r, 1, 900)}}
	b.SetBytes(i2np.TunnelDataLen)
	for b.Loop() {
		if _, err := ob.Send(r, testNow, blocks); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOutbound(b *testing.B, r interface{ Read([]byte) (int, error) }, n int) *OutboundTunnel {
	keys := make([]HopKeys, n)
	hops := make([]Peer, n)
	for i := range keys {
		r.Read(keys[i].Layer[:])
		r.Read(keys[i].IV[:])
		hops[i].Hash[0] = byte(i + 1)
	}
	return &OutboundTunnel{id: 1, hops: hops, layers: layersOf(keys), created: testNow, state: StateEstablished}
}

// BenchmarkOpenShortRecord: a hop finding, replay-checking and decrypting
// its record in a 4-record ShortTunnelBuild (one X25519, one AEAD, the
// key chain).
func BenchmarkOpenShortRecord(b *testing.B) {
	r := testRand(65)
	hops := newTestHops(r, 3)
	var msgs []i2np.Message
	for range 64 {
		bld, err := NewBuild(r, testNow, BuildConfig{Hops: peersOf(hops), ReplyGateway: data.Hash{1}, ReplyTunnel: 1})
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, bld.Request())
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// A fresh handler each time: the same record again is a replay.
		h := NewHopHandler(HopConfig{Keys: hops[0].keys, Hash: hops[0].hash})
		if _, err := h.Open(testNow, msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewBuild3Hops: the creator's cost of a 3-hop short build.
func BenchmarkNewBuild3Hops(b *testing.B) {
	r := testRand(66)
	hops := peersOf(newTestHops(r, 3))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewBuild(r, testNow, BuildConfig{Hops: hops, ReplyGateway: data.Hash{1}, ReplyTunnel: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
