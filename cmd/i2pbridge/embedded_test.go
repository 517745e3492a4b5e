package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"i2pbridge/bridge/control"
	"i2pbridge/router/data"
)

// riA is a RouterInfo written by i2pd 2.45.1 (router/data's harness).
const (
	riA     = "../../router/data/testdata/i2pd-ri/router-a.info"
	riAHash = "dtM02QxRwHHy3k9UDLx13eg0gAJ2QN3XvlxYWd1rXdc="
)

func TestRI(t *testing.T) {
	good, err := os.ReadFile(riA)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	badSig := bytes.Clone(good)
	badSig[len(badSig)-1] ^= 0x01 // the last byte is the Ed25519 signature's
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   bool
		exactError string
	}{
		{name: "i2pd RouterInfo", args: []string{riA}, code: 0,
			stdout: []string{"RouterInfo " + riAHash, `caps:      "Of"  netId: 99`, "address 0: NTCP2 cost 3", "host=127.0.0.1", "signature: valid"}},
		{name: "bad signature", args: []string{writeFile(t, dir, "bad.info", string(badSig))}, code: 1,
			stdout: []string{"RouterInfo ", "signature: INVALID"},
			stderr: []string{"bad.info: router: RouterInfo", "signature"}},
		{name: "truncated", args: []string{writeFile(t, dir, "short.info", string(good[:200]))}, code: 1, noStdout: true,
			stderr: []string{"short.info: router: not a RouterInfo"}},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.info")}, code: 1, noStdout: true,
			stderr: []string{"i2pbridge ri: open ", "no such file or directory"}},
		{name: "no file", args: nil, code: 2, noStdout: true, stderr: []string{"i2pbridge ri: FILE is required", "Usage:\n  i2pbridge ri FILE"}},
		{name: "two files", args: []string{riA, riA}, code: 2, noStdout: true, stderr: []string{"unexpected argument"}},
		{name: "help", args: []string{"-h"}, code: 0, stdout: []string{"Usage:\n  i2pbridge ri FILE", "signature is\nvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), append([]string{"ri"}, tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tt.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout should be empty:\n%s", stdout.String())
			}
		})
	}
}

func TestStatusTableShowsTheRouter(t *testing.T) {
	st := control.Status{Version: "dev", Backend: "embedded", Uptime: "1m0s", Router: &control.Router{
		Hash: riAHash, NetID: 99, NTCP2: "198.18.0.100:12345", Caps: "LfR", Floodfill: true,
		Routers: 5, Floodfills: 2, LeaseSets: 1, Sessions: 3, Inbound: 1, Outbound: 2,
	}}
	var b bytes.Buffer
	writeStatusTable(&b, st)
	want := "i2pbridge dev, backend embedded, up 1m0s, 0 tunnels\n" +
		"router " + riAHash + ", netid 99, caps LfR, ntcp2 198.18.0.100:12345\n" +
		"  netdb: 5 known routers (2 floodfills), 1 leaseset; published not yet\n" +
		"  ntcp2: 3 sessions (1 inbound, 2 outbound)\n" +
		"  transit: 0 tunnels; requests 0 accepted, 0 refused\n" +
		"  exploratory tunnels: 0 inbound, 0 outbound; builds 0 ok, 0 failed; tests 0 passed, 0 failed\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	st.Router.NTCP2, st.Router.Published = "", time.Now().Add(-90*time.Second)
	st.Router.ClockSkew, st.Router.Transit, st.Router.TransitAccepted, st.Router.TransitRefused = 3, 1, 4, 2
	st.Router.Clients = []control.Client{{Name: "web", Address: "abc.b32.i2p", Pool: control.Pool{BuildsOK: 4, TestsPassed: 7},
		InboundHops: [][]string{{"AAAAAAAAAA", "BBBBBBBBBB"}}, OutboundHops: [][]string{{"CCCCCCCCCC", "DD"}}}}
	b.Reset()
	writeStatusTable(&b, st)
	for _, s := range []string{"ntcp2 not reachable (firewalled)\n", "published 1m30s ago\n",
		"; 3 handshakes refused for clock skew (check this machine's clock if it grows)\n",
		"  transit: 1 tunnel; requests 4 accepted, 2 refused\n",
		"  destination web (abc.b32.i2p): builds 4 ok, 0 failed; tests 7 passed, 0 failed\n",
		"    in:  AAAAAA → BBBBBB → us\n", "    out: us → CCCCCC → DD\n"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

// routerWait bounds how long two routers on loopback take to meet: a
// publish to the floodfill right after start, on a busy 2-core machine.
const routerWait = 60 * time.Second

// TestRunEmbeddedRoutersMeet runs two embedded routers through the run
// command, in a private network (netid 99) on loopback: b knows only a
// (seed_dir with a's router.info); both must end up knowing each other over
// an NTCP2 session, show it in the status endpoint, and stop on SIGTERM.
func TestRunEmbeddedRoutersMeet(t *testing.T) {
	dir := shortDir(t)
	start := func(name, extra string) (*instance, string) {
		datadir := filepath.Join(dir, name)
		cfg := writeFile(t, dir, name+".yaml", fmt.Sprintf(`router:
  backend: embedded
  datadir: %s
  netid: 99
  ntcp2: {listen: "%s"}
%s`, datadir, freePort(t), extra))
		in := &instance{t: t, cfg: cfg, sigs: make(chan os.Signal, 4), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
		in.control = "unix:" + filepath.Join(datadir, "control.sock")
		go func() {
			in.done <- run(context.Background(), []string{"-c", cfg, "-log-level", "debug"}, in.stdout, in.stderr, newNetwork, in.sigs)
		}()
		t.Cleanup(func() {
			select {
			case <-in.done:
			default:
				in.sigs <- syscall.SIGTERM
				select {
				case <-in.done:
				case <-time.After(waitFor):
					t.Errorf("%s did not stop at the end of the test; log:\n%s", name, in.stderr)
				}
			}
		})
		return in, datadir
	}

	a, aDir := start("a", "  floodfill: true\n")
	stA := a.status()
	if stA.Backend != "embedded" || stA.Router == nil || stA.Router.NetID != 99 || !strings.Contains(stA.Router.Caps, "f") {
		t.Fatalf("a's status %+v / %+v: want an embedded floodfill in netid 99", stA, stA.Router)
	}
	// The router keeps i2pd's file names in its datadir.
	for _, f := range []string{"router.keys", "ntcp2.keys", "router.info"} {
		if _, err := os.Stat(filepath.Join(aDir, f)); err != nil {
			t.Errorf("a's datadir: %v", err)
		}
	}
	riBytes, err := os.ReadFile(filepath.Join(aDir, "router.info"))
	if err != nil {
		t.Fatal(err)
	}
	ri, _, err := data.ParseRouterInfo(riBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := ri.Hash().Base64(); got != stA.Router.Hash {
		t.Errorf("router.info hash %s, status says %s", got, stA.Router.Hash)
	}
	seeds := filepath.Join(dir, "seeds")
	if err := os.Mkdir(seeds, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, seeds, "router.info", string(riBytes))

	b, _ := start("b", "  seed_dir: "+seeds+"\n")
	met := func(in *instance, peer string) control.Status {
		deadline := time.Now().Add(routerWait)
		for {
			st := in.status()
			if r := st.Router; r != nil && r.Routers == 1 && r.Sessions >= 1 {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never knew 1 router with a session; last %+v; log:\n%s", peer, st.Router, in.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stB := met(b, "b")
	stA = met(a, "a")
	t.Logf("a: %+v\nb: %+v", *stA.Router, *stB.Router)

	// The status command shows the router section.
	var out, errOut bytes.Buffer
	if code := statusCmd(context.Background(), []string{"-c", b.cfg}, &out, &errOut); code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "router "+stB.Router.Hash+", netid 99") || !strings.Contains(out.String(), "1 known router (") {
		t.Errorf("status output:\n%s", out.String())
	}

	// SIGHUP with a changed router section: told to restart, keeps running.
	cfgB, _ := os.ReadFile(b.cfg)
	writeFile(t, dir, "b.yaml", string(cfgB)+"  floodfill: false\n  reseed: {files: [x.su3]}\n")
	b.sigs <- syscall.SIGHUP
	b.waitLog("router settings changed; they take effect on restart")

	for name, in := range map[string]*instance{"a": a, "b": b} {
		in.sigs <- syscall.SIGTERM
		select {
		case code := <-in.done:
			if code != 0 {
				t.Errorf("%s exited %d; log:\n%s", name, code, in.stderr)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s did not stop on SIGTERM; log:\n%s", name, in.stderr)
		}
		in.done <- 0 // for the cleanup
		if !strings.Contains(in.stderr.String(), "router: stopped") {
			t.Errorf("%s: the router did not log its stop; log:\n%s", name, in.stderr)
		}
		if _, err := os.Stat(strings.TrimPrefix(in.control, "unix:")); err == nil {
			t.Errorf("%s: control socket left behind", name)
		}
	}
}

// TestRunEmbeddedStartFailure: a router that cannot start (its seed folder is
// missing) is reported and run exits 1 without leaving the endpoint behind.
func TestRunEmbeddedStartFailure(t *testing.T) {
	dir := shortDir(t)
	cfg := writeFile(t, dir, "r.yaml", "router:\n  backend: embedded\n  netid: 99\n  seed_dir: "+filepath.Join(dir, "nope")+"\n")
	var stdout, stderr syncBuffer
	sigs := make(chan os.Signal, 1)
	code := run(context.Background(), []string{"-c", cfg}, &stdout, &stderr, newNetwork, sigs)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, s := range []string{"cannot set up the router backend", "embedded router: router: seed dir", "no such file or directory"} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "control.sock")); err == nil {
		t.Error("control socket left behind")
	}
}
