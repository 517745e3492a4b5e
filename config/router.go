package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// Defaults and limits of the embedded router.
const (
	// DefaultNetID is the public I2P network. Private test networks use
	// another id (i2pd's netid); routers of different ids refuse each
	// other in the NTCP2 handshake.
	DefaultNetID = 2
	// MaxNetID: the id travels as one byte in NTCP2, and Java I2P keeps
	// 255 reserved.
	MaxNetID = 254
)

// NTCP2 is where other routers reach the embedded router.
//
// Both empty (the default) means no listener at all: the router only dials
// out and publishes an address without host (cap U, firewalled). That is the
// safe default: nothing is opened to the network unless asked for, and it is
// enough to use I2P. Routers that others should reach (floodfills, routers
// carrying tunnels for others) set Listen, and Host when Listen is a
// wildcard address.
type NTCP2 struct {
	// Listen is the local "IP:port" to accept NTCP2 on. Use a fixed port:
	// the port is published in our RouterInfo, and a port that changes at
	// every start makes the address other routers stored useless.
	Listen string `yaml:"listen"`
	// Host is the IP address published for other routers to dial; default
	// the IP of Listen, which must then not be 0.0.0.0 or [::]. Needs
	// Listen (the published port is Listen's).
	Host string `yaml:"host"`
}

// Reseed is where the embedded router gets its first RouterInfos from when
// it knows too few (fewer than 25 routers or 5 floodfills).
type Reseed struct {
	// URLs are reseed servers ("https://host/path/"), fetched only when
	// needed; https only. Their su3 files are checked against CertDir.
	URLs []string `yaml:"urls"`
	// Files are local su3, zip or single RouterInfo files, read at every
	// start; relative to the config file's folder.
	Files []string `yaml:"files"`
	// CertDir holds the reseed signers' certificates (*.crt); default the
	// folders an i2pd package installs them in. Relative to the config
	// file's folder.
	CertDir string `yaml:"cert_dir"`
}

// DefaultReseedURLs are the reseed servers of the public network used
// when a config gives no way to bootstrap (https only; each su3 is checked
// against the reseed certificates).
var DefaultReseedURLs = []string{
	"https://reseed.i2pgit.org/",
	"https://reseed2.i2p.net/",
	"https://reseed.diva.exchange/",
	"https://reseed-fr.i2pd.xyz/",
	"https://i2p.novg.net/",
}

// embeddedKeys are the YAML keys of Router that only the embedded router
// uses, for "not used by backend sam" messages.
var embeddedKeys = []string{"netid", "ntcp2", "floodfill", "reseed", "seed_dir", "bandwidth", "transit", "sam_server", "sam_server_udp"}

// bandwidthClasses are the caps letters of the RouterInfo spec, slowest
// first (K under 12 KB/s … X over 2 MB/s).
const bandwidthClasses = "KLMNOPX"

// checkEmbedded defaults and validates the embedded router's keys.
func (f *File) checkEmbedded(p *problems, base string, used *ports) {
	r := &f.Router
	r.Reseed.normalize()
	if r.SAM != "" {
		p.errorf("router.sam", "not used by backend %q (the bundled router needs no SAM bridge); remove it", BackendEmbedded)
	}
	if r.NetID == 0 {
		r.NetID = DefaultNetID
	}
	if r.NetID < 1 || r.NetID > MaxNetID {
		p.errorf("router.netid", "%d is out of range 1..%d (%d is the public I2P network)", r.NetID, MaxNetID, DefaultNetID)
	}

	listenOK := false
	var listenIP netip.Addr
	if n := &r.NTCP2; n.Listen != "" {
		if ep, err := parseEndpoint(n.Listen, false); err != nil {
			p.errorf("router.ntcp2.listen", "%v", err)
		} else {
			n.Listen = ep.String()
			listenOK = true
			listenIP = ep.addr
			if ep.host == "localhost" {
				listenIP = netip.MustParseAddr(DefaultHost)
			}
			if owner, ok := used.claim(ep, "router.ntcp2.listen"); !ok {
				p.errorf("router.ntcp2.listen", "port %d already used by %s", ep.port, owner)
			}
		}
	}
	published := listenIP
	switch n := &r.NTCP2; {
	case n.Host != "" && n.Listen == "":
		p.errorf("router.ntcp2.host", "needs ntcp2.listen too (the published port is the listen port)")
	case n.Host != "":
		a, err := netip.ParseAddr(n.Host)
		if err != nil {
			p.errorf("router.ntcp2.host", "%q is not an IP address (other routers dial the published address as it is)", n.Host)
			break
		}
		if a.IsUnspecified() || a.IsMulticast() {
			p.errorf("router.ntcp2.host", "%s cannot be dialed; publish the address other routers reach this one at", a)
			break
		}
		n.Host = a.Unmap().String()
		published = a.Unmap()
	case listenOK && listenIP.IsUnspecified():
		p.errorf("router.ntcp2.host", "missing: ntcp2.listen %s is a wildcard address, so set the IP address other routers reach this router at", n.Listen)
	}
	if r.NetID == DefaultNetID && published.IsValid() && !published.IsUnspecified() && (!published.IsGlobalUnicast() || published.IsPrivate()) {
		p.warnf("router.ntcp2", "publishing %s on the public network: routers elsewhere cannot reach a loopback or private address", published)
	}
	switch {
	case r.Bandwidth == "":
		r.Bandwidth = "L"
	case len(r.Bandwidth) != 1 || !strings.Contains(bandwidthClasses, r.Bandwidth):
		p.errorf("router.bandwidth", "%q is not a bandwidth class: one of K, L, M, N, O, P, X (K slowest, X over 2 MB/s)", r.Bandwidth)
	}
	if m := r.Transit.MaxTunnels; m != nil && *m < 0 {
		p.errorf("router.transit.max_tunnels", "%d is negative; 0 carries no transit tunnels", *m)
	}
	for _, s := range []struct {
		key string
		v   *string
	}{{"router.sam_server", &r.SAMServer}, {"router.sam_server_udp", &r.SAMServerUDP}} {
		if *s.v == "" {
			continue
		}
		ep, err := parseEndpoint(*s.v, false)
		switch {
		case err != nil:
			p.errorf(s.key, "%v", err)
		case !ep.loopback():
			p.errorf(s.key, "%s is reachable from the network; SAM has no authentication, so it listens on a loopback address only (127.0.0.1 or [::1])", *s.v)
		default:
			*s.v = ep.String()
			if s.key == "router.sam_server" {
				if owner, ok := used.claim(ep, s.key); !ok {
					p.errorf(s.key, "port %d already used by %s", ep.port, owner)
				}
			}
		}
	}
	if r.SAMServerUDP != "" && r.SAMServer == "" {
		p.errorf("router.sam_server_udp", "needs sam_server too (datagram sessions are made on the SAM socket)")
	}
	if r.Floodfill && r.NTCP2.Listen == "" {
		p.errorf("router.floodfill", "a floodfill must accept connections: set ntcp2.listen (and ntcp2.host if it is a wildcard address)")
	}

	for i, u := range r.Reseed.URLs {
		if err := checkReseedURL(u); err != nil {
			p.errorf(item("router.reseed.urls", i), "%v", err)
		}
	}
	for i, file := range r.Reseed.Files {
		if file == "" {
			p.errorf(item("router.reseed.files", i), "empty file name")
			continue
		}
		if abs, err := resolvePath(base, file); err != nil {
			p.errorf(item("router.reseed.files", i), "%v", err)
		} else {
			r.Reseed.Files[i] = abs
		}
	}
	resolveOptional(p, base, "router.reseed.cert_dir", &r.Reseed.CertDir)
	resolveOptional(p, base, "router.seed_dir", &r.SeedDir)
	if r.SeedDir == "" && len(r.Reseed.Files) == 0 && len(r.Reseed.URLs) == 0 && !p.failed("router") {
		if r.NetID == DefaultNetID {
			// A router with nothing to start from joins the public
			// network through the usual reseed servers (checked against
			// the reseed certificates an i2pd package installs).
			r.Reseed.URLs = slices.Clone(DefaultReseedURLs)
		} else {
			p.warnf("router", "no reseed urls, reseed files or seed_dir: a new router on netid %d knows no other router and cannot join its network", r.NetID)
		}
	}

}

// checkSAMOnly reports embedded-router keys in a file whose backend is sam:
// the external router has its own configuration, and silently ignoring
// them would hide a half-converted file.
func (f *File) checkSAMOnly(p *problems) {
	f.Router.Reseed.normalize()
	v := reflect.ValueOf(f.Router)
	fields := yamlFields(v.Type())
	for _, key := range embeddedKeys {
		if !v.FieldByIndex(fields[key]).IsZero() {
			p.errorf(field("router", key), "used by backend %q only (an external router is configured in its own files); remove it", BackendEmbedded)
		}
	}
}

// resolveOptional makes a non-empty path absolute against base.
func resolveOptional(p *problems, base, path string, v *string) {
	if *v == "" {
		return
	}
	abs, err := resolvePath(base, *v)
	if err != nil {
		p.errorf(path, "%v", err)
		return
	}
	*v = abs
}

// checkReseedURL accepts https URLs with a host. Plain http is refused: the
// su3 signature protects the content, but anyone on the path would see which
// new router is asking and could stall its bootstrap.
func checkReseedURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case !strings.EqualFold(u.Scheme, "https"):
		return fmt.Errorf("%q: reseed servers must be https:// URLs", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q: user names and passwords in reseed URLs are not supported", s)
	}
	return nil
}

// normalize makes empty lists nil: "urls: []" is the same as no urls (a
// marshalled File writes it so), and Router.Equal compares with
// reflect.DeepEqual.
func (r *Reseed) normalize() {
	if len(r.URLs) == 0 {
		r.URLs = nil
	}
	if len(r.Files) == 0 {
		r.Files = nil
	}
}
