package httpproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// UserAgent is the User-Agent every request into I2P carries.
const UserAgent = "MYOB/6.66 (AN/ON)"

// Canonical Accept values (see the package documentation). They are what
// current browsers send for each kind of resource, minus the parts that
// differ between browsers.
const (
	AcceptHTML  = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	AcceptImage = "image/*,*/*;q=0.8"
	AcceptCSS   = "text/css,*/*;q=0.1"
	AcceptAny   = "*/*"
)

// Errors of ScrubRequest.
var (
	// ErrNoHost reports a request with neither an absolute URL nor a Host.
	ErrNoHost = errors.New("httpproxy: request names no host")
	// ErrConnect reports a CONNECT request: it is answered by the proxy,
	// never forwarded, so there is no header to scrub; the requests inside
	// the tunnel are scrubbed instead (see SniffTunnel).
	ErrConnect = errors.New("httpproxy: CONNECT requests are not forwarded")
	// ErrBadHost reports an authority that is not host[:port].
	ErrBadHost = errors.New("httpproxy: malformed host")
	// ErrBadTarget reports a request target that is not an http or https
	// URL (for example "ftp://..." or an opaque "mailto:x").
	ErrBadTarget = errors.New("httpproxy: request target is not an http(s) URL")
)

// RequestOptions adjust ScrubRequest.
type RequestOptions struct {
	// UserAgent replaces the browser's User-Agent; "" means UserAgent.
	// The proxy sets a common browser string for requests that leave
	// through an outproxy, where MYOB would stand out.
	UserAgent string
}

// dropRequest are request headers removed outright (canonical form).
var dropRequest = [...]string{
	// Client addresses and proxy chains.
	"Via", "From", "Forwarded", "X-Real-Ip", "Client-Ip", "True-Client-Ip",
	"X-Client-Ip", "X-Proxyuser-Ip", "X-Originating-Ip", "X-Cluster-Client-Ip",
	"Cf-Connecting-Ip", "Fastly-Client-Ip",
	// Preference signals that single users out.
	"Dnt", "Sec-Gpc",
}

// dropRequestPrefixes remove every header starting with them, except the
// ones listed in keepRequest.
var dropRequestPrefixes = [...]string{"X-Forwarded-", "Proxy-", "Accept-", "Sec-Ch-"}

// keepRequest are exceptions to dropRequestPrefixes.
var keepRequest = [...]string{"Accept-Encoding"}

// hopByHop are the connection-specific fields of RFC 9110 section 7.6.1,
// plus Proxy-Connection (a non-standard alias browsers still send).
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// ScrubRequest applies the request policy of the package documentation to
// r in place. It must run before the proxy rewrites r.Host. It fails, and
// leaves r unchanged, for CONNECT, for a target that is not an http(s)
// URL and for a request without a usable host.
func ScrubRequest(r *http.Request, opts RequestOptions) error {
	if r.Method == http.MethodConnect {
		return ErrConnect
	}
	scheme, host, err := requestOrigin(r)
	if err != nil {
		return err
	}

	h := r.Header
	if h == nil {
		h = http.Header{}
		r.Header = h
	}
	canonicalizeKeys(h)
	removeHopByHop(h, false)
	for k := range h {
		if dropRequestHeader(k) {
			delete(h, k)
		}
	}

	ua := opts.UserAgent
	if ua == "" {
		ua = UserAgent
	}
	h.Set("User-Agent", ua)

	if vs, ok := h["Accept"]; ok {
		if v := canonicalAccept(strings.Join(vs, ",")); v != "" {
			h.Set("Accept", v)
		} else {
			h.Del("Accept")
		}
	}
	if ref := h.Get("Referer"); ref != "" {
		if p, ok := sameOriginPath(ref, scheme, host); ok {
			h.Set("Referer", p)
		} else {
			h.Del("Referer")
		}
	}
	if vs, ok := h["X-Requested-With"]; ok && (len(vs) != 1 || !strings.EqualFold(vs[0], "XMLHttpRequest")) {
		h.Del("X-Requested-With")
	}
	if vs, ok := h["Authorization"]; ok {
		for _, v := range vs {
			authScheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			if strings.EqualFold(authScheme, "NTLM") || strings.EqualFold(authScheme, "Negotiate") {
				h.Del("Authorization")
				break
			}
		}
	}

	// Absolute-form → origin-form.
	r.URL.User = nil
	r.URL.Fragment, r.URL.RawFragment = "", ""
	if r.URL.Scheme == "" {
		r.URL.Scheme = scheme
	}
	r.URL.Host = host
	r.Host = host
	r.RequestURI = r.URL.RequestURI()
	return nil
}

// requestOrigin returns the scheme and the normalized authority (lower
// case, no default port) the request is for: from an absolute URL, else
// from Host (origin-form requests, as inside a CONNECT tunnel).
func requestOrigin(r *http.Request) (scheme, host string, err error) {
	if r.URL == nil {
		return "", "", ErrNoHost
	}
	scheme = strings.ToLower(r.URL.Scheme)
	switch {
	case scheme == "":
		scheme = "http"
	case scheme != "http" && scheme != "https", r.URL.Opaque != "":
		return "", "", fmt.Errorf("%w: %q", ErrBadTarget, r.URL.Redacted())
	}
	authority := r.URL.Host
	if authority == "" {
		authority = r.Host
	}
	if authority == "" {
		return "", "", ErrNoHost
	}
	host, err = normalizeAuthority(scheme, authority)
	return scheme, host, err
}

// normalizeAuthority lower-cases host[:port] and drops the scheme's
// default port, so that equal origins compare equal.
func normalizeAuthority(scheme, authority string) (string, error) {
	a := strings.ToLower(authority)
	host, port := a, ""
	if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.Contains(a[i:], "]") {
		host, port = a[:i], a[i+1:]
		if port == "" {
			return "", fmt.Errorf("%w: %q has an empty port", ErrBadHost, authority)
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("%w: %q has a non-numeric port", ErrBadHost, authority)
			}
		}
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if host == "" || strings.ContainsAny(host, " /?#@\\") || (!bracketed && strings.Contains(host, ":")) {
		return "", fmt.Errorf("%w: %q", ErrBadHost, authority)
	}
	if port == defaultPort(scheme) {
		port = ""
	}
	if port == "" {
		return host, nil
	}
	return host + ":" + port, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// sameOriginPath returns the path and query of ref when ref has the given
// scheme and normalized host.
//
// A partial-URI ("/path?query", what a previous pass of this policy
// leaves) is relative to the request's own origin and is kept, so applying
// the policy twice changes nothing.
func sameOriginPath(ref, scheme, host string) (string, bool) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", false
	}
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") {
		return u.RequestURI(), true
	}
	if u.Host == "" || strings.ToLower(u.Scheme) != scheme {
		return "", false
	}
	refHost, err := normalizeAuthority(scheme, u.Host)
	if err != nil || refHost != host {
		return "", false
	}
	return u.RequestURI(), true
}

// canonicalAccept maps a browser's Accept value to a canonical one ("" to
// drop an empty header).
func canonicalAccept(v string) string {
	ranges := strings.Split(v, ",")
	first := ""
	n := 0
	for _, r := range ranges {
		mt, _, _ := strings.Cut(r, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == "" {
			continue
		}
		if n == 0 {
			first = mt
		}
		n++
		if mt == "text/html" {
			return AcceptHTML
		}
	}
	switch {
	case n == 0:
		return ""
	case strings.HasPrefix(first, "image/"):
		return AcceptImage
	case first == "text/css":
		return AcceptCSS
	case n == 1 && !strings.Contains(v, ";"):
		return strings.TrimSpace(strings.Trim(v, ", "))
	}
	return AcceptAny
}

// ScrubResponse applies the response policy of the package documentation
// to resp in place.
func ScrubResponse(resp *http.Response) {
	if resp.Header == nil {
		return
	}
	h := resp.Header
	canonicalizeKeys(h)
	removeHopByHop(h, resp.StatusCode != http.StatusSwitchingProtocols)
	for k := range h {
		if strings.HasPrefix(k, "Proxy-") {
			delete(h, k)
		}
	}
	h.Del("Alt-Svc")
}

// removeHopByHop deletes the fields Connection lists and the fixed
// hop-by-hop fields. A protocol upgrade (Connection lists "upgrade" and
// Upgrade is present) keeps Upgrade and "Connection: Upgrade" unless
// noUpgrade.
func removeHopByHop(h http.Header, noUpgrade bool) {
	upgrade := ""
	for _, v := range h.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if strings.EqualFold(tok, "upgrade") {
				upgrade = h.Get("Upgrade")
			}
			h.Del(tok)
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	if upgrade != "" && !noUpgrade {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", upgrade)
	}
}

// dropRequestHeader reports whether the canonical key k is removed from
// every request.
func dropRequestHeader(k string) bool {
	if contains(dropRequest[:], k) {
		return true
	}
	return hasAnyPrefix(k, dropRequestPrefixes[:]) && !contains(keepRequest[:], k)
}

// canonicalizeKeys merges keys that are not in canonical form (a handler
// may have set h["x-forwarded-for"] directly) into their canonical key, so
// the rules, which look keys up canonically, see every field.
func canonicalizeKeys(h http.Header) {
	for k, vs := range h {
		if ck := http.CanonicalHeaderKey(k); ck != k {
			delete(h, k)
			h[ck] = append(h[ck], vs...)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
