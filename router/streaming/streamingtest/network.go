// Package streamingtest is an in-memory network for streaming.Managers: it
// implements streaming.PacketConn between destinations in one process and
// can lose, duplicate, delay and reorder packets with a seeded random
// source, so the protocol is tested under the conditions of I2P tunnels
// without any router. Delivery runs on one goroutine in time order; under
// testing/synctest the delays cost no real time.
package streamingtest

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"i2pbridge/router/data"
)

// Receiver takes delivered packets; *streaming.Manager is one.
type Receiver interface {
	Deliver(ctx context.Context, pkt []byte, fromPort, toPort uint16)
}

// Conditions is what the network does to each packet.
type Conditions struct {
	// Loss, Duplicate and Reorder are probabilities in [0, 1]: a packet
	// is dropped; delivered twice (the copy after an extra Jitter); held
	// back by ReorderDelay so later packets overtake it.
	Loss, Duplicate, Reorder float64
	// Delay is the one-way latency; each packet adds a uniform random
	// [0, Jitter).
	Delay, Jitter time.Duration
	// ReorderDelay is the hold-back of a reordered packet; default
	// 2×Delay + 1 ms.
	ReorderDelay time.Duration
	// Seed seeds the random source (PCG); runs with the same seed and the
	// same sends make the same decisions.
	Seed uint64
	// Filter, if set, sees every packet before the impairments; returning
	// false drops it. Tests use it to lose a chosen packet.
	Filter func(from, to data.Destination, pkt []byte) bool
	// Hold, if set, returns extra latency for a packet, to make a chosen
	// packet arrive late.
	Hold func(from, to data.Destination, pkt []byte) time.Duration
}

// Stats count what the network did.
type Stats struct {
	Sent, Delivered, Lost, Duplicated, Reordered, Filtered uint64
}

// Network is a set of endpoints that can reach one another.
type Network struct {
	mu        sync.Mutex
	cond      Conditions
	rng       *rand.Rand
	endpoints map[data.Hash]*Endpoint
	queue     deliveryHeap
	seq       uint64
	stats     Stats
	closed    bool
	wake      chan struct{} // capacity 1
	done      chan struct{}
}

// NewNetwork starts a network and its delivery goroutine; Close stops it.
func NewNetwork(cond Conditions) *Network {
	if cond.ReorderDelay == 0 {
		cond.ReorderDelay = 2*cond.Delay + time.Millisecond
	}
	n := &Network{
		cond:      cond,
		rng:       rand.New(rand.NewPCG(cond.Seed, cond.Seed^0x9e3779b97f4a7c15)),
		endpoints: make(map[data.Hash]*Endpoint),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	go n.run()
	return n
}

// SetConditions changes the impairments from now on (Seed is ignored).
func (n *Network) SetConditions(cond Conditions) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cond.ReorderDelay == 0 {
		cond.ReorderDelay = 2*cond.Delay + time.Millisecond
	}
	n.cond = cond
}

// Stats returns the counters so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Endpoint is one destination on the network; it is the
// streaming.PacketConn of that destination's Manager.
type Endpoint struct {
	n     *Network
	local data.Destination
	mu    sync.Mutex
	recv  Receiver
}

// Endpoint registers local and returns its endpoint. Packets to it are
// dropped until Attach.
func (n *Network) Endpoint(local data.Destination) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := &Endpoint{n: n, local: local}
	n.endpoints[local.Hash()] = e
	return e
}

// Attach sets who receives the endpoint's packets.
func (e *Endpoint) Attach(r Receiver) {
	e.mu.Lock()
	e.recv = r
	e.mu.Unlock()
}

func (e *Endpoint) receiver() Receiver {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recv
}

// SendPacket implements streaming.PacketConn: it copies pkt and schedules
// its delivery under the network's conditions.
func (e *Endpoint) SendPacket(ctx context.Context, remote data.Destination, fromPort, toPort uint16, pkt []byte) error {
	n := e.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("streamingtest: network closed")
	}
	to := n.endpoints[remote.Hash()]
	if to == nil {
		return fmt.Errorf("streamingtest: no endpoint for %s", remote)
	}
	n.stats.Sent++
	c := &n.cond
	if c.Filter != nil && !c.Filter(e.local, remote, pkt) {
		n.stats.Filtered++
		return nil
	}
	if n.rng.Float64() < c.Loss {
		n.stats.Lost++
		return nil
	}
	copies := 1
	if n.rng.Float64() < c.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	now := time.Now()
	var hold time.Duration
	if c.Hold != nil {
		hold = c.Hold(e.local, remote, pkt)
	}
	for i := range copies {
		delay := c.Delay + hold
		if c.Jitter > 0 {
			delay += time.Duration(n.rng.Int64N(int64(c.Jitter)))
		}
		if i > 0 {
			delay += c.Jitter + time.Millisecond
		}
		if n.rng.Float64() < c.Reorder {
			delay += c.ReorderDelay
			n.stats.Reordered++
		}
		n.seq++
		heap.Push(&n.queue, &delivery{at: now.Add(delay), seq: n.seq, to: to, from: fromPort, port: toPort, pkt: append([]byte(nil), pkt...)})
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return nil
}

// run delivers due packets in time order, ties in send order.
func (n *Network) run() {
	defer close(n.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		now := time.Now()
		var due []*delivery
		for len(n.queue) > 0 && !n.queue[0].at.After(now) {
			due = append(due, heap.Pop(&n.queue).(*delivery))
		}
		n.stats.Delivered += uint64(len(due))
		wait := time.Duration(-1)
		if len(n.queue) > 0 {
			wait = n.queue[0].at.Sub(now)
		}
		n.mu.Unlock()
		for _, d := range due {
			if r := d.to.receiver(); r != nil {
				r.Deliver(ctx, d.pkt, d.from, d.port)
			}
		}
		if len(due) > 0 {
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// Close stops delivery; packets in flight are dropped.
func (n *Network) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.queue = nil
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	<-n.done
}

type delivery struct {
	at   time.Time
	seq  uint64
	to   *Endpoint
	from uint16
	port uint16
	pkt  []byte
}

type deliveryHeap []*delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(*delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}
