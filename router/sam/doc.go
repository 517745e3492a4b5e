// Package sam is a SAMv3 bridge (versions 3.0 to 3.3) on the bundled
// router, so that programs in any language can open I2P destinations,
// streams and datagrams over a local TCP socket (i2p.www
// pages/site/docs/api/samv3.html; i2pd's libi2pd_client/SAM.cpp plays the
// same part there). Parsing is pure: ParseLine and AppendReply (line.go)
// know the grammar, quoting included, and nothing else.
//
// # Message flow
//
// Every socket starts with the handshake, then takes one role:
//
//	-> HELLO VERSION [MIN=3.0] [MAX=3.3]
//	<- HELLO REPLY RESULT=OK VERSION=3.3          (highest common; NOVERSION if none)
//
//	control socket (a session lives exactly as long as it):
//	-> SESSION CREATE STYLE=STREAM|DATAGRAM|RAW|PRIMARY ID=<nick> DESTINATION=TRANSIENT|<privkeys> [SIGNATURE_TYPE=7] [inbound.length=..]
//	<- SESSION STATUS RESULT=OK DESTINATION=<privkeys>      (tunnels up and LeaseSet confirmed)
//	-> NAMING LOOKUP NAME=ME|<b32>|<host>|<base64>  <- NAMING REPLY RESULT=OK NAME=.. VALUE=<base64>
//	-> DATAGRAM SEND DESTINATION=.. SIZE=n\n<n bytes>          (no answer)
//	<- DATAGRAM RECEIVED DESTINATION=.. SIZE=n [FROM_PORT= TO_PORT=]\n<n bytes>
//	<- RAW RECEIVED SIZE=n [FROM_PORT= TO_PORT= PROTOCOL=]\n<n bytes>
//
//	stream sockets, one per stream (after STATUS OK the socket is the stream):
//	-> STREAM CONNECT ID=<nick> DESTINATION=<base64|b32|host> [SILENT=] [TO_PORT=]
//	<- STREAM STATUS RESULT=OK|CANT_REACH_PEER|INVALID_ID|INVALID_KEY|TIMEOUT|I2P_ERROR
//	-> STREAM ACCEPT ID=<nick> [SILENT=]
//	<- STREAM STATUS RESULT=OK, later <peer base64>[ FROM_PORT=n TO_PORT=n]\n
//	-> STREAM FORWARD ID=<nick> PORT=<p> [HOST=] [SILENT=]
//	<- STREAM STATUS RESULT=OK; each stream is connected to HOST:PORT, the peer line first
//
//	a PRIMARY's control socket (SAM 3.3; STYLE=MASTER, the 3.2 name, too):
//	-> SESSION ADD STYLE=STREAM|DATAGRAM|RAW ID=<sub> [FROM_PORT=] [TO_PORT=] [LISTEN_PORT=]
//	         [PORT= [HOST=]] [PROTOCOL=18] [LISTEN_PROTOCOL=18] [HEADER=]
//	<- SESSION STATUS RESULT=OK DESTINATION=<privkeys> ID=<sub> MESSAGE="ADD <sub>"
//	-> SESSION REMOVE ID=<sub>
//	<- SESSION STATUS RESULT=OK DESTINATION=<privkeys> ID=<sub> MESSAGE="REMOVE <sub>"
//
//	any socket after HELLO: DEST GENERATE, NAMING LOOKUP, PING[ text] -> PONG[ text], QUIT/STOP/EXIT
//
// A subsession shares its primary's destination and is used by its ID
// like an ordinary session (STREAM CONNECT|ACCEPT|FORWARD, DATAGRAM|RAW
// SEND with ID=, the UDP port); the primary's own ID carries no data.
// Incoming streams and datagrams go to the subsession of their protocol
// whose LISTEN_PORT (default FROM_PORT) is their to-port, else to the
// one with LISTEN_PORT 0 (primary.go). DATAGRAM and RAW subsessions need
// PORT=: their datagrams are forwarded by UDP, as samv3.html requires.
// Closing the primary's control socket closes its subsessions.
//
// The UDP port (ServeDatagrams) takes "3.x <nick> <dest> [FROM_PORT=]
// [TO_PORT=]\n<payload>" for DATAGRAM and RAW sessions; a session created
// with PORT= has its datagrams forwarded to HOST:PORT by UDP instead of
// written on its control socket.
//
// Every refusal is a RESULT other than OK with a MESSAGE saying why, on
// the reply line the command's family uses (SESSION STATUS for unknown
// commands, as i2pd), also for lines that do not parse. Failed STREAM
// commands close their socket, as the spec says, and so do a failed HELLO,
// a line over MaxLineLen and a DATAGRAM SEND without a usable SIZE (the
// payload cannot be told from commands); other failures leave the socket
// open for the next command (i2pd 2.45 closes it on every error). A
// session takes only the commands of its style: STREAM commands need a
// STREAM session, DATAGRAM SEND a DATAGRAM one, RAW SEND a RAW one.
//
// # Differences from the specification and from i2pd 2.45
//
//   - Only Ed25519 destinations (SIGNATURE_TYPE 7, also the default here
//     instead of DSA_SHA1) with X25519 encryption; other types are refused
//     with a message, never substituted.
//   - No SSL, no USER/PASSWORD (ignored), no HELP, no AUTH, no
//     DATAGRAM2/DATAGRAM3 styles.
//   - PRIMARY sessions work with any agreed version, as MASTER did with
//     i2pd 2.45 (which speaks 3.1 only and has STREAM subsessions only).
//     A STREAM subsession may have any LISTEN_PORT (samv3.html allows
//     only 0 or FROM_PORT; our streams leave from port 0 anyway). A
//     subsession whose FORWARD ended keeps receiving its streams: they
//     wait PendingAccept for an ACCEPT as on any session, where an
//     ordinary session stops listening (the destination listens for its
//     other subsessions). SESSION REMOVE of an unknown ID is INVALID_ID
//     (i2pd: INVALID_KEY, Java: I2P_ERROR).
//   - FROM_PORT of STREAM CONNECT is not carried: our streams leave from
//     port 0. RAW sessions send and receive protocol 18 only.
//   - inbound/outbound.length=0 builds 1-hop tunnels (the router builds no
//     zero-hop ones).
//   - i2pd 2.45 speaks 3.0/3.1; this bridge 3.0–3.3, so SAM 3.2 clients
//     get ports on accepted streams and received datagrams, quoting, PING.
//   - NAMING LOOKUP on a socket without a session uses a shared,
//     unpublished destination opened on first use (i2pd's shared local
//     destination).
//
// # Concurrency
//
// Each client socket has one handler goroutine that owns its state
// (connState); a long command watches the socket (bufio Peek) so that a
// client hanging up cancels it. A session (sessState) owns its
// destination, a dispatcher goroutine that hands incoming streams to the
// FORWARD or to waiting ACCEPT sockets, the relays of its streams and its
// datagram receiver, all ended by its close. A PRIMARY session owns the
// destination, the one listener and the one datagram receiver, and
// routes what they take to its subsessions; each subsession owns the
// hand-over of its streams, its relays and its datagram forwarding.
package sam
