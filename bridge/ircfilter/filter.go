// Package ircfilter is the identity-leak filter of the irc-client tunnel: an
// ordinary IRC client connects to a local port, its lines travel over I2P to
// an IRC server, and every line in either direction passes through a Filter
// first. The filter works on single lines (parsed with ergochat/irc-go's
// ircmsg) and does no I/O.
//
// Message flow, per client connection:
//
//	IRC client --line--> Filter.Outbound --Result.Line--> I2P stream --> IRC server
//	IRC client <--Result.Line-- Filter.Inbound <--line-- I2P stream <-- IRC server
//
// Outbound (client → server) is an allowlist: registration, channel, query
// and services commands pass; anything else is dropped. Lines that carry
// identifying data by client habit are rewritten:
//
//   - USER becomes "USER <username> 0 * :<realname>": the host and server
//     fields (local host name, local server name) never leave. Username and
//     realname are replaced by fixed values by default because clients fill
//     them from the local login and GECOS name (irssi, HexChat); Config can
//     keep them (bouncers such as ZNC read "user/network" from the username).
//   - QUIT and PART reasons (client adverts such as "HexChat 2.16 https://…")
//     are replaced by a fixed text, empty by default.
//   - CTCP in PRIVMSG/NOTICE is dropped except ACTION: VERSION, TIME,
//     USERINFO, CLIENTINFO, FINGER, SOURCE, PING replies name the client, the
//     OS and the time zone; DCC always carries an IP address and is always
//     dropped, as is mIRC's plain "NOTICE nick :DCC Send …" companion.
//   - PING payloads are chosen by the client (BitchX sends the proxy's IP,
//     HexChat a millisecond timestamp), so they are replaced by a per-Filter
//     counter; the matching inbound PONG gets the client's original token
//     back, so lag meters and ping timeouts keep working.
//   - PONG payloads must echo what the server sent, so an outbound PONG only
//     passes carrying a token seen in a recent inbound PING; anything the
//     client added (some send their own host name) is cut.
//   - SETNAME is dropped unless the realname is kept, so a replaced realname
//     stays replaced. NICK is not rewritten: the user picks it, and
//     rewriting it would break every reply addressed to it.
//   - A source prefix from the client (":nick!user@host PRIVMSG …") is
//     removed: servers ignore it and it may name the local host.
//   - IRCv3 message tags pass only if allowlisted: label, batch,
//     draft/multiline-concat and the standard client-only tags (+typing,
//     +draft/reply, +draft/react, …). Other client-only tags are relayed by
//     the server to every recipient and vendor tags are free-form, so they
//     are stripped (the line itself still goes).
//
// Inbound (server → client) protects against requests that make the client
// answer with identifying data: CTCP other than ACTION (VERSION, TIME, PING,
// DCC, …) is dropped, and so are commands outside the list of standard server
// messages (numerics, PING, PONG, JOIN, PART, QUIT, NICK, MODE, PRIVMSG,
// NOTICE, CAP, BATCH, FAIL/WARN/NOTE, …), as Java I2P's IRCFilter does.
// Everything else inbound, tags included, is forwarded byte for byte; the one
// inbound rewrite puts the client's own token back into a PONG.
//
// Malformed lines (empty, tags only, NUL/CR/LF inside, non-ASCII command) are
// dropped in both directions; so are lines whose tag section exceeds 8191
// bytes or whose body exceeds Config.MaxBodyLen (512 by default, CRLF
// included). Overlong lines are dropped rather than truncated so the filter
// never sends text the user did not write; clients split long messages
// themselves and a conforming server never sends such lines.
//
// A Filter is built per client connection (it remembers PING tokens) and is
// safe for one goroutine per direction.
package ircfilter

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Limits from the IRC specifications.
const (
	// MaxTagSection is the IRCv3 message-tags limit on the tag section,
	// counting the leading '@' and the separating space.
	MaxTagSection = 8191
	// MaxClientTagData is the IRCv3 limit on tag data a client may send
	// (without '@' and space); servers answer more with ERR_INPUTTOOLONG.
	MaxClientTagData = 4094
	// DefaultMaxBodyLen is RFC 1459 §2.3's 512-byte line (source, command and
	// parameters plus CRLF, tags not counted).
	DefaultMaxBodyLen = 512
	// maxBodyLenLimit bounds Config.MaxBodyLen so a typo cannot turn the
	// tunnel's read limit into megabytes.
	maxBodyLenLimit = 16384
)

// Defaults used when Config leaves a field empty.
const (
	// DefaultUsername replaces the USER username (ident), which clients take
	// from the local login name.
	DefaultUsername = "user"
	// DefaultRealname replaces the USER realname, which clients take from
	// the local account's full name.
	DefaultRealname = "user"
)

// ErrConfig is wrapped by every error New returns for an invalid Config.
var ErrConfig = errors.New("ircfilter: invalid config")

// Config tunes the filter. The zero value is the safe default.
type Config struct {
	// ExtraOutbound lists further commands a client may send unchanged
	// (case-insensitive), for example OPER and the operator commands.
	// Commands the filter rewrites (USER, PING, PONG, QUIT, PART, PRIVMSG,
	// NOTICE, SETNAME) keep their rewriting even if listed.
	ExtraOutbound []string
	// ExtraInbound lists further server commands passed to the client.
	ExtraInbound []string
	// ExtraTags lists further message tags a client may send, e.g.
	// "+example.com/foo". Tags are never filtered inbound.
	ExtraTags []string

	// QuitMessage replaces every QUIT reason; empty sends a bare QUIT.
	QuitMessage string
	// PartMessage replaces every PART reason; empty sends PART without one.
	PartMessage string

	// Username replaces the USER username; empty means DefaultUsername.
	Username string
	// KeepUsername forwards the client's username instead (needed when a
	// bouncer authenticates by it). The host and server fields are replaced
	// regardless.
	KeepUsername bool
	// Realname replaces the USER realname; empty means DefaultRealname.
	Realname string
	// KeepRealname forwards the client's realname, and SETNAME with it;
	// otherwise SETNAME is dropped so the replaced realname stays replaced.
	KeepRealname bool

	// BlockAction drops CTCP ACTION (/me) too, in both directions, so no
	// CTCP passes at all.
	BlockAction bool

	// MaxBodyLen is the longest accepted line body including CRLF (tags not
	// counted); 0 means DefaultMaxBodyLen. Raise it only for servers that
	// negotiate longer lines.
	MaxBodyLen int
}

// Verdict says what the filter did with a line.
type Verdict uint8

// Verdicts.
const (
	// Pass: forward Result.Line, which equals the input without its CRLF.
	Pass Verdict = iota
	// Rewrite: forward Result.Line, a changed line; Reason says why.
	Rewrite
	// Drop: forward nothing; Reason says why.
	Drop
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Rewrite:
		return "rewrite"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Result is the filter's answer for one line.
type Result struct {
	Verdict Verdict
	// Line is the line to forward, without CRLF; empty when dropped.
	Line string
	// Reason explains a Rewrite or Drop for debug logs. It names commands,
	// CTCP verbs and tag names but never parameter values, so it can be
	// logged without leaking message text or addresses.
	Reason string
}

// pingSlots bounds the remembered PING tokens per direction: clients and
// servers have at most one or two PINGs in flight, and a bound keeps a
// misbehaving peer from growing the filter.
const pingSlots = 8

// pendingPing is an outbound PING whose payload was replaced.
type pendingPing struct {
	substitute string // the token sent to the server
	original   string // the client's token, restored in the PONG
}

// Filter filters the lines of one client connection. Outbound and Inbound
// may run concurrently (one goroutine per direction).
type Filter struct {
	cfg       Config
	extraOut  map[string]bool // ExtraOutbound, upper case
	extraIn   map[string]bool // ExtraInbound, upper case
	extraTags map[string]bool // ExtraTags

	mu           sync.Mutex
	pingSeq      uint64                 // last substitute PING token
	pending      [pingSlots]pendingPing // outbound PINGs awaiting a PONG
	pendingNext  int                    // next slot to overwrite in pending
	serverTokens [pingSlots]string      // non-empty payloads of recent inbound PINGs
	tokensNext   int                    // next slot to overwrite in serverTokens
}

// New validates cfg and returns a Filter for one client connection.
func New(cfg Config) (*Filter, error) {
	if cfg.MaxBodyLen == 0 {
		cfg.MaxBodyLen = DefaultMaxBodyLen
	}
	if cfg.MaxBodyLen < DefaultMaxBodyLen || cfg.MaxBodyLen > maxBodyLenLimit {
		return nil, fmt.Errorf("%w: MaxBodyLen %d outside [%d, %d]", ErrConfig, cfg.MaxBodyLen, DefaultMaxBodyLen, maxBodyLenLimit)
	}
	if cfg.Username == "" {
		cfg.Username = DefaultUsername
	}
	if cfg.Realname == "" {
		cfg.Realname = DefaultRealname
	}
	if !validMiddle(cfg.Username) || strings.ContainsAny(cfg.Username, "@!\x01") || len(cfg.Username) > 64 {
		return nil, fmt.Errorf("%w: Username %q is not a single IRC word", ErrConfig, cfg.Username)
	}
	for _, f := range []struct{ name, text string }{
		{"Realname", cfg.Realname},
		{"QuitMessage", cfg.QuitMessage},
		{"PartMessage", cfg.PartMessage},
	} {
		if strings.ContainsAny(f.text, "\x00\r\n\x01") || len(f.text) > 300 {
			return nil, fmt.Errorf("%w: %s must be at most 300 bytes without NUL, CR, LF or CTCP marker", ErrConfig, f.name)
		}
	}
	f := &Filter{
		cfg:       cfg,
		extraOut:  map[string]bool{},
		extraIn:   map[string]bool{},
		extraTags: map[string]bool{},
	}
	for _, set := range []struct {
		name  string
		list  []string
		into  map[string]bool
		valid func(string) bool
		norm  func(string) string
	}{
		{"ExtraOutbound", cfg.ExtraOutbound, f.extraOut, validCommand, strings.ToUpper},
		{"ExtraInbound", cfg.ExtraInbound, f.extraIn, validCommand, strings.ToUpper},
		{"ExtraTags", cfg.ExtraTags, f.extraTags, validTagName, func(s string) string { return s }},
	} {
		for _, s := range set.list {
			if !set.valid(s) {
				return nil, fmt.Errorf("%w: %s entry %q", ErrConfig, set.name, s)
			}
			set.into[set.norm(s)] = true
		}
	}
	return f, nil
}

// MaxLineLen is the longest line, CRLF included, that the filter can pass.
// The tunnel's line reader should refuse anything longer before buffering it.
func (f *Filter) MaxLineLen() int { return MaxTagSection + f.cfg.MaxBodyLen }

// validCommand: IRC commands are letters or a numeric.
func validCommand(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validTagName follows the IRCv3 message-tags naming rules: an optional '+'
// (client-only), an optional vendor prefix ending in '/', then the name.
func validTagName(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('-' <= c && c <= '/' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// validMiddle reports whether p can be sent as a non-final parameter.
func validMiddle(p string) bool {
	return p != "" && p[0] != ':' && !strings.ContainsAny(p, " \x00\r\n")
}
