package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/netx"
	"i2pbridge/router/ntcp2"
)

// node is one test router: keys, RouterInfo and a running Manager.
type node struct {
	t       *testing.T
	ri      data.RouterInfo
	m       *Manager
	cancel  context.CancelFunc
	stopped chan struct{}

	mu     sync.Mutex
	got    []received
	gotRIs []data.Hash
	failed []data.Hash
	lost   []data.Hash
	recv   chan received
}

type received struct {
	from data.Hash
	msg  i2np.Message
}

// book is a shared RouterInfo directory standing in for the netDb.
type book struct {
	mu  sync.Mutex
	ris map[data.Hash]data.RouterInfo
}

func (b *book) add(ri data.RouterInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ris[ri.Hash()] = ri
}

func (b *book) resolve(h data.Hash) (data.RouterInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ri, ok := b.ris[h]
	return ri, ok
}

func newBook() *book { return &book{ris: map[data.Hash]data.RouterInfo{}} }

func buildRI(t *testing.T, keys data.RouterKeys, static ntcp2.StaticKey, addr netip.AddrPort) data.RouterInfo {
	t.Helper()
	a, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: static.Public, IV: static.IV, AddrPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := data.NewMapping(map[string]string{
		data.OptionCaps: "LR", data.OptionNetID: "99", data.OptionRouterVersion: "0.9.57",
	})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := data.BuildRouterInfo(keys, data.RouterInfoParams{Published: time.Now(), Addresses: []data.RouterAddress{a}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

type nodeOpts struct {
	maxSessions int
	ban         time.Duration
	noListen    bool
}

// startNode creates a router listening on addr in mem and runs its
// Manager until the test ends.
func startNode(t *testing.T, mem *netx.Mem, b *book, addr string, o nodeOpts) *node {
	t.Helper()
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	static, err := ntcp2.GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(addr)
	n := &node{t: t, recv: make(chan received, 1000), stopped: make(chan struct{})}
	n.ri = buildRI(t, keys, static, ap)
	cfg := Config{
		RouterInfo:  n.ri,
		Static:      static,
		Net:         mem.From(ap.Addr()),
		Resolve:     b.resolve,
		MaxSessions: o.maxSessions,
		BanDuration: o.ban,
		Handler: func(from data.Hash, m i2np.Message) {
			n.mu.Lock()
			n.got = append(n.got, received{from, m})
			n.mu.Unlock()
			n.recv <- received{from, m}
		},
		OnRouterInfo: func(ri data.RouterInfo) {
			n.mu.Lock()
			n.gotRIs = append(n.gotRIs, ri.Hash())
			n.mu.Unlock()
		},
		OnPeerFailed: func(h data.Hash, err error) {
			n.mu.Lock()
			n.failed = append(n.failed, h)
			n.mu.Unlock()
		},
		OnSessionLost: func(h data.Hash) {
			n.mu.Lock()
			n.lost = append(n.lost, h)
			n.mu.Unlock()
		},
	}
	if !o.noListen {
		ln, err := mem.Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = ln
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	b.add(n.ri)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.stopped)
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.stopped
}

func (n *node) hash() data.Hash { return n.ri.Hash() }

func testMessage(id uint32, payload string) i2np.Message {
	return i2np.Message{
		Type:       i2np.TypeData,
		ID:         id,
		Expiration: uint64(time.Now().Add(8*time.Second).Unix()) * 1000,
		Payload:    []byte(payload),
	}
}

func (n *node) waitMessage(t *testing.T, id uint32) received {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-n.recv:
			if r.msg.ID == id {
				return r
			}
		case <-timeout:
			t.Fatalf("message %d never arrived", id)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSendDialsPublishedAddressAndDelivers: the first Send dials the
// peer's published NTCP2 address; the message arrives intact with its
// expiration (to the second, as NTCP2's short header carries it); the
// reply goes back over the same session.
func TestSendDialsPublishedAddressAndDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		bn := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		ctx := context.Background()

		msg := testMessage(7, "hello")
		if err := a.m.Send(ctx, bn.hash(), msg); err != nil {
			t.Fatal(err)
		}
		r := bn.waitMessage(t, 7)
		if r.from != a.hash() || r.msg.Type != msg.Type || !bytes.Equal(r.msg.Payload, msg.Payload) || r.msg.Expiration != msg.Expiration {
			t.Fatalf("got %+v from %s, want %+v from %s", r.msg, r.from.Short(), msg, a.hash().Short())
		}
		if err := bn.m.Send(ctx, a.hash(), testMessage(8, "back")); err != nil {
			t.Fatal(err)
		}
		a.waitMessage(t, 8)

		sa, sb := a.m.Stats(ctx), bn.m.Stats(ctx)
		if sa.Sessions != 1 || sa.Outbound != 1 || sb.Sessions != 1 || sb.Inbound != 1 || sb.Outbound != 0 {
			t.Fatalf("stats a %+v, b %+v: want one session, dialled by a and reused by b", sa, sb)
		}
		if !a.m.Connected(ctx, bn.hash()) {
			t.Fatal("a not connected to b")
		}
		synctest.Wait() // the accept goroutine reports the RouterInfo after registering
		bn.mu.Lock()
		learned := len(bn.gotRIs) > 0 && bn.gotRIs[0] == a.hash()
		bn.mu.Unlock()
		if !learned {
			t.Fatal("b was not given a's RouterInfo from the handshake")
		}
	})
}

func TestSendErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		ctx := context.Background()
		tests := []struct {
			name string
			to   data.Hash
			msg  i2np.Message
			want error
		}{
			{"unknown peer", data.Hash{1}, testMessage(1, "x"), ErrUnknownPeer},
			{"ourselves", a.hash(), testMessage(1, "x"), ErrSelf},
			{"expiration beyond 2106", data.Hash{1}, i2np.Message{Type: i2np.TypeData, Expiration: 1 << 62}, nil},
		}
		for _, tc := range tests {
			err := a.m.Send(ctx, tc.to, tc.msg)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("%s: Send error %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

// TestFailedPeerIsBannedWithBackoff: a dial to a dead address fails, the
// peer is reported and banned; Sends during the ban fail at once without
// dialling; after the ban a dial is tried again, and a second failure bans
// it twice as long.
func TestFailedPeerIsBannedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{ban: time.Minute})
		dead := startNode(t, mem, b, "198.19.1.3:1000", nodeOpts{noListen: true})
		ctx := context.Background()

		start := time.Now()
		if err := a.m.Send(ctx, dead.hash(), testMessage(1, "x")); err == nil || errors.Is(err, ErrBanned) {
			t.Fatalf("first Send to a dead peer: %v, want a dial error", err)
		}
		a.mu.Lock()
		reported := len(a.failed) == 1 && a.failed[0] == dead.hash()
		a.mu.Unlock()
		if !reported {
			t.Fatal("failure not reported through OnPeerFailed")
		}
		if err := a.m.Send(ctx, dead.hash(), testMessage(2, "x")); !errors.Is(err, ErrBanned) {
			t.Fatalf("Send during ban: %v, want ErrBanned", err)
		}
		if s := a.m.Stats(ctx); s.Banned != 1 {
			t.Fatalf("stats %+v, want 1 banned", s)
		}
		time.Sleep(time.Minute - time.Since(start) + time.Second)
		if err := a.m.Send(ctx, dead.hash(), testMessage(3, "x")); err == nil || errors.Is(err, ErrBanned) {
			t.Fatalf("Send after ban: %v, want a new dial error", err)
		}
		second := time.Now()
		time.Sleep(time.Minute + time.Second)
		if err := a.m.Send(ctx, dead.hash(), testMessage(4, "x")); !errors.Is(err, ErrBanned) {
			t.Fatalf("Send 61 s into the second ban: %v, want ErrBanned (2 min)", err)
		}
		time.Sleep(2*time.Minute - time.Since(second) + time.Second)
		if err := a.m.Send(ctx, dead.hash(), testMessage(5, "x")); errors.Is(err, ErrBanned) {
			t.Fatalf("Send after the second ban: %v", err)
		}
	})
}

// TestSessionLostOnlyWhenThePeerEndsIt: OnSessionLost names a peer whose
// last session it ended (here by stopping), never one whose session we
// closed ourselves.
func TestSessionLostOnlyWhenThePeerEndsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		bn := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		cn := startNode(t, mem, b, "198.19.1.3:1000", nodeOpts{})
		ctx := context.Background()
		for i, p := range []*node{bn, cn} {
			if err := a.m.Send(ctx, p.hash(), testMessage(uint32(i+1), "x")); err != nil {
				t.Fatal(err)
			}
			p.waitMessage(t, uint32(i+1))
		}
		if err := a.m.Ban(ctx, cn.hash(), time.Hour); err != nil {
			t.Fatal(err)
		}
		bn.stop()
		synctest.Wait()
		a.mu.Lock()
		lost := slices.Clone(a.lost)
		a.mu.Unlock()
		if !slices.Equal(lost, []data.Hash{bn.hash()}) {
			t.Fatalf("OnSessionLost reported %v, want only b %v", lost, bn.hash())
		}
	})
}

// TestBanClosesSessionsAndRefusesInbound: Ban ends open sessions with
// Termination reason 17 and refuses the banned peer's new handshakes.
func TestBanClosesSessionsAndRefusesInbound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		bn := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		ctx := context.Background()
		if err := a.m.Send(ctx, bn.hash(), testMessage(1, "x")); err != nil {
			t.Fatal(err)
		}
		bn.waitMessage(t, 1)
		if err := bn.m.Ban(ctx, a.hash(), time.Hour); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := a.m.Stats(ctx); s.Sessions != 0 {
			t.Fatalf("a still has %d sessions after b banned it", s.Sessions)
		}
		// a dials again: the handshake completes (Bob cannot refuse before
		// he knows who Alice is) and b closes the session at once.
		_ = a.m.Send(ctx, bn.hash(), testMessage(2, "x"))
		synctest.Wait()
		if s := bn.m.Stats(ctx); s.Sessions != 0 {
			t.Fatalf("b kept a session with a banned peer: %+v", s)
		}
		bn.mu.Lock()
		defer bn.mu.Unlock()
		for _, r := range bn.got {
			if r.msg.ID == 2 {
				t.Fatal("a message from a banned peer was delivered")
			}
		}
	})
}

// TestSessionLimitRefusesInbound: at MaxSessions, further inbound sessions
// are closed and Sends that would need a new dial fail.
func TestSessionLimitRefusesInbound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		hub := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{maxSessions: 1})
		c1 := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		c2 := startNode(t, mem, b, "198.19.1.3:1000", nodeOpts{})
		ctx := context.Background()
		if err := c1.m.Send(ctx, hub.hash(), testMessage(1, "x")); err != nil {
			t.Fatal(err)
		}
		hub.waitMessage(t, 1)
		_ = c2.m.Send(ctx, hub.hash(), testMessage(2, "x"))
		synctest.Wait()
		if s := hub.m.Stats(ctx); s.Sessions != 1 || len(s.Peers) != 1 || s.Peers[0].Hash != c1.hash() {
			t.Fatalf("hub stats %+v, want only c1", s)
		}
		if s := c2.m.Stats(ctx); s.Sessions != 0 {
			t.Fatalf("c2 keeps a session the hub refused: %+v", s)
		}
		if err := hub.m.Send(ctx, c2.hash(), testMessage(3, "x")); !errors.Is(err, ErrSessionLimit) {
			t.Fatalf("Send needing a second session: %v, want ErrSessionLimit", err)
		}
	})
}

// TestConcurrentSendsShareOneDial: many Sends to a peer with no session
// start exactly one dial and all arrive.
func TestConcurrentSendsShareOneDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		bn := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		ctx := context.Background()
		const n = 50
		var wg sync.WaitGroup
		var errs atomic.Int32
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.m.Send(ctx, bn.hash(), testMessage(uint32(100+i), fmt.Sprint(i))); err != nil {
					errs.Add(1)
				}
			}()
		}
		wg.Wait()
		if errs.Load() != 0 {
			t.Fatalf("%d Sends failed", errs.Load())
		}
		waitFor(t, "all messages", func() bool {
			bn.mu.Lock()
			defer bn.mu.Unlock()
			seen := map[uint32]bool{}
			for _, r := range bn.got {
				seen[r.msg.ID] = true
			}
			for i := range n {
				if !seen[uint32(100+i)] {
					return false
				}
			}
			return true
		})
		if s := a.m.Stats(ctx); s.Outbound != 1 {
			t.Fatalf("%d outbound sessions, want 1", s.Outbound)
		}
	})
}

// TestRunEndsEverything: cancelling Run closes every session (the peer
// sees Termination reason 3), the listener and all goroutines; Sends fail
// afterwards. synctest.Test itself fails if any goroutine is left behind.
func TestRunEndsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		bn := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		ctx := context.Background()
		if err := a.m.Send(ctx, bn.hash(), testMessage(1, "x")); err != nil {
			t.Fatal(err)
		}
		bn.waitMessage(t, 1)
		a.stop()
		synctest.Wait()
		if s := bn.m.Stats(ctx); s.Sessions != 0 {
			t.Fatalf("b still has sessions after a stopped: %+v", s)
		}
		if err := a.m.Send(ctx, bn.hash(), testMessage(2, "x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Run ended: %v, want ErrClosed", err)
		}
		if _, err := mem.DialContext(ctx, "tcp", "198.19.1.1:1000"); !errors.Is(err, netx.ErrRefused) {
			t.Fatalf("a's listener still open: %v", err)
		}
		if err := a.m.Run(ctx); err == nil {
			t.Fatal("second Run succeeded")
		}
	})
}

func TestSetRouterInfoKeepsIdentity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, b := netx.NewMem(), newBook()
		a := startNode(t, mem, b, "198.19.1.1:1000", nodeOpts{})
		other := startNode(t, mem, b, "198.19.1.2:1000", nodeOpts{})
		if err := a.m.SetRouterInfo(other.ri); !errors.Is(err, ErrConfig) {
			t.Fatalf("SetRouterInfo with another identity: %v, want ErrConfig", err)
		}
		if err := a.m.SetRouterInfo(a.ri); err != nil {
			t.Fatal(err)
		}
	})
}
