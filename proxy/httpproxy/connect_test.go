package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
)

// rawSite is an I2P service that is not HTTP: it may greet first, then
// echoes, and records every byte it received.
type rawSite struct {
	b32 string
	mu  sync.Mutex
	got bytes.Buffer
}

func newRawSite(t *testing.T, n *i2pnettest.Network, greeting string) *rawSite {
	t.Helper()
	s, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawSite{b32: s.Addr().Dest.B32()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if greeting != "" {
					io.WriteString(c, greeting)
				}
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						rs.mu.Lock()
						rs.got.Write(buf[:n])
						rs.mu.Unlock()
						c.Write(buf[:n])
					}
					if err != nil {
						c.(interface{ CloseWrite() error }).CloseWrite()
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() { s.Close(); wg.Wait() })
	return rs
}

func (rs *rawSite) received() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.got.String()
}

// connectTo opens a CONNECT tunnel through the proxy; extra is written in
// the same write as the CONNECT request.
func connectTo(t *testing.T, proxyAddr, authority, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\nUser-Agent: LEAKED-CONNECT-UA\r\n\r\n"+extra); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

// TestConnectPlainHTTPIsFiltered: a CONNECT to an .i2p host followed by
// plain HTTP (what sing-box did in i2pd #2427) gets the same header
// policy as a proxied request, for every request on the tunnel.
func TestConnectPlainHTTPIsFiltered(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)

	c, br, resp := connectTo(t, e.addr, site.b32()+":80", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	for i, path := range []string{"/first", "/second"} {
		req := "GET " + path + " HTTP/1.1\r\nHost: " + site.b32() + "\r\n" +
			"User-Agent: Mozilla/5.0 LEAKED-INNER-UA\r\nAccept-Language: xx-LEAKED\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if string(body) != "hello from "+path {
			t.Fatalf("request %d: body %q", i, body)
		}
		wire := site.last(t).wire()
		for _, leak := range []string{"LEAKED", "203.0.113.9"} {
			if strings.Contains(wire, leak) {
				t.Errorf("request %d leaked %q:\n%s", i, leak, wire)
			}
		}
		if ua := site.last(t).Req.Header.Get("User-Agent"); ua != UserAgent {
			t.Errorf("User-Agent %q", ua)
		}
	}
}

// TestConnectPassesOtherProtocols: TLS (and anything else that is not
// HTTP) passes byte for byte, including bytes sent in the same write as
// the CONNECT.
func TestConnectPassesOtherProtocols(t *testing.T) {
	n := i2pnettest.New()
	rs := newRawSite(t, n, "")
	e := newEnv(t, n)
	hello := "\x16\x03\x01\x00\x05hello-tls-bytes"
	c, br, resp := connectTo(t, e.addr, rs.b32+":443", hello)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	more := "\x17\x03\x03more"
	io.WriteString(c, more)
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != hello+more {
		t.Errorf("echo %q, want %q (site got %q)", got, hello+more, rs.received())
	}
}

// TestConnectRefusesHTTP2: cleartext HTTP/2 headers cannot be filtered;
// the tunnel is closed before anything reaches the site.
func TestConnectRefusesHTTP2(t *testing.T) {
	n := i2pnettest.New()
	rs := newRawSite(t, n, "")
	e := newEnv(t, n)
	c, br, resp := connectTo(t, e.addr, rs.b32+":80", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if got, err := io.ReadAll(br); len(got) != 0 || (err != nil && !isReset(err)) {
		t.Errorf("read %q, %v; want the connection closed", got, err)
	}
	if got := rs.received(); got != "" {
		t.Errorf("the site received %q", got)
	}
}

// TestConnectServerSpeaksFirst: protocols whose server greets first work
// (the greeting is not held back waiting for the client), and HTTP sent
// to such a server is refused instead of passing unfiltered.
func TestConnectServerSpeaksFirst(t *testing.T) {
	n := i2pnettest.New()
	rs := newRawSite(t, n, "220 mail.i2p ESMTP\r\n")
	e := newEnv(t, n)

	t.Run("greeting then client bytes", func(t *testing.T) {
		c, br, resp := connectTo(t, e.addr, rs.b32+":25", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "220 mail.i2p ESMTP\r\n" {
			t.Fatalf("greeting %q, %v", line, err)
		}
		io.WriteString(c, "EHLO client\r\n")
		line, err = br.ReadString('\n')
		if err != nil || line != "EHLO client\r\n" {
			t.Fatalf("echo %q, %v", line, err)
		}
	})
	t.Run("HTTP after a greeting is refused", func(t *testing.T) {
		before := rs.received()
		c, br, resp := connectTo(t, e.addr, rs.b32+":80", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
			t.Fatalf("greeting %q, %v", line, err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: LEAKED\r\n\r\n")
		io.ReadAll(br)
		if got := strings.TrimPrefix(rs.received(), before); strings.Contains(got, "LEAKED") {
			t.Errorf("the site received the unfiltered request: %q", got)
		}
	})
}

// TestConnectErrors: CONNECT failures are answered with a status before
// any tunnel exists.
func TestConnectErrors(t *testing.T) {
	n := i2pnettest.New()
	e := newEnv(t, n)
	tests := []struct {
		name, authority string
		status          int
	}{
		{"unknown name", "nowhere.i2p:443", http.StatusNotFound},
		{"offline destination", newDest(t).B32() + ":443", http.StatusBadGateway},
		{"no outproxy", "www.example.com:443", http.StatusServiceUnavailable},
		{"local address", "10.1.2.3:443", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, resp := connectTo(t, e.addr, tt.authority, "")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func isReset(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset")
}
