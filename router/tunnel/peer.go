package tunnel

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// Peer is what a tunnel creator needs of a hop: its router hash (for the
// record's 16-byte prefix and for routing) and the X25519 key of its
// RouterIdentity (crypto type 4), to which the build record is encrypted.
// It is not the NTCP2 static key (protocol-map.md §7).
type Peer struct {
	Hash data.Hash
	Key  [32]byte
}

// PeerOf returns the Peer of a RouterIdentity; only X25519 (crypto type 4)
// identities can be tunnel hops (i2pd: "ElGamal router is not supported").
func PeerOf(id data.RouterIdentity) (Peer, error) {
	if t := id.CryptoType(); t != data.CryptoTypeX25519 {
		return Peer{}, fmt.Errorf("%w: router %s has crypto type %d, tunnel hops need X25519 (4)", ErrConfig, id.Hash().Short(), t)
	}
	k, err := id.CryptoPublicKey()
	if err != nil {
		return Peer{}, fmt.Errorf("tunnel: router %s: %w", id.Hash().Short(), err)
	}
	var p Peer
	p.Hash = id.Hash()
	copy(p.Key[:], k)
	return p, nil
}

// String is the short hash, as logs should show peers.
func (p Peer) String() string { return p.Hash.Short() }

// randReader returns r, or crypto/rand when r is nil.
func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// randomUint32 reads a uint32 from r.
func randomUint32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(randReader(r), b[:]); err != nil {
		return 0, fmt.Errorf("tunnel: random source: %w", err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// randomTunnelID returns a random nonzero tunnel ID (i2pd
// TunnelHopConfig: "tunnelID can't be zero"; common-structures.rst
// "TunnelId": zero is reserved).
func randomTunnelID(r io.Reader) (i2np.TunnelID, error) {
	for {
		v, err := randomUint32(r)
		if err != nil {
			return 0, err
		}
		if v != 0 {
			return i2np.TunnelID(v), nil
		}
	}
}
