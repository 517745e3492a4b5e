// Package testnet runs a private I2P network of real i2pd 2.45.1 routers on
// this machine, for the interop tests (deploy/interop) and for people
// (`make testnet-up`, cmd/testnet).
//
// # Layout
//
// One network namespace (Up creates it; nothing connects it to any other
// network) whose lo carries 127.0.0.1 and 198.18.0.1–5/24. Router K:
//
//	NTCP2      198.18.0.K:1234K   (published; SSU2 off)
//	console    127.0.0.1:707K
//	SAM        127.0.0.1:765(5+K) (router 1 has i2pd's usual 7656)
//	router 3   HTTP proxy 127.0.0.1:4444, floodfill
//	router 4   eepsite: i2pd `type = http` server tunnel → 127.0.0.1:8080
//	router 5   floodfill
//
// Everything i2pd would reach outside is off or empty (reseed URLs, NTP,
// UPnP, address book subscriptions); netid is 99. Each router has a
// datadir under the run dir with its i2pd.conf, tunnels.conf and i2pd.log.
//
// # Bring-up
//
// Up removes what a crashed run left (processes recorded in state.json or
// still inside the namespace, the namespace, the run dir), starts every
// router once so it writes router.info, stops them, copies every
// router.info into every other router's netDb, starts them again and waits
// until the eepsite answers through the HTTP proxy. Down stops everything
// with SIGTERM (SIGKILL after StopGrace), deletes the namespace and removes
// the run dir. A flock on RunDir+".lock" keeps two runs with the same run
// dir from tearing each other down.
//
// # Reaching into the namespace
//
// Programs run inside through `ip netns exec` (Namespace.Command); i2pd is
// started that way so its pid is ours to signal. The test process itself
// creates sockets inside the namespace from an OS thread that has joined it
// (Namespace.Listen, Namespace.DialContext) rather than re-executing
// itself: a socket stays in the namespace it was made in, so tests host
// echo servers and the eepsite in-process and compare bytes directly.
// Children of a test get a parent-death SIGKILL from one dedicated thread,
// so a test binary killed by a timeout leaves no i2pd behind; `testnet up`
// (Config.Detach) instead lets them outlive it and records their pids.
//
// # i2pd 2.45.1 quirks this works around
//
//   - addressbook.enabled=false makes SAM segfault on the first incoming
//     stream; an empty subscription list aborts after 3 minutes (see
//     i2pdConf and Router.writeConfig).
//   - A leaseset is published only when an inbound tunnel appears and is
//     dropped if no outbound tunnel exists yet; i2pd's own server tunnels
//     therefore use zero-hop outbound tunnels (see tunnelsConf).
//   - A destination on a floodfill has a single floodfill to publish to;
//     the eepsite and SAM routers are not floodfills (see isFloodfill).
package testnet
