package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"i2pbridge/router/data"
)

// Defaults applied by Load, Parse and Validate.
const (
	BackendSAM      = "sam"            // external router over SAMv3
	BackendEmbedded = "embedded"       // the bundled router (no tunnels yet)
	DefaultSAM      = "127.0.0.1:7656" // the SAM port of i2pd and Java I2P
	DefaultDatadir  = "./data"         // relative to the config file's folder
	DefaultHost     = "127.0.0.1"      // host of "port" / ":port" addresses
	ControlSocket   = "control.sock"   // default control socket, in the datadir
)

// backends maps each router.backend value to why it cannot be used yet
// ("" = available).
var backends = map[string]string{
	BackendSAM:      "",
	BackendEmbedded: "",
}

// kind describes one tunnel type. Adding a type is one line in kinds (plus
// its constructor in the supervisor): which keys it needs and which make no
// sense for it. Keys are YAML keys of Tunnel (TestKindsNameRealKeys checks).
type kind struct {
	server    bool     // accepts streams from I2P: keys default to <name>.dat
	about     string   // what it does, for error messages
	required  []string // must be set
	forbidden []string // must not be set
}

var kinds = map[string]kind{
	"tcp-server":  {server: true, about: "relays I2P streams to target", required: []string{"target"}, forbidden: []string{"listen", "destination"}},
	"tcp-client":  {about: "relays connections on listen to destination", required: []string{"listen", "destination"}, forbidden: []string{"target"}},
	"http-proxy":  {about: "is an HTTP proxy into I2P", forbidden: []string{"target", "destination"}},
	"outproxy":    {server: true, about: "forwards HTTP proxy requests from I2P to the clearnet", forbidden: []string{"target", "listen", "destination"}},
	"http-server": {server: true, about: "serves I2P HTTP requests from the web server at target", required: []string{"target"}, forbidden: []string{"listen", "destination"}},
	"irc-server":  {server: true, about: "relays I2P IRC users to the IRC server at target", required: []string{"target"}, forbidden: []string{"listen", "destination"}},
	"irc-client":  {about: "relays IRC clients on listen to destination through the leak filter", required: []string{"listen", "destination"}, forbidden: []string{"target"}},
}

// keyHelp says what a required key holds, for "missing" messages.
var keyHelp = map[string]string{
	"target":      "a target host:port",
	"listen":      "a listen [host:]port",
	"destination": "a destination (name.i2p, b32 address or base64, optional :port)",
}

// nameRE: tunnel names become file names (<name>.b32, default <name>.dat).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// maxUnixPath is the longest unix socket path that works everywhere
// (sun_path is 104 bytes with its NUL on macOS and the BSDs, 108 on Linux).
const maxUnixPath = 103

// Load reads the file at path and returns it decoded, defaulted and
// validated (see Parse).
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes one configuration file (data) strictly (unknown keys, wrong shapes
// and more than one YAML document are errors), applies defaults, resolves
// relative paths and validates. path is used in messages as given and,
// made absolute, as File.Path and as the base of a relative router.datadir;
// with path "" the base is the working directory.
//
// On failure it returns every problem at once: errors.Join of *Error, in
// line order, each formatted "file:line: yaml.path: message".
func Parse(data []byte, path string) (*File, error) {
	f := &File{}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		f.Path = abs
	}
	p := newProblems(path)
	doc := parseDocument(p, data)
	if doc == nil {
		err, _ := p.result()
		return nil, err
	}
	if !decodeFile(p, doc, f) {
		// Not a mapping, or too many aliases: validating what little
		// decoded would only add noise.
		err, _ := p.result()
		return nil, err
	}
	f.check(p)
	err, warns := p.result()
	if err != nil {
		return nil, err
	}
	f.warnings = warns
	return f, nil
}

// Validate applies defaults, normalizes addresses, resolves relative paths
// (against the folder of f.Path, or the working directory if Path is "") and
// reports every problem, like Parse but without line numbers. It is for
// Files built in Go; Parse has already called it. Validating a valid File
// again changes nothing.
func (f *File) Validate() error {
	p := newProblems(f.Path)
	f.check(p)
	err, warns := p.result()
	f.warnings = warns
	return err
}

// Warnings lists problems that do not stop the file from loading but that
// the user should see (a listener reachable from the network, zero-hop
// tunnels, ...), formatted like errors. The CLI prints them.
func (f *File) Warnings() []string { return slices.Clone(f.warnings) }

func (f *File) check(p *problems) {
	base, err := f.baseDir()
	if err != nil {
		p.errorf("", "%v", err)
		return
	}
	used := newPorts()
	f.checkRouter(p, base, used)
	f.checkControl(p, used)
	f.checkTunnels(p, used)
}

func (f *File) baseDir() (string, error) {
	if f.Path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("resolving relative paths: %w", err)
		}
		return wd, nil
	}
	abs, err := filepath.Abs(f.Path)
	if err != nil {
		return "", fmt.Errorf("resolving relative paths: %w", err)
	}
	return filepath.Dir(abs), nil
}

func (f *File) checkRouter(p *problems, base string, used *ports) {
	r := &f.Router
	if r.Backend == "" {
		// The bundled router, unless the file names a SAM bridge: then
		// it was written for an external router.
		r.Backend = BackendEmbedded
		if r.SAM != "" {
			r.Backend = BackendSAM
		}
	}
	if why, ok := backends[r.Backend]; !ok {
		p.errorf("router.backend", "%q is not a backend (use %q or %q)", r.Backend, BackendSAM, BackendEmbedded)
	} else if why != "" {
		p.errorf("router.backend", "%q: %s", r.Backend, why)
	}
	if r.Backend == BackendEmbedded {
		f.checkEmbedded(p, base, used)
	} else {
		f.checkSAMOnly(p)
		f.checkSAM(p, used)
	}

	if r.Datadir == "" {
		r.Datadir = DefaultDatadir
	}
	if dir, err := resolvePath(base, r.Datadir); err != nil {
		p.errorf("router.datadir", "%v", err)
		// Paths relative to it cannot be resolved; say so once.
		p.bad["router.datadir"] = true
	} else {
		r.Datadir = dir
	}
}

// checkSAM defaults and validates the SAM bridge address.
func (f *File) checkSAM(p *problems, used *ports) {
	r := &f.Router
	if r.SAM == "" {
		r.SAM = DefaultSAM
	}
	if ep, err := parseEndpoint(r.SAM, true); err != nil {
		p.errorf("router.sam", "%v", err)
	} else {
		r.SAM = ep.String()
		if !ep.loopback() {
			p.warnf("router.sam", "%s is not on this machine: SAM is unencrypted and carries the tunnels' private keys; reach it over a trusted link only", r.SAM)
		} else {
			used.claim(ep, "router.sam")
		}
	}
}

func (f *File) checkControl(p *problems, used *ports) {
	if f.Control == "" {
		f.Control = "unix:" + filepath.Join(f.Router.Datadir, ControlSocket)
	}
	if sock, ok := strings.CutPrefix(f.Control, "unix:"); ok {
		if sock == "" {
			p.errorf("control", "unix: needs a socket path")
			return
		}
		if p.bad["router.datadir"] && !filepath.IsAbs(sock) {
			return
		}
		abs, err := resolvePath(f.Router.Datadir, sock)
		if err != nil {
			p.errorf("control", "%v", err)
			return
		}
		f.Control = "unix:" + abs
		if len(abs) > maxUnixPath {
			p.warnf("control", "socket path is %d bytes long; many systems refuse more than %d: set a shorter control: path", len(abs), maxUnixPath)
		}
		return
	}
	ep, err := parseEndpoint(f.Control, true)
	if err != nil {
		p.errorf("control", "%v (or use unix:PATH)", err)
		return
	}
	if !ep.loopback() {
		p.errorf("control", "%s is reachable from the network; the status endpoint must listen on a loopback address (127.0.0.1 or [::1]) or unix:PATH", f.Control)
		return
	}
	f.Control = ep.String()
	if owner, ok := used.claim(ep, "control"); !ok {
		p.errorf("control", "port %d already used by %s", ep.port, owner)
	}
}

func (f *File) checkTunnels(p *problems, used *ports) {
	// The embedded router alone is a use of its own (a relay, a
	// floodfill); only a sam bridge with nothing to carry is a mistake.
	if len(f.Tunnels) == 0 && !p.failed("tunnels") && f.Router.Backend != BackendEmbedded {
		p.warnf("tunnels", "no tunnels defined")
	}
	names := map[string]int{} // lower-case name -> index
	keyFiles := map[string]int{}
	for i := range f.Tunnels {
		t := &f.Tunnels[i]
		path := item("tunnels", i)
		at := func(key string) string { return field(path, key) }

		nameOK := false
		switch lower := strings.ToLower(t.Name); {
		case t.Name == "":
			p.errorf(at("name"), "missing (every tunnel needs a name)")
		case !nameRE.MatchString(t.Name):
			p.errorf(at("name"), "%q: use 1 to 64 letters, digits, '.', '_' or '-' (the name is used in file names)", t.Name)
		default:
			if j, dup := names[lower]; dup {
				if other := f.Tunnels[j].Name; other != t.Name {
					p.errorf(at("name"), "%q already used by tunnels[%d] as %q (names become file names, so letter case does not count)", t.Name, j, other)
				} else {
					p.errorf(at("name"), "%q already used by tunnels[%d]", t.Name, j)
				}
			} else {
				names[lower] = i
				nameOK = true
			}
		}

		k, known := kinds[t.Type]
		switch {
		case t.Type == "":
			p.errorf(at("type"), "missing (one of %s)", strings.Join(Types(), ", "))
		case !known:
			hint := ""
			if _, ok := kinds["tcp-"+t.Type]; ok {
				hint = fmt.Sprintf("; did you mean tcp-%s?", t.Type)
			}
			p.errorf(at("type"), "%q is not a tunnel type (one of %s)%s", t.Type, strings.Join(Types(), ", "), hint)
		default:
			v := reflect.ValueOf(t).Elem()
			for _, key := range k.required {
				if tunnelField(v, key).IsZero() {
					help := keyHelp[key]
					if help == "" {
						help = key
					}
					p.errorf(at(key), "missing (%s needs %s)", t.Type, help)
				}
			}
			for _, key := range k.forbidden {
				if !tunnelField(v, key).IsZero() {
					p.errorf(at(key), "not used by a %s tunnel (it %s); remove it", t.Type, k.about)
				}
			}
		}
		checkProxies(p, path, t, f.Router.Datadir)

		if t.Target != "" {
			if ep, err := parseEndpoint(t.Target, true); err != nil {
				p.errorf(at("target"), "%v", err)
			} else {
				t.Target = ep.String()
			}
		}
		if t.Listen != "" {
			if ep, err := parseEndpoint(t.Listen, false); err != nil {
				p.errorf(at("listen"), "%v", err)
			} else {
				t.Listen = ep.String()
				if owner, ok := used.claim(ep, path); !ok {
					p.errorf(at("listen"), "port %d already used by %s", ep.port, owner)
				}
				if !ep.loopback() {
					p.warnf(at("listen"), "%s accepts connections from the network: anyone who can reach it can use this tunnel", t.Listen)
				}
			}
		}
		if t.Destination != "" {
			if d, err := normalizeDestination(t.Destination); err != nil {
				p.wrapf(at("destination"), err, "%v", err)
			} else {
				t.Destination = d
			}
		}

		if t.Keys == "" && known && k.server && nameOK {
			// A server's address must survive restarts.
			t.Keys = t.Name + ".dat"
		}
		if t.Keys != "" && (filepath.IsAbs(t.Keys) || !p.bad["router.datadir"]) {
			if kp, err := resolvePath(f.Router.Datadir, t.Keys); err != nil {
				p.errorf(at("keys"), "%v", err)
			} else {
				t.Keys = kp
				if j, dup := keyFiles[kp]; dup {
					p.errorf(at("keys"), "%s already used by tunnels[%d]: two tunnels cannot share one destination", kp, j)
				} else {
					keyFiles[kp] = i
				}
			}
		}

		checkPool(p, at("inbound"), t.Inbound)
		checkPool(p, at("outbound"), t.Outbound)
		checkOptions(p, at("options"), t)
		checkServerKeys(p, path, t)
		if len(t.Options) == 0 {
			t.Options = nil // so Equal needs no special case for {} vs absent
		}
		if t.IdleTimeout < 0 {
			p.errorf(at("idle_timeout"), "%s is negative", t.IdleTimeout)
		}
	}
}

// tunnelField is the field of a Tunnel value with the given YAML key.
func tunnelField(v reflect.Value, key string) reflect.Value {
	return v.FieldByIndex(yamlFields(v.Type())[key])
}

// Pool limits, as enforced by i2pd and Java I2P for client tunnels.
const (
	maxLength   = 7
	minQuantity = 1
	maxQuantity = 16
	maxVariance = 7
)

func checkPool(p *problems, path string, pool Pool) {
	if pool.Length != nil {
		if l := *pool.Length; l < 0 || l > maxLength {
			p.errorf(field(path, "length"), "%d is out of range 0..%d", l, maxLength)
		} else if l == 0 {
			p.warnf(field(path, "length"), "0 hops: this end of the tunnel is not anonymous (with an external router; the bundled router builds 1 hop)")
		}
	}
	if pool.Quantity != nil {
		if q := *pool.Quantity; q < minQuantity || q > maxQuantity {
			p.errorf(field(path, "quantity"), "%d is out of range %d..%d", q, minQuantity, maxQuantity)
		}
	}
	if pool.Variance != nil {
		if v := *pool.Variance; v < -maxVariance || v > maxVariance {
			p.errorf(field(path, "variance"), "%d is out of range -%d..%d", v, maxVariance, maxVariance)
		}
	}
}

func checkOptions(p *problems, path string, t *Tunnel) {
	pools := poolOptions(*t)
	for _, key := range slices.Sorted(maps.Keys(t.Options)) {
		kp := mapKey(path, key)
		switch {
		case key == "":
			p.errorf(kp, "empty option name")
		case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == '=' || r == 0x7f }):
			p.errorf(kp, "option names cannot contain spaces, control characters or '='")
		}
		if strings.ContainsFunc(t.Options[key], func(r rune) bool { return r < ' ' || r == 0x7f }) {
			p.errorf(kp, "value contains a control character (it would break the router command line)")
		}
		if _, dup := pools[key]; dup {
			dir, name, _ := strings.Cut(key, ".")
			if name == "lengthVariance" {
				name = "variance"
			}
			p.errorf(kp, "also set by %s.%s; keep one", dir, name)
		}
	}
}

// resolvePath makes p absolute against base. "~" is refused rather than
// expanded: the daemon may run as another user than the one who wrote it.
func resolvePath(base, p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		return "", fmt.Errorf("%q: ~ is not expanded; write the full path", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%q: path contains a NUL byte", p)
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	return filepath.Join(base, p), nil
}

// endpoint is a parsed host:port.
type endpoint struct {
	host string     // as written, or canonical IP text
	addr netip.Addr // valid when host is an IP address
	port int
}

func (e endpoint) String() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

func (e endpoint) loopback() bool {
	if e.addr.IsValid() {
		return e.addr.Unmap().IsLoopback()
	}
	return strings.EqualFold(e.host, "localhost")
}

// hostnameRE is a DNS name (letters, digits, '-', '_' and dots).
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9._-]{0,251}[A-Za-z0-9_])?$`)

// parseEndpoint parses "[host:]port"; a missing host is 127.0.0.1. With
// names false the host must be an IP address or localhost (what a listener
// can bind to predictably).
func parseEndpoint(s string, names bool) (endpoint, error) {
	host, port := "", s
	if strings.Contains(s, ":") {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return endpoint{}, fmt.Errorf("%q: an IPv6 address needs brackets, e.g. [::1]:2222", s)
		}
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return endpoint{}, fmt.Errorf("%q is not host:port", s)
		}
	}
	n, err := parsePort(port)
	if err != nil {
		return endpoint{}, fmt.Errorf("%q: %w", s, err)
	}
	e := endpoint{host: host, port: n}
	switch {
	case host == "":
		e.host = DefaultHost
		e.addr = netip.MustParseAddr(DefaultHost)
	case strings.EqualFold(host, "localhost"):
		e.host = "localhost"
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			e.addr, e.host = a, a.String()
		} else if !names || !hostnameRE.MatchString(host) {
			if names {
				return endpoint{}, fmt.Errorf("%q: host %q is not an IP address or host name", s, host)
			}
			return endpoint{}, fmt.Errorf("%q: host %q must be an IP address or localhost", s, host)
		}
	}
	return e, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return n, nil
}

// ports finds listeners that would collide: the same host and port, or a
// port taken on the wildcard address (0.0.0.0 or ::) and on any host.
type ports struct {
	exact    map[string]string // host|port -> owner
	wildcard map[int]string    // port -> owner of a wildcard listener
	any      map[int]string    // port -> first owner
}

func newPorts() *ports {
	return &ports{exact: map[string]string{}, wildcard: map[int]string{}, any: map[int]string{}}
}

// claim records owner on ep, or returns the earlier owner it collides with.
func (ps *ports) claim(ep endpoint, owner string) (string, bool) {
	host := strings.ToLower(ep.host)
	wild := false
	if ep.addr.IsValid() {
		a := ep.addr.Unmap()
		host, wild = a.String(), a.IsUnspecified()
	} else if host == "localhost" {
		host = DefaultHost
	}
	key := host + "|" + strconv.Itoa(ep.port)
	switch {
	case ps.exact[key] != "":
		return ps.exact[key], false
	case wild && ps.any[ep.port] != "":
		return ps.any[ep.port], false
	case ps.wildcard[ep.port] != "":
		return ps.wildcard[ep.port], false
	}
	ps.exact[key] = owner
	if wild {
		ps.wildcard[ep.port] = owner
	}
	if ps.any[ep.port] == "" {
		ps.any[ep.port] = owner
	}
	return "", true
}

// i2pAlphabet is I2P's base64 alphabet ('-' and '~' replace '+' and '/').
const i2pAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~="

// minDestBase64 is the base64 length of the smallest Destination (387
// bytes): shorter strings cannot be one.
const minDestBase64 = 516

// normalizeDestination checks a client destination and returns it with the
// host part lower-cased (I2P names are case-insensitive) and the port in
// canonical form.
func normalizeDestination(s string) (string, error) {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		n, err := parsePort(port)
		if err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
		port = ":" + strconv.Itoa(n)
	}
	lower := strings.ToLower(host)
	switch {
	case strings.HasSuffix(lower, data.B32Suffix):
		if _, err := data.ParseB32(lower); err != nil {
			return "", fmt.Errorf("%q is not a valid b32 address: %w", host, err)
		}
		return lower + port, nil
	case strings.HasSuffix(lower, ".i2p"):
		if err := checkI2PName(lower); err != nil {
			return "", fmt.Errorf("%q is not a valid .i2p name: %w", host, err)
		}
		return lower + port, nil
	case len(host) >= minDestBase64 && strings.Trim(host, i2pAlphabet) == "":
		if _, err := data.ParseDestinationBase64(host); err != nil {
			return "", fmt.Errorf("not a valid base64 destination: %w", err)
		}
		return host + port, nil
	}
	hint := ""
	if checkI2PName(lower+".i2p") == nil {
		hint = fmt.Sprintf(" (did you mean %s.i2p?)", lower)
	}
	return "", fmt.Errorf("%q is not a .i2p name, b32 address or base64 destination%s", s, hint)
}

// checkI2PName applies the hosts.txt rules of the I2P naming spec: at most
// 67 characters, dot-separated labels of a-z, 0-9 and '-', no label starting
// or ending with '-'.
func checkI2PName(name string) error {
	if len(name) > 67 {
		return fmt.Errorf("longer than 67 characters")
	}
	labels := strings.Split(strings.TrimSuffix(name, ".i2p"), ".")
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Errorf("empty label")
		case strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
			return fmt.Errorf("only letters, digits, '-' and '.' are allowed")
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("a label cannot start or end with '-'")
		}
	}
	return nil
}
