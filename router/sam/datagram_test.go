package sam_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// readDatagram reads one "<VERB> RECEIVED ...\n<SIZE bytes>" from a
// control socket.
func readDatagram(t *testing.T, c *client) (head string, payload []byte) {
	t.Helper()
	l := c.line(30 * time.Second)
	size, err := strconv.Atoi(l.Value("SIZE"))
	if err != nil {
		t.Fatalf("received %v: %v", l, err)
	}
	payload = make([]byte, size)
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.br, payload); err != nil {
		t.Fatalf("payload of %v: %v", l, err)
	}
	c.c.SetReadDeadline(time.Time{})
	return l.String(), payload
}

// TestDatagramsBetweenRouters: repliable datagrams by DATAGRAM SEND on
// the control socket and by the UDP port arrive as DATAGRAM RECEIVED
// lines with the sender and the ports; raw datagrams arrive forwarded by
// UDP with HEADER=true, and repliable ones forwarded with the sender
// line.
func TestDatagramsBetweenRouters(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{servers: 2})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	udpDone := make(chan error, 1)
	go func() { udpDone <- e.servers[1].ServeDatagrams(ctx, pc) }()
	defer func() {
		cancel()
		if err := <-udpDone; err != nil {
			t.Errorf("ServeDatagrams: %v", err)
		}
	}()

	a, aKeys := session(t, e.addrs[0], "da", "DATAGRAM", fastTunnels+" FROM_PORT=7")
	b, bKeys := session(t, e.addrs[1], "db", "DATAGRAM", fastTunnels)

	b.c.Write([]byte("DATAGRAM SEND DESTINATION=" + aKeys.Destination().Base64() + " SIZE=5 FROM_PORT=11 TO_PORT=22\nhello"))
	head, p := readDatagram(t, a)
	if want := "DATAGRAM RECEIVED DESTINATION=" + bKeys.Destination().Base64() + " SIZE=5 FROM_PORT=11 TO_PORT=22"; head != want || string(p) != "hello" {
		t.Errorf("control socket got %.60q... %q", head, p)
	}

	udp, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udp.Write([]byte("3.0 db " + aKeys.Destination().B32() + " TO_PORT=5\nby udp"))
	head, p = readDatagram(t, a)
	if want := "DATAGRAM RECEIVED DESTINATION=" + bKeys.Destination().Base64() + " SIZE=6 FROM_PORT=0 TO_PORT=5"; head != want || string(p) != "by udp" {
		t.Errorf("datagram sent by UDP arrived as %.60q... %q", head, p)
	}

	// a replies to b: FROM_PORT defaults to its session's 7.
	a.c.Write([]byte("DATAGRAM SEND DESTINATION=" + bKeys.Destination().B32() + " SIZE=2\nok"))
	head, p = readDatagram(t, b)
	if want := "DATAGRAM RECEIVED DESTINATION=" + aKeys.Destination().Base64() + " SIZE=2 FROM_PORT=7 TO_PORT=0"; head != want || string(p) != "ok" {
		t.Errorf("reply arrived as %.60q... %q", head, p)
	}
	if !a.alive() || !b.alive() {
		t.Error("control sockets stopped answering")
	}

	// Forwarding to local UDP sockets: RAW with HEADER=true, DATAGRAM with
	// the sender line.
	rawIn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rawIn.Close()
	dgIn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dgIn.Close()
	port := func(pc net.PacketConn) string { return strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port) }
	_, rKeys := session(t, e.addrs[0], "ra", "RAW", fastTunnels+" HEADER=true HOST=127.0.0.1 PORT="+port(rawIn))
	_, fKeys := session(t, e.addrs[0], "fa", "DATAGRAM", fastTunnels+" PORT="+port(dgIn))
	rb, _ := session(t, e.addrs[1], "rb", "RAW", fastTunnels)
	rb.c.Write([]byte("RAW SEND DESTINATION=" + rKeys.Destination().B32() + " SIZE=3 TO_PORT=4 PROTOCOL=18\nraw"))
	b.c.Write([]byte("DATAGRAM SEND DESTINATION=" + fKeys.Destination().B32() + " SIZE=3\nfwd"))
	buf := make([]byte, 64<<10)
	rawIn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _, err := rawIn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "FROM_PORT=0 TO_PORT=4 PROTOCOL=18\nraw" {
		t.Errorf("forwarded raw datagram %q, %v", buf[:n], err)
	}
	dgIn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _, err = dgIn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != bKeys.Destination().Base64()+" FROM_PORT=0 TO_PORT=0\nfwd" {
		t.Errorf("forwarded repliable datagram %.60q, %v", buf[:n], err)
	}
}
