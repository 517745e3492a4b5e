package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"i2pbridge/config"
)

func TestEmbeddedRouterDefaults(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		yaml  string
		want  config.Router // Datadir is filled in by the test when empty
		warns []string
	}{{
		name: "minimal: public network, firewalled, bootstraps from the default reseed servers",
		yaml: "router: {backend: embedded}\n",
		want: config.Router{Backend: "embedded", NetID: 2, Bandwidth: "L", Reseed: config.Reseed{URLs: config.DefaultReseedURLs}},
	}, {
		name: "no router section at all: the bundled router",
		yaml: "tunnels: []\n",
		want: config.Router{Backend: "embedded", NetID: 2, Bandwidth: "L", Reseed: config.Reseed{URLs: config.DefaultReseedURLs}},
	}, {
		name:  "a sam address without a backend means backend sam",
		yaml:  "router: {sam: 127.0.0.1:7657}\ntunnels: []\n",
		want:  config.Router{Backend: "sam", SAM: "127.0.0.1:7657"},
		warns: []string{"t.yaml:2: tunnels: no tunnels defined"},
	}, {
		name: "private network without seeds: warned about bootstrap",
		yaml: "router: {backend: embedded, netid: 99}\n",
		want: config.Router{Backend: "embedded", NetID: 99, Bandwidth: "L"},
		warns: []string{"t.yaml:1: router: no reseed urls, reseed files or seed_dir: " +
			"a new router on netid 99 knows no other router and cannot join its network"},
	}, {
		name: "everything set, paths relative to the file's folder",
		yaml: `router:
  backend: embedded
  netid: 99
  ntcp2: {listen: "0.0.0.0:12345", host: "198.18.0.100"}
  floodfill: true
  reseed:
    urls: [https://reseed.example.org/]
    files: [seeds.su3, /abs/more.zip]
    cert_dir: certs
  seed_dir: seeds/netDb
  bandwidth: O
  transit: {max_tunnels: 0}
`,
		want: config.Router{
			Backend: "embedded", NetID: 99,
			NTCP2:     config.NTCP2{Listen: "0.0.0.0:12345", Host: "198.18.0.100"},
			Floodfill: true,
			Reseed: config.Reseed{
				URLs:    []string{"https://reseed.example.org/"},
				Files:   []string{filepath.Join(dir, "seeds.su3"), "/abs/more.zip"},
				CertDir: filepath.Join(dir, "certs"),
			},
			SeedDir:   filepath.Join(dir, "seeds", "netDb"),
			Bandwidth: "O",
			Transit:   config.Transit{MaxTunnels: new(0)},
		},
	}, {
		name: "listen host is published when host is empty; port-only means 127.0.0.1",
		yaml: "router: {backend: embedded, netid: 99, ntcp2: {listen: 4567}, seed_dir: s}\n",
		want: config.Router{Backend: "embedded", NetID: 99, NTCP2: config.NTCP2{Listen: "127.0.0.1:4567"}, SeedDir: filepath.Join(dir, "s"), Bandwidth: "L"},
	}, {
		name: "a loopback address on the public network is a warning",
		yaml: "router: {backend: embedded, ntcp2: {listen: \"192.168.1.2:4567\"}, seed_dir: s}\n",
		want: config.Router{Backend: "embedded", NetID: 2, NTCP2: config.NTCP2{Listen: "192.168.1.2:4567"}, SeedDir: filepath.Join(dir, "s"), Bandwidth: "L"},
		warns: []string{"t.yaml:1: router.ntcp2: publishing 192.168.1.2 on the public network: " +
			"routers elsewhere cannot reach a loopback or private address"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse([]byte(tt.yaml), filepath.Join(dir, "t.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want.Datadir == "" {
				want.Datadir = filepath.Join(dir, "data")
			}
			if !f.Router.Equal(want) {
				t.Errorf("Router = %+v\nwant     %+v", f.Router, want)
			}
			// Warnings carry the path as given; strip the folder.
			var warns []string
			for _, w := range f.Warnings() {
				warns = append(warns, strings.TrimPrefix(w, dir+string(filepath.Separator)))
			}
			if !slices.Equal(warns, tt.warns) {
				t.Errorf("Warnings = %q\nwant       %q", warns, tt.warns)
			}
			// Validating again changes nothing (the CLI revalidates on reload).
			again := *f
			if err := again.Validate(); err != nil || !again.Router.Equal(f.Router) {
				t.Errorf("Validate again: %v, %+v", err, again.Router)
			}
		})
	}
}

func TestEmbeddedRouterRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"sam key", "router: {backend: embedded, sam: 127.0.0.1:7656, seed_dir: s}\n",
			`t.yaml:1: router.sam: not used by backend "embedded" (the bundled router needs no SAM bridge); remove it`},
		{"netid too big", "router:\n  backend: embedded\n  netid: 255\n  seed_dir: s\n",
			`t.yaml:3: router.netid: 255 is out of range 1..254 (2 is the public I2P network)`},
		{"netid negative", "router: {backend: embedded, netid: -1, seed_dir: s}\n",
			`t.yaml:1: router.netid: -1 is out of range 1..254 (2 is the public I2P network)`},
		{"listen not host:port", "router:\n  backend: embedded\n  seed_dir: s\n  ntcp2:\n    listen: \"1.2.3.4:\"\n",
			`t.yaml:5: router.ntcp2.listen: "1.2.3.4:": port "" is not a number from 1 to 65535`},
		{"listen on a name", "router: {backend: embedded, seed_dir: s, ntcp2: {listen: \"router.lan:4567\"}}\n",
			`t.yaml:1: router.ntcp2.listen: "router.lan:4567": host "router.lan" must be an IP address or localhost`},
		{"wildcard listen without host", "router:\n  backend: embedded\n  seed_dir: s\n  ntcp2:\n    listen: \"[::]:4567\"\n",
			`t.yaml:4: router.ntcp2.host: missing: ntcp2.listen [::]:4567 is a wildcard address, so set the IP address other routers reach this router at`},
		{"host without listen", "router:\n  backend: embedded\n  seed_dir: s\n  ntcp2:\n    host: 198.18.0.1\n",
			`t.yaml:5: router.ntcp2.host: needs ntcp2.listen too (the published port is the listen port)`},
		{"host is a name", "router: {backend: embedded, seed_dir: s, ntcp2: {listen: \"0.0.0.0:4567\", host: i2p.example.org}}\n",
			`t.yaml:1: router.ntcp2.host: "i2p.example.org" is not an IP address (other routers dial the published address as it is)`},
		{"host is a wildcard", "router: {backend: embedded, seed_dir: s, ntcp2: {listen: \"0.0.0.0:4567\", host: 0.0.0.0}}\n",
			`t.yaml:1: router.ntcp2.host: 0.0.0.0 cannot be dialed; publish the address other routers reach this one at`},
		{"listen collides with control", "router: {backend: embedded, seed_dir: s, ntcp2: {listen: 7070}}\ncontrol: 127.0.0.1:7070\n",
			`t.yaml:2: control: port 7070 already used by router.ntcp2.listen`},
		{"bandwidth word", "router: {backend: embedded, seed_dir: s, bandwidth: fast}\n",
			`t.yaml:1: router.bandwidth: "fast" is not a bandwidth class: one of K, L, M, N, O, P, X (K slowest, X over 2 MB/s)`},
		{"bandwidth lower case", "router: {backend: embedded, seed_dir: s, bandwidth: o}\n",
			`t.yaml:1: router.bandwidth: "o" is not a bandwidth class: one of K, L, M, N, O, P, X (K slowest, X over 2 MB/s)`},
		{"transit negative", "router:\n  backend: embedded\n  seed_dir: s\n  transit:\n    max_tunnels: -5\n",
			`t.yaml:5: router.transit.max_tunnels: -5 is negative; 0 carries no transit tunnels`},
		{"transit unknown key", "router: {backend: embedded, seed_dir: s, transit: {share: 80}}\n",
			`t.yaml:1: router.transit.share: unknown key (known: max_tunnels)`},
		{"sam server on the network", "router: {backend: embedded, seed_dir: s, sam_server: \"0.0.0.0:7656\"}\n",
			`t.yaml:1: router.sam_server: 0.0.0.0:7656 is reachable from the network; SAM has no authentication, so it listens on a loopback address only (127.0.0.1 or [::1])`},
		{"sam server udp alone", "router: {backend: embedded, seed_dir: s, sam_server_udp: 7655}\n",
			`t.yaml:1: router.sam_server_udp: needs sam_server too (datagram sessions are made on the SAM socket)`},
		{"sam server on the ntcp2 port", "router: {backend: embedded, seed_dir: s, ntcp2: {listen: 7656}, sam_server: 7656}\n",
			`t.yaml:1: router.sam_server: port 7656 already used by router.ntcp2.listen`},
		{"floodfill without listen", "router:\n  backend: embedded\n  seed_dir: s\n  floodfill: true\n",
			`t.yaml:4: router.floodfill: a floodfill must accept connections: set ntcp2.listen (and ntcp2.host if it is a wildcard address)`},
		{"reseed over http", "router:\n  backend: embedded\n  reseed:\n    urls:\n      - https://ok.example/\n      - http://reseed.example/\n",
			`t.yaml:6: router.reseed.urls[1]: "http://reseed.example/": reseed servers must be https:// URLs`},
		{"reseed url without host", "router: {backend: embedded, reseed: {urls: [\"https:///x\"]}}\n",
			`t.yaml:1: router.reseed.urls[0]: "https:///x" has no host`},
		{"reseed url with password", "router: {backend: embedded, reseed: {urls: [\"https://u:p@r.example/\"]}}\n",
			`t.yaml:1: router.reseed.urls[0]: "https://u:p@r.example/": user names and passwords in reseed URLs are not supported`},
		{"reseed url garbage", "router: {backend: embedded, reseed: {urls: [\"https://[x/\"]}}\n",
			`t.yaml:1: router.reseed.urls[0]: "https://[x/" is not a URL`},
		{"reseed file empty", "router: {backend: embedded, reseed: {files: [\"\"]}}\n",
			`t.yaml:1: router.reseed.files[0]: empty file name`},
		{"reseed file with tilde", "router: {backend: embedded, reseed: {files: [~/seeds.su3]}}\n",
			`t.yaml:1: router.reseed.files[0]: "~/seeds.su3": ~ is not expanded; write the full path`},
		{"cert dir with tilde", "router: {backend: embedded, seed_dir: s, reseed: {cert_dir: ~/c}}\n",
			`t.yaml:1: router.reseed.cert_dir: "~/c": ~ is not expanded; write the full path`},
		{"seed dir with tilde", "router: {backend: embedded, seed_dir: ~/netDb}\n",
			`t.yaml:1: router.seed_dir: "~/netDb": ~ is not expanded; write the full path`},
		{"reseed urls not a list", "router: {backend: embedded, reseed: {urls: https://r.example/}}\n",
			`t.yaml:1: router.reseed.urls: expected a list, found "https://r.example/"`},
		{"unknown ntcp2 key", "router: {backend: embedded, seed_dir: s, ntcp2: {port: 1}}\n",
			`t.yaml:1: router.ntcp2.port: unknown key; did you mean host?`},
		{"embedded keys with sam",
			"router:\n  backend: sam\n  netid: 99\n  ntcp2: {listen: 1234}\n  floodfill: true\n  reseed: {files: [a]}\n  seed_dir: s\ntunnels: []\n",
			`t.yaml:3: router.netid: used by backend "embedded" only (an external router is configured in its own files); remove it` + "\n" +
				`t.yaml:4: router.ntcp2: used by backend "embedded" only (an external router is configured in its own files); remove it` + "\n" +
				`t.yaml:5: router.floodfill: used by backend "embedded" only (an external router is configured in its own files); remove it` + "\n" +
				`t.yaml:6: router.reseed: used by backend "embedded" only (an external router is configured in its own files); remove it` + "\n" +
				`t.yaml:7: router.seed_dir: used by backend "embedded" only (an external router is configured in its own files); remove it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseInTemp(tt.yaml)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error:\n%s", f.Router, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestRouterEqualSeesEmbeddedFields: a reload compares routers with Equal
// to tell the user that router settings need a restart.
func TestRouterEqualSeesEmbeddedFields(t *testing.T) {
	base := config.Router{Backend: "embedded", NetID: 2, Reseed: config.Reseed{URLs: []string{"https://a/"}}}
	changes := map[string]func(r *config.Router){
		"netid":        func(r *config.Router) { r.NetID = 99 },
		"ntcp2.listen": func(r *config.Router) { r.NTCP2.Listen = "127.0.0.1:1" },
		"ntcp2.host":   func(r *config.Router) { r.NTCP2.Host = "1.2.3.4" },
		"floodfill":    func(r *config.Router) { r.Floodfill = true },
		"reseed.urls":  func(r *config.Router) { r.Reseed.URLs = []string{"https://b/"} },
		"reseed.files": func(r *config.Router) { r.Reseed.Files = []string{"/f"} },
		"cert_dir":     func(r *config.Router) { r.Reseed.CertDir = "/c" },
		"seed_dir":     func(r *config.Router) { r.SeedDir = "/s" },
	}
	for name, change := range changes {
		r := base
		r.Reseed.URLs = slices.Clone(base.Reseed.URLs)
		if !r.Equal(base) {
			t.Fatalf("a copy differs")
		}
		change(&r)
		if r.Equal(base) {
			t.Errorf("changing %s is not seen", name)
		}
	}
}
