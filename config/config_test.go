package config_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"i2pbridge/config"
	"i2pbridge/router/data"
)

// b32 is the address of a key generated once for these tests (and the
// examples); its private key was thrown away.
const b32 = "7pdjyffg7l75ho4afsqam5wtzgnayxivlz3fn4myzwm3wmlyea5q.b32.i2p"

func intp(i int) *int { return &i }

// allTypes is every tunnel type, as error messages list them.
const allTypes = "http-proxy, http-server, irc-client, irc-server, outproxy, tcp-client, tcp-server"

// writeConfig puts text in dir/name and returns its path.
func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseAppliesDefaults(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tests := []struct {
		name string
		yaml string
		want config.File // Path is filled in by the test
	}{{
		name: "router defaults (the bundled router on the public network), port-only listen, server keys default",
		yaml: `
tunnels:
  - name: web
    type: tcp-server
    target: "8080"
  - name: irc
    type: tcp-client
    listen: 6668
    destination: IRC.Postman.i2p:6667
`,
		want: config.File{
			Router:  config.Router{Backend: "embedded", NetID: 2, Bandwidth: "L", Datadir: data, Reseed: config.Reseed{URLs: config.DefaultReseedURLs}},
			Control: "unix:" + filepath.Join(data, "control.sock"),
			Tunnels: []config.Tunnel{
				{Name: "web", Type: "tcp-server", Target: "127.0.0.1:8080", Keys: filepath.Join(data, "web.dat")},
				{Name: "irc", Type: "tcp-client", Listen: "127.0.0.1:6668", Destination: "irc.postman.i2p:6667"},
			},
		},
	}, {
		name: "explicit values, relative datadir, keys and control",
		yaml: `
router:
  backend: sam
  sam: "[::1]:7656"
  datadir: state/i2p
control: unix:ctl/s.sock
tunnels:
  - name: ssh-out
    type: tcp-client
    listen: "[::1]:2222"
    destination: ` + b32 + `
    keys: clients/ssh-out.dat
    inbound: {length: 0, quantity: 16, variance: -7}
    outbound: {length: 7}
    options: {i2cp.leaseSetEncType: 4, "i2cp.reduceOnIdle": true}
    idle_timeout: 90s
`,
		want: config.File{
			Router:  config.Router{Backend: "sam", SAM: "[::1]:7656", Datadir: filepath.Join(dir, "state/i2p")},
			Control: "unix:" + filepath.Join(dir, "state/i2p/ctl/s.sock"),
			Tunnels: []config.Tunnel{{
				Name: "ssh-out", Type: "tcp-client", Listen: "[::1]:2222", Destination: b32,
				Keys:        filepath.Join(dir, "state/i2p/clients/ssh-out.dat"),
				Inbound:     config.Pool{Length: intp(0), Quantity: intp(16), Variance: intp(-7)},
				Outbound:    config.Pool{Length: intp(7)},
				Options:     map[string]string{"i2cp.leaseSetEncType": "4", "i2cp.reduceOnIdle": "true"},
				IdleTimeout: config.Duration(90 * time.Second),
			}},
		},
	}, {
		name: "absolute paths kept, loopback tcp control, listen normalized",
		yaml: `
router: {datadir: /var/lib/i2pbridge, sam: "7656"}
control: localhost:7070
tunnels:
  - {name: a, type: tcp-server, target: "db.lan:05432", keys: /etc/i2pbridge/a.dat}
  - {name: b, type: tcp-client, listen: ":2222", destination: "` + strings.ToUpper(b32[:52]) + `.B32.I2P:022"}
  - {name: c, type: tcp-client, listen: "[0:0:0:0:0:0:0:1]:2223", destination: stats.i2p}
`,
		want: config.File{
			Router:  config.Router{Backend: "sam", SAM: "127.0.0.1:7656", Datadir: "/var/lib/i2pbridge"},
			Control: "localhost:7070",
			Tunnels: []config.Tunnel{
				{Name: "a", Type: "tcp-server", Target: "db.lan:5432", Keys: "/etc/i2pbridge/a.dat"},
				{Name: "b", Type: "tcp-client", Listen: "127.0.0.1:2222", Destination: b32 + ":22"},
				{Name: "c", Type: "tcp-client", Listen: "[::1]:2223", Destination: "stats.i2p"},
			},
		},
	}, {
		name: "empty sections and a merge key",
		yaml: `
router:
control:
tunnels:
  - &base {name: one, type: tcp-client, listen: 1111, destination: a.i2p, inbound: {quantity: 3}}
  - <<: *base
    name: two
    listen: 1112
`,
		want: config.File{
			Router:  config.Router{Backend: "embedded", NetID: 2, Bandwidth: "L", Datadir: data, Reseed: config.Reseed{URLs: config.DefaultReseedURLs}},
			Control: "unix:" + filepath.Join(data, "control.sock"),
			Tunnels: []config.Tunnel{
				{Name: "one", Type: "tcp-client", Listen: "127.0.0.1:1111", Destination: "a.i2p", Inbound: config.Pool{Quantity: intp(3)}},
				{Name: "two", Type: "tcp-client", Listen: "127.0.0.1:1112", Destination: "a.i2p", Inbound: config.Pool{Quantity: intp(3)}},
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, dir, "t.yaml", tt.yaml)
			got, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.want.Path = path
			assertFile(t, got, &tt.want)
		})
	}
}

// assertFile compares everything exported in two Files.
func assertFile(t *testing.T, got, want *config.File) {
	t.Helper()
	if got.Path != want.Path {
		t.Errorf("Path = %q, want %q", got.Path, want.Path)
	}
	if !got.Router.Equal(want.Router) {
		t.Errorf("Router = %+v, want %+v", got.Router, want.Router)
	}
	if got.Control != want.Control {
		t.Errorf("Control = %q, want %q", got.Control, want.Control)
	}
	if len(got.Tunnels) != len(want.Tunnels) {
		t.Fatalf("%d tunnels, want %d", len(got.Tunnels), len(want.Tunnels))
	}
	for i := range got.Tunnels {
		if !reflect.DeepEqual(got.Tunnels[i], want.Tunnels[i]) {
			t.Errorf("tunnels[%d] =\n %+v\nwant\n %+v", i, got.Tunnels[i], want.Tunnels[i])
		}
	}
}

// parseInTemp parses text as t.yaml in the working directory's terms, so
// messages start with "t.yaml:".
func parseInTemp(text string) (*config.File, error) {
	return config.Parse([]byte(text), "t.yaml")
}

func TestParseRejects(t *testing.T) {
	base64Junk := strings.Repeat("A", 517) // base64 of no whole number of bytes
	tests := []struct {
		name, yaml, want string
	}{
		{"empty file", "", `t.yaml: file is empty (it needs at least a tunnels: list)`},
		{"comments only", "# nothing\n", `t.yaml: file is empty (it needs at least a tunnels: list)`},
		{"null document", "~\n", `t.yaml:1: file is empty (it needs at least a tunnels: list)`},
		{"not a mapping", "- a\n- b\n", `t.yaml:1: expected a mapping with router:, control: and tunnels:, found a list`},
		{"two documents", "tunnels: []\n---\ntunnels: []\n", `t.yaml:3: a second YAML document (after ---); put all tunnels in one document`},
		{"syntax error", "router: {}\ntunnels: [a\n", "t.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"scanner error", "router:\n  sam: \"127.0.0.1:7656\n", "t.yaml:2: invalid YAML: found unexpected end of stream"},
		{"block list error", "tunnels:\n  - name: a\n    type: b\n   target: c\n", "t.yaml:2: invalid YAML: did not find expected '-' indicator"},
		{"unknown top-level key", "tunnel: []\n", `t.yaml:1: tunnel: unknown key; did you mean tunnels?`},
		{"unknown key without near match", "routers: {}\nzzzzzzzz: 1\n", "t.yaml:1: routers: unknown key; did you mean router?\n" +
			"t.yaml:2: zzzzzzzz: unknown key (known: control, router, tunnels)"},
		{"repeated key", "control: 127.0.0.1:1\ncontrol: 127.0.0.1:2\n", `t.yaml:2: key control repeated (first at line 1)`},
		{"tunnels is a mapping", "tunnels:\n  ssh: {type: tcp-server}\n", `t.yaml:1: tunnels: expected a list, found a mapping (start each entry with "- ")`},
		{"tunnels is a string", "tunnels: ssh\n", `t.yaml:1: tunnels: expected a list, found "ssh"`},
		{"tunnel is a string", "tunnels: [ssh]\n", `t.yaml:1: tunnels[0]: expected a mapping (key: value lines), found "ssh"`},
		{"empty tunnel", "tunnels:\n  -\n", `t.yaml:2: tunnels[0]: empty entry`},
		{"router is a list", "router: [sam]\ntunnels: []\n", `t.yaml:1: router: expected a mapping (key: value lines), found a list`},
		{"unknown tunnel key", "tunnels:\n  - name: a\n    type: tcp-server\n    target: 1.2.3.4:5\n    taget: x\n",
			`t.yaml:5: tunnels[0].taget: unknown key; did you mean target?`},
		{"missing target", "tunnels:\n  - name: ssh-in\n    type: tcp-server\n",
			`t.yaml:2: tunnels[0].target: missing (tcp-server needs a target host:port)`},
		{"missing listen and destination", "tunnels:\n  - name: c\n    type: tcp-client\n",
			"t.yaml:2: tunnels[0].listen: missing (tcp-client needs a listen [host:]port)\n" +
				"t.yaml:2: tunnels[0].destination: missing (tcp-client needs a destination (name.i2p, b32 address or base64, optional :port))"},
		{"server with listen and destination", "tunnels:\n  - {name: s, type: tcp-server, target: 22, listen: 2222, destination: a.i2p}\n",
			"t.yaml:2: tunnels[0].listen: not used by a tcp-server tunnel (it relays I2P streams to target); remove it\n" +
				"t.yaml:2: tunnels[0].destination: not used by a tcp-server tunnel (it relays I2P streams to target); remove it"},
		{"client with target", "tunnels:\n  - {name: c, type: tcp-client, listen: 1, destination: a.i2p, target: 22}\n",
			`t.yaml:2: tunnels[0].target: not used by a tcp-client tunnel (it relays connections on listen to destination); remove it`},
		{"missing name", "tunnels:\n  - type: tcp-server\n    target: 22\n", `t.yaml:2: tunnels[0].name: missing (every tunnel needs a name)`},
		{"bad name", "tunnels:\n  - {name: a/b, type: tcp-server, target: 22}\n",
			`t.yaml:2: tunnels[0].name: "a/b": use 1 to 64 letters, digits, '.', '_' or '-' (the name is used in file names)`},
		{"name too long", "tunnels:\n  - {name: " + strings.Repeat("n", 65) + ", type: tcp-server, target: 22}\n",
			`t.yaml:2: tunnels[0].name: "` + strings.Repeat("n", 65) + `": use 1 to 64 letters, digits, '.', '_' or '-' (the name is used in file names)`},
		{"duplicate name", "tunnels:\n  - {name: a, type: tcp-server, target: 22}\n  - {name: a, type: tcp-server, target: 23}\n",
			`t.yaml:3: tunnels[1].name: "a" already used by tunnels[0]`},
		{"duplicate name by case", "tunnels:\n  - {name: Web, type: tcp-server, target: 22}\n  - {name: web, type: tcp-server, target: 23}\n",
			`t.yaml:3: tunnels[1].name: "web" already used by tunnels[0] as "Web" (names become file names, so letter case does not count)`},
		{"missing type", "tunnels:\n  - {name: a}\n", `t.yaml:2: tunnels[0].type: missing (one of ` + allTypes + `)`},
		{"unknown type", "tunnels:\n  - {name: a, type: socks}\n", `t.yaml:2: tunnels[0].type: "socks" is not a tunnel type (one of ` + allTypes + `)`},
		{"java type name", "tunnels:\n  - {name: a, type: server, target: 22}\n",
			`t.yaml:2: tunnels[0].type: "server" is not a tunnel type (one of ` + allTypes + `); did you mean tcp-server?`},
		{"target port out of range", "tunnels:\n  - name: a\n    type: tcp-server\n    target: localhost:65536\n",
			`t.yaml:4: tunnels[0].target: "localhost:65536": port "65536" is not a number from 1 to 65535`},
		{"target port zero", "tunnels:\n  - {name: a, type: tcp-server, target: \"127.0.0.1:0\"}\n",
			`t.yaml:2: tunnels[0].target: "127.0.0.1:0": port "0" is not a number from 1 to 65535`},
		{"target bad host", "tunnels:\n  - {name: a, type: tcp-server, target: \"my host:22\"}\n",
			`t.yaml:2: tunnels[0].target: "my host:22": host "my host" is not an IP address or host name`},
		{"target not a value", "tunnels:\n  - name: a\n    type: tcp-server\n    target: [127.0.0.1, 22]\n",
			`t.yaml:4: tunnels[0].target: expected a single value, found a list`},
		{"listen unbracketed ipv6", "tunnels:\n  - {name: a, type: tcp-client, listen: \"::1:2222\", destination: a.i2p}\n",
			`t.yaml:2: tunnels[0].listen: "::1:2222": an IPv6 address needs brackets, e.g. [::1]:2222`},
		{"listen host name", "tunnels:\n  - {name: a, type: tcp-client, listen: \"example.com:2222\", destination: a.i2p}\n",
			`t.yaml:2: tunnels[0].listen: "example.com:2222": host "example.com" must be an IP address or localhost`},
		{"listen port text", "tunnels:\n  - {name: a, type: tcp-client, listen: ssh, destination: a.i2p}\n",
			`t.yaml:2: tunnels[0].listen: "ssh": port "ssh" is not a number from 1 to 65535`},
		{"duplicate listen", "tunnels:\n  - {name: a, type: tcp-client, listen: 2222, destination: a.i2p}\n  - name: b\n    type: tcp-client\n    listen: 127.0.0.1:2222\n    destination: b.i2p\n",
			`t.yaml:5: tunnels[1].listen: port 2222 already used by tunnels[0]`},
		{"listen on wildcard after specific", "tunnels:\n  - {name: a, type: tcp-client, listen: 2222, destination: a.i2p}\n  - {name: b, type: tcp-client, listen: \"0.0.0.0:2222\", destination: b.i2p}\n",
			`t.yaml:3: tunnels[1].listen: port 2222 already used by tunnels[0]`},
		{"listen specific after ipv6 wildcard", "tunnels:\n  - {name: a, type: tcp-client, listen: \"[::]:2222\", destination: a.i2p}\n  - {name: b, type: tcp-client, listen: \"192.168.1.2:2222\", destination: b.i2p}\n",
			`t.yaml:3: tunnels[1].listen: port 2222 already used by tunnels[0]`},
		{"listen localhost vs 127.0.0.1", "tunnels:\n  - {name: a, type: tcp-client, listen: \"localhost:2222\", destination: a.i2p}\n  - {name: b, type: tcp-client, listen: 2222, destination: b.i2p}\n",
			`t.yaml:3: tunnels[1].listen: port 2222 already used by tunnels[0]`},
		{"listen on the tcp control port", "control: 127.0.0.1:7070\ntunnels:\n  - {name: a, type: tcp-client, listen: 7070, destination: a.i2p}\n",
			`t.yaml:3: tunnels[0].listen: port 7070 already used by control`},
		{"listen on the sam port", "router: {backend: sam}\ntunnels:\n  - {name: a, type: tcp-client, listen: 7656, destination: a.i2p}\n",
			`t.yaml:3: tunnels[0].listen: port 7656 already used by router.sam`},
		{"shared keys", "tunnels:\n  - {name: a, type: tcp-server, target: 22, keys: k.dat}\n  - {name: b, type: tcp-client, listen: 1, destination: a.i2p, keys: ./k.dat}\n",
			"t.yaml:3: tunnels[1].keys: " + filepath.Join(mustAbs(t, "data"), "k.dat") + " already used by tunnels[0]: two tunnels cannot share one destination"},
		{"keys collide with a server default", "tunnels:\n  - {name: a, type: tcp-server, target: 22}\n  - {name: b, type: tcp-client, listen: 1, destination: a.i2p, keys: a.dat}\n",
			"t.yaml:3: tunnels[1].keys: " + filepath.Join(mustAbs(t, "data"), "a.dat") + " already used by tunnels[0]: two tunnels cannot share one destination"},
		{"keys with tilde", "tunnels:\n  - {name: a, type: tcp-server, target: 22, keys: ~/a.dat}\n",
			`t.yaml:2: tunnels[0].keys: "~/a.dat": ~ is not expanded; write the full path`},
		{"destination with space", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: foo bar}\n",
			`t.yaml:2: tunnels[0].destination: "foo bar" is not a .i2p name, b32 address or base64 destination`},
		{"destination without .i2p", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: \"stats:80\"}\n",
			`t.yaml:2: tunnels[0].destination: "stats:80" is not a .i2p name, b32 address or base64 destination (did you mean stats.i2p?)`},
		{"destination clearnet url", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: \"http://stats.i2p/\"}\n",
			`t.yaml:2: tunnels[0].destination: "http://stats.i2p/": port "//stats.i2p/" is not a number from 1 to 65535`},
		{"destination short b32", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: abcd.b32.i2p}\n",
			`t.yaml:2: tunnels[0].destination: "abcd.b32.i2p" is not a valid b32 address: data: invalid .b32.i2p name: "abcd.b32.i2p" has 4 characters before .b32.i2p, want 52`},
		{"destination bad label", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: -x.i2p}\n",
			`t.yaml:2: tunnels[0].destination: "-x.i2p" is not a valid .i2p name: a label cannot start or end with '-'`},
		{"destination empty label", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: a..i2p}\n",
			`t.yaml:2: tunnels[0].destination: "a..i2p" is not a valid .i2p name: empty label`},
		{"destination bad port", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: \"a.i2p:http\"}\n",
			`t.yaml:2: tunnels[0].destination: "a.i2p:http": port "http" is not a number from 1 to 65535`},
		{"destination bad base64", "tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: " + base64Junk + "}\n",
			"t.yaml:2: tunnels[0].destination: not a valid base64 destination: " + base64Error(t, base64Junk)},
		{"pool out of range", "tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    inbound:\n      length: 8\n      quantity: 0\n      variance: -8\n    outbound: {quantity: 17, variance: 8, length: -1}\n",
			"t.yaml:6: tunnels[0].inbound.length: 8 is out of range 0..7\n" +
				"t.yaml:7: tunnels[0].inbound.quantity: 0 is out of range 1..16\n" +
				"t.yaml:8: tunnels[0].inbound.variance: -8 is out of range -7..7\n" +
				"t.yaml:9: tunnels[0].outbound.length: -1 is out of range 0..7\n" +
				"t.yaml:9: tunnels[0].outbound.quantity: 17 is out of range 1..16\n" +
				"t.yaml:9: tunnels[0].outbound.variance: 8 is out of range -7..7"},
		{"pool not a number", "tunnels:\n  - {name: a, type: tcp-server, target: 22, inbound: {length: three}}\n",
			`t.yaml:2: tunnels[0].inbound.length: "three" is not a whole number`},
		{"pool not a mapping", "tunnels:\n  - {name: a, type: tcp-server, target: 22, inbound: 3}\n",
			`t.yaml:2: tunnels[0].inbound: expected a mapping (key: value lines), found "3"`},
		{"pool huge number", "tunnels:\n  - {name: a, type: tcp-server, target: 22, inbound: {length: 99999999999999999999}}\n",
			`t.yaml:2: tunnels[0].inbound.length: "99999999999999999999" is not a whole number`},
		{"bad option names", "tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    options:\n      \"a b\": 1\n      \"a=b\": 2\n      \"\": 3\n",
			"t.yaml:6: tunnels[0].options[\"a b\"]: option names cannot contain spaces, control characters or '='\n" +
				"t.yaml:7: tunnels[0].options[\"a=b\"]: option names cannot contain spaces, control characters or '='\n" +
				"t.yaml:8: tunnels[0].options[\"\"]: empty option name"},
		{"option value with newline", "tunnels:\n  - {name: a, type: tcp-server, target: 22, options: {x: \"1\\n2\"}}\n",
			`t.yaml:2: tunnels[0].options["x"]: value contains a control character (it would break the router command line)`},
		{"option without value", "tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    options:\n      x:\n",
			`t.yaml:6: tunnels[0].options["x"]: missing value`},
		{"option duplicates a pool", "tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    inbound: {variance: 1}\n    options: {inbound.lengthVariance: 2}\n",
			`t.yaml:6: tunnels[0].options["inbound.lengthVariance"]: also set by inbound.variance; keep one`},
		{"idle timeout without unit", "tunnels:\n  - {name: a, type: tcp-server, target: 22, idle_timeout: 600}\n",
			`t.yaml:2: tunnels[0].idle_timeout: 600 has no unit: write e.g. "600s" for seconds (a plain number could mean seconds or milliseconds)`},
		{"idle timeout negative", "tunnels:\n  - {name: a, type: tcp-server, target: 22, idle_timeout: -1m}\n",
			`t.yaml:2: tunnels[0].idle_timeout: "-1m" is negative`},
		{"idle timeout words", "tunnels:\n  - {name: a, type: tcp-server, target: 22, idle_timeout: ten minutes}\n",
			`t.yaml:2: tunnels[0].idle_timeout: "ten minutes" is not a duration: write e.g. "90s", "10m", "1h30m" or 0`},
		{"backend unknown", "router:\n  backend: i2cp\ntunnels: []\n", `t.yaml:2: router.backend: "i2cp" is not a backend (use "sam" or "embedded")`},
		{"sam not host:port", "router: {sam: \"127.0.0.1:\"}\ntunnels: []\n", `t.yaml:1: router.sam: "127.0.0.1:": port "" is not a number from 1 to 65535`},
		{"datadir with tilde", "router: {datadir: ~/i2p}\ntunnels: [{name: a, type: tcp-server, target: 22, keys: k.dat}]\n", `t.yaml:1: router.datadir: "~/i2p": ~ is not expanded; write the full path`},
		{"control on the network", "control: 0.0.0.0:7070\ntunnels: []\n",
			`t.yaml:1: control: 0.0.0.0:7070 is reachable from the network; the status endpoint must listen on a loopback address (127.0.0.1 or [::1]) or unix:PATH`},
		{"control on a lan address", "control: 192.168.1.5:7070\ntunnels: []\n",
			`t.yaml:1: control: 192.168.1.5:7070 is reachable from the network; the status endpoint must listen on a loopback address (127.0.0.1 or [::1]) or unix:PATH`},
		{"control on a host name", "control: router.lan:7070\ntunnels: []\n",
			`t.yaml:1: control: router.lan:7070 is reachable from the network; the status endpoint must listen on a loopback address (127.0.0.1 or [::1]) or unix:PATH`},
		{"control on the sam port", "router: {backend: sam}\ncontrol: localhost:7656\ntunnels: []\n", `t.yaml:2: control: port 7656 already used by router.sam`},
		{"control empty unix", "control: \"unix:\"\ntunnels: []\n", `t.yaml:1: control: unix: needs a socket path`},
		{"control garbage", "control: /run/x.sock\ntunnels: []\n", `t.yaml:1: control: "/run/x.sock": port "/run/x.sock" is not a number from 1 to 65535 (or use unix:PATH)`},
		{"alias to itself", "tunnels:\n  - &t {name: a, <<: *t}\n", `t.yaml:2: tunnels[0]: alias *t is used inside its own anchor`},
		{"merge of a non-mapping", "tunnels:\n  - {name: a, <<: [1]}\n", `t.yaml:2: tunnels[0]: << merges mappings only, found "1"`},
		{"non-scalar key", "tunnels:\n  - {[a]: 1, name: a, type: tcp-server, target: 22}\n", `t.yaml:2: tunnels[0]: keys must be plain words, found a list`},
		{"unsupported tag", "tunnels:\n  - {name: !!binary aGVsbG8=, type: tcp-server, target: 22}\n", `t.yaml:2: tunnels[0].name: unsupported YAML tag !!binary`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseInTemp(tt.yaml)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error:\n%s", f, tt.want)
			}
			if f != nil {
				t.Errorf("Parse returned a File with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			var e *config.Error
			if !errors.As(err, &e) || e.File != "t.yaml" {
				t.Errorf("errors.As(*config.Error) = %+v", e)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// base64Error is what router/data says about s, so the expected text does
// not restate another package's messages.
func base64Error(t *testing.T, s string) string {
	t.Helper()
	_, err := data.ParseDestinationBase64(s)
	if err == nil {
		t.Fatalf("%q parsed as a destination", s)
	}
	return err.Error()
}

func TestParseReportsAllErrorsAtOnce(t *testing.T) {
	const text = `router:
  backend: i2cp
  sam: nowhere
control: 10.0.0.1:7070
tunnels:
  - name: a
    type: tcp-server
    listen: 2222
  - name: a
    type: tcp-client
    listen: 2222
    destination: not an address
    inbound: {length: 9}
    idle_timeout: 5
  - name: c
    type: tcp-klient
  - 17
`
	_, err := parseInTemp(text)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not list its errors", err)
	}
	wantLines := []int{2, 3, 4, 6, 8, 9, 11, 12, 13, 14, 16, 17}
	var gotLines []int
	for _, e := range joined.Unwrap() {
		var ce *config.Error
		if !errors.As(e, &ce) {
			t.Fatalf("%v is not a *config.Error", e)
		}
		gotLines = append(gotLines, ce.Line)
	}
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("errors on lines %v, want %v:\n%v", gotLines, wantLines, err)
	}
}

func TestParseAcceptsNoTunnelsWithAWarning(t *testing.T) {
	// A file that names no tunnels loads (with a warning): the supervisor
	// can then run with nothing, e.g. while the user edits.
	f, err := parseInTemp("router: {backend: sam}\ntunnels: []\n")
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Warnings(); !slices.Equal(w, []string{"t.yaml:2: tunnels: no tunnels defined"}) {
		t.Errorf("Warnings = %q", w)
	}
}

func TestWarnings(t *testing.T) {
	const text = `router:
  sam: 10.1.2.3:7656
tunnels:
  - name: a
    type: tcp-client
    listen: 0.0.0.0:2222
    destination: a.i2p
    outbound: {length: 0}
  - name: b
    type: tcp-client
    listen: localhost:2223
    destination: b.i2p
`
	f, err := parseInTemp(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"t.yaml:2: router.sam: 10.1.2.3:7656 is not on this machine: SAM is unencrypted and carries the tunnels' private keys; reach it over a trusted link only",
		"t.yaml:6: tunnels[0].listen: 0.0.0.0:2222 accepts connections from the network: anyone who can reach it can use this tunnel",
		"t.yaml:8: tunnels[0].outbound.length: 0 hops: this end of the tunnel is not anonymous (with an external router; the bundled router builds 1 hop)",
	}
	if got := f.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestControlSocketPathTooLongWarns(t *testing.T) {
	long := "/" + strings.Repeat("d", 120)
	f, err := parseInTemp("router: {datadir: " + long + "}\ntunnels: [{name: a, type: tcp-server, target: 22}]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "t.yaml: control: socket path is 134 bytes long; many systems refuse more than 103: set a shorter control: path"
	if got := f.Warnings(); !slices.Equal(got, []string{want}) {
		t.Errorf("Warnings = %q, want %q", got, want)
	}
}

func TestParseAcceptsBase64Destination(t *testing.T) {
	k, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := k.Destination().Base64()
	for _, dest := range []string{b64, b64 + ":80"} {
		f, err := parseInTemp("tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: \"" + dest + "\"}\n")
		if err != nil {
			t.Fatalf("%s: %v", dest, err)
		}
		if got := f.Tunnels[0].Destination; got != dest {
			t.Errorf("Destination = %q, want %q", got, dest)
		}
	}
}

func TestParseWithoutPathUsesWorkingDirectory(t *testing.T) {
	f, err := config.Parse([]byte("router: {datadir: d}\ntunnels: [{name: a, type: tcp-server, target: 22}]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "" {
		t.Errorf("Path = %q, want empty", f.Path)
	}
	if want := mustAbs(t, "d"); f.Router.Datadir != want {
		t.Errorf("Datadir = %q, want %q", f.Router.Datadir, want)
	}
	_, err = config.Parse([]byte("tunnels: 1\n"), "")
	if want := "line 1: tunnels: expected a list, found \"1\""; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an os.ErrNotExist", err)
	}
}

func TestParseStopsAliasBombs(t *testing.T) {
	// Each level merges the previous one ten times: 10^9 nodes if expanded.
	var b strings.Builder
	b.WriteString("tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    options: &o0 {k: v}\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("  - name: t" + string(rune('0'+i)) + "\n    type: tcp-server\n    target: 22\n    options: &o" + string(rune('0'+i)) + "\n      <<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*o" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	_, err := parseInTemp(b.String())
	if err == nil || !strings.Contains(err.Error(), "document is too complex") {
		t.Errorf("err = %v, want too complex", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestValidateIsIdempotent(t *testing.T) {
	f, err := config.Load(filepath.Join("..", "examples", "ssh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	again := *f
	again.Tunnels = slices.Clone(f.Tunnels)
	if err := again.Validate(); err != nil {
		t.Fatalf("Validate of a loaded file: %v", err)
	}
	assertFile(t, &again, f)
}

func TestValidateBuiltInGo(t *testing.T) {
	dir := t.TempDir()
	f := &config.File{
		Path:    filepath.Join(dir, "x.yaml"),
		Tunnels: []config.Tunnel{{Name: "s", Type: "tcp-server", Target: "22"}, {Name: "c", Type: "tcp-client", Listen: "22"}},
	}
	err := f.Validate()
	want := f.Path + ": tunnels[1].destination: missing (tcp-client needs a destination (name.i2p, b32 address or base64, optional :port))"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %s", err, want)
	}
	if f.Router.Datadir != filepath.Join(dir, "data") || f.Tunnels[0].Keys != filepath.Join(dir, "data", "s.dat") {
		t.Errorf("defaults not applied: %+v", f)
	}
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quickstart.yaml", "ssh.yaml"} {
		if !slices.Contains(files, filepath.Join("..", "examples", want)) {
			t.Errorf("examples/%s is missing", want)
		}
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			f, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			// The embedded router runs alone until it has streaming.
			if len(f.Tunnels) == 0 && f.Router.Backend != config.BackendEmbedded {
				t.Error("no tunnels")
			}
			if w := f.Warnings(); len(w) > 0 {
				t.Errorf("an example should not warn:\n%s", strings.Join(w, "\n"))
			}
		})
	}
}

func TestQuickstartExample(t *testing.T) {
	f, err := config.Load(filepath.Join("..", "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Router.Backend != "embedded" || f.Router.NetID != 2 || len(f.Router.Reseed.URLs) == 0 {
		t.Errorf("router = %+v, want the bundled router on the public network, reseeding", f.Router)
	}
	var servers, clients int
	for _, tu := range f.Tunnels {
		switch {
		case tu.IsServer():
			servers++
		case tu.IsClient():
			clients++
		}
	}
	if servers != 1 || clients != 1 {
		t.Errorf("%d servers and %d clients, want one of each", servers, clients)
	}
}

// TestContractExample loads the example of the configuration contract as it
// is written in the design brief.
func TestContractExample(t *testing.T) {
	text := `router:
  backend: sam              # "sam" (external router over SAMv3) now; "embedded" (bundled router) later
  sam: 127.0.0.1:7656       # SAM bridge address when backend is sam
  datadir: ./data           # keys and state; relative paths are relative to this file's folder
tunnels:
  - name: ssh-in
    type: tcp-server        # I2P streams -> target
    target: 127.0.0.1:22
    keys: ssh.dat           # destination keys, created (0600) on first start if missing
  - name: ssh-out
    type: tcp-client        # local listener -> destination
    listen: 127.0.0.1:2222  # default host 127.0.0.1
    destination: ` + b32 + `:22   # b32, hosts-file name, or base64 destination; port optional
    # keys: omitted -> a transient client destination
    inbound:  {length: 3, quantity: 2}   # per-tunnel pool options (passed to the router)
    outbound: {length: 3, quantity: 2}
`
	dir := t.TempDir()
	f, err := config.Load(writeConfig(t, dir, "tunnels.yaml", text))
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(dir, "data")
	assertFile(t, f, &config.File{
		Path:    filepath.Join(dir, "tunnels.yaml"),
		Router:  config.Router{Backend: "sam", SAM: "127.0.0.1:7656", Datadir: d},
		Control: "unix:" + filepath.Join(d, "control.sock"),
		Tunnels: []config.Tunnel{
			{Name: "ssh-in", Type: "tcp-server", Target: "127.0.0.1:22", Keys: filepath.Join(d, "ssh.dat")},
			{Name: "ssh-out", Type: "tcp-client", Listen: "127.0.0.1:2222", Destination: b32 + ":22",
				Inbound: config.Pool{Length: intp(3), Quantity: intp(2)}, Outbound: config.Pool{Length: intp(3), Quantity: intp(2)}},
		},
	})
	if !f.Tunnels[0].IsServer() || f.Tunnels[0].IsClient() || f.Tunnels[1].IsServer() || !f.Tunnels[1].IsClient() {
		t.Error("IsServer/IsClient disagree with the types")
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"0", 0, ""},
		{"0s", 0, ""},
		{"0.0", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"10m", 10 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"", 0, "empty duration"},
		{"600", 0, `600 has no unit: write e.g. "600s" for seconds (a plain number could mean seconds or milliseconds)`},
		{"1.5", 0, `1.5 has no unit: write e.g. "1.5s" for seconds (a plain number could mean seconds or milliseconds)`},
		{"-5", 0, "-5 is negative"},
		{"-1s", 0, `"-1s" is negative`},
		{"10 m", 0, `"10 m" is not a duration: write e.g. "90s", "10m", "1h30m" or 0`},
		{"forever", 0, `"forever" is not a duration: write e.g. "90s", "10m", "1h30m" or 0`},
	}
	for _, tt := range tests {
		got, err := config.ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDuration(%q) = %v, %v; want error %s", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Duration() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if s := config.Duration(10 * time.Minute).String(); s != "10m0s" {
		t.Errorf("String = %q", s)
	}
}

func TestI2CPOptions(t *testing.T) {
	tests := []struct {
		name string
		t    config.Tunnel
		want map[string]string
	}{
		{"nothing set", config.Tunnel{}, map[string]string{}},
		{"pools and options", config.Tunnel{
			Inbound:  config.Pool{Length: intp(3), Quantity: intp(2), Variance: intp(-1)},
			Outbound: config.Pool{Length: intp(0)},
			Options:  map[string]string{"i2cp.leaseSetEncType": "4,0"},
		}, map[string]string{
			"inbound.length": "3", "inbound.quantity": "2", "inbound.lengthVariance": "-1",
			"outbound.length": "0", "i2cp.leaseSetEncType": "4,0",
		}},
		{"pool wins over options", config.Tunnel{
			Outbound: config.Pool{Quantity: intp(5)},
			Options:  map[string]string{"outbound.quantity": "1", "outbound.length": "2"},
		}, map[string]string{"outbound.quantity": "5", "outbound.length": "2"}},
	}
	for _, tt := range tests {
		got := tt.t.I2CPOptions()
		if got == nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: I2CPOptions = %v, want %v", tt.name, got, tt.want)
		}
		got["x"] = "y" // the caller owns the map
		if _, leaked := tt.t.Options["x"]; leaked {
			t.Errorf("%s: I2CPOptions shares the Options map", tt.name)
		}
	}
}

// TestTunnelEqualSeesEveryField changes each field of a tunnel in turn, so a
// field added later cannot be forgotten by Equal (a reload would then keep
// running the old definition).
func TestTunnelEqualSeesEveryField(t *testing.T) {
	base := config.Tunnel{
		Name: "a", Type: "tcp-client", Listen: "127.0.0.1:1", Destination: "a.i2p",
		Inbound: config.Pool{Length: intp(3)}, Options: map[string]string{"k": "v"},
	}
	clone := func(x config.Tunnel) config.Tunnel {
		l := *x.Inbound.Length
		x.Inbound.Length = &l
		x.Options = map[string]string{"k": "v"}
		return x
	}
	if !base.Equal(clone(base)) {
		t.Fatal("a tunnel differs from its deep copy")
	}
	// Every field, including those of groups embedded inline (the
	// protection, http-server, IRC and proxy settings).
	var paths [][]int
	var collect func(prefix []int, typ reflect.Type)
	collect = func(prefix []int, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			idx := append(slices.Clone(prefix), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				collect(idx, f.Type)
				continue
			}
			paths = append(paths, idx)
		}
	}
	collect(nil, reflect.TypeFor[config.Tunnel]())
	var change func(name string, f reflect.Value)
	change = func(name string, f reflect.Value) {
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Map:
			f.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("w"))
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		case reflect.Pointer: // *int of a Pool
			if f.IsNil() {
				f.Set(reflect.ValueOf(intp(1)))
			} else {
				f.Elem().SetInt(f.Elem().Int() + 1)
			}
		case reflect.Struct: // a Pool or a nested group: change its first field
			change(name, f.Field(0))
		default:
			t.Fatalf("field %s: kind %s not covered by this test", name, f.Kind())
		}
	}
	for _, idx := range paths {
		u := clone(base)
		name := reflect.TypeFor[config.Tunnel]().FieldByIndex(idx).Name
		change(name, reflect.ValueOf(&u).Elem().FieldByIndex(idx))
		if base.Equal(u) || u.Equal(base) {
			t.Errorf("changing %s is not seen by Equal", name)
		}
	}
	a, b := base, clone(base)
	a.Options, b.Options = nil, map[string]string{}
	if !a.Equal(b) {
		t.Error("nil and empty Options differ")
	}
}

func TestRouterEqual(t *testing.T) {
	f := &config.File{Router: config.Router{Backend: "sam", SAM: "127.0.0.1:7656", Datadir: "/d"}, Control: "unix:/a"}
	g := &config.File{Router: f.Router, Control: "unix:/b"}
	if !f.RouterEqual(g) {
		t.Error("same router reported different (Control is not part of it)")
	}
	g.Router.SAM = "127.0.0.1:7657"
	if f.RouterEqual(g) {
		t.Error("different SAM address reported equal")
	}
}

func TestFileTunnelAndResolve(t *testing.T) {
	f := &config.File{Router: config.Router{Datadir: "/var/lib/i2pbridge"}, Tunnels: []config.Tunnel{{Name: "a"}, {Name: "b", Type: "tcp-server"}}}
	if tu, ok := f.Tunnel("b"); !ok || tu.Type != "tcp-server" {
		t.Errorf("Tunnel(b) = %+v, %v", tu, ok)
	}
	if _, ok := f.Tunnel("c"); ok {
		t.Error("Tunnel(c) found")
	}
	for in, want := range map[string]string{
		"":          "",
		"a.b32":     "/var/lib/i2pbridge/a.b32",
		"sub/../k":  "/var/lib/i2pbridge/k",
		"/etc/x//y": "/etc/x/y",
	} {
		if got := f.Router.Resolve(in); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTypes(t *testing.T) {
	if got := config.Types(); !slices.Equal(got, strings.Split(allTypes, ", ")) {
		t.Errorf("Types = %v", got)
	}
}
