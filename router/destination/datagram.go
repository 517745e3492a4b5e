package destination

import (
	"context"
	"fmt"

	"i2pbridge/router/data"
	"i2pbridge/router/datagram"
	"i2pbridge/router/payload"
)

// Datagram is a received datagram.
type Datagram struct {
	// From is the signed sender of a repliable datagram (protocol 17);
	// zero for a raw one (18), whose sender is unknown.
	From data.Destination
	// Protocol is payload.ProtoDatagram or payload.ProtoRaw.
	Protocol uint8
	// SrcPort and DstPort come from the I2CP payload header.
	SrcPort, DstPort uint16
	Payload          []byte
}

// SendDatagram sends a repliable datagram (protocol 17): our destination,
// our signature over p, and p (datagrams.rst §"Datagram1 (Repliable)").
func (d *Destination) SendDatagram(ctx context.Context, to data.Hash, srcPort, dstPort uint16, p []byte) error {
	b, err := datagram.AppendRepliable(nil, d.keys, p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return d.send(ctx, to, payload.Payload{SrcPort: srcPort, DstPort: dstPort, Protocol: payload.ProtoDatagram, Data: b}, payload.LevelDefault, true, 0)
}

// SendRaw sends a raw datagram (protocol 18): p alone, with no sender.
func (d *Destination) SendRaw(ctx context.Context, to data.Hash, srcPort, dstPort uint16, p []byte) error {
	b, err := datagram.AppendRaw(nil, p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return d.send(ctx, to, payload.Payload{SrcPort: srcPort, DstPort: dstPort, Protocol: payload.ProtoRaw, Data: b}, payload.LevelStored, true, 0)
}

// ReceiveDatagram returns the next received datagram, waiting for one
// until ctx ends or the destination closes. Up to 256 wait to be taken;
// more are dropped.
func (d *Destination) ReceiveDatagram(ctx context.Context) (Datagram, error) {
	select {
	case dg := <-d.datagrams:
		return dg, nil
	case <-ctx.Done():
		return Datagram{}, ctx.Err()
	case <-d.closing:
		return Datagram{}, fmt.Errorf("receive: %w", ErrClosed)
	}
}

func (d *Destination) queueDatagram(dg Datagram) error {
	dg.Payload = append([]byte(nil), dg.Payload...)
	select {
	case d.datagrams <- dg:
		return nil
	default:
		return fmt.Errorf("datagram queue full (%d)", cap(d.datagrams))
	}
}
