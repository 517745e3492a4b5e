package tunnel

import (
	"fmt"
	"io"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// Request-time window of a build record. i2pd 2.45 ignores the request
// time; Java refuses old and future requests. Records state whole minutes
// rounded down and a build crosses at most BuildTimeout, so a fresh
// request is at most a minute plus that old, plus the clock skew NTCP2
// tolerates (±60 s).
const (
	DefaultRequestMaxAge    = 5 * time.Minute
	DefaultRequestMaxFuture = 2 * time.Minute
)

// HopConfig configures a HopHandler.
type HopConfig struct {
	// Keys are our RouterIdentity X25519 keys and Hash our router hash.
	Keys crypto.X25519Keys
	Hash data.Hash
	// RequestMaxAge and RequestMaxFuture bound the request time of records
	// we accept (0: the defaults).
	RequestMaxAge, RequestMaxFuture time.Duration
}

// HopHandler is the hop side of tunnel building for one router: it finds
// and decrypts our record in a ShortTunnelBuild or VariableTunnelBuild,
// drops replays (the same ephemeral key within the request window) and
// stale requests, and hands back a Request to accept or reject. It is not
// safe for concurrent use (its replay filter is shared state); one owner
// handles all build messages, as i2pd's tunnel thread does.
type HopHandler struct {
	cfg    HopConfig
	opener *RecordOpener
	filter *recordFilter
}

// NewHopHandler returns a handler for the router described by cfg.
func NewHopHandler(cfg HopConfig) *HopHandler {
	if cfg.RequestMaxAge <= 0 {
		cfg.RequestMaxAge = DefaultRequestMaxAge
	}
	if cfg.RequestMaxFuture <= 0 {
		cfg.RequestMaxFuture = DefaultRequestMaxFuture
	}
	return &HopHandler{
		cfg:    cfg,
		opener: NewRecordOpener(cfg.Keys, cfg.Hash),
		filter: newRecordFilter(cfg.RequestMaxAge + cfg.RequestMaxFuture),
	}
}

// Request is a build request addressed to us, decrypted.
type Request struct {
	// Long is set for a VariableTunnelBuild (528-byte records).
	Long bool
	// Index is our record's position.
	Index int
	// ReceiveID is the tunnel ID we will receive on; NextID and Next the
	// tunnel and router we forward to (for an OBEP: the reply tunnel and
	// its gateway).
	ReceiveID, NextID i2np.TunnelID
	Next              data.Hash
	Role              Role
	// RequestTime is the creator's time in minutes since the epoch;
	// SendMessageID the message ID to forward (or reply) with.
	RequestTime   uint32
	SendMessageID uint32
	// Secrets hold our keys and the reply's AEAD parameters.
	Secrets RecordSecrets

	us          data.Hash
	short       []i2np.ShortBuildRecord
	long        []i2np.BuildRecord
	replied     bool
	ephemeralID [32]byte
}

// Open looks for our record in a build message (type 25 or 23) and
// decrypts it (i2pd HandleShortTunnelBuildMsg, HandleBuildRequestRecords).
// Errors: ErrNotForUs when no record has our hash prefix, ErrReplay for an
// ephemeral key seen within the window, ErrBadRecord or ErrUnsupported for
// a record that does not decrypt or is invalid, ErrStale for a request
// time outside the window. None of these is answered: a reply would tell
// a prober that we decrypted it.
func (h *HopHandler) Open(now time.Time, m i2np.Message) (*Request, error) {
	body, err := m.Body()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	q := &Request{us: h.cfg.Hash}
	switch b := body.(type) {
	case i2np.ShortTunnelBuild:
		q.short = b.Records
		q.Index = -1
		for i := range b.Records {
			if h.opener.IsOurs(b.Records[i].ToPeer()) {
				q.Index = i
				break
			}
		}
		if q.Index < 0 {
			return nil, ErrNotForUs
		}
		rec := &q.short[q.Index]
		q.ephemeralID = keyOf(rec.EphemeralKey())
		if h.filter.seen(now, q.ephemeralID) {
			return nil, fmt.Errorf("%w: build record with ephemeral key %x", ErrReplay, q.ephemeralID[:4])
		}
		req, s, err := h.opener.OpenShort(rec)
		if err != nil {
			return nil, err
		}
		q.ReceiveID, q.NextID, q.Next = req.ReceiveTunnel, req.NextTunnel, req.NextIdent
		q.RequestTime, q.SendMessageID, q.Secrets = req.RequestTime, req.SendMessageID, s
		q.Role, _ = roleOf(req.Flags)
	case i2np.VariableTunnelBuild:
		q.Long, q.long = true, b.Records
		q.Index = -1
		for i := range b.Records {
			if h.opener.IsOurs(b.Records[i].ToPeer()) {
				q.Index = i
				break
			}
		}
		if q.Index < 0 {
			return nil, ErrNotForUs
		}
		rec := &q.long[q.Index]
		q.ephemeralID = keyOf(rec.EphemeralKey())
		if h.filter.seen(now, q.ephemeralID) {
			return nil, fmt.Errorf("%w: build record with ephemeral key %x", ErrReplay, q.ephemeralID[:4])
		}
		req, s, err := h.opener.OpenLong(rec)
		if err != nil {
			return nil, err
		}
		q.ReceiveID, q.NextID, q.Next = req.ReceiveTunnel, req.NextTunnel, req.NextIdent
		q.RequestTime, q.SendMessageID, q.Secrets = req.RequestTime, req.SendMessageID, s
		q.Role, _ = roleOf(req.Flags)
	default:
		return nil, fmt.Errorf("%w: %v is not a build request", ErrBadRecord, m.Type)
	}
	t := time.Unix(int64(q.RequestTime)*60, 0)
	// A request made during minute M states M: allow the minute's length
	// on top of the age.
	if now.Sub(t) > h.cfg.RequestMaxAge+time.Minute || t.Sub(now) > h.cfg.RequestMaxFuture {
		return nil, fmt.Errorf("%w: request time %s, now %s", ErrStale, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return q, nil
}

// Reply builds our reply and the message that carries it on: code
// i2np.ReplyAccept when accept, else i2np.ReplyRejectBandwidth (the only
// reject code sent, to avoid fingerprinting). Our record becomes the
// encrypted reply and the others get our reply layer; then
//
//   - participant or IBGW: the build message goes to Next with message ID
//     SendMessageID (same type);
//   - short OBEP: an OutboundTunnelBuildReply (26) with ID SendMessageID,
//     garlic-wrapped with the RGarlicKeyAndTag key and tag, in a
//     TunnelGateway for NextID to Next; when Next is our own router (we
//     are also the reply gateway) the reply goes unwrapped in that
//     TunnelGateway to ourselves, as i2pd hands it to its local tunnel;
//   - long OBEP: a VariableTunnelBuildReply (24) with ID SendMessageID in a
//     TunnelGateway for NextID to Next, without garlic (i2pd
//     HandleVariableTunnelBuildMsg).
//
// A Request replies once.
func (q *Request) Reply(r io.Reader, now time.Time, accept bool) ([]Outgoing, error) {
	if q.replied {
		return nil, fmt.Errorf("%w: build request already answered", ErrState)
	}
	q.replied = true
	code := uint8(i2np.ReplyAccept)
	if !accept {
		code = i2np.ReplyRejectBandwidth
	}
	r = randReader(r)
	var next i2np.Body
	if q.Long {
		recs := append([]i2np.BuildRecord(nil), q.long...)
		if err := SealLongReply(recs, q.Index, code, &q.Secrets); err != nil {
			return nil, err
		}
		if q.Role == RoleEndpoint {
			next = i2np.VariableTunnelBuildReply{Records: recs}
		} else {
			next = i2np.VariableTunnelBuild{Records: recs}
		}
	} else {
		recs := append([]i2np.ShortBuildRecord(nil), q.short...)
		if err := SealShortReply(recs, q.Index, code, &q.Secrets); err != nil {
			return nil, err
		}
		if q.Role == RoleEndpoint {
			next = i2np.OutboundTunnelBuildReply{Records: recs}
		} else {
			next = i2np.ShortTunnelBuild{Records: recs}
		}
	}
	msg, err := newMessageID(q.SendMessageID, now, next)
	if err != nil {
		return nil, err
	}
	if q.Role != RoleEndpoint {
		return []Outgoing{{To: q.Next, Msg: msg}}, nil
	}
	if !q.Long && q.Next != q.us {
		k := q.Secrets.Keys
		if msg, err = garlic.WrapTagged(r, now, &k.GarlicKey, k.GarlicTag, msg); err != nil {
			return nil, fmt.Errorf("tunnel: wrap build reply: %w", err)
		}
	}
	gw, err := i2np.NewTunnelGateway(q.NextID, msg)
	if err != nil {
		return nil, fmt.Errorf("tunnel: build reply: %w", err)
	}
	out, err := newMessage(r, now, gw)
	if err != nil {
		return nil, err
	}
	return []Outgoing{{To: q.Next, Msg: out}}, nil
}
