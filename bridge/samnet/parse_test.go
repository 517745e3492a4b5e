package samnet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/router/data"
)

func testDest(t *testing.T) data.Destination {
	t.Helper()
	k, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Destination()
}

func TestParseTarget(t *testing.T) {
	d := testDest(t)
	b32 := d.B32()
	tests := []struct {
		in      string
		kind    targetKind
		host    string
		port    int
		wantErr bool
	}{
		{b32, kindB32, b32, 0, false},
		{strings.ToUpper(b32) + ":443", kindB32, b32, 443, false},
		{"Example.I2P", kindName, "example.i2p", 0, false},
		{"example.i2p:8080", kindName, "example.i2p", 8080, false},
		{d.Base64(), kindBase64, "", 0, false},
		{d.Base64() + ":1", kindBase64, "", 1, false},
		{"example.com", 0, "", 0, true},
		{".i2p", 0, "", 0, true},
		{"example.i2p:0", 0, "", 0, true},
		{"example.i2p:65536", 0, "", 0, true},
		{"example.i2p:http", 0, "", 0, true},
		{"abc.b32.i2p", 0, "", 0, true},                              // too short
		{strings.Repeat("a", 56) + ".b32.i2p", 0, "", 0, true},       // encrypted leaseset
		{d.Base64()[:len(d.Base64())-4], 0, "", 0, true},             // truncated base64
		{strings.Repeat("A", minDestBase64+4) + "x", 0, "", 0, true}, // not a destination
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := parseTarget(tt.in)
			if tt.wantErr {
				if !errors.Is(err, i2pnet.ErrUnknownName) {
					t.Fatalf("parseTarget(%q) = %+v, %v; want ErrUnknownName", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.kind != tt.kind || got.host != tt.host || got.port != tt.port {
				t.Fatalf("parseTarget(%q) = %+v", tt.in, got)
			}
			if tt.kind == kindBase64 && got.dest.Hash() != d.Hash() {
				t.Fatal("wrong destination")
			}
		})
	}
}

func TestParsePeerLine(t *testing.T) {
	d := testDest(t)
	tests := []struct {
		name             string
		line             string
		remPort, locPort int
		wantErr          bool
	}{
		{"sam 3.0: destination only", d.Base64() + "\n", 0, 0, false},
		{"sam 3.2: ports", d.Base64() + " FROM_PORT=1234 TO_PORT=80\n", 1234, 80, false},
		{"ports reordered", d.Base64() + " TO_PORT=80 FROM_PORT=7\n", 7, 80, false},
		{"bad port", d.Base64() + " FROM_PORT=x\n", 0, 0, true},
		{"port out of range", d.Base64() + " TO_PORT=70000\n", 0, 0, true},
		{"not a destination", "STREAM STATUS RESULT=I2P_ERROR\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := samline.Parse(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			rem, loc, err := parsePeerLine(m)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rem.Dest.Hash() != d.Hash() || rem.Port != tt.remPort || loc.Port != tt.locPort {
				t.Fatalf("remote %v:%d local port %d", rem.Dest, rem.Port, loc.Port)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want version
		err  bool
	}{
		{"3.0", v30, false}, {"3.1", v31, false}, {"3.3", v33, false}, {"3", v30, false},
		{"", version{}, true}, {"3.x", version{}, true}, {"-1", version{}, true}, {"three", version{}, true},
	}
	for _, tt := range tests {
		got, err := parseVersion(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("parseVersion(%q) = %v, %v", tt.in, got, err)
		}
	}
	if !v30.less(v31) || v31.less(v30) || v32.less(v32) {
		t.Error("less is wrong")
	}
	if v31.hasPing() || !v32.hasPing() || v31.hasConcurrentAccept() || !v33.hasConcurrentAccept() {
		t.Error("feature gates are wrong")
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	b := backoff{min: 500 * time.Millisecond, max: 30 * time.Second}
	wantCeil := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, ceil := range wantCeil {
		d := b.next()
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > 500*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
	// Jitter: many draws at the cap are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.next()] = true
	}
	if len(seen) < 5 {
		t.Fatalf("only %d distinct delays: no jitter", len(seen))
	}
}

func TestReplyErrorMapping(t *testing.T) {
	tests := []struct {
		result string
		is     error
	}{
		{ResultCantReachPeer, i2pnet.ErrUnreachable},
		{ResultTimeout, i2pnet.ErrUnreachable},
		{ResultPeerNotFound, i2pnet.ErrUnreachable},
		{ResultInvalidKey, i2pnet.ErrUnknownName},
		{ResultKeyNotFound, i2pnet.ErrUnknownName},
		{ResultDuplicatedDest, ErrDuplicatedDest},
		{ResultNoVersion, ErrNoVersion},
		{ResultI2PError, nil},
		{ResultInvalidID, nil},
	}
	sentinels := []error{i2pnet.ErrUnreachable, i2pnet.ErrUnknownName, ErrDuplicatedDest, ErrNoVersion}
	for _, tt := range tests {
		err := error(&ReplyError{Op: "STREAM CONNECT", Result: tt.result, Message: "why"})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.is) {
				t.Errorf("%s: errors.Is(%v) = %v", tt.result, s, got)
			}
		}
		if want := "samnet: STREAM CONNECT: " + tt.result + ": why"; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err, want)
		}
	}
}

func TestBridgeErrorNamesAddress(t *testing.T) {
	inner := &net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallError{syscall.ECONNREFUSED}}
	err := error(&bridgeError{addr: "127.0.0.1:7656", err: inner})
	if err.Error() != "sam 127.0.0.1:7656: connection refused" {
		t.Fatalf("Error() = %q", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatal("errno not reachable through the chain")
	}
	plain := &bridgeError{addr: "h:1", err: fmt.Errorf("HELLO: %w", errors.New("eof"))}
	if plain.Error() != "sam h:1: HELLO: eof" {
		t.Fatalf("Error() = %q", plain)
	}
}

// osSyscallError mimics os.SyscallError without importing os in the
// assertion path.
type osSyscallError struct{ err error }

func (e *osSyscallError) Error() string { return "connect: " + e.err.Error() }
func (e *osSyscallError) Unwrap() error { return e.err }

func TestShortAddress(t *testing.T) {
	d := testDest(t).Base64()
	tests := []struct{ in, want string }{
		{"example.i2p:80", "example.i2p:80"},
		{d, d[:16] + "…"},
		{d + ":8080", d[:16] + "…:8080"},
	}
	for _, tt := range tests {
		if got := shortAddress(tt.in); got != tt.want {
			t.Errorf("shortAddress(%.30q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSessionIDBase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"my tunnel", "my_tunnel"},
		{"", "samnet"},
		{`a<b>"c'/d`, "a_b__c__d"},
		{"ünï", "_n_"},
		{strings.Repeat("x", 50), strings.Repeat("x", 32)},
	}
	for _, tt := range tests {
		if got := sessionIDBase(tt.in); got != tt.want {
			t.Errorf("sessionIDBase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
