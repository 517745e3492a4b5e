package sam_test

import (
	"bufio"
	"bytes"
	"io"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoAccept answers one STREAM ACCEPT on a new socket of session id and
// echoes the stream it gets; it returns the peer line it read, and a
// channel closed when the server has closed the socket.
func echoAccept(t *testing.T, addr, id string) (<-chan string, <-chan struct{}) {
	t.Helper()
	return echoAcceptAs(t, hello(t, addr), id)
}

// echoAcceptAs is echoAccept on a socket that said HELLO already.
func echoAcceptAs(t *testing.T, a *client, id string) (<-chan string, <-chan struct{}) {
	t.Helper()
	if r := a.cmd("STREAM ACCEPT ID=" + id); r.Value("RESULT") != "OK" {
		t.Fatalf("STREAM ACCEPT: %v", r)
	}
	peer := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer a.c.Close()
		line, err := a.rawLine(60 * time.Second)
		peer <- line
		if err != nil {
			return
		}
		io.Copy(a.c, a.br)
		a.c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, a.br)
	}()
	return peer, done
}

// TestStreamEchoOneMiBBetweenRouters: two STREAM sessions on two routers
// through two SAM servers; one ACCEPTs, the other CONNECTs by b32 and
// gets 1 MiB echoed byte for byte. The accepting side sees the
// connecting session's destination and SAM 3.2 ports.
func TestStreamEchoOneMiBBetweenRouters(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{servers: 2})
	_, srvKeys := session(t, e.addrs[0], "server", "STREAM", fastTunnels)
	_, cliKeys := session(t, e.addrs[1], "client", "STREAM", fastTunnels)
	peer, _ := echoAccept(t, e.addrs[0], "server")

	c := hello(t, e.addrs[1])
	start := time.Now()
	r := c.cmd("STREAM CONNECT ID=client DESTINATION=" + srvKeys.Destination().B32())
	if r.String() != "STREAM STATUS RESULT=OK" {
		t.Fatalf("STREAM CONNECT: %v", r)
	}
	connected := time.Since(start)
	p := make([]byte, 1<<20)
	mrand.NewChaCha8([32]byte{1}).Read(p)
	go func() {
		c.c.Write(p)
		c.c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	took := time.Since(start)
	if !bytes.Equal(got, p) {
		t.Fatalf("echo: %d bytes back, not the 1 MiB sent", len(got))
	}
	want := cliKeys.Destination().Base64() + " FROM_PORT=0 TO_PORT=0"
	if line := <-peer; line != want {
		t.Errorf("peer line %.40q..., want the client's destination and ports", line)
	}
	t.Logf("STREAM CONNECT by b32 answered OK in %v; 1 MiB echoed byte-identical in %v (%.0f KiB/s each way)",
		connected.Round(time.Millisecond), took.Round(time.Millisecond), 1024/took.Seconds())
}

// TestStreamConnectBeforeAcceptWithEarlyData: CONNECT by base64
// destination, SILENT=true (no STATUS line), with the request written
// right behind the command, and sent before the other side's ACCEPT: the
// stream waits for the ACCEPT, and the early bytes reach the peer first.
// The accepting client speaks SAM 3.1, so its peer line has no ports.
func TestStreamConnectBeforeAcceptWithEarlyData(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	_, srvKeys := session(t, e.addrs[0], "server", "STREAM", fastTunnels)
	_, cliKeys := session(t, e.addrs[0], "client", "STREAM", fastTunnels)

	c := hello(t, e.addrs[0])
	c.c.Write([]byte("STREAM CONNECT ID=client SILENT=true DESTINATION=" + srvKeys.Destination().Base64() + "\nearly bytes"))
	c.c.(*net.TCPConn).CloseWrite()
	time.Sleep(500 * time.Millisecond)

	old := dialSAM(t, e.addrs[0])
	if r := old.cmd("HELLO VERSION MIN=3.0 MAX=3.1"); r.Value("VERSION") != "3.1" {
		t.Fatalf("HELLO: %v", r)
	}
	peer, _ := echoAcceptAs(t, old, "server")
	got, err := io.ReadAll(c.br)
	if err != nil || string(got) != "early bytes" {
		t.Fatalf("echo = %q, %v; want the early bytes alone (SILENT: no STATUS line)", got, err)
	}
	if line := <-peer; line != cliKeys.Destination().Base64() {
		t.Errorf("peer line for a SAM 3.1 client %.60q..., want the base64 destination alone", line)
	}
}

// TestStreamForwardToLocalListener: STREAM FORWARD connects each incoming
// stream to a local TCP listener, the peer line first; once the FORWARD
// socket closes, new streams are refused.
func TestStreamForwardToLocalListener(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{servers: 2})
	_, srvKeys := session(t, e.addrs[0], "server", "STREAM", fastTunnels)
	_, cliKeys := session(t, e.addrs[1], "client", "STREAM", fastTunnels)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan string, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				line, _ := br.ReadString('\n')
				peers <- strings.TrimSuffix(line, "\n")
				req, _ := br.ReadString('\n')
				io.WriteString(nc, "re: "+req)
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	f := hello(t, e.addrs[0])
	if r := f.cmd("STREAM FORWARD ID=server HOST=127.0.0.1 PORT=" + strconv.Itoa(port)); r.String() != "STREAM STATUS RESULT=OK" {
		t.Fatalf("STREAM FORWARD: %v", r)
	}
	if r := hello(t, e.addrs[0]).cmd("STREAM ACCEPT ID=server"); r.Value("RESULT") != "I2P_ERROR" || !strings.Contains(r.Value("MESSAGE"), "forwarding") {
		t.Errorf("ACCEPT during FORWARD: %v", r)
	}

	for i := range 2 {
		c := hello(t, e.addrs[1])
		if r := c.cmd("STREAM CONNECT ID=client DESTINATION=" + srvKeys.Destination().B32()); r.Value("RESULT") != "OK" {
			t.Fatalf("STREAM CONNECT %d: %v", i, r)
		}
		io.WriteString(c.c, "hello "+strconv.Itoa(i)+"\n")
		if got, err := c.rawLine(30 * time.Second); err != nil || got != "re: hello "+strconv.Itoa(i) {
			t.Fatalf("forwarded answer %q, %v", got, err)
		}
		if p := <-peers; p != cliKeys.Destination().Base64()+" FROM_PORT=0 TO_PORT=0" {
			t.Errorf("forwarded peer line %.40q...", p)
		}
	}

	f.c.Close()
	time.Sleep(200 * time.Millisecond) // the server notices the closed socket
	c := hello(t, e.addrs[1])
	r := c.cmd("STREAM CONNECT ID=client DESTINATION=" + srvKeys.Destination().B32())
	if r.Value("RESULT") != "CANT_REACH_PEER" {
		t.Errorf("CONNECT after the FORWARD socket closed: %v, want CANT_REACH_PEER", r)
	}
	if !c.closed() {
		t.Error("socket open after a failed STREAM CONNECT")
	}
}

// TestSessionEndsWithItsControlSocket: closing the control socket ends
// the session: its stream sockets and ACCEPTs close, its ID and
// destination can be used again; and once the server stops (a PRIMARY
// session with subsessions among its sessions) no goroutine of the
// package is left.
//
// Not parallel: the leak check needs the other tests' servers not running
// yet (parallel tests wait until the sequential ones are done).
func TestSessionEndsWithItsControlSocket(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctrl, keys := session(t, e.addrs[0], "server", "STREAM", fastTunnels)
	session(t, e.addrs[0], "client", "STREAM", fastTunnels)
	// Two ACCEPTs wait; either may get the stream (STATUS OK is written
	// before an ACCEPT queues for one), so both echo.
	peer1, done1 := echoAccept(t, e.addrs[0], "server")
	peer2, done2 := echoAccept(t, e.addrs[0], "server")
	c := hello(t, e.addrs[0])
	if r := c.cmd("STREAM CONNECT ID=client DESTINATION=" + keys.Destination().B32()); r.Value("RESULT") != "OK" {
		t.Fatalf("STREAM CONNECT: %v", r)
	}
	io.WriteString(c.c, "ping\n")
	if s, err := c.rawLine(30 * time.Second); err != nil || s != "ping" {
		t.Fatalf("echo %q, %v", s, err)
	}
	select {
	case <-peer1:
	case <-peer2:
	}

	// The accepted stream's socket and the ACCEPT still waiting close.
	ctrl.c.Close()
	for _, done := range []<-chan struct{}{done1, done2} {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("accepted stream's or waiting ACCEPT's socket open after its session ended")
		}
	}
	if r := hello(t, e.addrs[0]).cmd("STREAM CONNECT ID=server DESTINATION=" + keys.Destination().B32()); r.Value("RESULT") != "INVALID_ID" {
		t.Errorf("CONNECT with the closed session's ID: %v", r)
	}
	again := hello(t, e.addrs[0])
	if r := again.cmd("SESSION CREATE STYLE=STREAM ID=server DESTINATION=" + keys.Base64() + " " + fastTunnels); r.Value("RESULT") != "OK" {
		t.Errorf("re-creating the session with its ID and keys: %v", r)
	}
	// A PRIMARY with subsessions, one of them waiting in ACCEPT, goes
	// down with the server too.
	prim, _ := session(t, e.addrs[0], "prim", "PRIMARY", fastTunnels)
	for _, args := range []string{"STYLE=STREAM ID=sub", "STYLE=RAW ID=rawsub PORT=9 HOST=127.0.0.1"} {
		if r := prim.cmd("SESSION ADD " + args); r.Value("RESULT") != "OK" {
			t.Fatalf("SESSION ADD %s: %v", args, r)
		}
	}
	subAccept := hello(t, e.addrs[0])
	if r := subAccept.cmd("STREAM ACCEPT ID=sub"); r.Value("RESULT") != "OK" {
		t.Fatalf("STREAM ACCEPT on a subsession: %v", r)
	}
	e.stops[0]()
	if !again.closed() || !c.closed() || !prim.closed() || !subAccept.closed() {
		t.Error("client sockets open after the server stopped")
	}
	checkNoLeaks(t)
}
