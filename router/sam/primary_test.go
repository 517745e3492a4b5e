package sam_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestPrimarySessionRoutesByPort: one PRIMARY destination with two STREAM
// subsessions (LISTEN_PORT 80 and the port-0 default) and a DATAGRAM
// subsession listening on its FROM_PORT 53, forwarded by UDP. A session
// on another router connects to ports 80 and 8080 and gets each echoed
// by the subsession that owns the port; its datagram to port 53 reaches
// the DATAGRAM subsession, whose reply through the UDP port comes back
// from port 53. SESSION REMOVE closes a subsession's ACCEPT and moves its
// port to the default; with no STREAM subsession left connects are
// refused; closing the control socket frees every ID.
func TestPrimarySessionRoutesByPort(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{servers: 2})
	samUDP := serveDatagrams(t, e.servers[0])
	dgIn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dgIn.Close()

	ctrl, pKeys := session(t, e.addrs[0], "p", "PRIMARY", fastTunnels)
	pDest := pKeys.Destination()
	add := func(args string) {
		t.Helper()
		start := time.Now()
		r := ctrl.cmd("SESSION ADD " + args)
		if r.Value("RESULT") != "OK" || r.Value("DESTINATION") != pKeys.Base64() {
			t.Fatalf("SESSION ADD %s: %.120v", args, r)
		}
		t.Logf("SESSION ADD %s: %s in %v", args, r.Value("MESSAGE"), time.Since(start).Round(time.Microsecond))
	}
	add("STYLE=STREAM ID=web LISTEN_PORT=80")
	add("STYLE=STREAM ID=any")
	add("STYLE=DATAGRAM ID=dg FROM_PORT=53 HOST=127.0.0.1 PORT=" + udpPort(dgIn))

	_, peerKeys := session(t, e.addrs[1], "peer", "STREAM", fastTunnels)
	peerDG, peerDGKeys := session(t, e.addrs[1], "peerdg", "DATAGRAM", fastTunnels)
	peerB64 := peerKeys.Destination().Base64()

	// echo connects from the peer to port and checks the echo of one line.
	echo := func(port int, msg string) {
		t.Helper()
		c := hello(t, e.addrs[1])
		if r := c.cmd("STREAM CONNECT ID=peer DESTINATION=" + pDest.B32() + " TO_PORT=" + strconv.Itoa(port)); r.Value("RESULT") != "OK" {
			t.Fatalf("STREAM CONNECT to port %d: %v", port, r)
		}
		io.WriteString(c.c, msg+"\n")
		if got, err := c.rawLine(30 * time.Second); err != nil || got != msg {
			t.Fatalf("echo from port %d: %q, %v", port, got, err)
		}
	}
	webPeer, _ := echoAccept(t, e.addrs[0], "web")
	anyPeer, _ := echoAccept(t, e.addrs[0], "any")
	start := time.Now()
	echo(80, "to web")
	if line := <-webPeer; line != peerB64+" FROM_PORT=0 TO_PORT=80" {
		t.Errorf("web's peer line %.30q...%q", line, line[max(0, len(line)-25):])
	}
	echo(8080, "to any")
	if line := <-anyPeer; line != peerB64+" FROM_PORT=0 TO_PORT=8080" {
		t.Errorf("any's peer line %.30q...%q", line, line[max(0, len(line)-25):])
	}
	t.Logf("streams to ports 80 and 8080 echoed by their subsessions in %v", time.Since(start).Round(time.Millisecond))

	// A repliable datagram to port 53 is forwarded to dg's UDP socket
	// with its sender; dg replies through the SAM UDP port.
	start = time.Now()
	peerDG.c.Write([]byte("DATAGRAM SEND DESTINATION=" + pDest.B32() + " SIZE=4 TO_PORT=53\nping"))
	buf := make([]byte, 64<<10)
	dgIn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _, err := dgIn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("datagram for the DATAGRAM subsession: %v", err)
	}
	head, p, _ := bytes.Cut(buf[:n], []byte("\n"))
	sender, ports, _ := bytes.Cut(head, []byte(" "))
	if string(sender) != peerDGKeys.Destination().Base64() || string(ports) != "FROM_PORT=0 TO_PORT=53" || string(p) != "ping" {
		t.Fatalf("forwarded datagram %.40q...%q", buf[:n], buf[max(0, n-40):n])
	}
	udp, err := net.DialUDP("udp", nil, samUDP)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udp.Write(append([]byte("3.0 dg "+string(sender)+"\n"), "pong"...))
	got, pong := readDatagram(t, peerDG)
	if want := "DATAGRAM RECEIVED DESTINATION=" + pDest.Base64() + " SIZE=4 FROM_PORT=53 TO_PORT=0"; got != want || string(pong) != "pong" {
		t.Errorf("reply arrived as %.60q... %q", got, pong)
	}
	t.Logf("datagram to the primary's port 53 and the subsession's reply: round trip %v", time.Since(start).Round(time.Millisecond))

	// SESSION REMOVE closes web's waiting ACCEPT; port 80 falls back to
	// the port-0 subsession.
	pending := hello(t, e.addrs[0])
	if r := pending.cmd("STREAM ACCEPT ID=web"); r.Value("RESULT") != "OK" {
		t.Fatalf("STREAM ACCEPT: %v", r)
	}
	if r := ctrl.cmd("SESSION REMOVE ID=web"); r.String() != "SESSION STATUS RESULT=OK DESTINATION="+pKeys.Base64()+` ID=web MESSAGE="REMOVE web"` {
		t.Errorf("SESSION REMOVE: %.100v", r)
	}
	if !pending.closed() {
		t.Error("the removed subsession's ACCEPT socket is open")
	}
	if r := hello(t, e.addrs[0]).cmd("STREAM ACCEPT ID=web"); r.Value("RESULT") != "INVALID_ID" {
		t.Errorf("STREAM ACCEPT with the removed ID: %v", r)
	}
	anyPeer, _ = echoAccept(t, e.addrs[0], "any")
	echo(80, "web is gone")
	if line := <-anyPeer; line != peerB64+" FROM_PORT=0 TO_PORT=80" {
		t.Errorf("any's peer line for port 80 %.30q...", line)
	}
	// Without a STREAM subsession the destination stops listening.
	if r := ctrl.cmd("SESSION REMOVE ID=any"); r.Value("RESULT") != "OK" {
		t.Fatalf("SESSION REMOVE: %v", r)
	}
	c := hello(t, e.addrs[1])
	if r := c.cmd("STREAM CONNECT ID=peer DESTINATION=" + pDest.B32() + " TO_PORT=80"); r.Value("RESULT") != "CANT_REACH_PEER" {
		t.Errorf("CONNECT with no STREAM subsession: %v, want CANT_REACH_PEER", r)
	}

	// Closing the primary's control socket ends dg too; the primary's
	// ID, keys and the subsession IDs can be used again.
	ctrl.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := hello(t, e.addrs[0]).cmd("STREAM ACCEPT ID=dg")
		if r.Value("RESULT") == "INVALID_ID" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subsession dg still there after its primary's socket closed: %v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	again := hello(t, e.addrs[0])
	if r := again.cmd("SESSION CREATE STYLE=MASTER ID=p DESTINATION=" + pKeys.Base64() + " " + fastTunnels); r.Value("RESULT") != "OK" {
		t.Fatalf("re-creating the primary with its ID and keys: %.100v", r)
	}
	for _, args := range []string{"STYLE=STREAM ID=web LISTEN_PORT=80", "STYLE=DATAGRAM ID=dg FROM_PORT=53 PORT=" + udpPort(dgIn)} {
		if r := again.cmd("SESSION ADD " + args); r.Value("RESULT") != "OK" {
			t.Errorf("SESSION ADD %s again: %v", args, r)
		}
	}
}
