package netdb

import (
	"context"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// publishState tracks publishing our RouterInfo (network-database.html
// §"RouterInfo Storage to Floodfills"; i2pd NetDb::Publish): a
// DatabaseStore with a random reply token goes straight to the floodfill
// closest to our routing key; its DeliveryStatus carrying the token
// confirms the store. Without one in PublishTimeout, the next closest is
// tried. A confirmed publish is repeated after PublishInterval, and at
// once when our RouterInfo changes.
//
//	idle ──due──▶ waiting(token, target)
//	waiting ──DeliveryStatus(token)──▶ idle, due = now + PublishInterval
//	waiting ──timeout / send error──▶ waiting(new token, next closest floodfill)
//	waiting ──no floodfill left──▶ idle, due = now + PublishTimeout (retry)
type publishState struct {
	due      time.Time // next round; zero: as soon as possible
	token    uint32    // reply token we wait for; 0: not waiting
	target   data.Hash
	sentAt   time.Time
	excluded map[data.Hash]bool // floodfills that failed this round
}

// restart makes a new round start at the next tick.
func (p *publishState) restart() {
	p.due = time.Time{}
	p.token = 0
	p.excluded = nil
}

func (db *DB) publishTick(ctx context.Context, st *state, now time.Time) {
	p := &st.pub
	if st.local.IsZero() {
		return
	}
	switch {
	case p.token != 0:
		if now.Sub(p.sentAt) < db.cfg.PublishTimeout {
			return
		}
		db.log.Debug("netdb: no publish confirmation", "floodfill", p.target.Short())
		p.excluded[p.target] = true
		p.token = 0
		db.publishNext(ctx, st, now)
	case !now.Before(p.due):
		p.excluded = map[data.Hash]bool{}
		db.publishNext(ctx, st, now)
	}
}

// publishNext sends our RouterInfo to the closest floodfill not yet tried.
func (db *DB) publishNext(ctx context.Context, st *state, now time.Time) {
	p := &st.pub
	if len(p.excluded) >= maxPublishExcluded {
		db.log.Warn("netdb: no floodfill confirmed our RouterInfo", "tried", len(p.excluded))
		p.excluded = map[data.Hash]bool{}
	}
	target, ok := db.closestFloodfill(st, db.self, p.excluded, now)
	if !ok {
		// Nobody to publish to yet (or only ourselves): try again soon.
		p.due = now.Add(db.cfg.PublishTimeout)
		return
	}
	gz, err := i2np.CompressRouterInfo(st.local.Bytes())
	if err != nil {
		db.log.Error("netdb: cannot compress our RouterInfo", "err", err)
		return
	}
	token := randomID()
	m, err := newMessage(i2np.DatabaseStore{
		Key:          db.self,
		StoreType:    i2np.StoreRouterInfo,
		ReplyToken:   token,
		ReplyGateway: db.self, // reply tunnel 0: answer us directly
		Data:         gz,
	})
	if err != nil {
		db.log.Error("netdb: cannot build our DatabaseStore", "err", err)
		return
	}
	p.token, p.target, p.sentAt = token, target, now
	db.log.Info("netdb: publishing our RouterInfo", "floodfill", target.Short(), "token", token)
	db.send(ctx, st, target, m, func(ctx context.Context, st *state, err error) {
		if st.pub.token == token {
			st.pub.excluded[target] = true
			st.pub.token = 0
			db.publishNext(ctx, st, time.Now())
		}
	})
}

// handleDeliveryStatus confirms a publish whose token it carries.
func (db *DB) handleDeliveryStatus(st *state, ds i2np.DeliveryStatus) {
	p := &st.pub
	if p.token == 0 || ds.MessageID != p.token {
		return
	}
	now := time.Now()
	db.log.Info("netdb: publish confirmed", "floodfill", p.target.Short(), "token", p.token, "took", now.Sub(p.sentAt).Round(time.Millisecond))
	p.token = 0
	p.excluded = nil
	p.due = now.Add(db.cfg.PublishInterval)
	db.lastPublish.Store(now.UnixMilli())
	t := p.target
	db.publishedTo.Store(&t)
}
