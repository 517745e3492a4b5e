package streaming

import (
	"encoding/binary"
	"fmt"
	"strings"

	"i2pbridge/router/data"
)

// Flags is the 16-bit flag field of a packet (streaming.rst §"Flags and
// Option Data Fields"; bit 0 is the least significant). The flags that
// carry option data are written, in the option area, in the order DELAY,
// FROM, MAXSIZE, OFFLINE, SIG whatever their bit order.
type Flags uint16

// Flag bits. The names follow i2pd's PACKET_FLAG_* constants.
const (
	FlagSYN                = Flags(0x0001) // SYNCHRONIZE: first packet in each direction
	FlagClose              = Flags(0x0002) // CLOSE: no more data in this direction (TCP FIN)
	FlagReset              = Flags(0x0004) // RESET: abnormal close
	FlagSignature          = Flags(0x0008) // SIGNATURE_INCLUDED: option 5, signature
	FlagSignatureRequested = Flags(0x0010) // unused
	FlagFrom               = Flags(0x0020) // FROM_INCLUDED: option 2, Destination (387+ bytes)
	FlagDelay              = Flags(0x0040) // DELAY_REQUESTED: option 1, 2-byte milliseconds
	FlagMaxSize            = Flags(0x0080) // MAX_PACKET_SIZE_INCLUDED: option 3, 2-byte MTU
	FlagProfileInteractive = Flags(0x0100) // unused
	FlagEcho               = Flags(0x0200) // ECHO: ping (sendStreamId > 0) or pong (sendStreamId 0)
	FlagNoAck              = Flags(0x0400) // NO_ACK: ignore ackThrough
	FlagOfflineSignature   = Flags(0x0800) // OFFLINE_SIGNATURE: option 4, OfflineSignature
)

var flagNames = [...]string{
	"SYN", "CLOSE", "RESET", "SIG", "SIGREQ", "FROM", "DELAY", "MAXSIZE",
	"INTERACTIVE", "ECHO", "NO_ACK", "OFFLINE",
}

// Has reports whether every bit of x is set in f.
func (f Flags) Has(x Flags) bool { return f&x == x }

// String lists the set flags, e.g. "SYN|SIG|FROM"; unknown bits are shown in
// hex and no flags as "0".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint16(rest)))
	}
	return strings.Join(parts, "|")
}

// Wire sizes (streaming.rst §"Packet Format").
const (
	// MinPacketLen is the shortest packet: the fixed header with no NACKs,
	// no options and no payload.
	MinPacketLen = 22
	// MaxNACKs is the most NACKs a packet can carry (a one-byte count).
	MaxNACKs = 255
	// ChokeDelay is the DELAY value this package sends to choke the peer;
	// any DELAY above MaxDelay means "stop sending" (streaming.rst, flag 6).
	ChokeDelay = 60001
	// MaxDelay is the largest DELAY that is a delay rather than a choke.
	MaxDelay = 60000
	// MaxPingPayload is how much of a ping's payload a pong returns
	// (streaming.html §"Ping / Pong", since 0.9.18).
	MaxPingPayload = 32

	fixedHeadLen = 17 // sendStreamId, receiveStreamId, seq, ackThrough, NACK count
	fixedTailLen = 5  // resendDelay, flags, option size
)

// Packet is one streaming packet (streaming.rst §"Packet Format"). All
// integers are big-endian:
//
//	offset    size        field
//	0         4           sendStreamId: the receiver's stream ID, 0 until known
//	4         4           receiveStreamId: the sender's own stream ID
//	8         4           sequenceNum: 0 in a SYN and in plain ACKs
//	12        4           ackThrough: highest sequence received (unless NO_ACK)
//	16        1           NACK count n
//	17        4n          NACKs: sequences below ackThrough not yet received
//	17+4n     1           resendDelay (seconds; ignored on receipt)
//	18+4n     2           flags
//	20+4n     2           option size m
//	22+4n     m           options, each present iff its flag is set, in the
//	                      order DELAY(2) FROM(Destination) MAXSIZE(2)
//	                      OFFLINE(OfflineSignature) SIG(signature)
//	22+4n+m   rest        payload
//
// The option fields are written exactly when their flag is set; Append
// refuses a set flag whose field is missing (From, Offline, Signature) and
// a field present without its flag. There is no length field for the
// payload: a packet is the whole I2CP payload it travels in. The signature
// length is not on the wire: SIG is last, so Parse gives it the rest of the
// option area, and Verify checks it against the signer's type.
type Packet struct {
	SendStreamID    uint32
	ReceiveStreamID uint32
	Seq             uint32
	AckThrough      uint32
	NACKs           []uint32
	ResendDelay     uint8
	Flags           Flags

	Delay   uint16                 // FlagDelay; > MaxDelay chokes
	From    data.Destination       // FlagFrom
	MaxSize uint16                 // FlagMaxSize
	Offline *data.OfflineSignature // FlagOfflineSignature; parsed, never produced by this package
	// Signature is the SIG option (FlagSignature): the signer's signature
	// over the whole packet with these bytes zeroed.
	Signature []byte
	// UnknownOptions holds option bytes left after the known options of an
	// unsigned packet (none are defined; kept so such packets round-trip).
	UnknownOptions []byte

	Payload []byte
}

// Parse reads a packet that fills all of b and returns it with len(b).
// Payload, Signature and UnknownOptions alias b. A b that ends inside the
// header or the announced option area gives ErrTruncated; options that do
// not fit their flags give ErrMalformed.
func Parse(b []byte) (Packet, int, error) {
	var p Packet
	if len(b) < fixedHeadLen {
		return p, 0, fmt.Errorf("%w: header needs %d bytes before the NACKs, have %d", ErrTruncated, fixedHeadLen, len(b))
	}
	p.SendStreamID = binary.BigEndian.Uint32(b[0:])
	p.ReceiveStreamID = binary.BigEndian.Uint32(b[4:])
	p.Seq = binary.BigEndian.Uint32(b[8:])
	p.AckThrough = binary.BigEndian.Uint32(b[12:])
	nc := int(b[16])
	off := fixedHeadLen
	if need := off + 4*nc + fixedTailLen; len(b) < need {
		return Packet{}, 0, fmt.Errorf("%w: header with %d NACKs needs %d bytes, have %d", ErrTruncated, nc, need, len(b))
	}
	if nc > 0 {
		p.NACKs = make([]uint32, nc)
		for i := range p.NACKs {
			p.NACKs[i] = binary.BigEndian.Uint32(b[off:])
			off += 4
		}
	}
	p.ResendDelay = b[off]
	p.Flags = Flags(binary.BigEndian.Uint16(b[off+1:]))
	optLen := int(binary.BigEndian.Uint16(b[off+3:]))
	off += fixedTailLen
	if len(b)-off < optLen {
		return Packet{}, 0, fmt.Errorf("%w: option size %d, have %d bytes", ErrTruncated, optLen, len(b)-off)
	}
	if err := p.parseOptions(b[off : off+optLen]); err != nil {
		return Packet{}, 0, err
	}
	p.Payload = b[off+optLen:]
	return p, len(b), nil
}

// parseOptions reads the option area in the fixed order of
// streaming.rst §"Flags and Option Data Fields".
func (p *Packet) parseOptions(o []byte) error {
	if p.Flags.Has(FlagDelay) {
		if len(o) < 2 {
			return fmt.Errorf("%w: DELAY needs 2 option bytes, have %d", ErrMalformed, len(o))
		}
		p.Delay = binary.BigEndian.Uint16(o)
		o = o[2:]
	}
	if p.Flags.Has(FlagFrom) {
		d, n, err := data.ParseDestination(o)
		if err != nil {
			return fmt.Errorf("%w: FROM: %w", ErrMalformed, err)
		}
		p.From = d
		o = o[n:]
	}
	if p.Flags.Has(FlagMaxSize) {
		if len(o) < 2 {
			return fmt.Errorf("%w: MAXSIZE needs 2 option bytes, have %d", ErrMalformed, len(o))
		}
		p.MaxSize = binary.BigEndian.Uint16(o)
		o = o[2:]
	}
	if p.Flags.Has(FlagOfflineSignature) {
		// The offline block's signature length is the destination's, so
		// it can only be read with FROM, which the spec requires with it.
		if p.From.IsZero() {
			return fmt.Errorf("%w: OFFLINE without FROM", ErrMalformed)
		}
		off, n, err := data.ParseOfflineSignature(o, p.From)
		if err != nil {
			return fmt.Errorf("%w: OFFLINE: %w", ErrMalformed, err)
		}
		p.Offline = &off
		o = o[n:]
	}
	if p.Flags.Has(FlagSignature) {
		if len(o) == 0 {
			return fmt.Errorf("%w: SIG flag without signature bytes", ErrMalformed)
		}
		p.Signature = o
		return nil
	}
	if len(o) > 0 {
		p.UnknownOptions = o
	}
	return nil
}

// optionsLen returns the option area length, checking that the flags and
// the option fields agree.
func (p *Packet) optionsLen() (int, error) {
	n := 0
	if p.Flags.Has(FlagDelay) {
		n += 2
	}
	if p.Flags.Has(FlagFrom) != !p.From.IsZero() {
		return 0, fmt.Errorf("%w: FROM flag %t but From set %t", ErrMalformed, p.Flags.Has(FlagFrom), !p.From.IsZero())
	}
	n += p.From.Len()
	if p.Flags.Has(FlagMaxSize) {
		n += 2
	}
	if p.Flags.Has(FlagOfflineSignature) != (p.Offline != nil) {
		return 0, fmt.Errorf("%w: OFFLINE flag %t but Offline set %t", ErrMalformed, p.Flags.Has(FlagOfflineSignature), p.Offline != nil)
	}
	if p.Offline != nil {
		if p.From.IsZero() {
			return 0, fmt.Errorf("%w: OFFLINE without FROM", ErrMalformed)
		}
		n += p.Offline.Len()
	}
	if p.Flags.Has(FlagSignature) != (len(p.Signature) > 0) {
		return 0, fmt.Errorf("%w: SIG flag %t but %d signature bytes", ErrMalformed, p.Flags.Has(FlagSignature), len(p.Signature))
	}
	if len(p.UnknownOptions) > 0 && p.Flags.Has(FlagSignature) {
		// SIG is the last option by definition; nothing may follow it.
		return 0, fmt.Errorf("%w: unknown options after SIG", ErrMalformed)
	}
	n += len(p.Signature) + len(p.UnknownOptions)
	if n > 0xffff {
		return 0, fmt.Errorf("%w: %d option bytes", ErrMalformed, n)
	}
	return n, nil
}

// Len returns the encoded length, or 0 if the packet cannot be encoded.
func (p *Packet) Len() int {
	n, err := p.optionsLen()
	if err != nil || len(p.NACKs) > MaxNACKs {
		return 0
	}
	return fixedHeadLen + 4*len(p.NACKs) + fixedTailLen + n + len(p.Payload)
}

// Append appends the encoded packet to b.
func (p *Packet) Append(b []byte) ([]byte, error) {
	if len(p.NACKs) > MaxNACKs {
		return b, fmt.Errorf("%w: %d NACKs, at most %d", ErrMalformed, len(p.NACKs), MaxNACKs)
	}
	optLen, err := p.optionsLen()
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, p.SendStreamID)
	b = binary.BigEndian.AppendUint32(b, p.ReceiveStreamID)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint32(b, p.AckThrough)
	b = append(b, byte(len(p.NACKs)))
	for _, n := range p.NACKs {
		b = binary.BigEndian.AppendUint32(b, n)
	}
	b = append(b, p.ResendDelay)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Flags))
	b = binary.BigEndian.AppendUint16(b, uint16(optLen))
	if p.Flags.Has(FlagDelay) {
		b = binary.BigEndian.AppendUint16(b, p.Delay)
	}
	if !p.From.IsZero() {
		if b, err = p.From.Append(b); err != nil {
			return b, fmt.Errorf("streaming: FROM: %w", err)
		}
	}
	if p.Flags.Has(FlagMaxSize) {
		b = binary.BigEndian.AppendUint16(b, p.MaxSize)
	}
	if p.Offline != nil {
		if b, err = p.Offline.Append(b); err != nil {
			return b, fmt.Errorf("%w: OFFLINE: %w", ErrMalformed, err)
		}
	}
	b = append(b, p.Signature...)
	b = append(b, p.UnknownOptions...)
	return append(b, p.Payload...), nil
}

// IsPlainAck reports whether p is a plain ACK: sequence 0 without SYN
// (streaming.rst, sequenceNum: "should not be ACKed").
func (p *Packet) IsPlainAck() bool { return p.Seq == 0 && !p.Flags.Has(FlagSYN) }

// Choked reports whether p asks us to stop sending (DELAY > MaxDelay).
func (p *Packet) Choked() bool { return p.Flags.Has(FlagDelay) && p.Delay > MaxDelay }

// String summarises the header for logs (never the FROM destination).
func (p *Packet) String() string {
	return fmt.Sprintf("send=%d recv=%d seq=%d ack=%d nacks=%d flags=%s payload=%d",
		p.SendStreamID, p.ReceiveStreamID, p.Seq, p.AckThrough, len(p.NACKs), p.Flags, len(p.Payload))
}
