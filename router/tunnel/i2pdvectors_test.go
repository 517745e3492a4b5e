package tunnel

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// Build messages that a real i2pd 2.45.1 sent to one of our routers,
// captured by TestInteropI2pdBuildsThroughUs (see
// testdata/i2pd-builds/README.md). Decrypting them with that router's key
// proves the hop side of both record formats and the router-level N
// pattern against i2pd's own encryption, without i2pd at hand.

type i2pdCapture struct {
	keys   data.RouterKeys
	x      crypto.X25519Keys
	us     data.Hash
	i2pd   data.Hash
	handle *HopHandler
}

func loadI2pdCapture(t *testing.T) i2pdCapture {
	t.Helper()
	dir := filepath.Join("testdata", "i2pd-builds")
	kb, err := os.ReadFile(filepath.Join(dir, "router.keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := data.ParseRouterKeys(kb)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := os.ReadFile(filepath.Join(dir, "i2pd-router.info"))
	if err != nil {
		t.Fatal(err)
	}
	ri, n, err := data.ParseRouterInfo(rb)
	if err != nil || n != len(rb) {
		t.Fatalf("i2pd RouterInfo: %v", err)
	}
	if err := ri.Verify(); err != nil {
		t.Fatal(err)
	}
	if v := ri.RouterVersion(); v != "0.9.57" {
		t.Fatalf("captured from router version %q, want i2pd 2.45's 0.9.57", v)
	}
	c := i2pdCapture{keys: keys, x: crypto.X25519KeysFromPrivate([32]byte(keys.X25519PrivateKey())), us: keys.Hash(), i2pd: ri.Hash()}
	c.handle = NewHopHandler(HopConfig{Keys: c.x, Hash: c.us})
	return c
}

// loadCapturedMessage reads a message in the short-header form it had on
// NTCP2 and returns it with the time it was sent (i2pd sets expiration to
// now + 8 s).
func loadCapturedMessage(t *testing.T, name string, typ i2np.Type) (i2np.Message, time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "i2pd-builds", name))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := i2np.ParseShortMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != typ {
		t.Fatalf("%s holds %v, want %v", name, m.Type, typ)
	}
	return m, m.ExpirationTime().Add(-i2np.DefaultExpiration)
}

// checkI2pdRequest checks what any i2pd request record must say and that
// we can answer it.
func checkI2pdRequest(t *testing.T, c i2pdCapture, q *Request, sent time.Time) {
	t.Helper()
	if q.Next != c.i2pd && q.Next != c.us {
		t.Fatalf("next hop %s is neither i2pd nor us", q.Next.Short())
	}
	if q.ReceiveID == 0 || q.NextID == 0 {
		t.Fatal("zero tunnel ID")
	}
	if made := time.Unix(int64(q.RequestTime)*60, 0); sent.Sub(made) < 0 || sent.Sub(made) > time.Minute {
		t.Fatalf("request time %v for a message sent at %v", made, sent)
	}
	out, err := q.Reply(nil, sent, true)
	if err != nil || len(out) != 1 {
		t.Fatalf("reply: %v", err)
	}
	t.Logf("record %d: %v, long %v, receive %d, next %s/%d, reply %v to %s", q.Index, q.Role, q.Long, q.ReceiveID, q.Next.Short(), q.NextID, out[0].Msg.Type, out[0].To.Short())
}

func TestI2pdCapturedVariableTunnelBuild(t *testing.T) {
	c := loadI2pdCapture(t)
	m, sent := loadCapturedMessage(t, "vtbm-23.i2np", i2np.TypeVariableTunnelBuild)
	if len(m.Payload) != 1+4*i2np.BuildRecordLen {
		t.Fatalf("VariableTunnelBuild of %d bytes, want 2113 (4 records)", len(m.Payload))
	}
	q, err := c.handle.Open(sent, m)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Long {
		t.Fatal("not a long record")
	}
	// i2pd's one-hop tunnels through us: we are the only hop, so the
	// record has a role flag and names i2pd as the next hop.
	if q.Role == RoleParticipant || q.Next != c.i2pd {
		t.Fatalf("role %v next %s: want a one-hop IBGW or OBEP towards i2pd", q.Role, q.Next.Short())
	}
	if q.Secrets.Keys.Layer == ([32]byte{}) || q.Secrets.Keys.ReplyIV == ([16]byte{}) {
		t.Fatal("long record without keys")
	}
	checkI2pdRequest(t, c, q, sent)
}

func TestI2pdCapturedShortTunnelBuild(t *testing.T) {
	c := loadI2pdCapture(t)
	m, sent := loadCapturedMessage(t, "stbm-25.i2np", i2np.TypeShortTunnelBuild)
	q, err := c.handle.Open(sent, m)
	if err != nil {
		t.Fatal(err)
	}
	if q.Long {
		t.Fatal("not a short record")
	}
	checkI2pdRequest(t, c, q, sent)
}

// The N-wrapped inbound build: i2pd's WrapECIESX25519MessageForRouter,
// opened with our router key, holds a DateTime block and a LOCAL clove
// with a ShortTunnelBuild in which our record is the inbound gateway's.
func TestI2pdCapturedGarlicForRouter(t *testing.T) {
	c := loadI2pdCapture(t)
	m, sent := loadCapturedMessage(t, "garlic-11.i2np", i2np.TypeGarlic)
	g, _, err := i2np.ParseGarlic(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := garlic.OpenRouter(&c.x, nil, g.Data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := garlic.ParsePayload(pt)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasDateTime || len(p.Cloves) != 1 {
		t.Fatalf("payload %+v", p)
	}
	if d := time.Unix(int64(p.DateTime), 0).Sub(sent); d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("DateTime %d is %v from the send time", p.DateTime, d)
	}
	cl := p.Cloves[0]
	if cl.Delivery.Type != i2np.DeliveryLocal || cl.Message.Type != i2np.TypeShortTunnelBuild {
		t.Fatalf("clove %v %v", cl.Delivery.Type, cl.Message.Type)
	}
	// The receiver with its checks accepts it at the time it was sent.
	if _, kind, err := garlic.NewRouterReceiver(c.x, nil).Open(sent, g.Data); err != nil || kind != garlic.KindN {
		t.Fatalf("RouterReceiver: %v %v", kind, err)
	}
	q, err := c.handle.Open(sent, cl.Message)
	if err != nil {
		t.Fatal(err)
	}
	if q.Role != RoleGateway {
		t.Fatalf("role %v, want IBGW (the wrap is for inbound builds)", q.Role)
	}
	checkI2pdRequest(t, c, q, sent)
}

// The same bytes with one bit flipped in our record, or opened with
// another router's key, do not decrypt.
func TestI2pdCapturedRecordTampered(t *testing.T) {
	c := loadI2pdCapture(t)
	m, sent := loadCapturedMessage(t, "stbm-25.i2np", i2np.TypeShortTunnelBuild)
	q, err := NewHopHandler(HopConfig{Keys: c.x, Hash: c.us}).Open(sent, m)
	if err != nil {
		t.Fatal(err)
	}
	bad := m
	bad.Payload = append([]byte(nil), m.Payload...)
	bad.Payload[1+q.Index*i2np.ShortBuildRecordLen+100] ^= 0x04
	_, err = NewHopHandler(HopConfig{Keys: c.x, Hash: c.us}).Open(sent, bad)
	mustErr(t, "flipped bit", err, ErrBadRecord)
	other, err := crypto.GenerateX25519(testRand(70))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewHopHandler(HopConfig{Keys: other, Hash: c.us}).Open(sent, m)
	mustErr(t, "wrong router key", err, ErrBadRecord)
}
