package config

import (
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
)

// Tunnel types of the proxies (see HTTPProxy and Outproxy).
const (
	TypeHTTPProxy = "http-proxy" // the eepproxy: browsers → I2P (and outproxies)
	TypeOutproxy  = "outproxy"   // a server tunnel: I2P → the clearnet
)

// DefaultProxyListen is the listen address of an http-proxy tunnel that
// sets none: the port Java I2P and i2pd use, so browser settings carry over.
const DefaultProxyListen = "127.0.0.1:4444"

// HTTPProxy holds the keys of http-proxy tunnels; it is inline in Tunnel,
// so the YAML stays flat (`addressbook:` next to `listen:`). Other kinds
// must leave them unset.
type HTTPProxy struct {
	// AddressBook lists hosts.txt files (name=base64 lines) used read-only,
	// in precedence order, after the proxy's own local book
	// (<datadir>/<name>.hosts.txt, where saved address helpers go). A
	// relative path is relative to router.datadir; absolute after Load.
	AddressBook []string `yaml:"addressbook"`
	// Jump lists jump-service URL prefixes ("http://stats.i2p/cgi-bin/jump.cgi?a=")
	// offered as links on the unknown-host page; the proxy appends the
	// host name. They are never followed automatically. http://*.i2p only.
	Jump []string `yaml:"jump"`
	// Outproxies are I2P destinations (name.i2p, b32 or base64, optional
	// :port) of HTTP outproxies. Requests for hosts outside I2P go to one
	// of them, the same one per host while it works; with none, such
	// requests get an error page and never a direct connection.
	Outproxies []string `yaml:"outproxies"`
}

// Outproxy holds the keys of outproxy tunnels (inline in Tunnel).
type Outproxy struct {
	// Upstream is an HTTP proxy (host:port, e.g. squid on 127.0.0.1:3128)
	// that requests are forwarded to instead of connecting directly.
	Upstream string `yaml:"upstream"`
	// AllowPrivate lets clients reach loopback, private, link-local and
	// other special-purpose addresses. Off by default: an outproxy must
	// not become a door into the host's own network.
	AllowPrivate bool `yaml:"allow_private"`
	// AllowCIDRs are special-purpose networks made reachable anyway, e.g.
	// "198.18.0.0/15" for a test network; narrower than AllowPrivate.
	AllowCIDRs []string `yaml:"allow_cidrs"`
}

// proxyKeys names the YAML keys of HTTPProxy and Outproxy, for the
// "not used by" messages on other kinds.
var (
	httpProxyKeys = []string{"addressbook", "jump", "outproxies"}
	outproxyKeys  = []string{"upstream", "allow_private", "allow_cidrs"}
)

// checkProxies applies the defaults of the proxy kinds and validates
// their keys; keys of a proxy kind on another kind are errors. It runs
// before the listen address is claimed, so the default listen of an
// http-proxy takes part in the port collision check.
func checkProxies(p *problems, path string, t *Tunnel, datadir string) {
	at := func(key string) string { return field(path, key) }
	// Equal compares with reflect.DeepEqual, and the kind checks with
	// IsZero: an empty list (`jump: []`) must be the same as none.
	for _, l := range []*[]string{&t.AddressBook, &t.Jump, &t.Outproxies, &t.AllowCIDRs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if t.Type != TypeHTTPProxy {
		forbidKeys(p, at, t, httpProxyKeys)
	}
	if t.Type != TypeOutproxy {
		forbidKeys(p, at, t, outproxyKeys)
	}
	switch t.Type {
	case TypeHTTPProxy:
		if t.Listen == "" {
			t.Listen = DefaultProxyListen
		}
		checkAddressBook(p, at("addressbook"), t, datadir)
		checkJump(p, at("jump"), t)
		checkOutproxies(p, at("outproxies"), t)
	case TypeOutproxy:
		if t.Upstream != "" {
			if ep, err := parseEndpoint(t.Upstream, true); err != nil {
				p.errorf(at("upstream"), "%v", err)
			} else {
				t.Upstream = ep.String()
			}
		}
		checkCIDRs(p, at("allow_cidrs"), t)
	}
}

func forbidKeys(p *problems, at func(string) string, t *Tunnel, keys []string) {
	k, known := kinds[t.Type]
	if !known {
		return // the type error says enough
	}
	v := reflect.ValueOf(t).Elem()
	for _, key := range keys {
		if !tunnelField(v, key).IsZero() {
			p.errorf(at(key), "not used by a %s tunnel (it %s); remove it", t.Type, k.about)
		}
	}
}

func checkAddressBook(p *problems, path string, t *Tunnel, datadir string) {
	seen := map[string]int{}
	for i, f := range t.AddressBook {
		ip := item(path, i)
		if f == "" {
			p.errorf(ip, "empty path")
			continue
		}
		if !filepath.IsAbs(f) && p.bad["router.datadir"] {
			continue
		}
		abs, err := resolvePath(datadir, f)
		if err != nil {
			p.errorf(ip, "%v", err)
			continue
		}
		if j, dup := seen[abs]; dup {
			p.errorf(ip, "%s already listed as addressbook[%d]", abs, j)
			continue
		}
		seen[abs] = i
		t.AddressBook[i] = abs
	}
}

func checkJump(p *problems, path string, t *Tunnel) {
	for i, j := range t.Jump {
		ip := item(path, i)
		u, err := url.Parse(j)
		switch {
		case err != nil:
			p.errorf(ip, "%q is not a URL", j)
		case u.Scheme != "http" || u.Opaque != "" || u.User != nil:
			p.errorf(ip, "%q: a jump service is an http:// URL (with no user name)", j)
		case !strings.HasSuffix(strings.ToLower(u.Hostname()), ".i2p"):
			p.errorf(ip, "%q: a jump service must be an .i2p site; a clearnet one would see every name you look up", j)
		case u.Fragment != "":
			p.errorf(ip, "%q: remove the #fragment (the host name is appended to the URL)", j)
		}
	}
}

func checkOutproxies(p *problems, path string, t *Tunnel) {
	seen := map[string]int{}
	for i, o := range t.Outproxies {
		ip := item(path, i)
		d, err := normalizeDestination(o)
		if err != nil {
			p.wrapf(ip, err, "%v", err)
			continue
		}
		if j, dup := seen[d]; dup {
			p.errorf(ip, "already listed as outproxies[%d]", j)
			continue
		}
		seen[d] = i
		t.Outproxies[i] = d
	}
}

func checkCIDRs(p *problems, path string, t *Tunnel) {
	for i, c := range t.AllowCIDRs {
		pf, err := netip.ParsePrefix(c)
		if err != nil {
			p.errorf(item(path, i), "%q is not a network in CIDR form (e.g. 198.18.0.0/15)", c)
			continue
		}
		t.AllowCIDRs[i] = pf.Masked().String()
	}
}
