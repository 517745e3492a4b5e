package streaming

import (
	"sync"
	"time"
)

// byteQueue is a FIFO of bytes: Write appends at the back, the reader
// consumes from the front. It compacts when half of it has been consumed,
// so memory stays proportional to what is queued.
type byteQueue struct {
	buf []byte
	off int
}

func (q *byteQueue) len() int { return len(q.buf) - q.off }

func (q *byteQueue) write(p []byte) {
	if q.off > 0 && q.off >= len(q.buf)/2 {
		n := copy(q.buf, q.buf[q.off:])
		q.buf, q.off = q.buf[:n], 0
	}
	q.buf = append(q.buf, p...)
}

// read copies from the front into p.
func (q *byteQueue) read(p []byte) int {
	n := copy(p, q.buf[q.off:])
	q.off += n
	if q.off == len(q.buf) {
		q.buf, q.off = q.buf[:0], 0
	}
	return n
}

// next removes up to n bytes from the front and returns them in a new slice.
func (q *byteQueue) next(n int) []byte {
	n = min(n, q.len())
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	q.read(b)
	return b
}

// release drops everything and the backing array.
func (q *byteQueue) release() { *q = byteQueue{} }

// deadline is one of a Conn's read or write deadlines: a channel that is
// closed when the deadline passes (at once for a time in the past) and
// replaced when the deadline is moved, so blocked calls can select on it.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// set moves the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if isClosed(d.ch) {
		d.ch = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.ch == ch && !isClosed(ch) {
			close(ch)
		}
	})
}

// done returns a channel closed once the deadline has passed.
func (d *deadline) done() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

// stop cancels a pending timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
