package sam_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPythonClientFromTheSpec runs testdata/sam_client.py, a SAM client
// written from samv3.html alone with Python's socket module: HELLO,
// SESSION CREATE, PING, NAMING LOOKUP of a b32, STREAM CONNECT to a
// session on another router that echoes, 256 KiB checked.
func TestPythonClientFromTheSpec(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required under CI=true: install it in the CI image")
		}
		t.Skip("python3 not found; this test runs in CI, where it is required")
	}
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
