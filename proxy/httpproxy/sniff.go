package httpproxy

import (
	"bytes"
	"fmt"
	"strings"
)

// TunnelProtocol is what SniffTunnel found at the start of a CONNECT
// tunnel.
type TunnelProtocol int

// Tunnel protocols.
const (
	// TunnelUndecided: the bytes so far fit an HTTP/1 request line; read
	// more (up to MaxRequestLine) and ask again.
	TunnelUndecided TunnelProtocol = iota
	// TunnelHTTP1 is a plain HTTP/1.x request: apply the header policy to
	// it (and to the requests and responses that follow on the tunnel).
	TunnelHTTP1
	// TunnelHTTP2 is the cleartext HTTP/2 connection preface ("prior
	// knowledge"): headers would be HPACK-compressed, which the policy
	// cannot filter, so the proxy should refuse it.
	TunnelHTTP2
	// TunnelOther is anything else (TLS, SSH, IRC, ...): not HTTP the
	// policy could read.
	TunnelOther
)

func (p TunnelProtocol) String() string {
	switch p {
	case TunnelUndecided:
		return "undecided"
	case TunnelHTTP1:
		return "http/1"
	case TunnelHTTP2:
		return "http/2"
	case TunnelOther:
		return "other"
	}
	return fmt.Sprintf("TunnelProtocol(%d)", int(p))
}

// MaxRequestLine bounds the request line SniffTunnel waits for; a prefix
// this long without a complete request line is TunnelOther. Servers
// commonly refuse longer lines anyway (nginx's default buffer is 8 KiB).
const MaxRequestLine = 8 << 10

// http2Preface starts every cleartext HTTP/2 connection (RFC 9113 section
// 3.4); its first line has the shape of an HTTP/1 request line.
const http2Preface = "PRI * HTTP/2.0\r\n"

// SniffTunnel classifies the first bytes a client sent into a CONNECT
// tunnel. It answers TunnelHTTP1 only for a complete HTTP/1.x request line
// (RFC 9112 section 3: method token, SP, request-target, SP, "HTTP/" DIGIT
// "." DIGIT, CRLF or bare LF), not for "a token and a space" alone: an SSH
// banner ("SSH-2.0-OpenSSH_9.6 ...") or an IRC command ("NICK x") also
// starts that way. It answers as early as the bytes allow, so a TLS
// ClientHello (first byte 0x16) is TunnelOther after one byte.
func SniffTunnel(prefix []byte) TunnelProtocol {
	p := prefix
	if len(p) > MaxRequestLine {
		p = p[:MaxRequestLine]
	}
	// Method: a token.
	i := 0
	for i < len(p) && isTchar(p[i]) {
		i++
	}
	switch {
	case i == len(p):
		return undecidedUnlessFull(p)
	case i == 0 || p[i] != ' ':
		return TunnelOther
	}
	i++
	// Request-target: visible ASCII up to the next SP.
	start := i
	for i < len(p) && p[i] > ' ' && p[i] < 0x7f {
		i++
	}
	switch {
	case i == len(p):
		return undecidedUnlessFull(p)
	case i == start || p[i] != ' ':
		return TunnelOther
	}
	i++
	// HTTP-version and line end.
	rest := p[i:]
	const version = "HTTP/d.d"
	for j := 0; j < len(rest) && j < len(version); j++ {
		if !versionByteOK(version[j], rest[j]) {
			return TunnelOther
		}
	}
	if len(rest) < len(version) {
		return undecidedUnlessFull(p)
	}
	eol := rest[len(version):]
	switch {
	case len(eol) == 0, len(eol) == 1 && eol[0] == '\r':
		return undecidedUnlessFull(p)
	case eol[0] != '\n' && !bytes.HasPrefix(eol, []byte("\r\n")):
		return TunnelOther
	}
	line := p[:i+len(version)]
	switch {
	case bytes.Equal(line, []byte(http2Preface[:len(http2Preface)-2])):
		return TunnelHTTP2
	case rest[5] == '1':
		return TunnelHTTP1
	}
	return TunnelOther // HTTP/0.9 never has a version; 2.0 and up are not text
}

// undecidedUnlessFull is the answer for a prefix that could still become a
// request line: wait, unless MaxRequestLine bytes are already there.
func undecidedUnlessFull(p []byte) TunnelProtocol {
	if len(p) >= MaxRequestLine {
		return TunnelOther
	}
	return TunnelUndecided
}

// versionByteOK matches one byte of "HTTP/d.d", where 'd' is any digit.
func versionByteOK(pattern, c byte) bool {
	if pattern == 'd' {
		return '0' <= c && c <= '9'
	}
	return c == pattern
}

// isTchar reports whether c may appear in a token (RFC 9110 section 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
