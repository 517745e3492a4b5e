package sam_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// python3 finds the interpreter for testdata/sam_client.py, a SAM client
// written from samv3.html alone with Python's standard library. CI must
// have it; elsewhere the tests skip without it.
func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required under CI=true: install it in the CI image")
		}
		t.Skip("python3 not found; this test runs in CI, where it is required")
	}
	return py
}

// TestPythonClientFromTheSpec runs testdata/sam_client.py in its default
// mode: HELLO, SESSION CREATE, PING, NAMING LOOKUP of a b32, STREAM
// CONNECT to a session on another router that echoes, 256 KiB checked.
func TestPythonClientFromTheSpec(t *testing.T) {
	t.Parallel()
	py := python3(t)
	e := startEnv(t, envOptions{servers: 2})
	_, keys := session(t, e.addrs[0], "echo", "STREAM", fastTunnels)
	peer, _ := echoAccept(t, e.addrs[0], "echo")

	host, port, _ := net.SplitHostPort(e.addrs[1])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, py, "testdata/sam_client.py", host, port, keys.Destination().B32(), "262144").CombinedOutput()
	if err != nil {
		t.Fatalf("sam_client.py: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "OK SAM 3.3") {
		t.Fatalf("sam_client.py said %q", out)
	}
	t.Logf("python3 SAM client: %s in %v", strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
	if line := <-peer; len(line) < 516 {
		t.Errorf("peer line %q", line)
	}
}

// TestPythonClientForwardMode: sam_client.py forward makes a session on
// router 1 whose streams SAM forwards to the script's TCP listener; a
// session on router 2 connects to the destination it prints, gets 64 KiB
// echoed and closes; the script saw the connecting session's b32 on the
// peer line and 64 KiB on the stream.
func TestPythonClientForwardMode(t *testing.T) {
	t.Parallel()
	py := python3(t)
	e := startEnv(t, envOptions{servers: 2})
	_, cliKeys := session(t, e.addrs[1], "client", "STREAM", fastTunnels)

	host, port, _ := net.SplitHostPort(e.addrs[0])
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 64 << 10
	start := time.Now()
	cmd := exec.CommandContext(ctx, py, "testdata/sam_client.py", host, port, "forward", strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	lines := make(chan string, 16) // the script prints two lines; never block the reader
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<10)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var first string
	select {
	case first = <-lines:
	case <-ctx.Done():
	}
	dest, ok := strings.CutPrefix(first, "DEST ")
	if !ok {
		cancel()
		t.Fatalf("sam_client.py forward: first line %q, want DEST <base64>\n%s", first, stderr.String())
	}
	ready := time.Since(start)

	c := hello(t, e.addrs[1])
	if r := c.cmd("STREAM CONNECT ID=client DESTINATION=" + dest); r.Value("RESULT") != "OK" {
		t.Fatalf("STREAM CONNECT to the script's destination: %v", r)
	}
	p := make([]byte, n)
	mrand.NewChaCha8([32]byte{2}).Read(p)
	go c.c.Write(p)
	got := make([]byte, n)
	c.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, p) {
		cancel()
		var said []string
		for l := range lines {
			said = append(said, l)
		}
		t.Fatalf("echo through the forwarded stream: %v (equal: %v); the script said %q\n%s", err, bytes.Equal(got, p), said, stderr.String())
	}
	c.c.Close() // the script echoes until we close
	var last string
	for l := range lines {
		last = l
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sam_client.py forward: %v, said %q\n%s", err, last, stderr.String())
	}
	if !strings.HasPrefix(last, "OK forward SAM 3.3, 65536 bytes echoed, peer "+cliKeys.Destination().B32()) {
		t.Errorf("sam_client.py forward said %q, want OK with the connecting session's b32", last)
	}
	t.Logf("python3 SAM client: %s; its FORWARD ready after %v, all done in %v", last, ready.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestPythonClientDatagramMode: sam_client.py datagram makes two DATAGRAM
// sessions forwarded to its UDP sockets and bounces a repliable datagram
// between them through the SAM UDP port.
func TestPythonClientDatagramMode(t *testing.T) {
	t.Parallel()
	py := python3(t)
	e := startEnv(t, envOptions{})
	udp := serveDatagrams(t, e.servers[0])

	host, port, _ := net.SplitHostPort(e.addrs[0])
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, py, "testdata/sam_client.py", host, port, "datagram", strconv.Itoa(udp.Port), "2000").CombinedOutput()
	if err != nil {
		t.Fatalf("sam_client.py datagram: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "OK datagram SAM 3.3, 2000 bytes each way") {
		t.Fatalf("sam_client.py datagram said %q", out)
	}
	t.Logf("python3 SAM client: %s in %v", strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
}
