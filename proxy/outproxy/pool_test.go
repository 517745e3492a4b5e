package outproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNet is a Dial function over named fake outproxies that can be
// taken down; each dial records the name.
type fakeNet struct {
	mu     sync.Mutex
	down   map[string]bool
	dials  []string
	accept func(name string, c net.Conn) // serves the outproxy side; nil = close
}

func (f *fakeNet) dial(ctx context.Context, name string) (net.Conn, error) {
	f.mu.Lock()
	f.dials = append(f.dials, name)
	down := f.down[name]
	accept := f.accept
	f.mu.Unlock()
	if down {
		return nil, fmt.Errorf("fake %s is down", name)
	}
	a, b := net.Pipe()
	if accept != nil {
		go accept(name, b)
	} else {
		b.Close()
	}
	return a, nil
}

func (f *fakeNet) setDown(name string, down bool) {
	f.mu.Lock()
	if f.down == nil {
		f.down = map[string]bool{}
	}
	f.down[name] = down
	f.mu.Unlock()
}

func (f *fakeNet) dialed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.dials...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestPool(t *testing.T, f *fakeNet, clock *fakeClock, names ...string) *Pool {
	t.Helper()
	p, err := NewPool(PoolConfig{Names: names, Dial: f.dial, Cooldown: time.Minute, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoolIsStickyPerHost(t *testing.T) {
	f := &fakeNet{}
	p := newTestPool(t, f, &fakeClock{t: time.Unix(1e9, 0)}, "a.i2p", "b.i2p", "c.i2p")
	used := map[string]bool{}
	for i := range 40 {
		host := fmt.Sprintf("site%d.example", i)
		first, err := p.Pick(host)
		if err != nil {
			t.Fatal(err)
		}
		used[first] = true
		for range 5 {
			if got, _ := p.Pick(strings.ToUpper(host)); got != first {
				t.Fatalf("%s: picked %s, then %s", host, first, got)
			}
		}
	}
	// New hosts are spread over the outproxies (40 hosts all on one of
	// three has probability 3^-39).
	if len(used) < 2 {
		t.Errorf("40 hosts all went to %v", used)
	}
}

func TestPoolFailsOver(t *testing.T) {
	f := &fakeNet{}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	p := newTestPool(t, f, clock, "a.i2p", "b.i2p")
	first, _ := p.Pick("site.example")
	other := map[string]string{"a.i2p": "b.i2p", "b.i2p": "a.i2p"}[first]
	f.setDown(first, true)

	c, name, err := p.Dial(context.Background(), "site.example")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if name != other {
		t.Fatalf("failed over to %s, want %s", name, other)
	}
	if got := f.dialed(); len(got) != 2 || got[0] != first || got[1] != other {
		t.Errorf("dials %v", got)
	}
	if !p.Down(first) {
		t.Error("the failed outproxy is not marked down")
	}
	// The host now sticks to the working one, even after the first one
	// recovers.
	f.setDown(first, false)
	clock.advance(2 * time.Minute)
	if got, _ := p.Pick("site.example"); got != other {
		t.Errorf("after recovery picked %s, want to stay on %s", got, other)
	}
	if p.Down(first) {
		t.Error("still down after the cooldown")
	}
}

func TestPoolAllDown(t *testing.T) {
	f := &fakeNet{}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	p := newTestPool(t, f, clock, "a.i2p", "b.i2p")
	f.setDown("a.i2p", true)
	f.setDown("b.i2p", true)
	_, _, err := p.Dial(context.Background(), "x.example")
	var de *DialError
	if !errors.Is(err, ErrAllFailed) || !errors.As(err, &de) {
		t.Fatalf("err = %v, want ErrAllFailed wrapping a DialError", err)
	}
	if got := f.dialed(); len(got) != 2 {
		t.Errorf("each outproxy should be tried once, dials %v", got)
	}
	// All down: the one that failed longest ago is tried first, so a
	// recovered one is found without waiting for the cooldown.
	clock.advance(time.Second)
	p.DialName(context.Background(), "b.i2p") // b fails first ...
	clock.advance(time.Second)
	p.DialName(context.Background(), "a.i2p") // ... a later
	if !p.Down("a.i2p") || !p.Down("b.i2p") {
		t.Fatal("both should be down")
	}
	f.setDown("b.i2p", false)
	f.setDown("a.i2p", false)
	c, name, err := p.Dial(context.Background(), "y.example")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if name != "b.i2p" {
		t.Errorf("picked %s, want b.i2p (down longest)", name)
	}
}

func TestPoolWithoutOutproxies(t *testing.T) {
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pick("x.example"); !errors.Is(err, ErrNoOutproxy) {
		t.Errorf("Pick: %v", err)
	}
	if _, _, err := p.Dial(context.Background(), "x.example"); !errors.Is(err, ErrNoOutproxy) {
		t.Errorf("Dial: %v", err)
	}
}

func TestPoolConfigErrors(t *testing.T) {
	for name, cfg := range map[string]PoolConfig{
		"no dial":  {Names: []string{"a.i2p"}},
		"repeated": {Names: []string{"a.i2p", "a.i2p"}, Dial: (&fakeNet{}).dial},
		"empty":    {Names: []string{""}, Dial: (&fakeNet{}).dial},
	} {
		if _, err := NewPool(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPoolForgetsOldChoicesWhenFull(t *testing.T) {
	f := &fakeNet{}
	p, err := NewPool(PoolConfig{Names: []string{"a.i2p", "b.i2p"}, Dial: f.dial, MaxSticky: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		p.Pick(fmt.Sprintf("h%d.example", i))
	}
	p.mu.Lock()
	n := len(p.sticky)
	p.mu.Unlock()
	if n != 3 {
		t.Errorf("%d sticky entries, want at most 3", n)
	}
}

// TestPoolDialTunnel: CONNECT through an outproxy; a 200 gives a stream
// to the target (bytes the outproxy sent right after the answer
// included), anything else is a RefusedError without failover.
func TestPoolDialTunnel(t *testing.T) {
	f := &fakeNet{accept: func(name string, c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method != http.MethodConnect {
			return
		}
		if req.Host == "refused.example:443" {
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nbanner:"+req.Host+"\n")
		io.Copy(c, br)
	}}
	p := newTestPool(t, f, &fakeClock{t: time.Unix(1e9, 0)}, "a.i2p", "b.i2p")

	c, _, err := p.DialTunnel(context.Background(), "ok.example:443")
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.WriteString(c, "ping\n") }()
	br := bufio.NewReader(c)
	if l, _ := br.ReadString('\n'); l != "banner:ok.example:443\n" {
		t.Errorf("first line %q", l)
	}
	if l, _ := br.ReadString('\n'); l != "ping\n" {
		t.Errorf("echo %q", l)
	}
	c.Close()

	before := len(f.dialed())
	_, _, err = p.DialTunnel(context.Background(), "refused.example:443")
	var re *RefusedError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want a 403 RefusedError", err)
	}
	if got := len(f.dialed()) - before; got != 1 {
		t.Errorf("a refusal must not fail over: %d dials", got)
	}
	if _, _, err := p.DialTunnel(context.Background(), "no-port"); err == nil {
		t.Error("authority without port accepted")
	}
}
