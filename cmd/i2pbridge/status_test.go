package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"i2pbridge/bridge/control"
)

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1048575, "1.0 MiB"}, // not "1024.0 KiB"
		{1048576, "1.0 MiB"},
		{12_900_000, "12.3 MiB"},
		{5 << 30, "5.0 GiB"},
		{1 << 40, "1.0 TiB"},
		{1<<64 - 1, "16.0 EiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func sampleStatus() control.Status {
	return control.Status{
		Version: "v1.0.0",
		Started: time.Date(2025, 11, 26, 10, 0, 0, 0, time.UTC),
		Uptime:  "2h3m4s",
		Backend: "sam",
		Tunnels: []control.Tunnel{
			{Name: "web", Type: "tcp-server", State: "running", Address: "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p",
				Target: "127.0.0.1:8080", Conns: 3, TotalConns: 40, BytesIn: 2048, BytesOut: 5 << 20},
			{Name: "irc", Type: "tcp-client", State: "retrying", Address: "aaaa3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p",
				Listen: "127.0.0.1:6668", Destination: "irc.postman.i2p", Restarts: 2, LastError: "i2pnet: destination unreachable"},
		},
	}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	writeStatusTable(&b, sampleStatus())
	want := `i2pbridge v1.0.0, backend sam, up 2h3m4s, 2 tunnels
NAME  TYPE        STATE     ADDRESS/LISTEN                                                CONNS  IN       OUT      RESTARTS  LAST-ERROR
web   tcp-server  running   ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p  3      2.0 KiB  5.0 MiB  0         -
irc   tcp-client  retrying  127.0.0.1:6668                                                0      0 B      0 B      2         i2pnet: destination unreachable
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	writeStatusTable(&b, control.Status{Version: "dev", Backend: "sam", Uptime: "1s"})
	if want := "i2pbridge dev, backend sam, up 1s, 0 tunnels\n"; b.String() != want {
		t.Errorf("empty status = %q, want %q", b.String(), want)
	}
}

// serveStatus serves st at a unix socket under dir and returns a config
// file naming it.
func serveStatus(t *testing.T, dir string, st control.Status) string {
	t.Helper()
	sock := filepath.Join(dir, "c.sock")
	ln, err := control.Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); control.Serve(ctx, ln, func() control.Status { return st }, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return writeFile(t, dir, "c.yaml", "control: unix:"+sock+"\ntunnels: []\n")
}

func TestStatusCommand(t *testing.T) {
	st := sampleStatus()
	cfg := serveStatus(t, shortDir(t), st)

	code, stdout, stderr := cli(t, "status", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var want bytes.Buffer
	writeStatusTable(&want, st)
	if stdout != want.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want.String())
	}

	code, stdout, stderr = cli(t, "status", "-c", cfg, "-json")
	if code != 0 {
		t.Fatalf("-json: exit %d, stderr %q", code, stderr)
	}
	var got control.Status
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, stdout)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("-json = %+v, want %+v", got, st)
	}
}

func TestStatusWhenNotRunning(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "c.sock")
	cfg := writeFile(t, dir, "c.yaml", "control: unix:"+sock+"\ntunnels: []\n")
	code, stdout, stderr := cli(t, "status", "-c", cfg)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	// Only the error: the config's warning (no tunnels) is not repeated.
	if want := "i2pbridge status: no i2pbridge answers at unix:" + sock + ": is it running? ("; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line starting with %q", stderr, want)
	}
}
