package destination

import "errors"

// Sentinel errors. Functions wrap them with the operation and what it was
// about, so errors.Is works and the message says what went wrong.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("destination: invalid configuration")
	// ErrClosed reports an operation on a closed destination.
	ErrClosed = errors.New("destination: closed")
	// ErrRunning reports a second Run.
	ErrRunning = errors.New("destination: already running")
	// ErrNoTunnels reports that the pool has no inbound tunnel (for our
	// LeaseSet and for replies) or cannot send through an outbound one.
	ErrNoTunnels = errors.New("destination: no tunnels")
	// ErrNoFloodfills reports that no floodfill is known to ask or publish
	// to.
	ErrNoFloodfills = errors.New("destination: no floodfills")
	// ErrNotFound reports a LeaseSet that every floodfill asked said it
	// does not have: the destination is unknown or offline.
	ErrNotFound = errors.New("destination: leaseset not found")
	// ErrLookupTimeout reports a lookup that got no answer in time.
	ErrLookupTimeout = errors.New("destination: leaseset lookup timed out")
	// ErrNoLeases reports a remote LeaseSet without a lease that lasts
	// long enough to send to, even after looking it up again.
	ErrNoLeases = errors.New("destination: no usable lease")
	// ErrUnsupported reports a remote we cannot talk to: its LeaseSet2
	// publishes no X25519 (crypto type 4) key.
	ErrUnsupported = errors.New("destination: unsupported remote")
	// ErrNotForUs reports a Garlic message our keyring cannot open: the
	// router should offer it to its other destinations.
	ErrNotForUs = errors.New("destination: garlic not for this destination")
	// ErrInvalid reports a malformed or unexpected message or argument.
	ErrInvalid = errors.New("destination: invalid")
)
