package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"i2pbridge/router/data"
)

// MTUs: the most payload bytes in one packet (streaming.html §"MTU
// Selection and Negotiation"; proposals/155-streaming-mtu-ecies.rst).
const (
	// DefaultMTU is the MTU of ElGamal sessions and the most data a packet
	// carries before the peer's MAXSIZE is known.
	DefaultMTU = 1730
	// RatchetMTU is what i2pd 2.45 (STREAMING_MTU_RATCHETS) and Java use
	// over ECIES-X25519 sessions. Proposal 155 says 1820; both
	// implementations settled on 1812.
	RatchetMTU = 1812
	// MinMTU is the smallest MTU a peer may announce (Java
	// MIN_MESSAGE_SIZE); smaller MAXSIZE values are raised to it.
	MinMTU = 512
	// MaxMTU bounds Config.MTU so that a SYN (header, a 391-byte FROM, a
	// signature and a full payload) stays under the 4096-byte packet
	// buffer i2pd inflates into (Streaming.h MAX_PACKET_SIZE).
	MaxMTU = 3072
	// maxPacketLen is the largest packet Deliver accepts; larger ones
	// cannot have come from a peer that respects any MTU.
	maxPacketLen = 65535
)

// PacketConn is the layer below streaming: the local destination's garlic
// and tunnels. It carries one packet to remote as the payload of an I2CP
// Data message: a gzip stream whose header holds fromPort and toPort in
// the mtime field and protocol 6 in the OS byte (i2cp.rst §"Payload";
// i2pd Streaming.cpp CreateDataMessage). Incoming payloads of protocol 6
// are unwrapped by the same layer and handed to Manager.Deliver.
type PacketConn interface {
	// SendPacket sends one packet. It must not keep pkt after it returns
	// and should not block for long: queue, don't wait for the network.
	// Loss is normal and repaired by retransmission, so the error only
	// reports local trouble (no leaseset yet, no tunnels); the stream
	// treats the packet as lost.
	SendPacket(ctx context.Context, remote data.Destination, fromPort, toPort uint16, pkt []byte) error
}

// PathSwitcher is a PacketConn that can send to a remote another way
// (another of its leases, another of our outbound tunnels). A stream
// whose retransmissions keep timing out asks it to; see
// sender.pathSwitchDue.
type PathSwitcher interface {
	SwitchPath(remote data.Destination)
}

// Config configures a Manager. Zero fields take the defaults shown; a
// negative duration disables the feature where that is noted.
type Config struct {
	// Keys are the local destination's keys; they sign SYN, CLOSE, RESET
	// and ping packets. Required, Ed25519 only.
	Keys data.PrivateKeys
	// Conn carries packets to other destinations. Required.
	Conn PacketConn
	// Logger receives debug and warning events; nil discards them.
	Logger *slog.Logger

	// MTU is the most payload bytes per packet we send, and the MAXSIZE
	// we announce in SYNs. Default RatchetMTU (our destinations are
	// ECIES-only); 512..MaxMTU. We always accept larger packets.
	MTU int
	// InitialWindow is the congestion window, in packets, at the start
	// of a stream. Default 6 (i2pd WINDOW_SIZE, Java initialWindowSize).
	InitialWindow int
	// MaxWindow caps the congestion window in packets. Default 256, twice
	// i2pd's MAX_WINDOW_SIZE.
	MaxWindow int
	// InitialRTO is the retransmission timeout before an RTT is measured.
	// Default 9 s (i2pd INITIAL_RTO, Java initialRTO).
	InitialRTO time.Duration
	// MinRTO and MaxRTO clamp the RTO. Defaults 100 ms and 45 s (Java
	// MIN_RESEND_DELAY, MAX_RESEND_DELAY).
	MinRTO, MaxRTO time.Duration
	// MaxResends is how often one packet is retransmitted before the
	// stream fails with ErrTimeout. Default 8 (Java maxResends; i2pd 6).
	MaxResends int
	// MinGiveUp is how long a packet must have waited for its ACK, at
	// least, before MaxResends ends the stream. Default 60 s. The count
	// alone is no measure of time: on a fast path the RTO is 100 ms and
	// eight doubling resends take seven seconds, less than it takes to
	// replace a tunnel whose hop died and tell the peer about the new
	// lease. i2pd, whose second resend waits 9 s, holds out minutes.
	MinGiveUp time.Duration
	// AckDelay is the longest an ACK for in-order data is held back to be
	// piggybacked. Default 200 ms (i2pd's default
	// i2p.streaming.initialAckDelay).
	AckDelay time.Duration
	// AckEvery sends an ACK at once after this many unacknowledged
	// in-order packets. Default 8.
	AckEvery int
	// InactivityTimeout is how long a stream may hear nothing before it
	// probes the peer (Java inactivityTimeout, action "send"). Default
	// 90 s; negative disables probing.
	InactivityTimeout time.Duration
	// CloseTimeout bounds how long a stream keeps going after Close (to
	// deliver unsent data and exchange CLOSE); then it is reset. Default
	// 60 s.
	CloseTimeout time.Duration
	// ConnectDelay is how long a DialEarly stream holds its SYN waiting
	// for data to carry. Default 250 ms.
	ConnectDelay time.Duration

	// MaxStreams caps open streams, both directions. Default 1024.
	MaxStreams int
	// Backlog caps streams accepted by the protocol but not yet by
	// Listener.Accept; more SYNs are refused. Default 128 (i2pd
	// MAX_PENDING_INCOMING_BACKLOG).
	Backlog int
	// MaxReceiveBuffer caps the bytes a stream buffers for its reader,
	// in order and out of order. Above half of it the stream chokes the
	// peer (DELAY 60001); packets beyond it are dropped unacknowledged.
	// Default 1 MiB.
	MaxReceiveBuffer int
	// MaxSendBuffer caps the bytes Write queues before it blocks. Default
	// 256 KiB.
	MaxSendBuffer int
	// PendingTimeout is how long packets that arrive before their SYN are
	// kept. Default 10 s (i2pd PENDING_INCOMING_TIMEOUT).
	PendingTimeout time.Duration
	// RefusePings stops answering ECHO pings (Java
	// i2p.streaming.answerPings=false).
	RefusePings bool
}

// Limits on packets kept for streams whose SYN has not arrived.
const (
	maxPendingStreams   = 64
	maxPendingPerStream = 32
	maxPendingBytes     = 1 << 20
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Keys.IsZero() {
		return c, fmt.Errorf("%w: no keys", ErrConfig)
	}
	if _, err := c.Keys.Ed25519PrivateKey(); err != nil {
		return c, fmt.Errorf("%w: keys: %w", ErrConfig, err)
	}
	if c.Conn == nil {
		return c, fmt.Errorf("%w: no PacketConn", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.MTU, RatchetMTU)
	setInt(&c.InitialWindow, 6)
	setInt(&c.MaxWindow, 256)
	setDur(&c.InitialRTO, 9*time.Second)
	setDur(&c.MinRTO, 100*time.Millisecond)
	setDur(&c.MaxRTO, 45*time.Second)
	setInt(&c.MaxResends, 8)
	setDur(&c.MinGiveUp, 60*time.Second)
	setDur(&c.AckDelay, 200*time.Millisecond)
	setInt(&c.AckEvery, 8)
	setDur(&c.InactivityTimeout, 90*time.Second)
	setDur(&c.CloseTimeout, 60*time.Second)
	setDur(&c.ConnectDelay, 250*time.Millisecond)
	setInt(&c.MaxStreams, 1024)
	setInt(&c.Backlog, 128)
	setInt(&c.MaxReceiveBuffer, 1<<20)
	setInt(&c.MaxSendBuffer, 256<<10)
	setDur(&c.PendingTimeout, 10*time.Second)

	switch {
	case c.MTU < MinMTU || c.MTU > MaxMTU:
		return c, fmt.Errorf("%w: MTU %d outside %d..%d", ErrConfig, c.MTU, MinMTU, MaxMTU)
	case c.InitialWindow < 1 || c.MaxWindow < c.InitialWindow:
		return c, fmt.Errorf("%w: windows: initial %d, max %d", ErrConfig, c.InitialWindow, c.MaxWindow)
	case c.MinRTO <= 0 || c.MaxRTO < c.MinRTO || c.InitialRTO < c.MinRTO:
		return c, fmt.Errorf("%w: RTO: min %s, max %s, initial %s", ErrConfig, c.MinRTO, c.MaxRTO, c.InitialRTO)
	case c.MaxResends < 1 || c.AckEvery < 1 || c.AckDelay < 0:
		return c, fmt.Errorf("%w: MaxResends %d, AckEvery %d, AckDelay %s", ErrConfig, c.MaxResends, c.AckEvery, c.AckDelay)
	case c.MaxStreams < 1 || c.Backlog < 1:
		return c, fmt.Errorf("%w: MaxStreams %d, Backlog %d", ErrConfig, c.MaxStreams, c.Backlog)
	case c.MaxReceiveBuffer < 2*c.MTU || c.MaxSendBuffer < 1:
		return c, fmt.Errorf("%w: buffers: receive %d (at least two MTUs), send %d", ErrConfig, c.MaxReceiveBuffer, c.MaxSendBuffer)
	case c.CloseTimeout < 0 || c.PendingTimeout < 0 || c.ConnectDelay < 0:
		return c, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	return c, nil
}

// Addr is a stream endpoint: a destination and an I2CP port. Its fields
// match bridge/i2pnet.Addr, so a backend converts with i2pnet.Addr(a).
type Addr struct {
	Dest data.Destination
	Port int // 0 when no port was given
}

// Network returns "i2p".
func (a Addr) Network() string { return "i2p" }

// String returns the b32 address, with ":port" when a port is set.
func (a Addr) String() string {
	s := a.Dest.B32()
	if a.Port != 0 {
		s += ":" + strconv.Itoa(a.Port)
	}
	return s
}
