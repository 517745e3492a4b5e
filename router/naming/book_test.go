package naming

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"i2pbridge/router/data"
)

func TestBookAdd(t *testing.T) {
	d1, d2 := testDest(t, 100), testDest(t, 101)
	tests := []struct {
		name    string
		add     string
		dest    data.Destination
		err     error
		want    data.Destination // what "site.i2p" resolves to afterwards
		wantLen int
	}{
		{"same mapping again is a no-op", "site.i2p", d1, nil, d1, 1},
		{"same mapping, other case", "SITE.I2P", d1, nil, d1, 1},
		{"other destination conflicts", "site.i2p", d2, ErrConflict, d1, 1},
		{"new name", "other.i2p", d2, nil, d1, 2},
		{"invalid name", "site", d2, ErrInvalidName, d1, 1},
		{"reserved name", "proxy.i2p", d2, ErrReservedName, d1, 1},
		{"zero destination", "zero.i2p", data.Destination{}, ErrInvalidDestination, d1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBook()
			if err := b.Add("site.i2p", d1); err != nil {
				t.Fatal(err)
			}
			err := b.Add(tt.add, tt.dest)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Add(%s) error = %v, want %v", tt.add, err, tt.err)
			}
			if e, _ := b.Lookup("site.i2p"); e.Dest != tt.want {
				t.Errorf("site.i2p = %s, want %s", e.Dest, tt.want)
			}
			if b.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", b.Len(), tt.wantLen)
			}
		})
	}
}

func TestBookConflictErrorCarriesBoth(t *testing.T) {
	d1, d2 := testDest(t, 110), testDest(t, 111)
	b := NewBook()
	if err := b.Add("site.i2p", d1); err != nil {
		t.Fatal(err)
	}
	err := b.Add("site.i2p", d2)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Add error = %v, want *ConflictError", err)
	}
	if ce.Name != "site.i2p" || ce.Existing != d1 || ce.New != d2 {
		t.Errorf("ConflictError = %+v, want site.i2p %s -> %s", ce, d1, d2)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(d1.B32())) || !bytes.Contains([]byte(err.Error()), []byte(d2.B32())) {
		t.Errorf("message %q does not name both destinations", err)
	}
}

func TestBookReverseLookup(t *testing.T) {
	d1, d2 := testDest(t, 120), testDest(t, 121)
	b := NewBook()
	for _, name := range []string{"zeta.i2p", "alpha.i2p", "mid.i2p"} {
		if err := b.Add(name, d1); err != nil {
			t.Fatal(err)
		}
	}
	if name, ok := b.ReverseLookup(d1.Hash()); !ok || name != "zeta.i2p" {
		t.Errorf("ReverseLookup = %q, %v; want the first added, zeta.i2p", name, ok)
	}
	if got, want := b.NamesFor(d1.Hash()), []string{"zeta.i2p", "alpha.i2p", "mid.i2p"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NamesFor = %v, want %v", got, want)
	}
	if _, ok := b.ReverseLookup(d2.Hash()); ok {
		t.Error("ReverseLookup found a destination that is not in the book")
	}
	// Moving a name to another destination updates both indexes.
	b.put(Entry{Name: "zeta.i2p", Dest: d2})
	if name, _ := b.ReverseLookup(d1.Hash()); name != "alpha.i2p" {
		t.Errorf("after moving zeta.i2p, ReverseLookup(d1) = %q, want alpha.i2p", name)
	}
	if name, _ := b.ReverseLookup(d2.Hash()); name != "zeta.i2p" {
		t.Errorf("after moving zeta.i2p, ReverseLookup(d2) = %q, want zeta.i2p", name)
	}
	b.remove("alpha.i2p")
	b.remove("mid.i2p")
	if _, ok := b.ReverseLookup(d1.Hash()); ok {
		t.Error("ReverseLookup(d1) still answers after all its names were removed")
	}
}

func TestBookWriteToRoundTrip(t *testing.T) {
	b := NewBook()
	b.put(Entry{Name: "b.i2p", Dest: testDest(t, 130), Props: Props{"sig": "x=="}})
	b.put(Entry{Name: "a.i2p", Dest: testNullCertDest(t, 131)})
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("a.i2p=")) {
		t.Errorf("entries not sorted by name:\n%s", buf.Bytes())
	}
	back, skipped, err := ReadBook(&buf)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("ReadBook: %v, skipped %v", err, skipped)
	}
	if !reflect.DeepEqual(back.Entries(), b.Entries()) {
		t.Errorf("round trip = %+v, want %+v", back.Entries(), b.Entries())
	}
}

type shortWriter struct{ room int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.room {
		n := w.room
		w.room = 0
		return n, errors.New("disk full")
	}
	w.room -= len(p)
	return len(p), nil
}

func TestBookWriteToReportsWriteError(t *testing.T) {
	b := NewBook()
	for i := range 20 {
		b.put(Entry{Name: "h" + string(rune('a'+i)) + ".i2p", Dest: testDest(t, 140+i)})
	}
	w := &shortWriter{room: 5000}
	n, err := b.WriteTo(w)
	if err == nil || n != 5000 {
		t.Fatalf("WriteTo = %d, %v; want 5000 bytes and an error", n, err)
	}
}
