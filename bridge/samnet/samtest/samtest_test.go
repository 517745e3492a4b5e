package samtest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// The i2pd-like negotiation is pinned to what i2pd 2.45.1 answered when
// probed by hand on loopback; the 3.3 mode follows the spec (highest
// version in range).
func TestHelloNegotiation(t *testing.T) {
	tests := []struct {
		max, hello, want string
	}{
		{"3.1", "HELLO VERSION MIN=3.0 MAX=3.3", "HELLO REPLY RESULT=OK VERSION=3.0"},
		{"3.1", "HELLO VERSION MIN=3.0 MAX=3.1", "HELLO REPLY RESULT=OK VERSION=3.1"},
		{"3.1", "HELLO VERSION", "HELLO REPLY RESULT=OK VERSION=3.1"},
		{"3.1", "HELLO VERSION MIN=3.2 MAX=3.3", "HELLO REPLY RESULT=NOVERSION"},
		{"3.1", "HELLO VERSION MIN=3 MAX=3", "HELLO REPLY RESULT=NOVERSION"},
		{"3.3", "HELLO VERSION MIN=3.0 MAX=3.3", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"3.3", "HELLO VERSION MIN=3.0 MAX=3.1", "HELLO REPLY RESULT=OK VERSION=3.1"},
		{"3.2", "HELLO VERSION", "HELLO REPLY RESULT=OK VERSION=3.2"},
		{"3.2", "HELLO VERSION MIN=3.3", "HELLO REPLY RESULT=NOVERSION"},
	}
	for _, tt := range tests {
		t.Run(tt.max+" "+tt.hello, func(t *testing.T) {
			srv, err := NewServer(Config{MaxVersion: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte(tt.hello + "\n")); err != nil {
				t.Fatal(err)
			}
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A command written before the previous reply is what i2pd 2.45 silently
// drops; the fake must report it.
func TestPipelinedCommandIsAViolation(t *testing.T) {
	srv, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("HELLO VERSION\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("DEST GENERATE\nDEST GENERATE\n")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if v := srv.Violations(); len(v) != 1 || !strings.Contains(v[0], "before its reply") {
		t.Fatalf("violations = %q", v)
	}
}
