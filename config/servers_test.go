package config

import (
	"crypto/rand"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"i2pbridge/router/data"
)

// serverB32 is a syntactically valid b32 (no key behind it is needed).
const serverB32 = "7pdjyffg7l75ho4afsqam5wtzgnayxivlz3fn4myzwm3wmlyea5q.b32.i2p"

func parseServers(t *testing.T, text string) (*File, error) {
	t.Helper()
	return Parse([]byte(text), t.TempDir()+"/t.yaml")
}

func TestServerKeysDecodeAndDefault(t *testing.T) {
	keys, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := keys.Destination().Base64()
	f, err := parseServers(t, `
tunnels:
  - name: web
    type: http-server
    target: 127.0.0.1:8080
    host: eepsite.i2p
    max_posts_per_minute: 3
    allow: [`+strings.ToUpper(serverB32[:52])+`.b32.i2p, `+b64+`]
    deny: [`+serverB32+`]
    max_conns_per_minute: 5
    max_conns_per_hour: 50
    max_streams: 100
    max_streams_per_dest: 4
    unique_local: true
  - name: web2
    type: http-server
    target: 127.0.0.1:8081
    strip_response_headers: []
  - name: ircd
    type: irc-server
    target: 127.0.0.1:6667
    cloak_key: 0123456789abcdef
    webirc_password: hunter2
  - name: irc
    type: irc-client
    listen: 6668
    destination: irc.postman.i2p
    irc_filter:
      extra_outbound: [OPER, KILL]
      extra_tags: [+example.com/foo]
      quit_message: bye
      keep_username: true
      max_line_length: 1024
  - name: ssh
    type: tcp-server
    target: 127.0.0.1:22
    deny: [`+serverB32+`]
`)
	if err != nil {
		t.Fatal(err)
	}
	web, web2, ircd, irc, ssh := f.Tunnels[0], f.Tunnels[1], f.Tunnels[2], f.Tunnels[3], f.Tunnels[4]

	wantProtect := Protect{
		Allow: []string{serverB32, b64}, Deny: []string{serverB32},
		MaxConnsPerMinute: 5, MaxConnsPerHour: 50, MaxStreams: 100, MaxStreamsPerDest: 4, UniqueLocal: true,
	}
	if !reflect.DeepEqual(web.Protect, wantProtect) {
		t.Errorf("web protect = %+v\nwant %+v", web.Protect, wantProtect)
	}
	wantHTTP := HTTPServer{Host: "eepsite.i2p", MaxPostsPerMinute: 3, StripResponseHeaders: DefaultStripResponseHeaders}
	if !reflect.DeepEqual(web.HTTPServer, wantHTTP) {
		t.Errorf("web http = %+v, want %+v", web.HTTPServer, wantHTTP)
	}
	if web2.StripResponseHeaders == nil || len(web2.StripResponseHeaders) != 0 {
		t.Errorf("an explicit empty strip list became %#v; it must stay empty (strip nothing)", web2.StripResponseHeaders)
	}
	if ircd.CloakKey != "0123456789abcdef" || ircd.WebIRCPassword != "hunter2" {
		t.Errorf("irc-server settings = %+v", ircd.IRC)
	}
	wantFilter := IRCFilter{ExtraOutbound: []string{"OPER", "KILL"}, ExtraTags: []string{"+example.com/foo"},
		QuitMessage: "bye", KeepUsername: true, MaxLineLength: 1024}
	if !reflect.DeepEqual(irc.IRCFilter, wantFilter) {
		t.Errorf("irc filter = %+v, want %+v", irc.IRCFilter, wantFilter)
	}
	if !slices.Equal(ssh.Deny, []string{serverB32}) {
		t.Errorf("tcp-server deny = %v", ssh.Deny)
	}
	if ssh.StripResponseHeaders != nil {
		t.Errorf("a tcp-server got http defaults: %v", ssh.StripResponseHeaders)
	}

	// The loaded file survives a YAML round trip (what FuzzParse checks
	// for the examples), the explicit empty strip list included.
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out, f.Path)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	for i := range f.Tunnels {
		if !f.Tunnels[i].Equal(again.Tunnels[i]) {
			t.Errorf("round trip changed tunnels[%d]:\n%+v\n%+v", i, f.Tunnels[i], again.Tunnels[i])
		}
	}

	// Validating again changes nothing (defaults are not applied twice,
	// normalized entries stay).
	before := slices.Clone(f.Tunnels)
	for i := range before {
		before[i].Protect.Allow = slices.Clone(before[i].Protect.Allow)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if !before[i].Equal(f.Tunnels[i]) {
			t.Errorf("tunnel %d changed on re-validation: %+v -> %+v", i, before[i], f.Tunnels[i])
		}
	}
}

func TestServerKeysRejected(t *testing.T) {
	head := "tunnels:\n  - name: x\n"
	tests := []struct {
		name, body, want string
	}{
		{"protect on a client", "    type: tcp-client\n    listen: 1\n    destination: a.i2p\n    deny: [" + serverB32 + "]\n",
			"tunnels[0].deny: only tcp-server, http-server and irc-server tunnels use it; remove it from this tcp-client tunnel"},
		{"limits on an irc-client", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    max_streams: 3\n",
			"tunnels[0].max_streams: only tcp-server, http-server and irc-server tunnels use it"},
		{"http key on a tcp-server", "    type: tcp-server\n    target: 1\n    host: a.i2p\n",
			"tunnels[0].host: only http-server tunnels use it; remove it from this tcp-server tunnel"},
		{"webirc on an http-server", "    type: http-server\n    target: 1\n    webirc_password: x\n",
			"tunnels[0].webirc_password: only irc-server tunnels use it"},
		{"filter on an irc-server", "    type: irc-server\n    target: 1\n    irc_filter: {quit_message: x}\n",
			"tunnels[0].irc_filter: only irc-client tunnels use it"},
		{"bad allow entry", "    type: tcp-server\n    target: 1\n    allow: [nope.i2p]\n",
			`tunnels[0].allow[0]: "nope.i2p" is not a b32 address or base64 destination`},
		{"bad b32 in deny", "    type: tcp-server\n    target: 1\n    deny: [abc.b32.i2p]\n",
			"tunnels[0].deny[0]: data: invalid .b32.i2p name: \"abc.b32.i2p\" has 3 characters"},
		{"negative limit", "    type: tcp-server\n    target: 1\n    max_conns_per_minute: -1\n",
			"tunnels[0].max_conns_per_minute: -1 is negative (0 means no limit)"},
		{"negative posts", "    type: http-server\n    target: 1\n    max_posts_per_minute: -2\n",
			"tunnels[0].max_posts_per_minute: -2 is negative"},
		{"unique_local to a name", "    type: tcp-server\n    target: web.lan:80\n    unique_local: true\n",
			"tunnels[0].unique_local: needs a target on an IPv4 loopback address"},
		{"unique_local to ::1", "    type: tcp-server\n    target: '[::1]:80'\n    unique_local: true\n",
			"tunnels[0].unique_local: needs a target on an IPv4 loopback address"},
		{"short cloak key", "    type: irc-server\n    target: 1\n    cloak_key: short\n",
			"tunnels[0].cloak_key: too short: use at least 16 characters"},
		{"webirc password with a space", "    type: irc-server\n    target: 1\n    webirc_password: a b\n",
			"tunnels[0].webirc_password: must be one IRC word"},
		{"bad header name", "    type: http-server\n    target: 1\n    strip_response_headers: [Server, 'X Bad']\n",
			`tunnels[0].strip_response_headers[1]: "X Bad" is not a header name`},
		{"bad host", "    type: http-server\n    target: 1\n    host: 'a b'\n",
			`tunnels[0].host: "a b" is not a host name with an optional :port`},
		{"bad host port", "    type: http-server\n    target: 1\n    host: a.i2p:99999\n",
			`tunnels[0].host: "a.i2p:99999": port "99999" is not a number from 1 to 65535`},
		{"bad filter command", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {extra_outbound: [PRIV MSG]}\n",
			`tunnels[0].irc_filter.extra_outbound[0]: "PRIV MSG" is not a command`},
		{"bad filter tag", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {extra_tags: ['+a b']}\n",
			`tunnels[0].irc_filter.extra_tags[0]: "+a b" is not a message tag name`},
		{"filter line length", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {max_line_length: 100}\n",
			"tunnels[0].irc_filter.max_line_length: 100 is out of range 512..16384"},
		{"filter username", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {username: 'a@b'}\n",
			`tunnels[0].irc_filter.username: "a@b" is not a single IRC word`},
		{"filter quit with CR", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {quit_message: \"a\\rQUIT\"}\n",
			"tunnels[0].irc_filter.quit_message: must be at most 300 bytes without NUL, CR, LF"},
		{"unknown filter key", "    type: irc-client\n    listen: 1\n    destination: a.i2p\n    irc_filter: {quit: x}\n",
			"tunnels[0].irc_filter.quit: unknown key"},
		{"irc-client needs destination", "    type: irc-client\n    listen: 1\n",
			"tunnels[0].destination: missing (irc-client needs a destination"},
		{"http-server needs target", "    type: http-server\n",
			"tunnels[0].target: missing (http-server needs a target host:port)"},
		{"irc-server takes no listen", "    type: irc-server\n    target: 1\n    listen: 2\n",
			"tunnels[0].listen: not used by a irc-server tunnel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServers(t, head+tt.body)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestServerKeysWarn(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"host is an address", "    type: http-server\n    target: 1\n    host: 127.0.0.1\n",
			`tunnels[0].host: "127.0.0.1" is an address: host: only sets the Host header`},
		{"minute above hour", "    type: tcp-server\n    target: 1\n    max_conns_per_minute: 10\n    max_conns_per_hour: 5\n",
			"tunnels[0].max_conns_per_minute: 10 is more than max_conns_per_hour (5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseServers(t, "tunnels:\n  - name: x\n"+tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if w := strings.Join(f.Warnings(), "\n"); !strings.Contains(w, tt.want) {
				t.Errorf("warnings:\n%s\nwant one containing %q", w, tt.want)
			}
		})
	}
}

// TestServerPeerErrorKeepsCause: an allow/deny error still unwraps to the
// router/data error, for callers that match on it.
func TestServerPeerErrorKeepsCause(t *testing.T) {
	_, err := parseServers(t, "tunnels:\n  - name: x\n    type: tcp-server\n    target: 1\n    deny: [abc.b32.i2p]\n")
	if !errors.Is(err, data.ErrB32) {
		t.Errorf("error %v does not wrap data.ErrB32", err)
	}
}

// TestInlineKeysAreUnique: two inline groups declaring the same YAML key
// would silently shadow each other in yamlFields.
func TestInlineKeysAreUnique(t *testing.T) {
	seen := map[string]string{}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if isInline(f) {
				walk(prefix+f.Name+".", f.Type)
				continue
			}
			if k := yamlKey(f); k != "" {
				if other, dup := seen[k]; dup {
					t.Errorf("YAML key %q is declared by both %s and %s", k, other, prefix+f.Name)
				}
				seen[k] = prefix + f.Name
			}
		}
	}
	walk("", reflect.TypeFor[Tunnel]())
	for _, k := range []string{"allow", "deny", "unique_local", "host", "cloak_key", "irc_filter", "target"} {
		if _, ok := yamlFields(reflect.TypeFor[Tunnel]())[k]; !ok {
			t.Errorf("key %q is not a Tunnel key", k)
		}
	}
}

// TestServerKeysHaveOwners: every key of the inline groups of this file
// says which types read it, and names only real types.
func TestServerKeysHaveOwners(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[Protect](), reflect.TypeFor[HTTPServer](), reflect.TypeFor[IRC]()} {
		for k := range yamlFields(typ) {
			o, ok := keyOwners[k]
			if !ok {
				t.Errorf("%s key %q has no owner in keyOwners", typ.Name(), k)
				continue
			}
			for _, ty := range o.types {
				if _, known := kinds[ty]; !known {
					t.Errorf("key %q: owner %q is not a tunnel type", k, ty)
				}
			}
		}
	}
}
