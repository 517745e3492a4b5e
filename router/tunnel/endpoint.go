package tunnel

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/i2np"
)

// Endpoint reassembly limits. Defaults: i2pd drops incomplete messages 8 s
// after their first fragment, checked every 15 s
// (I2NP_MESSAGE_EXPIRATION_TIMEOUT, TunnelEndpoint::Cleanup); Java waits up
// to 45 s. 20 s lets a message survive one slow path without holding
// garbage long.
const (
	DefaultFragmentTimeout = 20 * time.Second
	// DefaultMaxPending bounds the messages being reassembled at once.
	DefaultMaxPending = 64
	// DefaultMaxPendingBytes bounds their buffered fragments: room for 16
	// maximum-size messages.
	DefaultMaxPendingBytes = 16 * i2np.MaxMessageLen
)

// EndpointConfig sets an Endpoint's limits; zero fields take the defaults.
type EndpointConfig struct {
	FragmentTimeout time.Duration
	MaxPending      int
	MaxPendingBytes int
	Logger          *slog.Logger
}

// Delivered is a whole I2NP message that came out of a tunnel with its
// delivery instructions.
type Delivered struct {
	Delivery Delivery
	Msg      i2np.Message
}

// Endpoint reassembles the I2NP messages of one tunnel from its decrypted
// tunnel messages: the inbound endpoint (the creator) after removing all
// layers, the outbound endpoint after applying its own layer
// (pages/site/docs/tunnels/implementation.html §"Endpoint Processing").
//
// Fragments may arrive in any order and interleaved across messages. A
// message is delivered when its first fragment (with the instructions)
// and every follow-on up to the one marked last are present; the result
// must parse as exactly one standard-header I2NP message with a valid
// checksum, no larger than i2np.MaxMessageLen. Incomplete messages are
// dropped FragmentTimeout after their first fragment arrived, or when they
// contradict themselves (a second "last" fragment, a fragment beyond the
// last). New messages beyond MaxPending or MaxPendingBytes are refused.
//
// An Endpoint belongs to its tunnel's owner and is not safe for concurrent
// use.
type Endpoint struct {
	cfg          EndpointConfig
	pending      map[uint32]*partial
	pendingBytes int
}

// partial is a message being reassembled.
type partial struct {
	started  time.Time
	delivery Delivery
	frags    [MaxFragmentNumber + 1][]byte
	have     [MaxFragmentNumber + 1]bool
	count    int // fragments present
	last     int // number of the last fragment, -1 unknown
	bytes    int
}

// NewEndpoint returns an empty endpoint with cfg's limits.
func NewEndpoint(cfg EndpointConfig) *Endpoint {
	if cfg.FragmentTimeout <= 0 {
		cfg.FragmentTimeout = DefaultFragmentTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Endpoint{cfg: cfg, pending: map[uint32]*partial{}}
}

// Pending returns the number of messages being reassembled and their
// buffered bytes.
func (e *Endpoint) Pending() (messages, bytes int) { return len(e.pending), e.pendingBytes }

// Expire drops incomplete messages whose first fragment is older than the
// fragment timeout and returns how many.
func (e *Endpoint) Expire(now time.Time) int {
	n := 0
	for id, p := range e.pending {
		if now.Sub(p.started) > e.cfg.FragmentTimeout {
			e.drop(id)
			n++
		}
	}
	return n
}

func (e *Endpoint) drop(id uint32) {
	if p, ok := e.pending[id]; ok {
		e.pendingBytes -= p.bytes
		delete(e.pending, id)
	}
}

// Receive takes one decrypted tunnel message (IV ‖ 1008 data bytes) and
// returns the messages it completes. It verifies the checksum first; a
// fragment that fails to parse ends the processing of this tunnel message
// (the messages completed before it are still returned, with the error).
func (e *Endpoint) Receive(now time.Time, m *[crypto.TunnelMessageSize]byte) ([]Delivered, error) {
	e.Expire(now)
	iv, body := m[:crypto.TunnelIVSize], m[crypto.TunnelIVSize:]
	zero := bytes.IndexByte(body[checksumLen:], 0)
	if zero < 0 {
		return nil, fmt.Errorf("%w: no zero byte after the padding", ErrMalformed)
	}
	payload := body[checksumLen+zero+1:]
	sum := checksum(payload, iv)
	if !bytes.Equal(sum[:checksumLen], body[:checksumLen]) {
		return nil, fmt.Errorf("%w: have %x, computed %x", ErrChecksum, body[:checksumLen], sum[:checksumLen])
	}
	var out []Delivered
	for len(payload) > 0 {
		f, n, err := parseFragment(payload)
		if err != nil {
			return out, fmt.Errorf("tunnel: tunnel message fragment: %w", err)
		}
		payload = payload[n:]
		d, err := e.fragment(now, &f)
		if err != nil {
			return out, err
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

// fragment handles one parsed fragment; it returns a message when one is
// complete.
func (e *Endpoint) fragment(now time.Time, f *fragment) (*Delivered, error) {
	if !f.followOn && !f.fragmented {
		return complete(f.delivery, f.data)
	}
	num := 0
	if f.followOn {
		num = f.number
	}
	p, ok := e.pending[f.msgID]
	if !ok {
		if len(e.pending) >= e.cfg.MaxPending {
			return nil, fmt.Errorf("%w: %d messages in reassembly", ErrLimit, len(e.pending))
		}
		p = &partial{started: now, last: -1}
		e.pending[f.msgID] = p
	}
	if p.have[num] {
		// A duplicate fragment: tunnel messages can be resent by a
		// buggy or hostile hop; the first copy stands.
		e.cfg.Logger.Debug("duplicate tunnel fragment", "msgID", f.msgID, "fragment", num)
		return nil, nil
	}
	if e.pendingBytes+len(f.data) > e.cfg.MaxPendingBytes {
		if p.count == 0 {
			delete(e.pending, f.msgID)
		}
		return nil, fmt.Errorf("%w: %d bytes in reassembly", ErrLimit, e.pendingBytes)
	}
	if f.followOn && f.last {
		if p.last >= 0 && p.last != num {
			e.drop(f.msgID)
			return nil, fmt.Errorf("%w: message %d has last fragments %d and %d", ErrMalformed, f.msgID, p.last, num)
		}
		p.last = num
		for i := num + 1; i <= MaxFragmentNumber; i++ {
			if p.have[i] {
				e.drop(f.msgID)
				return nil, fmt.Errorf("%w: message %d has fragment %d beyond its last fragment %d", ErrMalformed, f.msgID, i, num)
			}
		}
	}
	if p.last >= 0 && num > p.last {
		e.drop(f.msgID)
		return nil, fmt.Errorf("%w: message %d fragment %d after last fragment %d", ErrMalformed, f.msgID, num, p.last)
	}
	if !f.followOn {
		p.delivery = f.delivery
	}
	p.frags[num] = bytes.Clone(f.data)
	p.have[num] = true
	p.count++
	p.bytes += len(f.data)
	e.pendingBytes += len(f.data)
	if p.bytes > i2np.MaxMessageLen {
		e.drop(f.msgID)
		return nil, fmt.Errorf("%w: message %d exceeds %d bytes in reassembly", ErrTooLarge, f.msgID, i2np.MaxMessageLen)
	}
	if p.last < 0 || p.count != p.last+1 {
		return nil, nil
	}
	whole := make([]byte, 0, p.bytes)
	for i := 0; i <= p.last; i++ {
		whole = append(whole, p.frags[i]...)
	}
	e.drop(f.msgID)
	return complete(p.delivery, whole)
}

// complete parses a reassembled message.
func complete(d Delivery, raw []byte) (*Delivered, error) {
	m, n, err := i2np.ParseMessage(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: reassembled message: %w", ErrMalformed, err)
	}
	if n != len(raw) {
		return nil, fmt.Errorf("%w: reassembled message of %d bytes holds an I2NP message of %d", ErrMalformed, len(raw), n)
	}
	return &Delivered{Delivery: d, Msg: m}, nil
}
