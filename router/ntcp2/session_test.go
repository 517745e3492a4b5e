package ntcp2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
)

// inbox collects what a Session's callbacks deliver.
type inbox struct {
	i2np chan I2NPMessage
	ris  chan data.RouterInfo
}

func newInbox() *inbox {
	return &inbox{i2np: make(chan I2NPMessage, 1024), ris: make(chan data.RouterInfo, 16)}
}

func (in *inbox) attach(c *Config) {
	c.OnI2NP = func(_ *Session, m I2NPMessage) { in.i2np <- m }
	c.OnRouterInfo = func(_ *Session, ri data.RouterInfo, _ bool) { in.ris <- ri }
}

// connectPipe establishes Alice (a) and Bob (b) over net.Pipe.
func connectPipe(t *testing.T, a, b testRouter, ca, cb Config) (alice, bob *Session) {
	t.Helper()
	c1, c2 := net.Pipe()
	if cb.Replay == nil {
		cb.Replay = NewReplayCache(0, 0)
	}
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Server(context.Background(), c2, cb)
		done <- result{s, err}
	}()
	alice, err := Client(context.Background(), c1, ca, b.ri)
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Server: %v", r.err)
	}
	return alice, r.s
}

func recvI2NP(t *testing.T, in *inbox) I2NPMessage {
	t.Helper()
	select {
	case m := <-in.i2np:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no I2NP message")
		return I2NPMessage{}
	}
}

func TestSessionsExchangeI2NPOverPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		inA, inB := newInbox(), newInbox()
		ca, cb := a.config(), b.config()
		inA.attach(&ca)
		inB.attach(&cb)
		alice, bob := connectPipe(t, a, b, ca, cb)
		if alice.PeerHash() != b.ri.Hash() || bob.PeerHash() != a.ri.Hash() {
			t.Fatal("sessions identify the wrong peers")
		}
		if !alice.Initiator() || bob.Initiator() {
			t.Fatal("roles swapped")
		}
		// Bob's first frame carries his RouterInfo.
		select {
		case ri := <-inA.ris:
			if ri.Hash() != b.ri.Hash() {
				t.Fatal("Alice got a different RouterInfo from Bob")
			}
		case <-time.After(time.Second):
			t.Fatal("Bob sent no RouterInfo block")
		}

		ctx := context.Background()
		sizes := []int{0, 1, 1000, 30000, MaxI2NPBodyLen, 5, 6, 7}
		for i, n := range sizes {
			body := bytes.Repeat([]byte{byte(i)}, n)
			if err := alice.Send(ctx, I2NPMessage{Type: 20, ID: uint32(i), Expiration: 1e9, Body: body}); err != nil {
				t.Fatal(err)
			}
			if err := bob.Send(ctx, I2NPMessage{Type: 11, ID: uint32(100 + i), Expiration: 2e9, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		for i, n := range sizes {
			m := recvI2NP(t, inB)
			if m.Type != 20 || m.ID != uint32(i) || m.Expiration != 1e9 || len(m.Body) != n || (n > 0 && m.Body[0] != byte(i)) {
				t.Fatalf("Bob got message %d wrong: type %d id %d len %d", i, m.Type, m.ID, len(m.Body))
			}
			m = recvI2NP(t, inA)
			if m.Type != 11 || m.ID != uint32(100+i) || len(m.Body) != n {
				t.Fatalf("Alice got message %d wrong: type %d id %d len %d", i, m.Type, m.ID, len(m.Body))
			}
		}
		// Many small messages: they are packed several to a frame.
		for i := 0; i < 500; i++ {
			if err := alice.Send(ctx, I2NPMessage{Type: 1, ID: uint32(i), Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 500; i++ {
			if m := recvI2NP(t, inB); m.ID != uint32(i) {
				t.Fatalf("message %d arrived as %d", i, m.ID)
			}
		}
		if err := alice.SendRouterInfo(ctx, a.ri, true); err != nil {
			t.Fatal(err)
		}
		if ri := <-inB.ris; ri.Hash() != a.ri.Hash() {
			t.Fatal("Bob got a different RouterInfo")
		}

		if err := alice.Close(); err != nil {
			t.Fatal(err)
		}
		<-bob.Done()
		var te *TerminationError
		if !errors.As(bob.Err(), &te) || !te.Remote || te.Reason != ReasonNormal {
			t.Fatalf("Bob ended with %v, want a remote normal Termination", bob.Err())
		}
		// Bob's Termination count is the frames Alice's side had received.
		if te.Frames == 0 {
			t.Fatal("Termination reports no frames received")
		}
		if !errors.As(alice.Err(), &te) || te.Remote || te.Reason != ReasonNormal {
			t.Fatalf("Alice ended with %v", alice.Err())
		}
		<-alice.Done() // Close returns once the connection is closed; Done once the reader is gone too
		if alice.State() != "closed" || bob.State() != "closed" {
			t.Fatalf("states %s/%s", alice.State(), bob.State())
		}
		if err := alice.Send(ctx, I2NPMessage{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if err := bob.Close(); err != nil { // closing twice is harmless
			t.Fatal(err)
		}
	})
}

// A callback may close its own session (say, on a message it refuses)
// without deadlocking the reader that runs it.
func TestSessionCloseFromCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		cb := b.config()
		cb.OnI2NP = func(s *Session, m I2NPMessage) {
			if err := s.CloseWithReason(ReasonBanned); err != nil {
				t.Error(err)
			}
			if s.Err() == nil {
				t.Error("Err is nil after Close returned")
			}
		}
		alice, bob := connectPipe(t, a, b, a.config(), cb)
		if err := alice.Send(context.Background(), I2NPMessage{Type: 1}); err != nil {
			t.Fatal(err)
		}
		<-bob.Done()
		<-alice.Done()
		var te *TerminationError
		if !errors.As(alice.Err(), &te) || !te.Remote || te.Reason != ReasonBanned {
			t.Fatalf("Alice ended with %v", alice.Err())
		}
	})
}

func TestSessionRefusesOversizedMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		alice, bob := connectPipe(t, a, b, a.config(), b.config())
		defer bob.Close()
		defer alice.Close()
		err := alice.Send(context.Background(), I2NPMessage{Body: make([]byte, MaxI2NPBodyLen+1)})
		mustFail(t, "oversized", err, ErrTooLarge)
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		ca, cb := a.config(), b.config()
		ca.IdleTimeout = 30 * time.Second
		in := newInbox()
		in.attach(&cb)
		alice, bob := connectPipe(t, a, b, ca, cb)

		// Traffic every 20 s keeps the session open past its idle timeout.
		for i := 0; i < 5; i++ {
			time.Sleep(20 * time.Second)
			if err := alice.Send(context.Background(), I2NPMessage{ID: uint32(i)}); err != nil {
				t.Fatalf("after %d s: %v", 20*(i+1), err)
			}
			recvI2NP(t, in)
		}
		if alice.State() != "open" {
			t.Fatalf("busy session is %s", alice.State())
		}
		start := time.Now()
		<-alice.Done()
		if d := time.Since(start); d < 30*time.Second || d > 31*time.Second {
			t.Fatalf("idle close after %v, want 30 s", d)
		}
		<-bob.Done()
		var te *TerminationError
		if !errors.As(alice.Err(), &te) || te.Remote || te.Reason != ReasonIdleTimeout {
			t.Fatalf("Alice: %v", alice.Err())
		}
		if !errors.As(bob.Err(), &te) || !te.Remote || te.Reason != ReasonIdleTimeout {
			t.Fatalf("Bob: %v", bob.Err())
		}
	})
}

// rawAlice is a hand-driven initiator: it completes the handshake with the
// sans-IO Initiator and then reads and writes frames directly, so tests can
// send what a Session never would.
type rawAlice struct {
	conn   net.Conn
	r      *bufio.Reader
	sealer *FrameSealer
	opener *FrameOpener
}

func dialRaw(t *testing.T, conn net.Conn, a, b testRouter) *rawAlice {
	t.Helper()
	ini, err := NewInitiator(InitiatorConfig{NetID: testNetID, Static: a.static, RouterInfo: a.ri,
		PeerHash: b.ri.Hash(), PeerStatic: b.static.Public, PeerIV: b.static.IV})
	if err != nil {
		t.Fatal(err)
	}
	msg1, err := ini.SessionRequest()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(msg1); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, HeadLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatal(err)
	}
	n, err := ini.ReadSessionCreated(head)
	if err != nil {
		t.Fatal(err)
	}
	pad := make([]byte, n)
	if _, err := io.ReadFull(conn, pad); err != nil {
		t.Fatal(err)
	}
	msg3, err := ini.SessionConfirmed(pad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(msg3); err != nil {
		t.Fatal(err)
	}
	k, _ := ini.DataKeys()
	return &rawAlice{conn: conn, r: bufio.NewReader(conn),
		sealer: NewFrameSealer(&k.Send, &k.SendSip), opener: NewFrameOpener(&k.Recv, &k.RecvSip)}
}

func (r *rawAlice) readFrame(t *testing.T) []Block {
	t.Helper()
	var field [2]byte
	if _, err := io.ReadFull(r.r, field[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	n, err := r.opener.Length(field)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r.r, frame); err != nil {
		t.Fatal(err)
	}
	p, err := r.opener.Open(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := ParseBlocks(p)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

func (r *rawAlice) sealed(t *testing.T, payload []byte) []byte {
	t.Helper()
	w, err := r.sealer.Seal(nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (r *rawAlice) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// serveRaw starts Bob as a Server over a pipe and connects a rawAlice.
func serveRaw(t *testing.T, cb Config) (*rawAlice, *Session, testRouter) {
	t.Helper()
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	cb.RouterInfo, cb.Static = b.ri, b.static
	if cb.Replay == nil {
		cb.Replay = NewReplayCache(0, 0)
	}
	c1, c2 := net.Pipe()
	got := make(chan *Session, 1)
	go func() {
		s, err := Server(context.Background(), c2, cb)
		if err != nil {
			t.Errorf("Server: %v", err)
		}
		got <- s
	}()
	raw := dialRaw(t, c1, a, b)
	bob := <-got
	if bob == nil {
		t.FailNow()
	}
	first := raw.readFrame(t)
	if len(first) < 2 || first[0].BlockType() != BlockDateTime || first[1].BlockType() != BlockRouterInfo {
		t.Fatalf("Bob's first frame: %v", first)
	}
	return raw, bob, a
}

// terminationFrom reads frames until a Termination block.
func (r *rawAlice) terminationFrom(t *testing.T) Termination {
	t.Helper()
	for {
		for _, b := range r.readFrame(t) {
			if term, ok := b.(Termination); ok {
				return term
			}
		}
	}
}

func TestSessionTerminatesOnDataPhaseErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		frame  func(t *testing.T, r *rawAlice) []byte
		reason Reason
		cause  error
		frames uint64 // valid frames Bob counts: the bad frame itself if its AEAD held
	}{
		{"AEAD failure", func(t *testing.T, r *rawAlice) []byte {
			return flip(r.sealed(t, []byte{0xfe, 0, 0}), 5)
		}, ReasonAEADFailure, crypto.ErrAuthFailed, 0},
		{"length below 16", func(t *testing.T, r *rawAlice) []byte {
			w := r.sealed(t, nil) // an empty frame: its length field decodes to 16
			w[1] ^= 16 ^ 15       // now it decodes to 15, too short for a MAC
			return w[:2]
		}, ReasonAEADFraming, ErrLength, 0},
		{"bad DateTime size", func(t *testing.T, r *rawAlice) []byte {
			return r.sealed(t, mustHex("00 0003 000000"))
		}, ReasonPayloadFormat, ErrPayload, 1},
		{"padding not last", func(t *testing.T, r *rawAlice) []byte {
			return r.sealed(t, mustHex("fe 0000 00 0004 00000000"))
		}, ReasonPayloadFormat, ErrPayload, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				raw, bob, _ := serveRaw(t, Config{})
				raw.write(t, c.frame(t, raw))
				term := raw.terminationFrom(t)
				if term.Reason != c.reason || term.Frames != c.frames {
					t.Fatalf("Termination reason %v frames %d, want %v and %d", term.Reason, term.Frames, c.reason, c.frames)
				}
				<-bob.Done()
				var te *TerminationError
				if !errors.As(bob.Err(), &te) || te.Remote || te.Reason != c.reason || !errors.Is(bob.Err(), c.cause) {
					t.Fatalf("Bob ended with %v", bob.Err())
				}
			})
		})
	}
}

func TestSessionHandlesPeerTerminationAndUnknownBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := newInbox()
		var cb Config
		in.attach(&cb)
		raw, bob, _ := serveRaw(t, cb)
		// Unknown and Options blocks are skipped; the I2NP next to them
		// is delivered.
		p, _ := AppendBlocks(nil,
			UnknownBlock{Kind: 224, Data: []byte("experimental")},
			Options{TMax: 16},
			DateTime{Seconds: unixSeconds(time.Now())},
			I2NPMessage{Type: 10, ID: 42, Body: []byte("status")},
			UnknownBlock{Kind: 255, Data: nil},
			Padding{Data: make([]byte, 9)})
		raw.write(t, raw.sealed(t, p))
		if m := recvI2NP(t, in); m.ID != 42 || string(m.Body) != "status" {
			t.Fatalf("got %+v", m)
		}
		// An invalid RouterInfo block is dropped without ending the session.
		p, _ = AppendBlocks(nil, RouterInfoBlock{RouterInfo: []byte("not a RouterInfo")})
		raw.write(t, raw.sealed(t, p))
		p, _ = AppendBlocks(nil, Termination{Frames: 1, Reason: ReasonShutdown}, Padding{})
		raw.write(t, raw.sealed(t, p))
		<-bob.Done()
		var te *TerminationError
		if !errors.As(bob.Err(), &te) || !te.Remote || te.Reason != ReasonShutdown || te.Frames != 1 {
			t.Fatalf("Bob ended with %v", bob.Err())
		}
		if len(in.ris) != 0 {
			t.Fatal("invalid RouterInfo delivered")
		}
	})
}

func TestSessionDropsPeerThatStopsReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		cb := b.config()
		cb.Replay = NewReplayCache(0, 0)
		cb.WriteTimeout = 5 * time.Second
		c1, c2 := net.Pipe()
		got := make(chan *Session, 1)
		go func() {
			s, _ := Server(context.Background(), c2, cb)
			got <- s
		}()
		raw := dialRaw(t, c1, a, b)
		bob := <-got
		// raw never reads: Bob's first frame write stalls.
		start := time.Now()
		<-bob.Done()
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("dropped after %v, want the 5 s write timeout", d)
		}
		if !errors.Is(bob.Err(), os.ErrDeadlineExceeded) {
			t.Fatalf("Bob ended with %v", bob.Err())
		}
		raw.conn.Close()
	})
}

func TestClientHandshakeTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestRouter(t, routerOpts{})
		b := newTestRouter(t, routerOpts{})
		// A peer that reads everything and answers nothing.
		silent := func() net.Conn {
			c1, c2 := net.Pipe()
			go io.Copy(io.Discard, c2)
			t.Cleanup(func() { c2.Close() })
			return c1
		}
		ca := a.config()
		ca.HandshakeTimeout = 3 * time.Second
		start := time.Now()
		_, err := Client(context.Background(), silent(), ca, b.ri)
		if err == nil || time.Since(start) != 3*time.Second {
			t.Fatalf("handshake timeout: %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		_, err = Client(ctx, silent(), a.config(), b.ri)
		if !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Fatalf("cancel: %v after %v", err, time.Since(start))
		}
	})
}

func TestClientChecksPeerAndConfig(t *testing.T) {
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{})
	other := newTestRouter(t, routerOpts{netID: "2"})
	pipe := func() net.Conn {
		c1, c2 := net.Pipe()
		c2.Close()
		return c1
	}
	ctx := context.Background()
	_, err := Client(ctx, pipe(), a.config(), other.ri)
	mustFail(t, "peer on netId 2", err, ErrNetID)

	// Our RouterInfo must publish our static key.
	bad := a.config()
	bad.Static = b.static
	_, err = Client(ctx, pipe(), bad, b.ri)
	mustFail(t, "RouterInfo without our s", err, ErrConfig)
	_, err = Server(ctx, pipe(), Config{RouterInfo: b.ri, Static: b.static})
	mustFail(t, "Server without replay cache", err, ErrConfig)

	// A peer without a published NTCP2 address cannot be dialled.
	addr, _ := data.NewNTCP2Address(data.NTCP2Address{StaticKey: b.static.Public})
	opts, _ := data.NewMapping(map[string]string{"caps": "LU", "netId": "99", "router.version": "0.9.57"})
	hidden, err := data.BuildRouterInfo(b.keys, data.RouterInfoParams{Published: time.Now(), Addresses: []data.RouterAddress{addr}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(ctx, nil, a.config(), hidden)
	mustFail(t, "unpublished peer", err, ErrAddress)
}

func TestListenerOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	a := newTestRouter(t, routerOpts{})
	b := newTestRouter(t, routerOpts{addr: ap})
	inB := newInbox()
	cb := b.config()
	inB.attach(&cb)
	l, err := Listen(ln, cb)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Garbage and a half-open connection do not disturb the listener.
	junk, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	junk.Write(bytes.Repeat([]byte{0x42}, 100))
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.ReadAll(junk) // returns once Bob drops it (with a reset)
	junk.Close()

	var wg sync.WaitGroup
	const n = 3
	clients := make([]*Session, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = Dial(ctx, nil, a.config(), b.ri)
		}()
	}
	var servers []*Session
	for i := 0; i < n; i++ {
		s, err := l.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.PeerHash() != a.ri.Hash() {
			t.Fatal("wrong peer identity")
		}
		servers = append(servers, s)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	for i, c := range clients {
		if err := c.Send(ctx, I2NPMessage{Type: 20, ID: uint32(i), Body: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint32]bool{}
	for range clients {
		seen[recvI2NP(t, inB).ID] = true
	}
	if len(seen) != n {
		t.Fatalf("messages from %d sessions, want %d", len(seen), n)
	}
	for _, c := range clients {
		c.Close()
	}
	for _, s := range servers {
		<-s.Done()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	idle.Close()
	// Every goroutine the listener and sessions started is gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left, %d before:\n%s", g, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestServerTellsSkewedClientItsTime: over real TCP (where a reset could
// discard unsent data), Bob answers a request stamped 90 s off with
// message 2 and closes; Alice then refuses on her side with ErrClockSkew,
// having learned Bob's time, as i2pd 2.45 expects of a peer.
func TestServerTellsSkewedClientItsTime(t *testing.T) {
	for _, skew := range []time.Duration{90 * time.Second, -90 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a := newTestRouter(t, routerOpts{})
			b := newTestRouter(t, routerOpts{addr: netip.MustParseAddrPort(ln.Addr().String())})
			serverErr := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				cb := b.config()
				cb.Replay = NewReplayCache(0, 0)
				s, err := Server(context.Background(), c, cb)
				if s != nil {
					s.Close()
				}
				serverErr <- err
			}()
			ca := a.config()
			ca.Now = func() time.Time { return time.Now().Add(skew) }
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = Dial(ctx, nil, ca, b.ri)
			if !errors.Is(err, ErrClockSkew) {
				t.Fatalf("Alice: %v, want ErrClockSkew (from Bob's message 2)", err)
			}
			if err := <-serverErr; !errors.Is(err, ErrClockSkew) {
				t.Fatalf("Bob: %v, want ErrClockSkew", err)
			}
		})
	}
}
