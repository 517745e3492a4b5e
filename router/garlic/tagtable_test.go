package garlic

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTagTableTakesEachTagOnce(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tt := NewTagTable(0)
	tag := Tag{1, 2, 3, 4, 5, 6, 7, 8}
	key := [32]byte{42}
	if err := tt.Add(tag, key, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tt.Add(tag, [32]byte{43}, now.Add(time.Minute)); !errors.Is(err, ErrDuplicateTag) {
		t.Fatalf("second Add of a tag: err = %v, want ErrDuplicateTag", err)
	}
	got, ok := tt.Take(now, tag)
	if !ok || got != key {
		t.Fatalf("Take = %x, %v; want the first key", got[:1], ok)
	}
	if _, ok := tt.Take(now, tag); ok {
		t.Fatal("a tag was taken twice")
	}
	if tt.Len() != 0 {
		t.Fatalf("Len = %d after taking the only tag", tt.Len())
	}
}

func TestTagTableExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tt := NewTagTable(0)
	cases := []struct {
		tag     Tag
		expires time.Time
	}{
		{Tag{1}, now.Add(-time.Second)},
		{Tag{2}, now},
		{Tag{3}, now.Add(time.Second)},
	}
	for _, c := range cases {
		if err := tt.Add(c.tag, [32]byte{c.tag[0]}, c.expires); err != nil {
			t.Fatal(err)
		}
	}
	// Take refuses (and drops) an expired tag; a tag expiring exactly now
	// is still valid.
	if _, ok := tt.Take(now, Tag{1}); ok {
		t.Fatal("expired tag taken")
	}
	if n := tt.Expire(now); n != 0 {
		t.Fatalf("Expire(now) dropped %d, want 0 (tag 1 was already dropped by Take)", n)
	}
	if n := tt.Expire(now.Add(time.Second + time.Nanosecond)); n != 2 {
		t.Fatalf("Expire dropped %d, want 2", n)
	}
	if tt.Len() != 0 {
		t.Fatalf("Len = %d, want 0", tt.Len())
	}
}

func TestTagTableLimitAndRemove(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tt := NewTagTable(2)
	for i := range 2 {
		if err := tt.Add(Tag{byte(i)}, [32]byte{}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tt.Add(Tag{9}, [32]byte{}, now.Add(time.Minute)); !errors.Is(err, ErrTagTableFull) {
		t.Fatalf("Add to a full table: err = %v, want ErrTagTableFull", err)
	}
	tt.Remove(Tag{0})
	if err := tt.Add(Tag{9}, [32]byte{}, now.Add(time.Minute)); err != nil {
		t.Fatalf("Add after Remove: %v", err)
	}
	if _, ok := tt.Take(now, Tag{0}); ok {
		t.Fatal("removed tag taken")
	}
}

// Concurrent Add/Take/Expire: each tag is handed out exactly once (run
// with -race).
func TestTagTableConcurrentTakersGetEachTagOnce(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tt := NewTagTable(10000)
	const n = 2000
	for i := range n {
		if err := tt.Add(Tag{byte(i), byte(i >> 8)}, [32]byte{byte(i)}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	taken := map[Tag]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				tag := Tag{byte(i), byte(i >> 8)}
				if _, ok := tt.Take(now, tag); ok {
					mu.Lock()
					taken[tag]++
					mu.Unlock()
				}
				if i%100 == w {
					tt.Expire(now)
				}
			}
		}()
	}
	wg.Wait()
	if len(taken) != n {
		t.Fatalf("%d tags taken, want %d", len(taken), n)
	}
	for tag, c := range taken {
		if c != 1 {
			t.Fatalf("tag %x taken %d times", tag, c)
		}
	}
}
