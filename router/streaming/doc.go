// Package streaming implements the I2P streaming protocol: TCP-like,
// reliable, ordered, authenticated byte streams between destinations over
// the unreliable, unordered messages that garlic and tunnels carry. It is
// independent of how packets travel: a Manager per local destination sends
// through a PacketConn and is fed with Deliver, and streams are exposed as
// net.Conn (with CloseWrite) and net.Listener.
//
// Specification: i2p/i2p.www i2p2www/spec/streaming.rst (§"Packet Format",
// §"Flags and Option Data Fields", §"Variable Length Signature Notes");
// i2p2www/pages/site/docs/api/streaming.html (setup, MTU, windowing,
// close, ping/pong, parameters); proposals/155-streaming-mtu-ecies.rst.
// Where they and i2pd 2.45.0 (libi2pd/Streaming.cpp, Streaming.h) differ,
// we do what keeps i2pd working; the differences are listed below.
//
// # Files
//
//	packet.go  the packet codec (Parse/Append/Len; no I/O)
//	sign.go    signing and verifying packets
//	send.go    sequence numbers, packets in flight, congestion window, RTO
//	recv.go    reassembly and the ACK/NACK fields
//	conn.go    a stream: its state machine and run loop
//	netconn.go the stream as a net.Conn (Read, Write, CloseWrite, deadlines)
//	buffer.go  byte queues and deadlines
//	manager.go the per-destination Manager: dispatch, Dial, Listener, pings
//	config.go  Config and defaults, PacketConn, Addr
//	errors.go  sentinel errors
//
// Package streamingtest is an in-memory network of Managers with seeded
// loss, duplication, delay and reordering, for tests.
//
// # Message flow
//
//	dialer                                          acceptor
//	SYN seq 0 (FROM, MAXSIZE, SIG, NO_ACK) [+data] ─▶ stream created, FROM verified
//	[data seq 1.. sendStreamId 0, queued until SYN] ─▶
//	                  ◀─ SYN seq 0 (FROM, MAXSIZE, SIG), ackThrough 0 [+data]
//	data seq n, ackThrough/NACKs piggybacked       ◀─▶ data, plain ACKs (seq 0)
//	CLOSE (SIG) after our data                     ─▶ Read gives io.EOF
//	                  ◀─ ... more data, then CLOSE (SIG)
//	ACK of the CLOSE                               ─▶ both done
//
// Any packet may combine SYN, data and CLOSE. RESET (signed) aborts. Each
// stream has one goroutine, its run loop, which owns all protocol state;
// Read, Write, Close and Deliver only exchange bytes and requests with it.
//
// # Behaviour
//
// Windows count packets: slow start from Config.InitialWindow (6, as
// i2pd) to ssthresh, then +1/cwnd per ACKed packet, up to MaxWindow (256;
// i2pd stops at 128). The RTO follows RFC 6298 from an initial 9 s, with
// Karn's rule. ACKs are selective: everything up to ackThrough that is not
// NACKed has arrived. A packet NACKed twice is retransmitted at once (fast
// retransmit) and the window halves once per loss episode; an RTO resends
// what is overdue and restarts from one packet (ssthresh is cut on the
// first timeout of a streak only, RFC 5681 §3.1). On the 2nd, 4th, …
// timeout in a row the stream asks a PacketConn that is a PathSwitcher for
// another path (the destination moves to another lease and outbound
// tunnel: a dead tunnel hop) and restarts its timer from the measured
// RTO. After MaxResends retransmissions of a packet, once it has waited
// MinGiveUp (60 s) for its ACK, the stream fails with ErrTimeout.
//
// The receiver keeps out-of-order packets, NACKs gaps at once, and delays
// in-order ACKs by min(RTT/10, AckDelay) or until AckEvery packets. Above
// half of MaxReceiveBuffer it chokes the peer (DELAY 60001 in every
// packet); a choked sender keeps one packet in flight as a probe and
// slow-starts when unchoked. A stream that hears nothing for
// InactivityTimeout probes the peer and fails if it never answers.
//
// MTU: we announce Config.MTU (default 1812) in MAXSIZE, send at most the
// smaller of it and the peer's MAXSIZE (1730 before the peer's SYN is
// seen), and accept packets of any size.
//
// # i2pd 2.45 and the specification disagree (we follow i2pd where it matters)
//
//   - MTU: proposal 155 says 1820 over ECIES; i2pd (and Java) use 1812.
//     i2pd ignores the MAXSIZE it receives and always sends 1812 over
//     ratchets, so we accept any size; we do honour MAXSIZE when sending.
//   - Half-close: the spec and Java close one direction per CLOSE. i2pd
//     answers a CLOSE with its own CLOSE and terminates the stream,
//     dropping whatever it had not sent; CloseWrite toward i2pd therefore
//     ends both directions.
//   - SYN+CLOSE: i2pd answers it with a signed CLOSE at sequence 0 without
//     SYN, which by the spec's rule would be a plain ACK; before we have
//     anything from the peer we take it as the peer's SYN and CLOSE.
//   - RESET: i2pd never sends one ("TODO: send reset") and acts on a RESET
//     only in sequence order, so Java's RESETs (sequence 0) look like plain
//     ACKs to it. We act on a verified RESET at any sequence number and send
//     ours with the next sequence number; our refusal of a SYN (no stream
//     yet) has sequence 0 and i2pd's dial times out instead of failing.
//   - Choking: i2pd never chokes and ignores DELAY > 60000 (it only uses
//     DELAY to time its ACKs). Against i2pd our receive limit works only by
//     dropping; i2pd retransmits and gives up after 6 unanswered RTOs.
//   - Fast retransmit: i2pd ignores NACKs and waits for its timer; its RTO
//     is 1.5 × a running mean RTT, not RFC 6298.
//   - Bad signatures: i2pd closes the stream; we drop the packet, so that
//     a forger cannot end it.
//   - Pongs: the spec returns up to 32 bytes of the ping's payload; i2pd
//     returns all of it. i2pd answers a ping whose sendStreamId names one
//     of its streams as a packet of that stream.
//   - Packets before the SYN: i2pd never sends data before the SYN reply,
//     but keeps such packets for 10 s, as we do.
//   - No listener: i2pd keeps up to 128 unaccepted streams for 10 s; we
//     answer with RESET unless Listen was called.
//
// # What the destination layer provides
//
// The payload of an I2CP Data message is a gzip stream whose header holds
// the source and destination ports (big-endian) in the mtime field and the
// protocol in the OS byte: 6 for streaming (i2cp.rst §"Payload"; i2pd
// StreamingDestination::CreateDataMessage). That codec is shared with
// datagrams (17, 18) and the demultiplexing by protocol happens before
// this package, so it belongs to the destination layer, which must:
//
//   - implement PacketConn: wrap each packet in that gzip format with
//     protocol 6 and the given ports (i2pd deflates SYNs and stores the
//     rest; stored blocks are fine), find the remote's LeaseSet and garlic
//     session, and send; SendPacket must not block for long or keep pkt;
//   - on Data messages with protocol 6, gunzip (checking the CRC, the
//     stream's only integrity check) and call Manager.Deliver with the
//     ports from the header; packets up to 64 KiB, i2pd's are under 4 KiB;
//   - let the streams share its ratchet sessions: our MTU of 1812 assumes
//     ECIES-X25519 existing-session overhead (two tunnel messages).
package streaming
