package samnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"i2pbridge/bridge/samnet/samline"
)

// errControlLost is the cause recorded when the control socket ends.
var errControlLost = errors.New("samnet: control socket lost")

// control is the session's control socket after HELLO. One reader
// goroutine owns reads; commands are strictly one at a time: i2pd 2.45
// reads one segment per command and discards whatever followed the first
// line, so a second command may only be written after the first reply.
//
// The reader answers bridge PINGs and hands every other line to the
// command in flight. A command abandoned by its caller (ctx ended) still
// occupies the socket until its reply arrives, which the reader then
// discards.
type control struct {
	c   *samConn
	v   version
	log *slog.Logger

	sem chan struct{} // holds a token while a command is in flight
	wmu sync.Mutex    // serialises writes (commands and PONGs)

	mu      sync.Mutex
	pending chan samline.Message // reply slot of the command in flight

	dead      chan struct{} // closed when the reader stops
	err       error         // why it stopped; written before dead is closed
	closeOnce sync.Once
}

func newControl(c *samConn, v version, log *slog.Logger) *control {
	return &control{c: c, v: v, log: log, sem: make(chan struct{}, 1), dead: make(chan struct{})}
}

// run is the reader loop; it returns when the socket fails or is closed.
func (ct *control) run() {
	defer close(ct.dead)
	for {
		m, err := ct.c.readMsg()
		if err != nil {
			ct.err = fmt.Errorf("%w: %w", errControlLost, err)
			_ = ct.c.Close()
			return
		}
		if m.Verb == "PING" {
			// SAM 3.2: either side may PING; answer with the same text.
			if err := ct.write(samline.Message{Verb: "PONG", Text: m.Text}); err != nil {
				ct.err = fmt.Errorf("%w: PONG: %w", errControlLost, err)
				_ = ct.c.Close()
				return
			}
			continue
		}
		ct.mu.Lock()
		p := ct.pending
		ct.pending = nil
		ct.mu.Unlock()
		if p == nil {
			ct.log.Debug("sam: unsolicited line on control socket", "verb", m.Verb, "sub", m.Sub)
			continue
		}
		p <- m
		<-ct.sem
	}
}

func (ct *control) write(m samline.Message) error {
	ct.wmu.Lock()
	defer ct.wmu.Unlock()
	return ct.c.writeMsg(m, ct.v)
}

// close ends the control socket; the router then ends the session.
func (ct *control) close() {
	ct.closeOnce.Do(func() { _ = ct.c.Close() })
}

// lost returns why the reader stopped (valid after dead is closed).
func (ct *control) lost() error {
	<-ct.dead
	return ct.err
}

// roundTrip sends m and waits for the next line. timeout > 0 bounds the
// wait for the reply regardless of ctx: past it the bridge is considered
// wedged and the socket is closed, which re-creates the session.
func (ct *control) roundTrip(ctx context.Context, m samline.Message, timeout time.Duration) (samline.Message, error) {
	select {
	case ct.sem <- struct{}{}:
	case <-ctx.Done():
		return samline.Message{}, ctx.Err()
	case <-ct.dead:
		return samline.Message{}, ct.err
	}
	return ct.send(ctx, m, timeout)
}

// tryRoundTrip is roundTrip that gives up at once when a command is in
// flight (a busy socket needs no keep-alive).
func (ct *control) tryRoundTrip(ctx context.Context, m samline.Message, timeout time.Duration) (samline.Message, bool, error) {
	select {
	case ct.sem <- struct{}{}:
	default:
		return samline.Message{}, false, nil
	}
	r, err := ct.send(ctx, m, timeout)
	return r, true, err
}

// send runs with the token held; the reader releases it with the reply.
func (ct *control) send(ctx context.Context, m samline.Message, timeout time.Duration) (samline.Message, error) {
	p := make(chan samline.Message, 1)
	ct.mu.Lock()
	ct.pending = p
	ct.mu.Unlock()
	if err := ct.write(m); err != nil {
		ct.close()
		return samline.Message{}, fmt.Errorf("%w: %s %s: %w", errControlLost, m.Verb, m.Sub, err)
	}
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case r := <-p:
		return r, nil
	case <-ctx.Done():
		return samline.Message{}, ctx.Err()
	case <-ct.dead:
		// A bridge that answers and hangs up (every SESSION CREATE
		// error) ends the reader right after the reply: prefer the
		// reply.
		select {
		case r := <-p:
			return r, nil
		default:
		}
		return samline.Message{}, ct.err
	case <-expire:
		ct.log.Warn("sam: no answer on control socket, reconnecting", "command", m.Verb+" "+m.Sub, "after", timeout)
		ct.close()
		return samline.Message{}, fmt.Errorf("%w: no answer to %s %s within %v", errControlLost, m.Verb, m.Sub, timeout)
	}
}

// keepAlive PINGs an idle control socket every interval (SAM 3.2+ only)
// and closes it when no PONG comes back; the session watcher then
// re-creates the session. It returns when the socket dies or ctx ends.
func (ct *control) keepAlive(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-ct.dead:
			return
		case <-t.C:
		}
		text := strconv.Itoa(seq)
		r, sent, err := ct.tryRoundTrip(ctx, samline.Message{Verb: "PING", Text: text}, timeout)
		switch {
		case !sent || ctx.Err() != nil:
		case err != nil:
			return // the socket is closed; the watcher takes over
		case r.Verb != "PONG" || r.Text != text:
			ct.log.Warn("sam: bad answer to PING, reconnecting", "got", r.Verb)
			ct.close()
			return
		}
	}
}
