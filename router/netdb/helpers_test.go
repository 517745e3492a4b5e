package netdb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/ntcp2"
)

const testNetID = 99

// testRouter is an identity with a signed RouterInfo.
type testRouter struct {
	keys   data.RouterKeys
	static ntcp2.StaticKey
	addr   netip.AddrPort
	ri     data.RouterInfo
}

var portSeq struct {
	sync.Mutex
	n int
}

type riOpts struct {
	floodfill bool
	published time.Time // zero: now
	netID     string    // "": 99
	version   string    // "": 0.9.57
	keys      *data.RouterKeys
}

func newRouter(t testing.TB, o riOpts) testRouter {
	t.Helper()
	var keys data.RouterKeys
	if o.keys != nil {
		keys = *o.keys
	} else {
		var err error
		if keys, err = data.GenerateRouterKeys(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	static, err := ntcp2.GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	portSeq.Lock()
	portSeq.n++
	port := 10000 + portSeq.n
	portSeq.Unlock()
	r := testRouter{keys: keys, static: static, addr: netip.AddrPortFrom(netip.MustParseAddr("198.19.1.50"), uint16(port))}
	r.ri = r.sign(t, o)
	return r
}

// sign builds and signs a RouterInfo for r.
func (r testRouter) sign(t testing.TB, o riOpts) data.RouterInfo {
	t.Helper()
	if o.published.IsZero() {
		o.published = time.Now()
	}
	if o.netID == "" {
		o.netID = fmt.Sprint(testNetID)
	}
	if o.version == "" {
		o.version = "0.9.57"
	}
	caps := "LR"
	if o.floodfill {
		caps = "XfR"
	}
	a, err := data.NewNTCP2Address(data.NTCP2Address{StaticKey: r.static.Public, IV: r.static.IV, AddrPort: r.addr})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := data.NewMapping(map[string]string{data.OptionCaps: caps, data.OptionNetID: o.netID, data.OptionRouterVersion: o.version})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := data.BuildRouterInfo(r.keys, data.RouterInfoParams{Published: o.published, Addresses: []data.RouterAddress{a}, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

func (r testRouter) hash() data.Hash { return r.ri.Hash() }

// routerWhere generates routers until cond holds for one.
func routerWhere(t testing.TB, o riOpts, cond func(h data.Hash) bool) testRouter {
	t.Helper()
	for range 100000 {
		k, err := data.GenerateRouterKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if cond(k.Hash()) {
			o.keys = &k
			return newRouter(t, o)
		}
	}
	t.Fatal("no such router")
	return testRouter{}
}

// sent is one message that went over the test network.
type sent struct {
	from, to data.Hash
	msg      i2np.Message
	body     i2np.Body
}

// testNet connects DBs directly: a Send becomes the target's Handle,
// after a trip through the short I2NP header NTCP2 uses. Routers without
// a DB are unknown (the send fails); silent ones swallow messages.
type testNet struct {
	mu     sync.Mutex
	dbs    map[data.Hash]*DB
	silent map[data.Hash]bool
	log    []sent
}

func newTestNet() *testNet {
	return &testNet{dbs: map[data.Hash]*DB{}, silent: map[data.Hash]bool{}}
}

var errNoRoute = errors.New("test net: no such router")

type netSender struct {
	n    *testNet
	from data.Hash
}

func (s netSender) Send(ctx context.Context, to data.Hash, m i2np.Message) error {
	b, err := m.AppendShort(nil)
	if err != nil {
		return err
	}
	m2, _, err := i2np.ParseShortMessage(b)
	if err != nil {
		return err
	}
	body, err := m2.Body()
	if err != nil {
		return err
	}
	s.n.mu.Lock()
	s.n.log = append(s.n.log, sent{s.from, to, m2, body})
	db, silent := s.n.dbs[to], s.n.silent[to]
	s.n.mu.Unlock()
	if db == nil {
		return fmt.Errorf("%w: %s", errNoRoute, to.Short())
	}
	if !silent {
		db.Handle(s.from, m2)
	}
	return nil
}

// messages returns what went from→to (zero hashes match anything) of type
// typ.
func (n *testNet) messages(from, to data.Hash, typ i2np.Type) []sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []sent
	for _, s := range n.log {
		if (from.IsZero() || s.from == from) && (to.IsZero() || s.to == to) && s.msg.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

type dbOpts struct {
	floodfill bool
	seeds     []testRouter
	dir       string
	cfg       func(*Config)
	silent    bool
}

// start creates and runs a DB for r on n until the test (or synctest
// bubble) ends.
func (n *testNet) start(t testing.TB, r testRouter, o dbOpts) *DB {
	t.Helper()
	cfg := Config{RouterInfo: r.ri, Floodfill: o.floodfill, Sender: netSender{n, r.hash()}, Dir: o.dir}
	for _, s := range o.seeds {
		cfg.Seeds = append(cfg.Seeds, s.ri)
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	db, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.dbs[r.hash()] = db
	n.silent[r.hash()] = o.silent
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := db.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return db
}
