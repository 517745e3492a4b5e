package tunnel

import "errors"

// Sentinel errors. Functions wrap them with the operation and the numbers
// involved, so errors.Is works and the message says where.
var (
	// ErrTruncated reports input that ends inside delivery instructions, a
	// fragment or a record.
	ErrTruncated = errors.New("tunnel: truncated")
	// ErrMalformed reports bytes that contradict the formats: an invalid
	// delivery type, a fragment overrunning its tunnel message, a
	// reassembled message that is not an I2NP message.
	ErrMalformed = errors.New("tunnel: malformed")
	// ErrUnsupported reports valid-looking encodings this package refuses on
	// purpose: delivery-instruction delay or extended options (never
	// implemented by any router), a layer encryption type other than AES.
	ErrUnsupported = errors.New("tunnel: unsupported")
	// ErrTooLarge reports a message beyond the I2NP maximum or a fragment
	// count beyond 64.
	ErrTooLarge = errors.New("tunnel: too large")
	// ErrChecksum reports a tunnel message whose 4-byte checksum does not
	// match (tunnel-message.rst §"Tunnel Message (Decrypted)"), usually
	// the result of wrong layer keys.
	ErrChecksum = errors.New("tunnel: bad tunnel message checksum")
	// ErrNotForUs reports a build message with no record for this router.
	ErrNotForUs = errors.New("tunnel: no build record for this router")
	// ErrBadRecord reports a build record that does not decrypt or whose
	// fields are invalid (zero tunnel IDs, both role flags, a bad reply).
	ErrBadRecord = errors.New("tunnel: bad build record")
	// ErrReplay reports a build record whose ephemeral key was seen
	// before, or a tunnel message whose IV was seen before.
	ErrReplay = errors.New("tunnel: replay")
	// ErrStale reports a build request whose request time is outside the
	// accepted window.
	ErrStale = errors.New("tunnel: stale build request")
	// ErrRejected reports a build reply in which at least one hop declined.
	ErrRejected = errors.New("tunnel: build rejected")
	// ErrUnknownTunnel reports a tunnel message for a tunnel ID we do not
	// have.
	ErrUnknownTunnel = errors.New("tunnel: unknown tunnel")
	// ErrLimit reports a resource limit: too many transit tunnels, too many
	// messages being reassembled.
	ErrLimit = errors.New("tunnel: limit reached")
	// ErrState reports an operation that the tunnel's state forbids, such
	// as sending through an expired tunnel or handling a second reply.
	ErrState = errors.New("tunnel: wrong state")
	// ErrConfig reports an invalid build configuration.
	ErrConfig = errors.New("tunnel: invalid configuration")
)
