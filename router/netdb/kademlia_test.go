package netdb

import (
	"crypto/sha256"
	"testing"
	"time"

	"i2pbridge/router/data"
)

// TestRoutingKeyIsHashOfKeyAndUTCDate pins the routing key definition
// (network-database.html §"Kademlia Closeness Metric"): SHA-256 of the 32
// key bytes followed by the 8 ASCII characters yyyyMMdd of the UTC date,
// whatever the time zone of the time passed in.
func TestRoutingKeyIsHashOfKeyAndUTCDate(t *testing.T) {
	var key data.Hash
	for i := range key {
		key[i] = byte(i)
	}
	want := func(date string) data.Hash { return sha256.Sum256(append(key[:], date...)) }
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name string
		at   time.Time
		date string
	}{
		{"midday", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC), "20260307"},
		{"last second of the day", time.Date(2026, 3, 7, 23, 59, 59, 999e6, time.UTC), "20260307"},
		{"midnight starts a new key", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "20260308"},
		{"local date ahead of UTC", time.Date(2026, 3, 8, 8, 0, 0, 0, tokyo), "20260307"},
		{"year end", time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), "20251231"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RoutingKey(key, tc.at); got != want(tc.date) {
				t.Fatalf("RoutingKey at %v = %x, want SHA-256(key ‖ %q)", tc.at, got[:8], tc.date)
			}
		})
	}
}

func TestDistanceAndOrdering(t *testing.T) {
	var rk data.Hash // zero routing key: distance = the hash itself
	h := func(b0, b31 byte) data.Hash {
		var x data.Hash
		x[0], x[31] = b0, b31
		return x
	}
	if d := Distance(h(0xf0, 1), h(0x0f, 1)); d != h(0xff, 0) {
		t.Fatalf("Distance = %x", d)
	}
	tests := []struct {
		name string
		a, b data.Hash
		want bool
	}{
		{"first byte decides", h(0x01, 0xff), h(0x02, 0), true},
		{"later byte breaks a tie", h(0x01, 0x01), h(0x01, 0x02), true},
		{"equal is not closer", h(0x01, 0x01), h(0x01, 0x01), false},
		{"farther", h(0x80, 0), h(0x7f, 0xff), false},
	}
	for _, tc := range tests {
		if got := Closer(rk, tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Closer = %v", tc.name, got)
		}
	}
	cands := []data.Hash{h(9, 0), h(1, 0), h(5, 0), h(3, 0), h(7, 0)}
	got := Closest(rk, cands, 3, map[data.Hash]bool{h(3, 0): true})
	want := []data.Hash{h(1, 0), h(5, 0), h(7, 0)}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("Closest = %v, want %v", got, want)
	}
	if cands[0] != h(9, 0) {
		t.Fatal("Closest reordered its input")
	}
	// A nonzero routing key: distance is XOR, not numeric difference.
	rk = h(0x80, 0)
	if !Closer(rk, h(0x81, 0), h(0x7f, 0)) {
		t.Fatal("0x81 should be closer to 0x80 than 0x7f under XOR")
	}
}
