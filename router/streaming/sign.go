package streaming

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"i2pbridge/router/data"
)

// AppendSigned sets FlagSignature and appends p to b, signed by keys:
// the signature covers the whole packet, header and payload, with the
// signature bytes themselves zeroed (streaming.rst, flag 3
// SIGNATURE_INCLUDED). p.Signature is set to the new signature. The
// signature length follows keys' signing type (Variable Length Signature
// Notes); only Ed25519 keys can sign.
func (p *Packet) AppendSigned(b []byte, keys data.PrivateKeys) ([]byte, error) {
	sigLen := keys.Destination().SignatureLen()
	if sigLen == 0 {
		return b, fmt.Errorf("streaming: sign: %w: signing type %d", ErrConfig, keys.Destination().SigningType())
	}
	p.Flags |= FlagSignature
	p.Signature = make([]byte, sigLen)
	start := len(b)
	b, err := p.Append(b)
	if err != nil {
		return b[:start], err
	}
	sigOff := len(b) - len(p.Payload) - sigLen
	sig, err := keys.Sign(b[start:])
	if err != nil {
		return b[:start], fmt.Errorf("streaming: sign: %w", err)
	}
	if len(sig) != sigLen {
		return b[:start], fmt.Errorf("streaming: sign: %w: %d-byte signature, want %d", ErrConfig, len(sig), sigLen)
	}
	copy(b[sigOff:], sig)
	p.Signature = sig
	return b, nil
}

// Verify checks p's signature. signer is the peer: the FROM of a SYN, or the
// destination learnt from the stream's SYN for CLOSE and RESET. If p
// carries an offline signature, signer must have signed its transient key,
// which must not have expired at now, and the packet is checked with the
// transient key (streaming.rst §"Variable Length Signature Notes").
//
// The signed bytes are rebuilt with Append and a zeroed signature, which is
// exactly the received packet because Parse and Append round-trip byte for
// byte (FuzzPacketRoundTrip pins that).
func (p *Packet) Verify(signer data.Destination, now time.Time) error {
	if !p.Flags.Has(FlagSignature) {
		return fmt.Errorf("%w: packet is not signed", ErrBadSignature)
	}
	wantLen := signer.SignatureLen()
	if p.Offline != nil {
		if err := p.Offline.Verify(signer); err != nil {
			return fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		if now.After(p.Offline.ExpiresTime()) {
			return fmt.Errorf("%w: offline signature expired %s", ErrBadSignature, p.Offline.ExpiresTime().Format(time.RFC3339))
		}
		info, ok := data.SigningTypeInfo(p.Offline.TransientSigType)
		if !ok {
			return fmt.Errorf("%w: transient signing type %d", ErrUnsupported, p.Offline.TransientSigType)
		}
		wantLen = info.SignatureLen
	}
	if len(p.Signature) != wantLen {
		return fmt.Errorf("%w: %d-byte signature, signer's type wants %d", ErrBadSignature, len(p.Signature), wantLen)
	}
	sig := p.Signature
	q := *p
	q.Signature = make([]byte, len(sig))
	msg, err := q.Append(make([]byte, 0, q.Len()))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if p.Offline != nil {
		if p.Offline.TransientSigType != data.SigTypeEd25519 {
			return fmt.Errorf("%w: transient signing type %d", ErrUnsupported, p.Offline.TransientSigType)
		}
		if len(p.Offline.TransientKey) != ed25519.PublicKeySize || !ed25519.Verify(p.Offline.TransientKey, msg, sig) {
			return fmt.Errorf("%w: transient key", ErrBadSignature)
		}
		return nil
	}
	if err := signer.Verify(msg, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
