package ntcp2

import (
	"sync"
	"testing"
	"time"
)

func key(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), byte(i >> 16)} }

func TestReplayCacheExpiresAfterTTL(t *testing.T) {
	c := NewReplayCache(time.Minute, 100)
	t0 := time.Unix(1_700_000_000, 0)
	if !c.Add(key(1), t0) {
		t.Fatal("first sighting refused")
	}
	if c.Add(key(1), t0.Add(59*time.Second)) {
		t.Fatal("replay within the TTL accepted")
	}
	if !c.Add(key(2), t0.Add(30*time.Second)) {
		t.Fatal("other key refused")
	}
	// At t0+60s key 1 has expired; the TTL counts from the first sighting,
	// not from the refused replay.
	if !c.Add(key(1), t0.Add(60*time.Second)) {
		t.Fatal("key still refused after its TTL")
	}
	if c.Add(key(2), t0.Add(89*time.Second)) {
		t.Fatal("key 2 expired early")
	}
	if c.Len() != 2 {
		t.Fatalf("Len %d, want 2", c.Len())
	}
}

func TestReplayCacheDropsOldestWhenFull(t *testing.T) {
	c := NewReplayCache(time.Hour, 3)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 4; i++ {
		if !c.Add(key(i), t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("key %d refused", i)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("Len %d, want 3", c.Len())
	}
	if !c.Add(key(0), t0.Add(5*time.Second)) {
		t.Fatal("the evicted oldest key is still remembered")
	}
	if c.Add(key(3), t0.Add(5*time.Second)) {
		t.Fatal("a recent key was forgotten")
	}
}

// Many keys over a long time: the FIFO's dead prefix is reclaimed, so
// memory follows the live entries, not the history.
func TestReplayCacheCompacts(t *testing.T) {
	c := NewReplayCache(10*time.Second, 0)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 100_000; i++ {
		c.Add(key(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if c.Len() != 10_000 {
		t.Fatalf("Len %d, want the 10000 keys of the last 10 s", c.Len())
	}
	if n := len(c.order) - c.head; n != c.Len() || cap(c.order) > 4*c.Len() {
		t.Fatalf("order holds %d live of %d (cap %d)", n, len(c.order), cap(c.order))
	}
}

func TestReplayCacheConcurrent(t *testing.T) {
	c := NewReplayCache(0, 0)
	now := time.Now()
	var wg sync.WaitGroup
	fresh := make([]int, 8)
	for g := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if c.Add(key(i), now) {
					fresh[g]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range fresh {
		total += n
	}
	if total != 1000 {
		t.Fatalf("%d first sightings of 1000 keys", total)
	}
}
