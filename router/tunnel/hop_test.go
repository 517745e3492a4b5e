package tunnel

import (
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

func TestHopHandlerRefusals(t *testing.T) {
	r := testRand(40)
	hops := newTestHops(r, 2)
	newReq := func(at time.Time) i2np.Message {
		b, err := NewBuild(r, at, BuildConfig{Hops: peersOf(hops), ReplyGateway: data.Hash{1}, ReplyTunnel: 2})
		if err != nil {
			t.Fatal(err)
		}
		return b.Request()
	}
	h := NewHopHandler(HopConfig{Keys: hops[0].keys, Hash: hops[0].hash})

	t.Run("replay", func(t *testing.T) {
		m := newReq(testNow)
		q, err := h.Open(testNow, m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Open(testNow.Add(time.Minute), m)
		mustErr(t, "second copy", err, ErrReplay)
		if _, err := q.Reply(r, testNow, true); err != nil {
			t.Fatal(err)
		}
		_, err = q.Reply(r, testNow, true)
		mustErr(t, "second reply", err, ErrState)
	})

	t.Run("not for us", func(t *testing.T) {
		other := NewHopHandler(HopConfig{Keys: newTestHop(r).keys, Hash: newTestHop(r).hash})
		_, err := other.Open(testNow, newReq(testNow))
		mustErr(t, "foreign build", err, ErrNotForUs)
	})

	t.Run("wrong key for our prefix", func(t *testing.T) {
		impostor := NewHopHandler(HopConfig{Keys: newTestHop(r).keys, Hash: hops[0].hash})
		_, err := impostor.Open(testNow, newReq(testNow))
		mustErr(t, "undecryptable record", err, ErrBadRecord)
	})

	t.Run("request time window", func(t *testing.T) {
		cases := []struct {
			made time.Time
			ok   bool
		}{
			{testNow.Add(-DefaultRequestMaxAge), true},
			{testNow.Add(-DefaultRequestMaxAge - 2*time.Minute), false},
			{testNow.Add(DefaultRequestMaxFuture - time.Minute), true},
			{testNow.Add(DefaultRequestMaxFuture + time.Minute), false},
		}
		for _, c := range cases {
			_, err := h.Open(testNow, newReq(c.made))
			if c.ok && err != nil {
				t.Errorf("request made %v from now: %v", c.made.Sub(testNow), err)
			}
			if !c.ok {
				mustErr(t, "stale request", err, ErrStale)
			}
		}
	})

	t.Run("not a build message", func(t *testing.T) {
		_, err := h.Open(testNow, dataMsg(r, 1, 10))
		mustErr(t, "Data message", err, ErrBadRecord)
		bad := newReq(testNow)
		bad.Payload = bad.Payload[:100]
		_, err = h.Open(testNow, bad)
		mustErr(t, "truncated build", err, ErrBadRecord)
	})
}
