// Package config is the YAML schema of i2pbridge: strict decoding (unknown
// keys are errors), defaults, and validation that names the file and the YAML
// path of every problem (`tunnels[1].listen: port 2222 already used by
// tunnels[0]`).
//
// The key names are a contract relied on by docs, examples and outside tests:
// extend, never rename.
//
// Load and Parse go decode → defaults → validate and return every problem at
// once (errors.Join of *Error, "file:line: path: message"). After them all
// paths are absolute and addresses are in canonical form:
//
//   - router.datadir is relative to the config file's folder (default
//     "./data", i.e. <folder of the file>/data);
//   - a tunnel's keys and a "unix:" control socket are relative to the
//     datadir;
//   - "port" and ":port" addresses get host 127.0.0.1;
//   - .i2p names and b32 addresses are lower-cased.
//
// Paths starting with "~" are refused, not expanded (the daemon may run as
// another user). Durations are strings with a unit ("90s", "10m"); see
// Duration.
package config

// File is one configuration file after Load: decoded, defaulted, validated.
// Relative paths in it have been made absolute: router.datadir against the
// file's folder, keys and a unix control socket against the datadir.
type File struct {
	Router Router `yaml:"router"`
	// Control is the status endpoint: "unix:PATH" or a loopback
	// "127.0.0.1:PORT" / "[::1]:PORT" (anything reachable from the network
	// is refused). Default unix:<datadir>/control.sock; a relative unix
	// PATH is relative to the datadir. After Load the PATH is absolute.
	Control string   `yaml:"control"`
	Tunnels []Tunnel `yaml:"tunnels"`

	// Path is the absolute path of the file that was loaded (not YAML).
	Path string `yaml:"-"`

	warnings []string // see Warnings
}

// Router selects and configures the router the tunnels run on.
//
// Each backend has its own keys: SAM is for "sam" only; NetID, NTCP2,
// Floodfill, Reseed, SeedDir, Bandwidth, Transit and the SAM server are for
// "embedded" only (an external router
// is configured in its own files). Setting a key of the other backend is an
// error, so a half-converted file is noticed rather than half-applied.
type Router struct {
	Backend string `yaml:"backend"` // "sam" (external router over SAMv3, default) or "embedded" (the bundled router)
	SAM     string `yaml:"sam"`     // SAM bridge host:port, default 127.0.0.1:7656 (sam only)
	// Datadir holds keys and state. Default ./data; a relative path is
	// relative to the config file's folder (not the working directory).
	// Absolute after Load.
	Datadir string `yaml:"datadir"`

	// The embedded router (config/router.go has the defaults and rules).
	NetID     int    `yaml:"netid"`     // network id, default 2 (the public network); 1..254
	NTCP2     NTCP2  `yaml:"ntcp2"`     // where other routers reach us; empty: unreachable (firewalled)
	Floodfill bool   `yaml:"floodfill"` // serve the netDb to others; needs ntcp2.listen
	Reseed    Reseed `yaml:"reseed"`    // bootstrap from reseed servers and/or files
	// SeedDir is a folder of RouterInfo files to start from (an i2pd
	// netDb or any tree of routerInfo-*.dat / router.info files);
	// relative to the config file's folder, absolute after Load.
	SeedDir string `yaml:"seed_dir"`
	// Bandwidth is the class letter published in our caps (K, L, M, N, O,
	// P or X, see the RouterInfo spec); default L.
	Bandwidth string `yaml:"bandwidth"`
	// Transit limits the tunnels of other routers we carry as a hop.
	Transit Transit `yaml:"transit"`
	// SAMServer is where the bundled router offers the SAMv3 socket API to
	// other programs (e.g. 127.0.0.1:7656, as i2pd and Java I2P); empty
	// (the default) offers none. Loopback only: SAM has no authentication.
	SAMServer string `yaml:"sam_server"`
	// SAMServerUDP is the SAM datagram port (conventionally 7655); empty:
	// datagrams only over the control socket.
	SAMServerUDP string `yaml:"sam_server_udp"`
}

// Transit limits participation in other routers' tunnels.
type Transit struct {
	// MaxTunnels bounds the transit tunnels carried at once; further
	// requests are refused (code 30, "bandwidth", the only code routers
	// send). Absent: 2500, i2pd's limits.transittunnels; 0 carries none.
	MaxTunnels *int `yaml:"max_tunnels"`
}

// Tunnel is one entry of `tunnels:`.
type Tunnel struct {
	// Name identifies the tunnel in logs, the status endpoint and reloads;
	// 1 to 64 of [A-Za-z0-9._-], unique ignoring letter case, since it
	// names files (<name>.b32, default keys <name>.dat).
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`        // tcp-server, tcp-client (more kinds later)
	Target      string `yaml:"target"`      // servers: host:port the streams are relayed to
	Listen      string `yaml:"listen"`      // clients: local host:port, host defaults to 127.0.0.1
	Destination string `yaml:"destination"` // clients: b32, hosts name or base64, optional :port
	// Keys is the destination's private key file (.dat, the format Java
	// I2P and i2pd use), created on first start if missing. A
	// relative path is relative to router.datadir; absolute after Load.
	// Empty means a transient destination (new each start); server types
	// default to <name>.dat so their address survives restarts.
	Keys     string `yaml:"keys"`
	Inbound  Pool   `yaml:"inbound"`
	Outbound Pool   `yaml:"outbound"`
	// Options are extra I2CP/streaming options passed to the router as
	// they are (e.g. "i2cp.leaseSetEncType": "4"). Names cannot contain
	// spaces or '='; the pool names (inbound.length, ...) belong in
	// Inbound/Outbound. See Tunnel.I2CPOptions.
	Options map[string]string `yaml:"options"`
	// IdleTimeout closes a relayed connection with no traffic in either
	// direction for this long ("0" = never). Duration string, e.g. "10m".
	IdleTimeout Duration `yaml:"idle_timeout"`
	HTTPProxy   `yaml:",inline"`
	Outproxy    `yaml:",inline"`
	Protect     `yaml:",inline"` // server protection: allow, deny, limits, unique_local (servers.go)
	HTTPServer  `yaml:",inline"` // http-server: host, strip_response_headers, max_posts_per_minute
	IRC         `yaml:",inline"` // irc-server: cloak_key, webirc_password; irc-client: irc_filter
}

// Pool holds tunnel pool options for one direction; nil fields are left to
// the router's defaults.
type Pool struct {
	Length   *int `yaml:"length"`   // hops, 0..7
	Quantity *int `yaml:"quantity"` // tunnels, 1..16
	Variance *int `yaml:"variance"` // -7..7
}
