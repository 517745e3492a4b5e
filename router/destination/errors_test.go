package destination

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
	"i2pbridge/router/payload"
	"i2pbridge/router/streaming"
)

func TestSendFailsClearly(t *testing.T) {
	unknown := data.HashOf([]byte("nobody"))
	tests := []struct {
		name  string
		alice destOpts
		bob   destOpts
		setup func(n *testNet, alice, bob *testDest)
		to    func(bob *testDest) data.Hash // default: bob
		data  string                        // default: "hello"
		want  error
	}{
		{name: "unknown destination", to: func(*testDest) data.Hash { return unknown }, want: ErrNotFound},
		{name: "no inbound tunnels", alice: destOpts{inbound: -1}, want: ErrNoTunnels},
		{
			name: "no outbound tunnel",
			setup: func(_ *testNet, alice, _ *testDest) {
				alice.tun.mu.Lock()
				alice.tun.noOutbound = true
				alice.tun.mu.Unlock()
			},
			want: ErrNoTunnels,
		},
		{
			name: "floodfills silent",
			setup: func(n *testNet, _, _ *testDest) {
				n.mu.Lock()
				n.drop = func(to leaseKey, _ i2np.Message) bool { return to.id == 0 }
				n.mu.Unlock()
			},
			want: ErrLookupTimeout,
		},
		{
			name:  "lookup deadline",
			alice: destOpts{mod: func(c *Config) { c.LookupDeadline = 7 * time.Second }},
			setup: func(n *testNet, _, _ *testDest) {
				n.mu.Lock()
				n.drop = func(to leaseKey, _ i2np.Message) bool { return to.id == 0 }
				n.mu.Unlock()
			},
			want: ErrLookupTimeout,
		},
		{name: "no floodfills", alice: destOpts{floodfills: noFloodfills{}}, want: ErrNoFloodfills},
		{name: "every lease ends soon", bob: destOpts{lifetime: 45 * time.Second}, want: ErrNoLeases},
		{
			name: "no X25519 key",
			setup: func(n *testNet, alice, _ *testDest) {
				alice.mu.Lock()
				alice.storeRemoteLocked(time.Now(), elGamalOnlyLeaseSet(n.t))
				alice.mu.Unlock()
			},
			to:   func(*testDest) data.Hash { return elGamalOnlyLeaseSet(t).Hash() },
			want: ErrUnsupported,
		},
		{name: "empty payload", data: "-", want: ErrInvalid},
		{name: "datagram too large", data: "big", want: ErrInvalid},
		{
			name:  "closed",
			setup: func(_ *testNet, alice, _ *testDest) { alice.Close() },
			want:  ErrClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNet(t)
				n.addFloodfill()
				n.addFloodfill()
				alice := n.newDest(1, tc.alice)
				bob := n.newDest(2, tc.bob)
				waitFor(t, time.Minute, "bob published", func() bool {
					return bob.Publication().State == PublishConfirmed || bob.Publication().State == PublishVerified
				})
				if tc.setup != nil {
					tc.setup(n, alice, bob)
				}
				to := bob.Hash()
				if tc.to != nil {
					to = tc.to(bob)
				}
				msg := []byte("hello")
				switch tc.data {
				case "-":
					msg = nil
				case "big":
					msg = make([]byte, 40000)
				}
				err := alice.SendRaw(context.Background(), to, 0, 0, msg)
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				t.Logf("%v", err)
			})
		})
	}
}

// elGamalOnlyLeaseSet is the LeaseSet2 of a destination that publishes
// only an ElGamal key, always the same one.
var elGamalOnly struct {
	keys data.PrivateKeys
	ls   data.LeaseSet2
}

func elGamalOnlyLeaseSet(t testing.TB) data.LeaseSet2 {
	if elGamalOnly.ls.IsZero() {
		keys, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		var gw data.Hash
		gw[0] = 1
		ls, err := data.BuildLeaseSet2(keys, data.LeaseSet2Params{
			Published: now, Expires: now.Add(10 * time.Minute),
			Keys:   []data.EncryptionKey{{Type: data.CryptoTypeElGamal, Key: make([]byte, 256)}},
			Leases: []data.Lease2{{Gateway: gw, TunnelID: 1, End: uint32(now.Add(10 * time.Minute).Unix())}},
		})
		if err != nil {
			t.Fatal(err)
		}
		elGamalOnly.keys, elGamalOnly.ls = keys, ls
	}
	return elGamalOnly.ls
}

func TestHandleGarlicRefusesWhatIsNotOurs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		alice := n.newDest(1, destOpts{noRun: true})
		now := time.Now()
		exp := i2np.ExpirationMillis(now.Add(time.Minute))
		msg := func(typ i2np.Type, body []byte, exp uint64) i2np.Message {
			return i2np.Message{Type: typ, ID: 1, Expiration: exp, Payload: body}
		}
		garlicOf := func(b []byte) []byte {
			g, _ := i2np.Garlic{Data: b}.Append(nil)
			return g
		}
		// A ratchet message for someone else.
		other, err := crypto.GenerateX25519(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := garlic.NewKeyring(garlic.KeyringConfig{Static: other})
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := crypto.GenerateX25519(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := kr.NewOutboundSession(now, stranger.Public, true).Seal(now, garlic.Outgoing{})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			m    i2np.Message
			want error
		}{
			{"not garlic", msg(i2np.TypeData, []byte{0, 0, 0, 0}, exp), ErrInvalid},
			{"expired", msg(i2np.TypeGarlic, garlicOf(make([]byte, 100)), i2np.ExpirationMillis(now.Add(-time.Hour))), ErrInvalid},
			{"truncated garlic", msg(i2np.TypeGarlic, []byte{0, 0, 1}, exp), ErrInvalid},
			{"short", msg(i2np.TypeGarlic, garlicOf([]byte("short")), exp), ErrNotForUs},
			{"random", msg(i2np.TypeGarlic, garlicOf(make([]byte, 200)), exp), ErrNotForUs},
			{"someone else's New Session", msg(i2np.TypeGarlic, garlicOf(ns.Data), exp), ErrNotForUs},
		}
		for _, tc := range tests {
			err := alice.HandleGarlic(context.Background(), tc.m, 7)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	keys, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tun, ffs := &fakeTunnels{}, noFloodfills{}
	bad := crypto.X25519Keys{Private: [32]byte{1}, Public: [32]byte{2}}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no keys", Config{Tunnels: tun, Floodfills: ffs}},
		{"no tunnels", Config{Keys: keys, Floodfills: ffs}},
		{"no floodfills", Config{Keys: keys, Tunnels: tun}},
		{"mismatched encryption key", Config{Keys: keys, Tunnels: tun, Floodfills: ffs, EncryptionKey: bad}},
		{"negative timeout", Config{Keys: keys, Tunnels: tun, Floodfills: ffs, LookupTimeout: -time.Second}},
		{"negative floodfill count", Config{Keys: keys, Tunnels: tun, Floodfills: ffs, MaxLookupFloodfills: -1}},
		{"bad streaming MTU", Config{Keys: keys, Tunnels: tun, Floodfills: ffs, Streaming: streamingMTU(100)}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tc.name, err)
		}
	}
	d, err := New(Config{Keys: keys, Tunnels: tun, Floodfills: ffs})
	if err != nil {
		t.Fatal(err)
	}
	// GeneratePrivateKeys makes a crypto type 4 destination whose key file
	// holds the matching X25519 key: the LeaseSet publishes that.
	pub, _ := keys.Destination().CryptoPublicKey()
	if k := d.EncryptionKey(); string(k.Public[:]) != string(pub) {
		t.Error("the key file's X25519 key is not used")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, err := d.ReceiveDatagram(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ReceiveDatagram after Close: %v", err)
	}
	if err := d.Send(context.Background(), data.Hash{1}, payload.Payload{Data: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

func streamingMTU(mtu int) (c streaming.Config) {
	c.MTU = mtu
	return c
}
