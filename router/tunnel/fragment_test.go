package tunnel

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// Fragment vectors assembled by hand from tunnel-message.rst §"Tunnel
// Message Delivery Instructions", field by field.
var gwHash = bytes.Repeat([]byte{0x77}, 32)

var fragmentVectors = []struct {
	name string
	b    []byte
	want fragment
}{
	{
		name: "LOCAL unfragmented",
		b:    hx("00 0003 aabbcc"),
		want: fragment{delivery: Delivery{Type: DeliveryLocal}, data: hx("aabbcc")},
	},
	{
		name: "TUNNEL unfragmented: tunnel ID before the hash",
		b:    cat(hx("20 0a0b0c0d"), gwHash, hx("0002 1122")),
		want: fragment{delivery: Delivery{Type: DeliveryTunnel, TunnelID: 0x0a0b0c0d, Hash: data.Hash(gwHash)}, data: hx("1122")},
	},
	{
		name: "ROUTER first fragment with message ID",
		b:    cat(hx("48"), gwHash, hx("deadbeef 0001 99")),
		want: fragment{delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash(gwHash)}, fragmented: true, msgID: 0xdeadbeef, data: hx("99")},
	},
	{
		name: "LOCAL first fragment, reserved bits kept",
		b:    hx("0b 01020304 0001 55"),
		want: fragment{delivery: Delivery{Type: DeliveryLocal}, fragmented: true, reserved: 3, msgID: 0x01020304, data: hx("55")},
	},
	{
		name: "follow-on 1, not last",
		b:    hx("82 01020304 0002 6677"),
		want: fragment{followOn: true, number: 1, msgID: 0x01020304, data: hx("6677")},
	},
	{
		name: "follow-on 63, last",
		b:    hx("ff 01020304 0000"),
		want: fragment{followOn: true, number: 63, last: true, msgID: 0x01020304, data: []byte{}},
	},
}

func TestFragmentVectors(t *testing.T) {
	for _, v := range fragmentVectors {
		t.Run(v.name, func(t *testing.T) {
			f, n, err := parseFragment(v.b)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(v.b) || f.Len() != n {
				t.Fatalf("n = %d, Len = %d, want %d", n, f.Len(), len(v.b))
			}
			if f.followOn != v.want.followOn || f.delivery != v.want.delivery || f.fragmented != v.want.fragmented ||
				f.reserved != v.want.reserved || f.msgID != v.want.msgID || f.number != v.want.number || f.last != v.want.last ||
				!bytes.Equal(f.data, v.want.data) {
				t.Fatalf("parsed %+v\nwant %+v", f, v.want)
			}
			out, err := v.want.Append([]byte{0xAA})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[1:], v.b) {
				t.Fatalf("append\n got %x\nwant %x", out[1:], v.b)
			}
			// Every proper prefix is a clean truncation error.
			for i := range v.b {
				if _, n, err := parseFragment(v.b[:i:i]); !errors.Is(err, ErrTruncated) || n != 0 {
					t.Fatalf("prefix %d: n %d err %v, want ErrTruncated", i, n, err)
				}
			}
		})
	}
}

func TestFragmentRefusals(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"delivery type 3", hx("60 0001 00"), ErrMalformed},
		{"delay bit", hx("10 00 0001 00"), ErrUnsupported},
		{"extended options bit", hx("04 01 00 0001 00"), ErrUnsupported},
		{"follow-on number 0", hx("80 01020304 0001 00"), ErrMalformed},
		{"follow-on number 0, last", hx("81 01020304 0001 00"), ErrMalformed},
	}
	for _, c := range cases {
		if _, _, err := parseFragment(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	bad := []fragment{
		{delivery: Delivery{Type: 3}},
		{delivery: Delivery{Type: DeliveryLocal, TunnelID: 1}},
		{delivery: Delivery{Type: DeliveryLocal, Hash: data.Hash{1}}},
		{followOn: true, number: 64},
		{followOn: true, number: 0},
	}
	for i, f := range bad {
		if _, err := f.Append(nil); err == nil {
			t.Errorf("bad fragment %d appended", i)
		}
	}
}

// FuzzFragment: whatever parses appends back to exactly the bytes used.
func FuzzFragment(f *testing.F) {
	for _, v := range fragmentVectors {
		f.Add(v.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := parseFragment(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d on error", n)
			}
			return
		}
		if fr.Len() != n {
			t.Fatalf("Len %d, used %d", fr.Len(), n)
		}
		out, err := fr.Append(nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip\n got %x\nwant %x", out, b[:n])
		}
	})
}

// checkLayout verifies a plaintext tunnel message as an endpoint would,
// independently of Endpoint: the zero byte, nonzero padding before it, and
// the checksum SHA-256(after the zero ‖ IV)[0:4].
func checkLayout(t *testing.T, m *[crypto.TunnelMessageSize]byte) []byte {
	t.Helper()
	iv, body := m[:16], m[16:]
	z := bytes.IndexByte(body[4:], 0)
	if z < 0 {
		t.Fatal("no zero byte")
	}
	payload := body[4+z+1:]
	h := sha256.Sum256(append(append([]byte{}, payload...), iv...))
	if !bytes.Equal(h[:4], body[:4]) {
		t.Fatalf("checksum %x, want %x", body[:4], h[:4])
	}
	if len(payload) > MaxPayload {
		t.Fatalf("payload of %d bytes", len(payload))
	}
	return payload
}

// sizes from 1 byte of payload to the I2NP maximum, with the edges of
// every fragment boundary around them.
func messageSizes() []int {
	sizes := []int{0, 1, 2, 100, 900}
	for _, edge := range []int{MaxPayload - 3 - i2np.HeaderLen, MaxPayload - 35 - i2np.HeaderLen, MaxPayload - 39 - i2np.HeaderLen} {
		sizes = append(sizes, edge-1, edge, edge+1)
	}
	for k := 1; k <= 62; k += 7 {
		b := MaxPayload - 7 - i2np.HeaderLen + k*MaxFollowOnFragment
		sizes = append(sizes, b-1, b, b+1)
	}
	sizes = append(sizes, i2np.MaxPayloadLen-1, i2np.MaxPayloadLen)
	return sizes
}

// Fragmentation and reassembly of one message of every size and delivery
// type, delivered in order, reversed and shuffled.
func TestPreprocessReassembleEverySize(t *testing.T) {
	r := testRand(20)
	deliveries := []Delivery{
		{Type: DeliveryLocal},
		{Type: DeliveryRouter, Hash: data.Hash{1, 2, 3}},
		{Type: DeliveryTunnel, TunnelID: 0x01020304, Hash: data.Hash{4, 5, 6}},
	}
	for _, size := range messageSizes() {
		if size > i2np.MaxPayloadLen {
			continue
		}
		for _, d := range deliveries {
			if d.Type == DeliveryTunnel && size+i2np.HeaderLen > MaxTunnelDeliveryLen {
				size = MaxTunnelDeliveryLen - i2np.HeaderLen // the most a TunnelGateway carries
			}
			t.Run(fmt.Sprintf("%d bytes %v", size, d.Type), func(t *testing.T) {
				msg := dataMsg(r, uint32(r.Uint64()), size)
				tms, err := Preprocess(r, []Block{{Delivery: d, Msg: msg}})
				if err != nil {
					t.Fatal(err)
				}
				want := (msg.Len() + MaxPayload - 1) / MaxPayload
				if len(tms) < want || len(tms) > MaxFragmentNumber+1 {
					t.Fatalf("%d tunnel messages for %d bytes", len(tms), msg.Len())
				}
				for _, m := range tms {
					checkLayout(t, m)
				}
				for _, order := range []string{"in order", "reversed", "shuffled"} {
					seq := append([]*[crypto.TunnelMessageSize]byte(nil), tms...)
					switch order {
					case "reversed":
						for i, j := 0, len(seq)-1; i < j; i, j = i+1, j-1 {
							seq[i], seq[j] = seq[j], seq[i]
						}
					case "shuffled":
						r2 := rand.New(r)
						r2.Shuffle(len(seq), func(i, j int) { seq[i], seq[j] = seq[j], seq[i] })
					}
					e := NewEndpoint(EndpointConfig{})
					var got []Delivered
					for i, m := range seq {
						c := *m
						ds, err := e.Receive(testNow, &c)
						if err != nil {
							t.Fatalf("%s: message %d: %v", order, i, err)
						}
						got = append(got, ds...)
					}
					if len(got) != 1 || got[0].Delivery != d || !sameMessage(got[0].Msg, msg) {
						t.Fatalf("%s: got %d messages", order, len(got))
					}
					if n, b := e.Pending(); n != 0 || b != 0 {
						t.Fatalf("%s: %d messages, %d bytes left pending", order, n, b)
					}
				}
			})
		}
	}
}

// Several messages share tunnel messages, fragments interleave, and each
// comes out once with its own instructions.
func TestPreprocessPacksSeveralMessages(t *testing.T) {
	r := testRand(21)
	rr := rand.New(r)
	for round := range 40 {
		var blocks []Block
		total := 0
		for i := range 1 + rr.IntN(12) {
			size := rr.IntN(3000)
			if i%5 == 4 {
				size = rr.IntN(20000)
			}
			var d Delivery
			switch rr.IntN(3) {
			case 1:
				d = Delivery{Type: DeliveryRouter, Hash: data.Hash{byte(i)}}
			case 2:
				d = Delivery{Type: DeliveryTunnel, TunnelID: i2np.TunnelID(i + 1), Hash: data.Hash{byte(i)}}
			}
			m := dataMsg(r, uint32(round<<8|i), size)
			blocks = append(blocks, Block{Delivery: d, Msg: m})
			total += m.Len() + d.instructionsLen() + 2
		}
		tms, err := Preprocess(r, blocks)
		if err != nil {
			t.Fatal(err)
		}
		// Packing leaves no more than one tunnel message per block unused.
		if len(tms) > (total+MaxPayload-1)/MaxPayload+len(blocks) {
			t.Fatalf("round %d: %d tunnel messages for %d bytes in %d blocks", round, len(tms), total, len(blocks))
		}
		rand.New(r).Shuffle(len(tms), func(i, j int) { tms[i], tms[j] = tms[j], tms[i] })
		e := NewEndpoint(EndpointConfig{})
		var got []Delivered
		for _, m := range tms {
			ds, err := e.Receive(testNow, m)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ds...)
		}
		if len(got) != len(blocks) {
			t.Fatalf("round %d: %d of %d messages", round, len(got), len(blocks))
		}
		for _, b := range blocks {
			found := false
			for _, g := range got {
				if g.Msg.ID == b.Msg.ID {
					found = g.Delivery == b.Delivery && sameMessage(g.Msg, b.Msg)
				}
			}
			if !found {
				t.Fatalf("round %d: message %d missing or altered", round, b.Msg.ID)
			}
		}
	}
}

// A small message after a partly filled tunnel message goes whole into a
// new one rather than split when both need the same number of tunnel
// messages; a big one starts in the current message.
func TestPreprocessPackingChoices(t *testing.T) {
	r := testRand(22)
	first := dataMsg(r, 1, 600) // 3 + 16 + 600 = 619 bytes, 384 left
	small := dataMsg(r, 2, 500) // would need 2 tunnel messages either way
	tms, err := Preprocess(r, []Block{{Msg: first}, {Msg: small}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tms) != 2 {
		t.Fatalf("%d tunnel messages", len(tms))
	}
	f, _, _ := parseFragment(checkLayout(t, tms[1]))
	if f.followOn || f.fragmented {
		t.Fatal("the second message was split although a fresh tunnel message holds it whole")
	}
	// 2316 bytes: starting in the 384 left (375 bytes there) needs 2 more
	// tunnel messages, starting fresh 3.
	big := dataMsg(r, 3, 2300)
	tms, err = Preprocess(r, []Block{{Msg: first}, {Msg: big}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tms) != 3 {
		t.Fatalf("%d tunnel messages for 619 + 2319 bytes, want 3", len(tms))
	}
}

func TestPreprocessRefusesOversizedMessages(t *testing.T) {
	m := i2np.Message{Type: i2np.TypeData, Payload: make([]byte, i2np.MaxPayloadLen+1)}
	if _, err := Preprocess(nil, []Block{{Msg: m}}); err == nil {
		t.Fatal("oversized message accepted")
	}
	tooBig := i2np.Message{Type: i2np.TypeData, Payload: make([]byte, MaxTunnelDeliveryLen-i2np.HeaderLen+1)}
	if _, err := Preprocess(nil, []Block{{Delivery: Delivery{Type: DeliveryTunnel, TunnelID: 1, Hash: data.Hash{1}}, Msg: tooBig}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("TUNNEL delivery beyond a TunnelGateway: err = %v", err)
	}
	if _, err := Preprocess(nil, []Block{{Delivery: Delivery{Type: DeliveryRouter, Hash: data.Hash{1}}, Msg: tooBig}}); err != nil {
		t.Fatalf("the same message by ROUTER delivery: %v", err)
	}
	if _, err := Preprocess(nil, []Block{{Delivery: Delivery{Type: 3}, Msg: i2np.Message{}}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("delivery type 3: err = %v", err)
	}
}

func TestEndpointRefusesCorruptTunnelMessages(t *testing.T) {
	r := testRand(23)
	tms, _ := Preprocess(r, []Block{{Msg: dataMsg(r, 9, 100)}})
	m := *tms[0]
	m[len(m)-1] ^= 1
	if _, err := NewEndpoint(EndpointConfig{}).Receive(testNow, &m); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped payload byte: err = %v, want ErrChecksum", err)
	}
	m = *tms[0]
	m[3] ^= 1 // the IV is covered by the checksum too
	if _, err := NewEndpoint(EndpointConfig{}).Receive(testNow, &m); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped IV byte: err = %v, want ErrChecksum", err)
	}
	var noZero [crypto.TunnelMessageSize]byte
	for i := range noZero {
		noZero[i] = 1
	}
	if _, err := NewEndpoint(EndpointConfig{}).Receive(testNow, &noZero); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no zero byte: err = %v", err)
	}
	// A fragment that claims more bytes than the tunnel message has.
	var over [crypto.TunnelMessageSize]byte
	payload := hx("00 0100 00")
	layOutRaw(&over, payload)
	if _, err := NewEndpoint(EndpointConfig{}).Receive(testNow, &over); !errors.Is(err, ErrTruncated) {
		t.Fatalf("overrunning fragment: err = %v", err)
	}
	// A complete fragment that is not an I2NP message.
	layOutRaw(&over, hx("00 0003 010203"))
	if _, err := NewEndpoint(EndpointConfig{}).Receive(testNow, &over); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-I2NP fragment: err = %v", err)
	}
}

// layOutRaw writes payload as a tunnel message with a zero IV and a valid
// checksum, using nonzero padding of 0x01.
func layOutRaw(m *[crypto.TunnelMessageSize]byte, payload []byte) {
	one := bytes.Repeat([]byte{1}, crypto.TunnelMessageSize)
	if err := layOut(bytes.NewReader(one), m, payload); err != nil {
		panic(err)
	}
}

// rawFragments packs hand-made fragments into one tunnel message.
func rawFragments(t *testing.T, fs ...fragment) *[crypto.TunnelMessageSize]byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = f.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	m := new([crypto.TunnelMessageSize]byte)
	layOutRaw(m, b)
	return m
}

func TestEndpointLimitsAndExpiry(t *testing.T) {
	r := testRand(24)
	msg, _ := dataMsg(r, 5, 50).Append(nil)
	first := func(id uint32) fragment {
		return fragment{delivery: Delivery{Type: DeliveryLocal}, fragmented: true, msgID: id, data: msg[:30]}
	}
	rest := func(id uint32) fragment {
		return fragment{followOn: true, number: 1, last: true, msgID: id, data: msg[30:]}
	}

	t.Run("expiry drops incomplete messages", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{FragmentTimeout: 10 * time.Second})
		if ds, err := e.Receive(testNow, rawFragments(t, first(1))); err != nil || len(ds) != 0 {
			t.Fatalf("%v %v", ds, err)
		}
		if n := e.Expire(testNow.Add(10 * time.Second)); n != 0 {
			t.Fatal("expired at exactly the timeout")
		}
		if n := e.Expire(testNow.Add(11 * time.Second)); n != 1 {
			t.Fatalf("Expire dropped %d", n)
		}
		// The follow-on alone now starts a new incomplete message.
		if ds, err := e.Receive(testNow.Add(12*time.Second), rawFragments(t, rest(1))); err != nil || len(ds) != 0 {
			t.Fatalf("%v %v", ds, err)
		}
		if n, _ := e.Pending(); n != 1 {
			t.Fatalf("%d pending", n)
		}
	})

	t.Run("too many messages in reassembly", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{MaxPending: 2})
		for id := uint32(1); id <= 2; id++ {
			if _, err := e.Receive(testNow, rawFragments(t, first(id))); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.Receive(testNow, rawFragments(t, first(3)))
		mustErr(t, "third pending message", err, ErrLimit)
		// Completing one makes room.
		if ds, err := e.Receive(testNow, rawFragments(t, rest(1))); err != nil || len(ds) != 1 {
			t.Fatalf("%v %v", ds, err)
		}
		if _, err := e.Receive(testNow, rawFragments(t, first(3))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("too many buffered bytes", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{MaxPendingBytes: 40})
		if _, err := e.Receive(testNow, rawFragments(t, first(1))); err != nil {
			t.Fatal(err)
		}
		_, err := e.Receive(testNow, rawFragments(t, first(2)))
		mustErr(t, "bytes beyond the limit", err, ErrLimit)
		if n, b := e.Pending(); n != 1 || b != 30 {
			t.Fatalf("pending %d messages, %d bytes", n, b)
		}
	})

	t.Run("duplicate fragments are ignored", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{})
		ds, err := e.Receive(testNow, rawFragments(t, first(1), first(1), rest(1)))
		if err != nil || len(ds) != 1 {
			t.Fatalf("%d delivered, %v", len(ds), err)
		}
	})

	t.Run("contradicting last fragments", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{})
		two := fragment{followOn: true, number: 2, last: true, msgID: 1, data: []byte{1}}
		_, err := e.Receive(testNow, rawFragments(t, rest(1), two))
		mustErr(t, "two last fragments", err, ErrMalformed)
		beyond := fragment{followOn: true, number: 3, msgID: 7, data: []byte{1}}
		_, err = e.Receive(testNow, rawFragments(t, beyond, fragment{followOn: true, number: 2, last: true, msgID: 7, data: []byte{1}}))
		mustErr(t, "fragment beyond the last", err, ErrMalformed)
		if n, b := e.Pending(); n != 0 || b != 0 {
			t.Fatalf("pending %d/%d after drops", n, b)
		}
	})

	t.Run("message beyond the I2NP maximum", func(t *testing.T) {
		e := NewEndpoint(EndpointConfig{})
		chunk := make([]byte, MaxFollowOnFragment)
		var err error
		for n := 1; n <= MaxFragmentNumber && err == nil; n++ {
			_, err = e.Receive(testNow, rawFragments(t, fragment{followOn: true, number: n, msgID: 9, data: chunk}))
		}
		mustErr(t, "63 × 996 bytes", err, ErrTooLarge)
	})
}

// FuzzEndpointReceive: any payload behind a valid checksum is handled
// without panicking, and never leaves the byte accounting inconsistent.
func FuzzEndpointReceive(f *testing.F) {
	for _, v := range fragmentVectors {
		f.Add(v.b)
	}
	msg, _ := dataMsg(testRand(1), 7, 40).Append(nil)
	first := fragment{delivery: Delivery{Type: DeliveryLocal}, fragmented: true, msgID: 7, data: msg[:20]}
	b, _ := first.Append(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > MaxPayload {
			payload = payload[:MaxPayload]
		}
		var m [crypto.TunnelMessageSize]byte
		layOutRaw(&m, payload)
		e := NewEndpoint(EndpointConfig{MaxPending: 4, MaxPendingBytes: 4000})
		_, _ = e.Receive(testNow, &m)
		n, bytes := e.Pending()
		sum := 0
		for _, p := range e.pending {
			sum += p.bytes
		}
		if n > 4 || bytes != sum || bytes > 4000 {
			t.Fatalf("pending %d messages, %d bytes (sum %d)", n, bytes, sum)
		}
	})
}
