// Package outproxy connects I2P users to the clearnet through HTTP
// outproxies that are themselves I2P destinations.
//
// Client side (Pool): the eepproxy sends requests for non-I2P hosts to one
// of the configured outproxies. The choice is sticky per target host (a
// site sees one exit for a visit; zzz's requirement in i2pd #1830), random
// for a new host, and fails over to another outproxy when the chosen one
// cannot be reached; a failed outproxy is skipped for a cooldown. There is
// no fallback to a direct connection: with no outproxy, or none reachable,
// the request fails (ErrNoOutproxy, ErrAllFailed) and the eepproxy shows
// an error page.
//
// Server side (Server, tunnel type "outproxy"): a server tunnel whose
// streams speak the HTTP proxy protocol, absolute-form requests and
// CONNECT, forwarded to the clearnet directly or through an upstream HTTP
// proxy such as squid. Loopback, private, link-local and the other
// special-purpose networks are refused unless allowed (Guard), and the
// check runs on the address actually dialed, after name resolution.
//
//	browser ─HTTP─> eepproxy ─I2P stream─> outproxy tunnel ─TCP─> site
//	                 (Pool)                  (Server, Guard)   (or upstream)
package outproxy
