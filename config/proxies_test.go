package config_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"i2pbridge/config"
)

func TestParseProxies(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	path := writeConfig(t, dir, "c.yaml", `
tunnels:
  - name: web
    type: http-proxy
    addressbook: [hosts.txt, /etc/i2p/extra.txt]
    jump: ["http://stats.i2p/cgi-bin/jump.cgi?a="]
    outproxies: [Exit.I2P, `+b32+`:8080]
  - name: second
    type: http-proxy
    listen: 4445
  - name: exit
    type: outproxy
    upstream: 127.0.0.1:3128
    allow_cidrs: [198.18.1.2/15, "fd00::1/8"]
  - name: open
    type: outproxy
    allow_private: true
`)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Tunnel{
		{Name: "web", Type: "http-proxy", Listen: "127.0.0.1:4444", HTTPProxy: config.HTTPProxy{
			AddressBook: []string{filepath.Join(data, "hosts.txt"), "/etc/i2p/extra.txt"},
			Jump:        []string{"http://stats.i2p/cgi-bin/jump.cgi?a="},
			Outproxies:  []string{"exit.i2p", b32 + ":8080"},
		}},
		{Name: "second", Type: "http-proxy", Listen: "127.0.0.1:4445"},
		{Name: "exit", Type: "outproxy", Keys: filepath.Join(data, "exit.dat"), Outproxy: config.Outproxy{
			Upstream: "127.0.0.1:3128", AllowCIDRs: []string{"198.18.0.0/15", "fd00::/8"},
		}},
		{Name: "open", Type: "outproxy", Keys: filepath.Join(data, "open.dat"), Outproxy: config.Outproxy{AllowPrivate: true}},
	}
	if len(f.Tunnels) != len(want) {
		t.Fatalf("%d tunnels", len(f.Tunnels))
	}
	for i := range want {
		if !reflect.DeepEqual(f.Tunnels[i], want[i]) {
			t.Errorf("tunnels[%d] =\n %+v\nwant\n %+v", i, f.Tunnels[i], want[i])
		}
	}
	if !f.Tunnels[0].IsClient() || !f.Tunnels[2].IsServer() {
		t.Error("http-proxy must be a client kind and outproxy a server kind")
	}
	// Validating again changes nothing.
	before := append([]config.Tunnel(nil), f.Tunnels...)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if !before[i].Equal(f.Tunnels[i]) {
			t.Errorf("tunnels[%d] changed on revalidation", i)
		}
	}
}

func TestParseProxiesRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"default listen collides", `
tunnels:
  - {name: a, type: http-proxy}
  - {name: b, type: http-proxy}
`, "t.yaml:4: tunnels[1].listen: port 4444 already used by tunnels[0]"},
		{"proxy keys on a tcp tunnel", `
tunnels:
  - name: a
    type: tcp-client
    listen: 1234
    destination: a.i2p
    outproxies: [x.i2p]
`, "t.yaml:7: tunnels[0].outproxies: not used by a tcp-client tunnel"},
		{"outproxy keys on http-proxy", `
tunnels:
  - name: a
    type: http-proxy
    upstream: 127.0.0.1:3128
`, "t.yaml:5: tunnels[0].upstream: not used by a http-proxy tunnel"},
		{"destination on http-proxy", `
tunnels:
  - {name: a, type: http-proxy, destination: a.i2p}
`, "tunnels[0].destination: not used by a http-proxy tunnel"},
		{"listen on outproxy", `
tunnels:
  - {name: a, type: outproxy, listen: 1234}
`, "tunnels[0].listen: not used by a outproxy tunnel"},
		{"clearnet jump service", `
tunnels:
  - {name: a, type: http-proxy, jump: ["http://jump.example.com/?a="]}
`, "must be an .i2p site"},
		{"https jump service", `
tunnels:
  - {name: a, type: http-proxy, jump: ["https://stats.i2p/?a="]}
`, "a jump service is an http:// URL"},
		{"bad outproxy", `
tunnels:
  - {name: a, type: http-proxy, outproxies: [exit]}
`, `tunnels[0].outproxies[0]: "exit" is not a .i2p name, b32 address or base64 destination (did you mean exit.i2p?)`},
		{"repeated outproxy", `
tunnels:
  - {name: a, type: http-proxy, outproxies: [exit.i2p, EXIT.i2p]}
`, "tunnels[0].outproxies[1]: already listed as outproxies[0]"},
		{"repeated book", `
tunnels:
  - {name: a, type: http-proxy, addressbook: [h.txt, ./h.txt]}
`, "already listed as addressbook[0]"},
		{"empty book path", `
tunnels:
  - {name: a, type: http-proxy, addressbook: [""]}
`, "tunnels[0].addressbook[0]: empty path"},
		{"home in book path", `
tunnels:
  - {name: a, type: http-proxy, addressbook: ["~/hosts.txt"]}
`, "~ is not expanded"},
		{"bad CIDR", `
tunnels:
  - {name: a, type: outproxy, allow_cidrs: [10.0.0.0]}
`, `tunnels[0].allow_cidrs[0]: "10.0.0.0" is not a network in CIDR form`},
		{"bad upstream", `
tunnels:
  - {name: a, type: outproxy, upstream: "squid"}
`, "tunnels[0].upstream:"},
		{"allow_private not a bool", `
tunnels:
  - {name: a, type: outproxy, allow_private: yes please}
`, "tunnels[0].allow_private:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseInTemp(tt.yaml)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

// TestProxyFieldsInEqual: a reload must see a change of any proxy key.
func TestProxyFieldsInEqual(t *testing.T) {
	base := config.Tunnel{Name: "a", Type: "http-proxy", Listen: "127.0.0.1:4444"}
	changes := map[string]func(*config.Tunnel){
		"addressbook":   func(t *config.Tunnel) { t.AddressBook = []string{"/h"} },
		"jump":          func(t *config.Tunnel) { t.Jump = []string{"http://j.i2p/?a="} },
		"outproxies":    func(t *config.Tunnel) { t.Outproxies = []string{"x.i2p"} },
		"upstream":      func(t *config.Tunnel) { t.Upstream = "127.0.0.1:3128" },
		"allow_private": func(t *config.Tunnel) { t.AllowPrivate = true },
		"allow_cidrs":   func(t *config.Tunnel) { t.AllowCIDRs = []string{"10.0.0.0/8"} },
	}
	for name, change := range changes {
		u := base
		change(&u)
		if base.Equal(u) || u.Equal(base) {
			t.Errorf("changing %s is not seen by Equal", name)
		}
	}
	// Every field of the two groups is covered above.
	n := reflect.TypeFor[config.HTTPProxy]().NumField() + reflect.TypeFor[config.Outproxy]().NumField()
	if n != len(changes) {
		t.Errorf("%d proxy fields, %d covered", n, len(changes))
	}
}

// TestProxyEmptyListsAreAbsent: `jump: []` is the same as no jump key, on
// any kind (a YAML round trip writes empty lists).
func TestProxyEmptyListsAreAbsent(t *testing.T) {
	f, err := parseInTemp(`
tunnels:
  - {name: a, type: tcp-server, target: 80, jump: [], outproxies: [], addressbook: [], allow_cidrs: []}
  - {name: b, type: http-proxy, jump: []}
`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Tunnels[0].Jump != nil || f.Tunnels[1].Jump != nil {
		t.Errorf("empty lists kept: %+v", f.Tunnels)
	}
}
