package tunnel

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// testNow is a fixed clock for tests that do not exercise time.
var testNow = time.Unix(1_700_000_000, 0)

// testRand is a deterministic randomness source.
func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// testHop is a simulated router: its X25519 identity keys and a hash.
// Tunnel code needs only those two; the hash of a real router is the
// SHA-256 of its identity, here random bytes stand in.
type testHop struct {
	keys crypto.X25519Keys
	hash data.Hash
}

func newTestHop(r *rand.ChaCha8) testHop {
	k, err := crypto.GenerateX25519(r)
	if err != nil {
		panic(err)
	}
	var h data.Hash
	r.Read(h[:])
	return testHop{keys: k, hash: h}
}

func (h testHop) peer() Peer { return Peer{Hash: h.hash, Key: h.keys.Public} }

func newTestHops(r *rand.ChaCha8, n int) []testHop {
	hs := make([]testHop, n)
	for i := range hs {
		hs[i] = newTestHop(r)
	}
	return hs
}

func peersOf(hs []testHop) []Peer {
	ps := make([]Peer, len(hs))
	for i, h := range hs {
		ps[i] = h.peer()
	}
	return ps
}

// mustErr fails unless err wraps want.
func mustErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// dataMsg is an I2NP Data message with payload bytes of length n drawn
// from r, used as tunnel traffic.
func dataMsg(r *rand.ChaCha8, id uint32, n int) i2np.Message {
	p := make([]byte, n)
	r.Read(p)
	return i2np.Message{Type: i2np.TypeData, ID: id, Expiration: i2np.ExpirationMillis(testNow.Add(time.Minute)), Payload: p}
}

func sameMessage(a, b i2np.Message) bool {
	return a.Type == b.Type && a.ID == b.ID && a.Expiration == b.Expiration && bytes.Equal(a.Payload, b.Payload)
}
