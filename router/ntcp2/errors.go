package ntcp2

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them with the step that failed (and the
// offending numbers), so errors.Is works and the message says where.
// Authentication failures wrap crypto.ErrAuthFailed instead.
var (
	// ErrTruncated reports input shorter than the structure it must hold:
	// a handshake message head, a block header, a block body.
	ErrTruncated = errors.New("ntcp2: truncated")
	// ErrLength reports a handshake message or frame whose length is not the
	// one the protocol fixes or announced (a message 2 head that is not 64
	// bytes, padding of the wrong size, a data frame shorter than its MAC).
	ErrLength = errors.New("ntcp2: wrong length")
	// ErrState reports a handshake method called out of order, or again
	// after a failure.
	ErrState = errors.New("ntcp2: handshake step out of order")
	// ErrNetID reports a peer on another I2P network: a SessionRequest
	// netId byte, or a RouterInfo netId option, different from ours
	// (proposals/147-transport-network-id-check.rst).
	ErrNetID = errors.New("ntcp2: network ID mismatch")
	// ErrVersion reports a SessionRequest whose version byte is not 2.
	ErrVersion = errors.New("ntcp2: unsupported protocol version")
	// ErrClockSkew reports a handshake timestamp more than MaxClockSkew away
	// from our clock.
	ErrClockSkew = errors.New("ntcp2: clock skew")
	// ErrReplay reports a SessionRequest (or SessionCreated) whose ephemeral
	// key was seen before.
	ErrReplay = errors.New("ntcp2: replayed ephemeral key")
	// ErrPadding reports handshake padding beyond the 287-byte message limit.
	ErrPadding = errors.New("ntcp2: padding too long")
	// ErrPayload reports blocks that break the payload format: a known
	// block with an impossible size, blocks out of the required order, a
	// message 3 part 2 that does not start with a RouterInfo block.
	ErrPayload = errors.New("ntcp2: payload format error")
	// ErrRouterInfo reports a RouterInfo that cannot be accepted: bad
	// signature, trailing bytes, too old or from the future.
	ErrRouterInfo = errors.New("ntcp2: unacceptable RouterInfo")
	// ErrStaticKey reports a RouterInfo without an NTCP2 address whose s
	// option equals the static key that signed the handshake.
	ErrStaticKey = errors.New("ntcp2: no NTCP2 address with the handshake static key")
	// ErrAddress reports a peer RouterInfo without a usable NTCP2 address
	// (no published address with host, port, s and i).
	ErrAddress = errors.New("ntcp2: no usable NTCP2 address")
	// ErrConfig reports an unusable Config (see Config).
	ErrConfig = errors.New("ntcp2: invalid configuration")
	// ErrTooLarge reports an I2NP message that cannot fit in one frame.
	ErrTooLarge = errors.New("ntcp2: message too large")
	// ErrClosed reports an operation on a closed Session or Listener.
	ErrClosed = errors.New("ntcp2: closed")
)

// Reason is the reason code of a Termination block (ntcp2.rst §"Termination";
// i2pd NTCP2.h NTCP2TerminationReason has the same numbers).
type Reason uint8

// Termination reasons.
const (
	ReasonNormal            Reason = 0  // normal close or unspecified
	ReasonTerminationRecv   Reason = 1  // termination received
	ReasonIdleTimeout       Reason = 2  // idle timeout
	ReasonShutdown          Reason = 3  // router shutdown
	ReasonAEADFailure       Reason = 4  // data phase AEAD failure
	ReasonIncompatibleOpts  Reason = 5  // incompatible options
	ReasonIncompatibleSig   Reason = 6  // incompatible signature type
	ReasonClockSkew         Reason = 7  // clock skew
	ReasonPaddingViolation  Reason = 8  // padding violation
	ReasonAEADFraming       Reason = 9  // AEAD framing error
	ReasonPayloadFormat     Reason = 10 // payload format error
	ReasonMessage1          Reason = 11 // message 1 error
	ReasonMessage2          Reason = 12 // message 2 error
	ReasonMessage3          Reason = 13 // message 3 error
	ReasonIntraFrameTimeout Reason = 14 // intra-frame read timeout
	ReasonRISignature       Reason = 15 // RI signature verification fail
	ReasonStaticKey         Reason = 16 // s parameter missing, invalid, or mismatched in RouterInfo
	ReasonBanned            Reason = 17 // banned

	maxKnownReason = ReasonBanned
)

var reasonNames = [...]string{
	ReasonNormal:            "normal close",
	ReasonTerminationRecv:   "termination received",
	ReasonIdleTimeout:       "idle timeout",
	ReasonShutdown:          "router shutdown",
	ReasonAEADFailure:       "data phase AEAD failure",
	ReasonIncompatibleOpts:  "incompatible options",
	ReasonIncompatibleSig:   "incompatible signature type",
	ReasonClockSkew:         "clock skew",
	ReasonPaddingViolation:  "padding violation",
	ReasonAEADFraming:       "AEAD framing error",
	ReasonPayloadFormat:     "payload format error",
	ReasonMessage1:          "message 1 error",
	ReasonMessage2:          "message 2 error",
	ReasonMessage3:          "message 3 error",
	ReasonIntraFrameTimeout: "intra-frame read timeout",
	ReasonRISignature:       "RI signature verification fail",
	ReasonStaticKey:         "s parameter missing, invalid, or mismatched in RouterInfo",
	ReasonBanned:            "banned",
}

// String names the reason as the spec's table does.
func (r Reason) String() string {
	if r <= maxKnownReason {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason %d", uint8(r))
}

// TerminationError is why a Session ended when a Termination block was
// involved: one we received (Remote) or one we sent. Frames is the
// "valid data frames received" count of that block. Use errors.As to get it
// from Session.Err.
type TerminationError struct {
	Reason Reason
	Remote bool   // the peer sent the Termination block
	Frames uint64 // the block's count of valid frames received by its sender
	// Err is the local cause that made us terminate (nil when Remote or for
	// a plain Close).
	Err error
}

func (e *TerminationError) Error() string {
	who := "local"
	if e.Remote {
		who = "peer"
	}
	s := fmt.Sprintf("ntcp2: terminated by %s: %s (%d)", who, e.Reason, uint8(e.Reason))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the local cause, if any.
func (e *TerminationError) Unwrap() error { return e.Err }
