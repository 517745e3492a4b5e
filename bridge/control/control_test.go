package control

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sampleStatus() Status {
	started := time.Date(2025, 11, 26, 10, 0, 0, 0, time.UTC)
	return Status{
		Version: "v1.2.3",
		Started: started,
		Uptime:  "1h0m0s",
		Backend: "sam",
		Tunnels: []Tunnel{
			{Name: "web", Type: "tcp-server", State: "running", Address: "abc.b32.i2p", Target: "127.0.0.1:8080",
				Conns: 2, TotalConns: 10, BytesIn: 1234, BytesOut: 56789, Since: started},
			{Name: "irc", Type: "tcp-client", State: "retrying", Listen: "127.0.0.1:6668", Destination: "irc.postman.i2p",
				Restarts: 3, LastError: "i2pnet: destination unreachable", Since: started.Add(time.Minute)},
		},
	}
}

// serve runs Serve on ln until the test ends and returns a func that stops
// it and reports Serve's result.
func serve(t *testing.T, ln net.Listener, src func() Status) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, ln, src, nil) }()
	var done bool
	var result error
	stop = func() error {
		if !done {
			cancel()
			select {
			case result = <-errc:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after its ctx was cancelled")
			}
			done = true
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func fetch(t *testing.T, endpoint string) (Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Fetch(ctx, endpoint)
}

func TestFetchReturnsWhatServeServes(t *testing.T) {
	tcp, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ln       net.Listener
		endpoint string
	}{
		{"unix", mustListen(t, "unix:"+filepath.Join(t.TempDir(), "control.sock")), ""},
		{"tcp", tcp, tcp.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := tt.endpoint
			if endpoint == "" {
				endpoint = "unix:" + tt.ln.Addr().String()
			}
			want := sampleStatus()
			var calls atomic.Int32
			stop := serve(t, tt.ln, func() Status { calls.Add(1); return want })
			for i := 1; i <= 2; i++ {
				got, err := fetch(t, endpoint)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Fetch = %+v\nwant  %+v", got, want)
				}
				if n := calls.Load(); int(n) != i {
					t.Fatalf("src called %d times after %d requests; every answer must be fresh", n, i)
				}
			}
			if err := stop(); err != nil {
				t.Fatalf("Serve returned %v after ctx was cancelled, want nil", err)
			}
			if _, err := fetch(t, endpoint); !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Fetch after stop: %v, want ErrNotRunning", err)
			}
		})
	}
}

func mustListen(t *testing.T, endpoint string) net.Listener {
	t.Helper()
	ln, err := Listen(endpoint)
	if err != nil {
		t.Fatalf("Listen(%q): %v", endpoint, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestStatusJSONFieldNames(t *testing.T) {
	ln := mustListen(t, "127.0.0.1:0")
	serve(t, ln, sampleStatus)
	resp, err := http.Get("http://" + ln.Addr().String() + StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "started", "uptime", "backend", "tunnels"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status lacks %q: %v", k, raw)
		}
	}
	tun := raw["tunnels"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "type", "state", "address", "target", "conns", "total_conns", "bytes_in", "bytes_out", "restarts", "since"} {
		if _, ok := tun[k]; !ok {
			t.Errorf("tunnel lacks %q: %v", k, tun)
		}
	}
}

func TestHandlerRejectsOtherMethodsAndPaths(t *testing.T) {
	ln := mustListen(t, "127.0.0.1:0")
	serve(t, ln, sampleStatus)
	base := "http://" + ln.Addr().String()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, StatusPath, http.StatusOK},
		{http.MethodHead, StatusPath, http.StatusOK},
		{http.MethodPost, StatusPath, http.StatusMethodNotAllowed},
		{http.MethodDelete, StatusPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/v1/tunnels", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestUnixSocketIsPrivateAndRemovedOnExit(t *testing.T) {
	// A path one byte under the limit with a short name makes Listen bind
	// in place (the private temporary name would not fit); the normal path
	// binds via the private folder. Both must end up 0600.
	short := shortTempDir(t)
	atLimit := filepath.Join(short, strings.Repeat("d", maxUnixPath-len(short)-3), "s")
	if len(atLimit) != maxUnixPath {
		t.Fatalf("test setup: path is %d bytes, want %d", len(atLimit), maxUnixPath)
	}
	tests := []struct {
		name, path string
	}{
		{"via private folder", filepath.Join(t.TempDir(), "sub", "control.sock")},
		{"in place at the length limit", atLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := Listen("unix:" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
				t.Errorf("socket mode = %v, want a 0600 socket", fi.Mode())
			}
			dir, err := os.Stat(filepath.Dir(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if perm := dir.Mode().Perm(); perm != 0o700 {
				t.Errorf("created folder mode = %v, want 0700", perm)
			}
			entries, _ := os.ReadDir(filepath.Dir(tt.path))
			if len(entries) != 1 {
				t.Errorf("folder holds %d entries after Listen, want only the socket: %v", len(entries), entries)
			}
			stop := serve(t, ln, sampleStatus)
			if _, err := fetch(t, "unix:"+tt.path); err != nil {
				t.Fatal(err)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(tt.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket still there after Serve stopped: %v", err)
			}
		})
	}
}

// shortTempDir is a temporary folder with a short path, for tests that
// need room below the unix socket path limit whatever t.TempDir's name is.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestListenRefusesWhileAnotherInstanceAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	first := mustListen(t, "unix:"+path)
	serve(t, first, sampleStatus)

	ln, err := Listen("unix:" + path)
	if err == nil {
		ln.Close()
		t.Fatal("second Listen on a live socket succeeded")
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is another i2pbridge running?") {
		t.Errorf("err = %v, want ErrInUse asking whether another i2pbridge runs", err)
	}
	if _, err := fetch(t, "unix:"+path); err != nil {
		t.Errorf("the first instance no longer answers after the refused Listen: %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	// A crashed process leaves its socket file behind.
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("test setup: stale socket missing: %v", err)
	}
	if _, err := fetch(t, "unix:"+path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Fetch on a stale socket: %v, want ErrNotRunning", err)
	}

	ln := mustListen(t, "unix:"+path)
	serve(t, ln, sampleStatus)
	if _, err := fetch(t, "unix:"+path); err != nil {
		t.Fatalf("Fetch after replacing the stale socket: %v", err)
	}
}

func TestListenLeavesNonSocketFilesAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ln, err := Listen("unix:" + path); err == nil {
		ln.Close()
		t.Fatal("Listen over a regular file succeeded")
	} else if !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("err = %v, want it to say the file is not a socket", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("regular file changed: %q, %v", b, err)
	}
}

func TestCloseLeavesAReplacedSocketAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	first, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	// The user deleted the socket and started another instance.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second := mustListen(t, "unix:"+path)
	serve(t, second, sampleStatus)

	first.Close()
	if _, err := fetch(t, "unix:"+path); err != nil {
		t.Errorf("closing the first listener broke the second instance: %v", err)
	}
}

func TestListenRejectsTooLongSocketPath(t *testing.T) {
	path := "/" + strings.Repeat("x", maxUnixPath) // one byte over
	_, err := Listen("unix:" + path)
	if !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("err = %v, want ErrPathTooLong", err)
	}
	if !strings.Contains(err.Error(), "limit is") {
		t.Errorf("err = %q does not state the limit", err)
	}
}

func TestListenTCPOnlyOnLoopback(t *testing.T) {
	tests := []struct {
		endpoint string
		wantErr  error // nil = must succeed
	}{
		{"127.0.0.1:0", nil},
		{"127.0.0.2:0", nil},
		{"localhost:0", nil},
		{"0.0.0.0:0", ErrNotLoopback},
		{":0", ErrNotLoopback},
		{"[::]:0", ErrNotLoopback},
		{"192.0.2.1:7070", ErrNotLoopback},
		{"example.com:7070", ErrNotLoopback},
	}
	for _, tt := range tests {
		ln, err := Listen(tt.endpoint)
		if ln != nil {
			if a := ln.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
				t.Errorf("Listen(%q) bound %v", tt.endpoint, a)
			}
			ln.Close()
		}
		if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("Listen(%q) err = %v, want %v", tt.endpoint, err, tt.wantErr)
		}
	}
}

func TestListenTCPRefusesBusyPort(t *testing.T) {
	first := mustListen(t, "127.0.0.1:0")
	_, err := Listen(first.Addr().String())
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("err = %v, want ErrInUse", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in               string
		network, address string
		wantErrSubstring string
	}{
		{"unix:/run/i2pbridge/control.sock", "unix", "/run/i2pbridge/control.sock", ""},
		{"127.0.0.1:7651", "tcp", "127.0.0.1:7651", ""},
		{"[::1]:7651", "tcp", "[::1]:7651", ""},
		{"unix:", "", "", "empty socket path"},
		{"/run/control.sock", "", "", "want unix:PATH or host:port"},
		{"127.0.0.1", "", "", "want unix:PATH or host:port"},
	}
	for _, tt := range tests {
		n, a, err := ParseEndpoint(tt.in)
		if tt.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstring) {
				t.Errorf("ParseEndpoint(%q) err = %v, want %q", tt.in, err, tt.wantErrSubstring)
			}
			continue
		}
		if err != nil || n != tt.network || a != tt.address {
			t.Errorf("ParseEndpoint(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.address)
		}
	}
}

func TestFetchSaysWhenNothingRuns(t *testing.T) {
	closed := mustListen(t, "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	missing := filepath.Join(t.TempDir(), "control.sock")
	tests := []struct {
		endpoint string
	}{
		{"unix:" + missing},
		{closedAddr},
	}
	for _, tt := range tests {
		_, err := fetch(t, tt.endpoint)
		if !errors.Is(err, ErrNotRunning) {
			t.Errorf("Fetch(%q) err = %v, want ErrNotRunning", tt.endpoint, err)
			continue
		}
		want := "no i2pbridge answers at " + tt.endpoint + ": is it running? ("
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Fetch(%q) err = %q, want it to start with %q", tt.endpoint, err, want)
		}
	}
}

func TestFetchRejectsForeignAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"not json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }, "did not answer with an i2pbridge status"},
		{"not found", http.NotFound, "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := mustListen(t, "127.0.0.1:0")
			srv := &http.Server{Handler: tt.handler}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			_, err := fetch(t, ln.Addr().String())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
			if errors.Is(err, ErrNotRunning) {
				t.Errorf("err = %v wraps ErrNotRunning, but something answered", err)
			}
		})
	}
}

func TestServeReturnsErrorWhenListenerFails(t *testing.T) {
	ln := mustListen(t, "127.0.0.1:0")
	ln.Close()
	err := Serve(context.Background(), ln, sampleStatus, nil)
	if err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}
