package config

import (
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"i2pbridge/router/data"
)

// Server protection, the http-server and the IRC kinds keep their settings
// here: each group is a struct embedded inline into Tunnel, so the YAML stays
// flat (`allow:` next to `target:`) while the settings of one feature sit in
// one place. checkServerKeys validates them; which tunnel types may use which
// key is decided by keyOwners below, not by the kinds table, because these
// keys belong to a feature shared by several types.

// Protect is the stream protection of every server tunnel (bridge/protect):
// who may connect and how often. Zero values mean "no limit".
type Protect struct {
	// Allow, when not empty, admits only these destinations (b32 address
	// or base64 Destination). Deny refuses these destinations and wins
	// over Allow.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// MaxConnsPerMinute and MaxConnsPerHour limit the new streams of one
	// destination (token buckets: a burst of that many, refilled evenly
	// over the period).
	MaxConnsPerMinute int `yaml:"max_conns_per_minute"`
	MaxConnsPerHour   int `yaml:"max_conns_per_hour"`
	// MaxStreams caps the streams open at once on the tunnel, and
	// MaxStreamsPerDest those of one destination.
	MaxStreams        int `yaml:"max_streams"`
	MaxStreamsPerDest int `yaml:"max_streams_per_dest"`
	// UniqueLocal dials the target from a loopback address derived from
	// the caller (127.x.y.z), so the target's logs and limits tell I2P
	// users apart. It needs an IPv4 loopback target.
	UniqueLocal bool `yaml:"unique_local"`
}

// DefaultStripResponseHeaders are the target's response headers an
// http-server removes when strip_response_headers is not set: they name the
// server software and its version, which links an eepsite to a clearnet
// host running the same stack.
var DefaultStripResponseHeaders = []string{"Server", "X-Powered-By", "X-Runtime"}

// HTTPServer holds the settings of the http-server type.
type HTTPServer struct {
	// Host replaces the Host header sent to the target (a name, optional
	// :port); empty keeps the one the client sent (the eepsite's name).
	Host string `yaml:"host"`
	// StripResponseHeaders names the response headers removed before the
	// response goes back over I2P. Absent means
	// DefaultStripResponseHeaders; an empty list strips nothing.
	StripResponseHeaders []string `yaml:"strip_response_headers"`
	// MaxPostsPerMinute limits the POST requests of one destination;
	// more are answered 429 with Retry-After. 0 = no limit.
	MaxPostsPerMinute int `yaml:"max_posts_per_minute"`
}

// IRC holds the settings of the irc-server and irc-client types.
type IRC struct {
	// CloakKey (irc-server) shows each user under a stable keyed cloak
	// (HMAC of the destination hash, "<16 base32>.i2p") instead of the
	// b32. At least 16 characters; changing it changes every cloak.
	CloakKey string `yaml:"cloak_key"`
	// WebIRCPassword (irc-server) makes the tunnel announce each user with
	// WEBIRC (password as configured in the IRC server) instead of
	// rewriting the USER line.
	WebIRCPassword string `yaml:"webirc_password"`
	// IRCFilter (irc-client) tunes the identity-leak filter.
	IRCFilter IRCFilter `yaml:"irc_filter"`
}

// IRCFilter mirrors bridge/ircfilter.Config (see there for what each field
// does); the zero value is the safe default.
type IRCFilter struct {
	ExtraOutbound []string `yaml:"extra_outbound"` // further commands a client may send
	ExtraInbound  []string `yaml:"extra_inbound"`  // further server commands passed on
	ExtraTags     []string `yaml:"extra_tags"`     // further client tags passed on
	QuitMessage   string   `yaml:"quit_message"`   // replaces every QUIT reason
	PartMessage   string   `yaml:"part_message"`   // replaces every PART reason
	Username      string   `yaml:"username"`       // replaces the USER username
	KeepUsername  bool     `yaml:"keep_username"`  // forward the client's username
	Realname      string   `yaml:"realname"`       // replaces the USER realname
	KeepRealname  bool     `yaml:"keep_realname"`  // forward the client's realname
	BlockAction   bool     `yaml:"block_action"`   // drop CTCP ACTION too
	// MaxLineLength is the longest line body accepted, CRLF included
	// (512..16384; 0 = 512).
	MaxLineLength int `yaml:"max_line_length"`
}

// Bounds checked here so a typo fails at load, not at tunnel start.
const (
	minCloakKey      = 16
	minIRCLineLength = 512
	maxIRCLineLength = 16384
	maxIRCText       = 300 // ircfilter's limit on replacement texts
)

// keyOwner says which tunnel types read a key of this file.
type keyOwner struct {
	types []string // the types that read the key
	who   string   // for the message: "http-server tunnels"
}

func (o keyOwner) owns(t *Tunnel) bool { return slices.Contains(o.types, t.Type) }

// keyOwners maps each key of Protect, HTTPServer and IRC to the types that
// use it (TestServerKeysHaveOwners checks that none is missing).
var keyOwners = func() map[string]keyOwner {
	m := map[string]keyOwner{}
	servers := keyOwner{types: []string{"tcp-server", "http-server", "irc-server"}, who: "tcp-server, http-server and irc-server tunnels"}
	for k := range yamlFields(reflect.TypeFor[Protect]()) {
		m[k] = servers
	}
	for k := range yamlFields(reflect.TypeFor[HTTPServer]()) {
		m[k] = keyOwner{types: []string{"http-server"}, who: "http-server tunnels"}
	}
	ircServer := keyOwner{types: []string{"irc-server"}, who: "irc-server tunnels"}
	m["cloak_key"], m["webirc_password"] = ircServer, ircServer
	m["irc_filter"] = keyOwner{types: []string{"irc-client"}, who: "irc-client tunnels"}
	return m
}()

// checkServerKeys validates the keys of this file for tunnel t at path
// (tunnels[i]) and fills in their defaults. The target must already be
// normalized.
func checkServerKeys(p *problems, path string, t *Tunnel) {
	at := func(key string) string { return field(path, key) }
	// Equal compares with reflect.DeepEqual and the ownership check below
	// with IsZero: an empty list (`deny: []`) is the same as none. The one
	// exception is an http-server's strip_response_headers, where [] means
	// "strip nothing" and absent means the defaults.
	f := &t.IRCFilter
	for _, l := range []*[]string{&t.Allow, &t.Deny, &f.ExtraOutbound, &f.ExtraInbound, &f.ExtraTags} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if t.Type != "http-server" && len(t.StripResponseHeaders) == 0 {
		t.StripResponseHeaders = nil
	}
	_, known := kinds[t.Type]
	v := reflect.ValueOf(t).Elem()
	for _, key := range slices.Sorted(maps.Keys(keyOwners)) {
		o := keyOwners[key]
		if known && !o.owns(t) && !tunnelField(v, key).IsZero() {
			p.errorf(at(key), "only %s use it; remove it from this %s tunnel", o.who, t.Type)
		}
	}

	pr := &t.Protect
	for _, list := range []struct {
		key  string
		dest []string
	}{{"allow", pr.Allow}, {"deny", pr.Deny}} {
		for i, d := range list.dest {
			if n, err := normalizeServerPeer(d); err != nil {
				p.wrapf(item(at(list.key), i), err, "%v", err)
			} else {
				list.dest[i] = n
			}
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"max_conns_per_minute", pr.MaxConnsPerMinute},
		{"max_conns_per_hour", pr.MaxConnsPerHour},
		{"max_streams", pr.MaxStreams},
		{"max_streams_per_dest", pr.MaxStreamsPerDest},
		{"max_posts_per_minute", t.MaxPostsPerMinute},
	} {
		if n.v < 0 {
			p.errorf(at(n.key), "%d is negative (0 means no limit)", n.v)
		}
	}
	if pr.MaxConnsPerHour > 0 && pr.MaxConnsPerMinute > pr.MaxConnsPerHour {
		p.warnf(at("max_conns_per_minute"), "%d is more than max_conns_per_hour (%d), which then decides alone", pr.MaxConnsPerMinute, pr.MaxConnsPerHour)
	}
	if ep, err := parseEndpoint(t.Target, true); pr.UniqueLocal && t.Target != "" && err == nil {
		if !ep.addr.IsValid() || !ep.addr.Is4() || !ep.addr.IsLoopback() {
			p.errorf(at("unique_local"), "needs a target on an IPv4 loopback address (127.0.0.1:PORT), not %s: the tunnel dials from 127.x.y.z, which reaches only loopback", t.Target)
		}
	}

	if t.Type == "http-server" {
		checkHTTPServer(p, at, &t.HTTPServer)
	}
	if t.Type == "irc-server" {
		checkIRCServer(p, at, &t.IRC)
	}
	if t.Type == "irc-client" {
		checkIRCFilter(p, at("irc_filter"), &t.IRCFilter)
	}
}

// normalizeServerPeer checks an allow/deny entry: a b32 address (lower-cased)
// or a base64 Destination (kept as written).
func normalizeServerPeer(s string) (string, error) {
	if strings.HasSuffix(strings.ToLower(s), data.B32Suffix) {
		if _, err := data.ParseB32(s); err != nil {
			return "", err
		}
		return strings.ToLower(s), nil
	}
	if _, err := data.ParseDestinationBase64(s); err != nil {
		return "", &peerError{s: s, err: err}
	}
	return s, nil
}

type peerError struct {
	s   string
	err error
}

func (e *peerError) Error() string {
	s := e.s
	if len(s) > 20 {
		s = s[:20] + "…"
	}
	return "\"" + s + "\" is not a b32 address or base64 destination: " + e.err.Error()
}

func (e *peerError) Unwrap() error { return e.err }

func checkHTTPServer(p *problems, at func(string) string, h *HTTPServer) {
	if h.Host != "" {
		host := h.Host
		if hh, port, err := net.SplitHostPort(h.Host); err == nil {
			host = hh
			if _, err := parsePort(port); err != nil {
				p.errorf(at("host"), "%q: %v", h.Host, err)
			}
		}
		switch {
		case isIPLiteral(host):
			p.warnf(at("host"), "%q is an address: host: only sets the Host header sent to the target (the target's address is target:)", h.Host)
		case !hostnameRE.MatchString(host):
			p.errorf(at("host"), "%q is not a host name with an optional :port", h.Host)
		}
	}
	if h.StripResponseHeaders == nil {
		h.StripResponseHeaders = slices.Clone(DefaultStripResponseHeaders)
	}
	for i, name := range h.StripResponseHeaders {
		if !isHeaderToken(name) {
			p.errorf(item(at("strip_response_headers"), i), "%q is not a header name", name)
		}
	}
}

func isIPLiteral(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// isHeaderToken reports whether s is an RFC 9110 token (a field name).
func isHeaderToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func checkIRCServer(p *problems, at func(string) string, irc *IRC) {
	if irc.CloakKey != "" && len(irc.CloakKey) < minCloakKey {
		p.errorf(at("cloak_key"), "too short: use at least %d characters (anyone who guesses it can undo the cloaks)", minCloakKey)
	}
	if pw := irc.WebIRCPassword; pw != "" && (strings.ContainsFunc(pw, func(r rune) bool { return r <= ' ' || r == 0x7f }) || pw[0] == ':') {
		p.errorf(at("webirc_password"), "must be one IRC word: no spaces or control characters, not starting with ':'")
	}
}

func checkIRCFilter(p *problems, path string, f *IRCFilter) {
	at := func(key string) string { return field(path, key) }
	for _, list := range []struct {
		key   string
		names []string
		tags  bool
	}{{"extra_outbound", f.ExtraOutbound, false}, {"extra_inbound", f.ExtraInbound, false}, {"extra_tags", f.ExtraTags, true}} {
		for i, s := range list.names {
			ok := s != "" && len(s) <= 32 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == ""
			if list.tags {
				name := strings.TrimPrefix(s, "+")
				ok = name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-./") == ""
			}
			if !ok {
				what := "a command (letters or a numeric)"
				if list.tags {
					what = "a message tag name"
				}
				p.errorf(item(at(list.key), i), "%q is not %s", s, what)
			}
		}
	}
	for _, txt := range []struct{ key, s string }{
		{"quit_message", f.QuitMessage}, {"part_message", f.PartMessage}, {"realname", f.Realname},
	} {
		if strings.ContainsAny(txt.s, "\x00\r\n\x01") || len(txt.s) > maxIRCText {
			p.errorf(at(txt.key), "must be at most %d bytes without NUL, CR, LF or \\x01", maxIRCText)
		}
	}
	if u := f.Username; u != "" && (strings.ContainsAny(u, " @!:\x00\r\n\x01") || len(u) > 64) {
		p.errorf(at("username"), "%q is not a single IRC word (no spaces, '@', '!' or ':', at most 64 bytes)", u)
	}
	if n := f.MaxLineLength; n != 0 && (n < minIRCLineLength || n > maxIRCLineLength) {
		p.errorf(at("max_line_length"), "%d is out of range %d..%d", n, minIRCLineLength, maxIRCLineLength)
	}
}
