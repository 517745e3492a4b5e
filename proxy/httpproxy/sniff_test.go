package httpproxy

import (
	"strings"
	"testing"
)

func TestSniffTunnel(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want TunnelProtocol
	}{
		{"get", "GET / HTTP/1.1\r\nHost: site.i2p\r\n\r\n", TunnelHTTP1},
		{"request line only", "GET /index.html HTTP/1.1\r\n", TunnelHTTP1},
		{"bare LF", "GET / HTTP/1.0\n", TunnelHTTP1},
		{"post absolute form", "POST http://site.i2p/form HTTP/1.1\r\n", TunnelHTTP1},
		{"extension method", "PROPFIND /dav/ HTTP/1.1\r\n", TunnelHTTP1},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\n", TunnelHTTP1},
		{"http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", TunnelHTTP2},
		{"http2 preface line", "PRI * HTTP/2.0\r\n", TunnelHTTP2},

		{"empty", "", TunnelUndecided},
		{"method only", "GET", TunnelUndecided},
		{"method and space", "GET ", TunnelUndecided},
		{"inside target", "GET /ind", TunnelUndecided},
		{"inside version", "GET / HTT", TunnelUndecided},
		{"version without line end", "GET / HTTP/1.1", TunnelUndecided},
		{"carriage return only", "GET / HTTP/1.1\r", TunnelUndecided},

		{"tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", TunnelOther},
		{"ssh banner", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", TunnelOther},
		{"irc", "NICK alice\r\nUSER alice 0 * :Alice\r\n", TunnelOther},
		{"smtp-like", "EHLO client.example\r\n", TunnelOther},
		{"leading space", " GET / HTTP/1.1\r\n", TunnelOther},
		{"double space", "GET  / HTTP/1.1\r\n", TunnelOther},
		{"control character in target", "GET /a\x01b HTTP/1.1\r\n", TunnelOther},
		{"non-ascii in target", "GET /\xc3\xa4 HTTP/1.1\r\n", TunnelOther},
		{"wrong protocol name", "GET / HTTX/1.1\r\n", TunnelOther},
		{"lower-case protocol name", "GET / http/1.1\r\n", TunnelOther},
		{"version not digits", "GET / HTTP/x.1\r\n", TunnelOther},
		{"http3 text", "GET / HTTP/3.0\r\n", TunnelOther},
		{"http2 version outside preface", "GET / HTTP/2.0\r\n", TunnelOther},
		{"junk after version", "GET / HTTP/1.1 extra\r\n", TunnelOther},
		{"carriage return then junk", "GET / HTTP/1.1\rX", TunnelOther},
		{"nul in method", "G\x00T / HTTP/1.1\r\n", TunnelOther},
		{"endless method", strings.Repeat("A", MaxRequestLine+10), TunnelOther},
		{"endless target", "GET /" + strings.Repeat("a", MaxRequestLine), TunnelOther},
		{"method exactly at the limit", strings.Repeat("A", MaxRequestLine), TunnelOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SniffTunnel([]byte(tt.in)); got != tt.want {
				t.Errorf("SniffTunnel(%.40q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// Every strict prefix of a request line is undecided: the proxy keeps
// reading instead of guessing.
func TestSniffTunnelTruncated(t *testing.T) {
	for _, line := range []string{"GET /path?q=1 HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n", "DELETE http://site.i2p/x HTTP/1.0\n"} {
		for i := range len(line) {
			if got := SniffTunnel([]byte(line[:i])); got != TunnelUndecided {
				t.Errorf("SniffTunnel(%q) = %v, want undecided", line[:i], got)
			}
		}
	}
}

func TestTunnelProtocolString(t *testing.T) {
	for p, want := range map[TunnelProtocol]string{
		TunnelUndecided: "undecided", TunnelHTTP1: "http/1", TunnelHTTP2: "http/2", TunnelOther: "other", 9: "TunnelProtocol(9)",
	} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(p), got, want)
		}
	}
}

// FuzzSniffTunnel checks that decisions are final: once SniffTunnel has
// decided on a prefix, more bytes never change the answer, so the proxy
// can act on the first decision.
func FuzzSniffTunnel(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n"), []byte("Host: x\r\n"))
	f.Add([]byte("PRI * HTTP/2.0"), []byte("\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte("SSH-2.0-x "), []byte("y\r\n"))
	f.Add([]byte("\x16\x03\x01"), []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		first := SniffTunnel(a)
		both := SniffTunnel(append(a[:len(a):len(a)], b...))
		if first != TunnelUndecided && both != first {
			t.Fatalf("SniffTunnel(%q) = %v but with %q appended = %v", a, first, b, both)
		}
	})
}
