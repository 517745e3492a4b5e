// Package samnet implements i2pnet.Network on top of an external router's
// SAMv3 bridge (i2pd, Java I2P), so the tunnel supervisor and the proxies
// run unchanged against a router they do not embed.
//
// # Message flow
//
// Every SAM socket starts with
//
//	-> HELLO VERSION MIN=3.0 MAX=3.3
//	<- HELLO REPLY RESULT=OK VERSION=3.x
//
// i2pd 2.45 speaks 3.0/3.1 only and answers this with VERSION=3.0; Java I2P
// answers 3.3. Features of 3.2+ (ports, PING, quoted values, concurrent
// ACCEPTs) are used only when negotiated. A Session then holds:
//
//   - one control socket: SESSION CREATE STYLE=STREAM ID=<unique>
//     DESTINATION=<base64 private keys> [options] → SESSION STATUS
//     RESULT=OK (i2pd answers only once the tunnels are built, checking
//     every 20 s). The router keeps the destination while this socket
//     lives. NAMING LOOKUP and, on 3.2+, PING/PONG run here, one command
//     at a time.
//   - one socket per outgoing stream: STREAM CONNECT ID=… DESTINATION=…
//     SILENT=false → STREAM STATUS RESULT=OK, after which the socket is
//     the stream.
//   - a pool of STREAM ACCEPT sockets (see listener): STATUS, then, when
//     a stream arrives, a line with the peer's base64 destination (and
//     FROM_PORT/TO_PORT on 3.2+), then the stream.
//
// # Keys
//
// Transient sessions (SessionConfig.Keys == nil) get Ed25519 + X25519 keys
// generated here once per Session, not DESTINATION=TRANSIENT, so that the
// b32 stays the same when the session is re-created.
//
// # Reconnection
//
// A watcher goroutine per Session waits for the control socket to end
// (router restart, socket dropped, PING unanswered, a command wedged) and
// re-creates the session with the same keys and a new session ID, first at
// once and then with jittered exponential backoff (0.5 s doubling to 30 s).
// Meanwhile Dial and Resolve wait for the session (bounded by their ctx),
// and the listener's Accept keeps blocking; its workers re-arm their
// ACCEPTs once the session is back. Open itself does not retry: an
// unreachable bridge or a refused session is returned to the caller.
//
// Streams do not survive a lost session: the router closes every socket of
// the session when its control socket goes.
package samnet
