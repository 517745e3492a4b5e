// Package transport is the router's transport manager: it keeps at most a
// few NTCP2 sessions per peer, dials a peer through the NTCP2 address its
// RouterInfo publishes when a message must go there, accepts inbound
// sessions, hands every received I2NP message to one handler, and bans
// peers whose sessions fail.
//
// It plays the role of i2pd's Transports (libi2pd/Transports.cpp) for the
// one transport we speak; SSU2 can join later behind the same Send.
//
// # Flow
//
//	Send(ctx, peer, msg)
//	  └─▶ owner: open session? ──yes──▶ session.Send (bounded queue)
//	             dial pending? ──yes──▶ wait for it
//	             banned / limit / unknown RouterInfo ──▶ error
//	             else start a dial: ntcp2.Dial(Resolve(peer)) ─▶ owner: up or failed (ban)
//	listener ─▶ ntcp2.Server handshake (bounded) ─▶ owner: up (or refused: banned, limit)
//	session reader ─▶ Config.Handler(from, msg)      every I2NP message
//	               ─▶ Config.OnRouterInfo(ri)        the peer's RouterInfo and RI blocks
//
// # Ownership
//
// One goroutine, the owner started by Run, holds the peer table (sessions,
// pending dials, failure counts, bans). Send, Ban, Stats and the goroutines
// that dial, accept and watch sessions only send it requests. A session's
// own goroutines belong to ntcp2.Session. Handshakes and dials run in their
// own goroutines so a slow peer never stalls the table.
//
// # i2pd 2.45 behaviour this matches
//
//   - Several sessions with one peer may coexist (both sides dialled at
//     once); messages go out on the oldest open one, as i2pd sends on the
//     first session of its list (Transports::PeerConnected keeps a list).
//   - A peer whose dial or handshake fails is not retried at once: i2pd marks
//     it unreachable; we ban it for BanDuration, doubling on each further
//     failure up to MaxBanDuration, and report it through OnPeerFailed so
//     the netDb stops choosing it.
//   - Inbound sessions from a banned peer are closed with Termination reason
//     17 (banned), the reason the NTCP2 spec defines for it.
package transport
