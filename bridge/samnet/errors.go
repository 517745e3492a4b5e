package samnet

import (
	"errors"
	"fmt"
	"syscall"

	"i2pbridge/bridge/i2pnet"
)

// Package sentinels. Failures of a SAM command are *ReplyError values,
// which also match the i2pnet sentinels with errors.Is where the meaning is
// the same.
var (
	// ErrNoVersion: the bridge speaks no SAM version in 3.0–3.3.
	ErrNoVersion = errors.New("samnet: bridge supports no SAM version between 3.0 and 3.3")
	// ErrProtocol: the bridge answered something that is not SAM.
	ErrProtocol = errors.New("samnet: protocol error")
	// ErrDuplicatedDest: the router already runs a session with these keys
	// (another program, or our previous session it has not dropped yet).
	ErrDuplicatedDest = errors.New("samnet: destination already in use on the router")
	// ErrListening: Listen was called a second time on a Session.
	ErrListening = errors.New("samnet: session already has a listener")
	// ErrKeysMismatch: the router answered SESSION CREATE with a different
	// destination than the keys we sent.
	ErrKeysMismatch = errors.New("samnet: router returned a different destination")
)

// Result codes of SAM replies (samv3.html "RESULT Values", plus
// ALREADY_ACCEPTING from Java I2P before 3.2, and the SESSION results).
const (
	ResultOK             = "OK"
	ResultCantReachPeer  = "CANT_REACH_PEER"
	ResultDuplicatedDest = "DUPLICATED_DEST"
	ResultDuplicatedID   = "DUPLICATED_ID"
	ResultI2PError       = "I2P_ERROR"
	ResultInvalidKey     = "INVALID_KEY"
	ResultInvalidID      = "INVALID_ID"
	ResultKeyNotFound    = "KEY_NOT_FOUND"
	ResultPeerNotFound   = "PEER_NOT_FOUND"
	ResultTimeout        = "TIMEOUT"
	ResultNoVersion      = "NOVERSION"
	ResultAlreadyAccept  = "ALREADY_ACCEPTING"
)

// ReplyError is a SAM command that the bridge answered with a RESULT other
// than OK. It is the one typed error for what the router said.
type ReplyError struct {
	Op      string // the command, e.g. "STREAM CONNECT"
	Result  string // RESULT=, e.g. "CANT_REACH_PEER"
	Message string // MESSAGE=, may be empty

	// sentinel overrides the mapping by Result where the command gives
	// the result a narrower meaning (a b32 that does not resolve is
	// unreachable, not unknown).
	sentinel error
}

func (e *ReplyError) Error() string {
	s := "samnet: " + e.Op + ": " + e.Result
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap maps router results onto the i2pnet sentinels so tunnels and the
// eepproxy can tell "no such name" from "could not reach it".
func (e *ReplyError) Unwrap() error {
	if e.sentinel != nil {
		return e.sentinel
	}
	switch e.Result {
	case ResultCantReachPeer, ResultTimeout, ResultPeerNotFound:
		return i2pnet.ErrUnreachable
	case ResultInvalidKey, ResultKeyNotFound:
		return i2pnet.ErrUnknownName
	case ResultDuplicatedDest:
		return ErrDuplicatedDest
	case ResultNoVersion:
		return ErrNoVersion
	}
	return nil
}

// bridgeError names the SAM address in errors about reaching the bridge
// itself: "sam 127.0.0.1:7656: connection refused". The net.OpError text
// ("dial tcp 127.0.0.1:7656: connect: ...") is shortened to its errno,
// which is what a user needs; the full chain stays reachable for errors.Is
// and errors.As.
type bridgeError struct {
	addr string
	err  error
}

func (e *bridgeError) Error() string {
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		return fmt.Sprintf("sam %s: %v", e.addr, errno)
	}
	return fmt.Sprintf("sam %s: %v", e.addr, e.err)
}

func (e *bridgeError) Unwrap() error { return e.err }
