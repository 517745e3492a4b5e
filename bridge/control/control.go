// Package control is i2pbridge's local status endpoint: a tiny HTTP/JSON
// server on a unix socket (default) or a loopback TCP port, and the client
// that `i2pbridge status` uses to read it.
//
// The flow is one request: GET /v1/status answers a Status document built
// fresh from the supervisor for every request. The endpoint is read-only; it
// is local because what it reveals (our b32 addresses next to local ports)
// links the user to their destinations, which is exactly what I2P hides.
// That is why Listen refuses non-loopback addresses and makes the socket
// file 0600.
//
// The JSON field names are a contract for scripts: extend, never rename.
package control

import (
	"time"
)

// StatusPath is the one route the endpoint serves.
const StatusPath = "/v1/status"

// Status is the document served at StatusPath.
type Status struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Uptime is a Go duration string rounded to the second ("3h2m1s"),
	// for people reading the raw JSON; scripts should use Started.
	Uptime  string   `json:"uptime"`
	Backend string   `json:"backend"` // router backend, e.g. "sam"
	Tunnels []Tunnel `json:"tunnels"`
	// Router is the embedded router's state; absent with an external
	// router (backend sam), whose own console shows it.
	Router *Router `json:"router,omitempty"`
}

// Router is the embedded router as router.Status reports it, with explicit
// JSON names (this package does not depend on the router).
type Router struct {
	Hash       string    `json:"hash"`            // base64 router hash, as i2pd shows it
	NetID      int       `json:"netid"`           // network id (2 = the public network)
	NTCP2      string    `json:"ntcp2,omitempty"` // published ip:port; empty when firewalled
	Caps       string    `json:"caps"`            // e.g. "LR", "LfR", "LU"
	Floodfill  bool      `json:"floodfill"`
	Routers    int       `json:"routers"`    // known routers, ourselves excluded
	Floodfills int       `json:"floodfills"` // of which floodfills
	LeaseSets  int       `json:"leasesets"`
	Sessions   int       `json:"sessions"`           // open NTCP2 sessions
	Inbound    int       `json:"inbound"`            // of which they dialed
	Outbound   int       `json:"outbound"`           // of which we dialed
	Published  time.Time `json:"published,omitzero"` // last confirmed publish of our RouterInfo
	// ClockSkew counts NTCP2 handshakes refused because a clock was more
	// than 60 s off; many mean this machine's clock is wrong.
	ClockSkew uint64 `json:"clock_skew"`
	// InboundTotal and OutboundTotal count NTCP2 sessions established since
	// start, dialled by the peer and by us.
	InboundTotal    uint64 `json:"inbound_total"`
	OutboundTotal   uint64 `json:"outbound_total"`
	Transit         int    `json:"transit"`          // transit tunnels carried now
	TransitAccepted uint64 `json:"transit_accepted"` // build requests accepted since start
	TransitRefused  uint64 `json:"transit_refused"`  // refused (limit reached or transit off)
	Peers           []Peer `json:"peers,omitempty"`  // routers with open NTCP2 sessions
	// Exploratory is the router's own tunnel pool.
	Exploratory Pool `json:"exploratory"`
	// Clients are the local destinations (one per tunnel, more for a
	// SAM server's sessions) and the routers their tunnels go through.
	Clients []Client `json:"clients,omitempty"`
}

// Client is a local destination on the embedded router.
type Client struct {
	Name    string `json:"name"`
	Address string `json:"address"` // its b32
	Pool    Pool   `json:"pool"`
	// InboundHops and OutboundHops list each tunnel's hops (base64 router
	// hashes) in path order: an inbound tunnel's gateway first, an
	// outbound tunnel's first hop first. The local router is not listed.
	InboundHops  [][]string `json:"inbound_hops,omitempty"`
	OutboundHops [][]string `json:"outbound_hops,omitempty"`
}

// Pool is a tunnel pool's state: live tunnels and what it did since start.
type Pool struct {
	Inbound      int    `json:"inbound"`  // established inbound tunnels
	Outbound     int    `json:"outbound"` // established outbound tunnels
	BuildsOK     uint64 `json:"builds_ok"`
	BuildsFailed uint64 `json:"builds_failed"` // failed, refused or timed out
	TestsPassed  uint64 `json:"tests_passed"`
	TestsFailed  uint64 `json:"tests_failed"`
}

// Peer is a router the embedded router holds NTCP2 sessions with.
type Peer struct {
	Hash     string `json:"hash"`     // base64 router hash
	Inbound  int    `json:"inbound"`  // sessions it dialled
	Outbound int    `json:"outbound"` // sessions we dialled
}

// Tunnel is one tunnel's state as the supervisor reports it. It mirrors
// bridge.TunnelStatus field for field; it is a separate type so that the
// wire format has explicit JSON names and this package does not depend on
// the supervisor.
type Tunnel struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	State       string    `json:"state"`             // starting, running, retrying, stopped, failed
	Address     string    `json:"address,omitempty"` // our destination's b32
	Listen      string    `json:"listen,omitempty"`
	Target      string    `json:"target,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Conns       int       `json:"conns"`
	TotalConns  uint64    `json:"total_conns"`
	BytesIn     uint64    `json:"bytes_in"`  // from I2P
	BytesOut    uint64    `json:"bytes_out"` // to I2P
	Restarts    int       `json:"restarts"`
	LastError   string    `json:"last_error,omitempty"`
	Since       time.Time `json:"since,omitzero"` // when State last changed

	// Rejected (server tunnels): streams and requests refused by
	// protection, by reason ("denied", "rate_minute", ...).
	Rejected map[string]uint64 `json:"rejected,omitempty"`
}
