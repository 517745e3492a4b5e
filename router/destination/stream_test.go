package destination

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/streaming"
)

// echo accepts streams on ln and sends back what it reads, until ln
// closes.
func echo(t *testing.T, ln *streaming.Listener, wg *sync.WaitGroup) {
	wg.Go(func() {
		for {
			c, err := ln.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := io.Copy(c, c); err != nil {
					t.Errorf("echo: %v", err)
					return
				}
				c.CloseWrite()
			})
		}
	})
}

func TestParallelStreamsAreByteIdentical(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNet(t)
		n.addFloodfill()
		n.addFloodfill()
		alice := n.newDest(1, destOpts{})
		bob := n.newDest(2, destOpts{})
		waitFor(t, time.Minute, "bob published", func() bool { return bob.Publication().State == PublishVerified })
		ln, err := bob.Listen()
		if err != nil {
			t.Fatal(err)
		}
		var servers sync.WaitGroup
		echo(t, ln, &servers)

		const streams, size = 100, 16 << 10
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		var clients sync.WaitGroup
		for i := range streams {
			clients.Go(func() {
				msg := make([]byte, size)
				mrand.NewChaCha8([32]byte{byte(i), 7}).Read(msg)
				c, err := alice.Dial(ctx, bob.Hash(), uint16(1000+i))
				if err != nil {
					t.Errorf("stream %d: dial: %v", i, err)
					return
				}
				defer c.Close()
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(msg)
					if err == nil {
						err = c.CloseWrite()
					}
					werr <- err
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Errorf("stream %d: read: %v", i, err)
				}
				if err := <-werr; err != nil {
					t.Errorf("stream %d: write: %v", i, err)
				}
				if !bytes.Equal(got, msg) {
					t.Errorf("stream %d: echoed %d bytes, sent %d, equal %v", i, len(got), len(msg), bytes.Equal(got, msg))
				}
			})
		}
		clients.Wait()
		ln.Close()
		servers.Wait()

		a, b := alice.Stats(), bob.Stats()
		t.Logf("alice %+v", a)
		t.Logf("bob   %+v", b)
		t.Logf("%d replies to forgotten New Sessions could not be opened", n.unopened.Load())
		// One lookup for Bob's LeaseSet shared by all dials, a handshake,
		// everything else ES.
		if a.Lookups != 1 {
			t.Errorf("alice made %d lookups", a.Lookups)
		}
		if a.SentES == 0 || b.SentES == 0 || a.ReceivedES == 0 || b.ReceivedES == 0 {
			t.Errorf("no Existing Session traffic: alice %+v, bob %+v", a, b)
		}
		if s := alice.Keyring().Session(bob.static.Public); s == nil || fmt.Sprint(s.State()) != "Established" {
			t.Errorf("alice's session is not established: %v", s)
		}
	})
}
