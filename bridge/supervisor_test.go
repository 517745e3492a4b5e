package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// echoServer is a local TCP echo service that half-closes after echoing.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln.Addr().String()
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// roundTrip sends msg to addr, half-closes and returns the reply.
func roundTrip(addr string, msg []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return got, err
	}
	return got, <-werr
}

// exchange writes msg on an open echo connection and reads it back.
func exchange(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

// fixture is an i2pnettest network, a datadir with the server's keys
// already made (so the client tunnel can name its b32), and an echo target.
type fixture struct {
	net     *i2pnettest.Network
	datadir string
	keys    string // server keys file
	b32     string // server address
	echo    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{net: i2pnettest.New(), datadir: t.TempDir(), echo: echoServer(t)}
	t.Cleanup(func() { fx.net.Close() })
	fx.keys = filepath.Join(fx.datadir, "srv.dat")
	k, _, err := data.LoadOrCreatePrivateKeyFile(fx.keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fx.b32 = k.Destination().B32()
	return fx
}

func (fx *fixture) server() config.Tunnel {
	return config.Tunnel{Name: "srv", Type: "tcp-server", Target: fx.echo, Keys: fx.keys}
}

func (fx *fixture) client(name, listen string) config.Tunnel {
	return config.Tunnel{Name: name, Type: "tcp-client", Listen: listen, Destination: fx.b32}
}

func (fx *fixture) file(tunnels ...config.Tunnel) *config.File {
	return &config.File{
		Router:  config.Router{Backend: "sam", SAM: "127.0.0.1:7656", Datadir: fx.datadir},
		Tunnels: tunnels,
	}
}

func (fx *fixture) start(t *testing.T, f *config.File) *Supervisor {
	t.Helper()
	s := New(Config{Network: fx.net})
	if err := s.Start(context.Background(), f); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func statusOf(t *testing.T, s *Supervisor, name string) TunnelStatus {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %q in %+v", name, s.Status())
	return TunnelStatus{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSupervisorRunsTunnelPair starts a server and a client tunnel, relays
// through both, checks Status, and stops cleanly.
func TestSupervisorRunsTunnelPair(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	s := fx.start(t, fx.file(fx.server(), fx.client("cli", "127.0.0.1:0")))

	cli := statusOf(t, s, "cli")
	msg := bytes.Repeat([]byte("i2p "), 1<<18) // 1 MiB
	got, err := roundTrip(cli.Listen, msg)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	waitFor(t, "connections to close", func() bool { return statusOf(t, s, "srv").Conns == 0 && statusOf(t, s, "cli").Conns == 0 })

	srv := statusOf(t, s, "srv")
	cli = statusOf(t, s, "cli")
	want := uint64(len(msg))
	if srv.State != "running" || srv.Address != fx.b32 || srv.Target != fx.echo || srv.TotalConns != 1 || srv.BytesIn != want || srv.BytesOut != want {
		t.Errorf("server status %+v", srv)
	}
	if cli.State != "running" || !strings.HasSuffix(cli.Address, ".b32.i2p") || cli.Address == fx.b32 ||
		cli.Destination != fx.b32 || cli.TotalConns != 1 || cli.BytesIn != want || cli.BytesOut != want {
		t.Errorf("client status %+v", cli)
	}
	if srv.LastError != "" || srv.Restarts != 0 || srv.Since.IsZero() {
		t.Errorf("server status %+v", srv)
	}

	s.Stop()
	for _, st := range s.Status() {
		if st.State != "stopped" {
			t.Errorf("%s: state %s after Stop", st.Name, st.State)
		}
	}
	if _, err := net.Dial("tcp", cli.Listen); err == nil {
		t.Error("client port still accepts after Stop")
	}
	if fx.net.Session("srv") != nil || fx.net.Session("cli") != nil {
		t.Error("sessions still open after Stop")
	}
	if err := s.Start(context.Background(), fx.file()); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop = %v", err)
	}
}

// TestStartIsAllOrNothing: the second tunnel's port is taken, so Start
// fails naming it and the first tunnel is stopped again (port free,
// session closed).
func TestStartIsAllOrNothing(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := freeAddr(t)
	f := fx.file(fx.client("a", first), fx.client("ssh-out", taken.Addr().String()), fx.server())

	s := New(Config{Network: fx.net})
	err = s.Start(context.Background(), f)
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded with a taken port")
	}
	wantPrefix := `tunnels[1] "ssh-out": listen tcp ` + taken.Addr().String()
	if !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start = %q, want %q…address already in use", err, wantPrefix)
	}
	ln, err := net.Listen("tcp", first)
	if err != nil {
		t.Fatalf("first tunnel's port not free after the rollback: %v", err)
	}
	ln.Close()
	for _, name := range []string{"a", "ssh-out", "srv"} {
		if fx.net.Session(name) != nil {
			t.Errorf("session %q still open after the rollback", name)
		}
	}
	if st := s.Status(); len(st) != 0 {
		t.Errorf("Status after a failed Start: %+v", st)
	}
	s.Stop()
}

// TestStartRejectsUnknownTypeAndDuplicates checks errors found before
// anything opens.
func TestStartRejectsUnknownTypeAndDuplicates(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	tests := []struct {
		name    string
		f       *config.File
		want    error
		wantMsg string
	}{
		{"unknown type", fx.file(fx.server(), config.Tunnel{Name: "x", Type: "gopher"}), ErrUnknownType, `tunnels[1] "x": bridge: unknown tunnel type "gopher"`},
		{"duplicate", fx.file(fx.client("a", "127.0.0.1:0"), fx.client("a", "127.0.0.1:0")), ErrDuplicateName, `tunnels[1] "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Network: fx.net})
			defer s.Stop()
			err := s.Start(context.Background(), tt.f)
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Fatalf("Start = %v, want %v starting %q", err, tt.want, tt.wantMsg)
			}
			if fx.net.Session("srv") != nil {
				t.Error("server session left open")
			}
		})
	}
}

// TestDefaultKindsCoverConfigTypes keeps the constructor table and the
// schema's type list in step.
func TestDefaultKindsCoverConfigTypes(t *testing.T) {
	var got []string
	for k := range DefaultKinds() {
		got = append(got, k)
	}
	slices.Sort(got)
	if want := config.Types(); !slices.Equal(got, want) {
		t.Errorf("DefaultKinds = %v, config.Types = %v", got, want)
	}
}

// TestRestartWithBackoff drops a server tunnel's session and makes the
// first re-open fail, then follows the restarts on a fake clock: first
// attempt after 1 s ±20 %, the next 2 s ±20 % later.
func TestRestartWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := i2pnettest.New()
		defer n.Close()
		f := &config.File{
			Router:  config.Router{Datadir: t.TempDir()},
			Tunnels: []config.Tunnel{{Name: "srv", Type: "tcp-server", Target: "127.0.0.1:9"}},
		}
		s := New(Config{Network: n})
		defer s.Stop()
		if err := s.Start(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		var dropped time.Time
		at := func(d time.Duration) { // sleep until d after the drop, then settle
			t.Helper()
			time.Sleep(d - time.Since(dropped))
			synctest.Wait()
		}
		check := func(when string, state string, restarts int) {
			t.Helper()
			st := s.Status()[0]
			if st.State != state || st.Restarts != restarts {
				t.Fatalf("%s: state %s, restarts %d; want %s, %d (%+v)", when, st.State, st.Restarts, state, restarts, st)
			}
		}

		n.FailNextOpen(i2pnettest.ErrInjected)
		n.Session("srv").Drop(errors.New("router went away"))
		dropped = time.Now()
		synctest.Wait()
		check("right after the drop", "retrying", 0)
		if st := s.Status()[0]; !strings.Contains(st.LastError, "router went away") || !st.Since.Equal(dropped) {
			t.Fatalf("status after the drop: %+v", st)
		}

		at(800*time.Millisecond - time.Nanosecond)
		check("before the first backoff", "retrying", 0)
		at(1200 * time.Millisecond)
		check("after the first attempt (injected Open failure)", "retrying", 1)
		if st := s.Status()[0]; !strings.Contains(st.LastError, "injected") {
			t.Fatalf("LastError after the failed re-open: %q", st.LastError)
		}
		firstAttempt := s.Status()[0].Since
		time.Sleep(firstAttempt.Add(1600*time.Millisecond - time.Nanosecond).Sub(time.Now()))
		synctest.Wait()
		check("before the second backoff", "retrying", 1)
		time.Sleep(firstAttempt.Add(2400 * time.Millisecond).Sub(time.Now()))
		synctest.Wait()
		check("after the second attempt", "running", 2)
		if n.Session("srv") == nil {
			t.Fatal("no session after the restart")
		}
		s.Stop()
		check("after Stop", "stopped", 2)
	})
}

// TestBackoffGrowsToLimit checks the delay schedule with its jitter bounds.
func TestBackoffGrowsToLimit(t *testing.T) {
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for n, w := range want {
		w *= time.Second
		for range 50 {
			d := backoff(n)
			if lo, hi := time.Duration(float64(w)*(1-jitter)), time.Duration(float64(w)*(1+jitter)); d < lo || d > hi {
				t.Fatalf("backoff(%d) = %v, want %v ±%.0f%%", n, d, w, jitter*100)
			}
		}
	}
	if backoff(1000) > time.Duration(float64(maxBackoff)*(1+jitter)) {
		t.Fatal("backoff overflows for many attempts")
	}
}

// TestReloadKeepsUnchangedConnections opens a connection through the pair,
// reloads with a new tunnel added, and checks that the connection still
// carries bytes and the new tunnel runs.
func TestReloadKeepsUnchangedConnections(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	f := fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"))
	s := fx.start(t, f)
	c, err := net.Dial("tcp", statusOf(t, s, "cli").Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(c, "before"); err != nil {
		t.Fatal(err)
	}
	sinceBefore := statusOf(t, s, "srv").Since

	// A fresh File equal in content, plus one tunnel: as after a Load.
	f2 := fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"), fx.client("cli2", "127.0.0.1:0"))
	if err := s.Reload(context.Background(), f2); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := exchange(c, "after the reload"); err != nil {
		t.Fatalf("connection broken by the reload: %v", err)
	}
	if st := statusOf(t, s, "srv"); !st.Since.Equal(sinceBefore) || st.Conns != 1 {
		t.Errorf("unchanged server was touched: %+v", st)
	}
	cli2 := statusOf(t, s, "cli2")
	if cli2.State != "running" {
		t.Fatalf("new tunnel: %+v", cli2)
	}
	if got, err := roundTrip(cli2.Listen, []byte("via cli2")); err != nil || string(got) != "via cli2" {
		t.Fatalf("new tunnel round trip: %q, %v", got, err)
	}
	if names := statusNames(s); !slices.Equal(names, []string{"srv", "cli", "cli2"}) {
		t.Errorf("status order %v", names)
	}
}

func statusNames(s *Supervisor) []string {
	var names []string
	for _, st := range s.Status() {
		names = append(names, st.Name)
	}
	return names
}

// TestReloadStopsRemovedAndRestartsChanged: a removed tunnel's connection
// is closed and its port freed; a changed tunnel moves to its new port.
func TestReloadStopsRemovedAndRestartsChanged(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	oldAddr, newAddr := freeAddr(t), freeAddr(t)
	s := fx.start(t, fx.file(fx.server(), fx.client("gone", "127.0.0.1:0"), fx.client("moved", oldAddr)))
	goneAddr := statusOf(t, s, "gone").Listen
	c, err := net.Dial("tcp", goneAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(c, "hello"); err != nil {
		t.Fatal(err)
	}

	if err := s.Reload(context.Background(), fx.file(fx.server(), fx.client("moved", newAddr))); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("removed tunnel's connection still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("removed tunnel's connection not closed")
	}
	for _, addr := range []string{goneAddr, oldAddr} {
		if ln, err := net.Listen("tcp", addr); err != nil {
			t.Errorf("%s not freed: %v", addr, err)
		} else {
			ln.Close()
		}
	}
	if names := statusNames(s); !slices.Equal(names, []string{"srv", "moved"}) {
		t.Errorf("status names %v", names)
	}
	if st := statusOf(t, s, "moved"); st.Listen != newAddr || st.State != "running" {
		t.Errorf("changed tunnel: %+v", st)
	}
	if got, err := roundTrip(newAddr, []byte("moved")); err != nil || string(got) != "moved" {
		t.Fatalf("changed tunnel round trip: %q, %v", got, err)
	}
}

// TestReloadFailuresLeaveTheRest: a new tunnel on a taken port and a
// changed tunnel moved onto a taken port both fail; the reload reports
// both, the untouched tunnels keep their connection, the changed tunnel
// keeps running in its old version, and the new one shows as failed until
// a later reload can start it.
func TestReloadFailuresLeaveTheRest(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	takenAddr := taken.Addr().String()
	defer taken.Close()
	oldAddr := freeAddr(t)
	s := fx.start(t, fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"), fx.client("moved", oldAddr)))
	c, err := net.Dial("tcp", statusOf(t, s, "cli").Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(c, "hello"); err != nil {
		t.Fatal(err)
	}

	f2 := fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"), fx.client("moved", takenAddr), fx.client("new", takenAddr))
	err = s.Reload(context.Background(), f2)
	if err == nil {
		t.Fatal("Reload succeeded onto a taken port")
	}
	for _, want := range []string{`tunnels[2] "moved": listen tcp ` + takenAddr, `tunnels[3] "new": listen tcp ` + takenAddr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Reload error %q does not contain %q", err, want)
		}
	}
	if err := exchange(c, "still here"); err != nil {
		t.Fatalf("unchanged tunnel's connection broken: %v", err)
	}
	moved := statusOf(t, s, "moved")
	if moved.State != "running" || moved.Listen != oldAddr || !strings.Contains(moved.LastError, "reload") {
		t.Errorf("changed tunnel did not fall back to its old version: %+v", moved)
	}
	if got, err := roundTrip(oldAddr, []byte("old")); err != nil || string(got) != "old" {
		t.Errorf("old version of the changed tunnel: %q, %v", got, err)
	}
	nw := statusOf(t, s, "new")
	if nw.State != "failed" || !strings.Contains(nw.LastError, "address already in use") {
		t.Errorf("failed new tunnel: %+v", nw)
	}

	// Free the port: reloading the same file starts what failed.
	taken.Close()
	f3 := fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"), fx.client("moved", oldAddr), fx.client("new", takenAddr))
	if err := s.Reload(context.Background(), f3); err != nil {
		t.Fatalf("second Reload: %v", err)
	}
	if st := statusOf(t, s, "new"); st.State != "running" {
		t.Errorf("new tunnel after the port was freed: %+v", st)
	}
	if err := exchange(c, "and still"); err != nil {
		t.Fatalf("unchanged tunnel's connection broken by the second reload: %v", err)
	}
}

// TestReloadReportsRouterChange: router settings cannot change at runtime;
// Reload says so and still applies the tunnel diff.
func TestReloadReportsRouterChange(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	s := fx.start(t, fx.file(fx.server()))
	f2 := fx.file(fx.server(), fx.client("cli", "127.0.0.1:0"))
	f2.Router.SAM = "127.0.0.1:7657"
	err := s.Reload(context.Background(), f2)
	if !errors.Is(err, ErrRouterChanged) || !strings.Contains(err.Error(), "router settings changed: restart i2pbridge to apply") {
		t.Fatalf("Reload = %v, want ErrRouterChanged", err)
	}
	if st := statusOf(t, s, "cli"); st.State != "running" {
		t.Errorf("tunnel diff not applied: %+v", st)
	}
}

// TestStatusDuringReloads reads Status while reloads run (for -race).
func TestStatusDuringReloads(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	s := fx.start(t, fx.file(fx.server()))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				for _, st := range s.Status() {
					_ = st.State
				}
			}
		}
	})
	for i := range 10 {
		f := fx.file(fx.server())
		if i%2 == 0 {
			f.Tunnels = append(f.Tunnels, fx.client("cli", "127.0.0.1:0"))
		}
		if err := s.Reload(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
