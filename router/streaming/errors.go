package streaming

import (
	"errors"
	"os"
)

// Sentinel errors. Functions wrap them with the operation (and the
// offending numbers), so errors.Is works and the message says where.
var (
	// ErrTruncated reports a packet that ends inside its header or inside
	// the option area its option size announces.
	ErrTruncated = errors.New("streaming: truncated packet")
	// ErrMalformed reports a packet whose fields contradict each other: an
	// option that does not fit its flag's layout, more than 255 NACKs, an
	// OFFLINE option without FROM, a signed packet type without a
	// signature, a SYN with a nonzero sequence number.
	ErrMalformed = errors.New("streaming: malformed packet")
	// ErrBadSignature reports a signature that does not verify, has the
	// wrong length for the signer, or comes from an expired offline key.
	ErrBadSignature = errors.New("streaming: bad signature")
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("streaming: invalid configuration")
	// ErrReset reports a stream the peer reset (a verified RESET packet).
	ErrReset = errors.New("streaming: connection reset by peer")
	// ErrRefused reports a dial the peer answered with RESET before its
	// SYN: no listener, backlog full or too many streams on its side.
	ErrRefused = errors.New("streaming: connection refused")
	// ErrTimeout reports a peer that stopped answering: a packet not
	// acknowledged after MaxResends retransmissions, unanswered keepalive
	// probes, or a closed stream that did not finish within CloseTimeout.
	ErrTimeout = errors.New("streaming: peer not responding")
	// ErrClosed reports an operation on a closed Manager or Listener, and
	// the end of streams cut by Manager.Close.
	ErrClosed = errors.New("streaming: closed")
	// ErrTooManyStreams reports a Dial beyond Config.MaxStreams.
	ErrTooManyStreams = errors.New("streaming: too many streams")
	// ErrListening reports a second Listen on one Manager.
	ErrListening = errors.New("streaming: already listening")
	// ErrWriteClosed reports a Write after CloseWrite.
	ErrWriteClosed = errors.New("streaming: write after CloseWrite")
	// ErrUnsupported reports a remote destination whose signatures this
	// module cannot verify (only Ed25519 is implemented), so its SYN, CLOSE
	// and RESET packets could never be accepted.
	ErrUnsupported = errors.New("streaming: unsupported destination")
)

// timeoutError is returned when a read or write deadline passes. It is a
// net.Error whose Timeout is true and it wraps os.ErrDeadlineExceeded, as
// net.Conn requires.
type timeoutError struct{ op string }

func (e *timeoutError) Error() string   { return "streaming: " + e.op + ": i/o timeout" }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
