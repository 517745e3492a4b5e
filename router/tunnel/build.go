package tunnel

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/garlic"
	"i2pbridge/router/i2np"
)

// Build sizes (tunnel-creation-ecies.rst §"Build Records"; i2pd Tunnel.h
// STANDARD_NUM_RECORDS, MAX_NUM_RECORDS).
const (
	// MinRecords is the recommended minimum record count, so that middle
	// hops cannot tell a short tunnel from a long one.
	MinRecords = 4
	// MaxRecords is the most records a build message holds.
	MaxRecords = i2np.MaxBuildRecords
	// MaxHops is the longest tunnel: every record used. An inbound tunnel
	// has one hop less, for the originator's fake record.
	MaxHops = MaxRecords
)

// BuildConfig describes a tunnel to build. Hops are in traversal order:
// for an inbound tunnel Hops[0] is the inbound gateway and the last hop
// forwards to Creator (us); for an outbound tunnel Hops[0] receives our
// TunnelData and the last hop is the outbound endpoint, which sends the
// build reply into the tunnel ReplyTunnel at ReplyGateway (one of our
// inbound tunnels, or our own router for a zero-hop reply path).
type BuildConfig struct {
	Hops    []Peer
	Inbound bool
	// Creator is our router hash (inbound builds).
	Creator data.Hash
	// ReplyGateway and ReplyTunnel are where the outbound endpoint sends
	// its reply (outbound builds).
	ReplyGateway data.Hash
	ReplyTunnel  i2np.TunnelID
	// Long builds a VariableTunnelBuild with 528-byte records instead of a
	// ShortTunnelBuild; i2pd does so when a hop is older than 0.9.51.
	Long bool
	// Records is the record count: 0 means max(MinRecords, hops + 1 for
	// an inbound tunnel's originator record).
	Records int
	// Endpoint sets the reassembly limits of an inbound tunnel.
	Endpoint EndpointConfig
	Logger   *slog.Logger
}

func (c *BuildConfig) check() error {
	n := len(c.Hops)
	extra := 0
	if c.Inbound {
		extra = 1
	}
	if n < 1 || n+extra > MaxRecords {
		return fmt.Errorf("%w: %d hops (inbound %v), want 1 to %d", ErrConfig, n, c.Inbound, MaxRecords-extra)
	}
	if c.Records == 0 {
		c.Records = max(MinRecords, n+extra)
	}
	if c.Records < n+extra || c.Records > MaxRecords {
		return fmt.Errorf("%w: %d records for %d hops (inbound %v)", ErrConfig, c.Records, n, c.Inbound)
	}
	if c.Inbound && c.Creator.IsZero() {
		return fmt.Errorf("%w: inbound build without the creator's hash", ErrConfig)
	}
	if !c.Inbound && (c.ReplyGateway.IsZero() || c.ReplyTunnel == 0) {
		return fmt.Errorf("%w: outbound build without a reply tunnel", ErrConfig)
	}
	for i, h := range c.Hops {
		if h.Hash.IsZero() {
			return fmt.Errorf("%w: hop %d has no hash", ErrConfig, i)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// builtHop is one hop as the creator configured it.
type builtHop struct {
	peer      Peer
	index     int // record index
	receiveID i2np.TunnelID
	nextID    i2np.TunnelID
	next      data.Hash
	role      Role
	secrets   RecordSecrets
}

// fakeRecord remembers a fake record as sent, to verify it comes back
// unmodified apart from the hops' reply layers.
type fakeRecord struct {
	index int
	sent  []byte
}

// PendingBuild is a tunnel build we sent and await the reply to. Its state
// is StateBuilding until HandleReply (Established or Failed) or Expire
// (Failed after BuildTimeout); see State for the diagram.
type PendingBuild struct {
	cfg        BuildConfig
	created    time.Time
	state      State
	replyMsgID uint32
	hops       []builtHop
	fakes      []fakeRecord
	request    i2np.Message
}

// NewBuild prepares the build message for cfg at time now
// (tunnel-creation-ecies.rst; i2pd Tunnel::Build):
//
//   - each hop gets a random nonzero receive tunnel ID; hop i's next is
//     hop i+1 and its receive ID, the last hop's next is the creator with
//     a random ID (inbound) or the reply gateway and tunnel (outbound);
//   - every hop but the last gets a random next message ID; the last
//     hop's is the reply message ID, by which the creator will recognise
//     the reply;
//   - the inbound gateway is flagged 0x80, the outbound endpoint 0x40;
//   - records are placed at random indices; the others are random fakes,
//     and an inbound build's first fake carries the creator's hash prefix
//     and a key-like byte 47 (bit 7 clear), so the last hop cannot tell
//     that it forwards to the originator (§"Build Records");
//   - hop k's record is pre-encrypted with the reply layers of hops 0…k−1
//     (ChaCha20 for short records, AES-CBC decryption for long ones), which
//     those hops' reply processing then removes.
//
// r supplies every random value (crypto/rand when nil).
func NewBuild(r io.Reader, now time.Time, cfg BuildConfig) (*PendingBuild, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r = randReader(r)
	cfg.Hops = append([]Peer(nil), cfg.Hops...)
	b := &PendingBuild{cfg: cfg, created: now, state: StateBuilding}
	var err error
	if b.replyMsgID, err = randomUint32(r); err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("tunnel: random source: %w", err)
	}
	order := rand.New(rand.NewChaCha8(seed)).Perm(cfg.Records)

	n := len(cfg.Hops)
	b.hops = make([]builtHop, n)
	for i := range b.hops {
		h := &b.hops[i]
		h.peer, h.index = cfg.Hops[i], order[i]
		if h.receiveID, err = randomTunnelID(r); err != nil {
			return nil, err
		}
		switch {
		case cfg.Inbound && i == 0:
			h.role = RoleGateway
		case !cfg.Inbound && i == n-1:
			h.role = RoleEndpoint
		}
	}
	for i := range b.hops {
		h := &b.hops[i]
		switch {
		case i < n-1:
			h.next, h.nextID = b.hops[i+1].peer.Hash, b.hops[i+1].receiveID
		case cfg.Inbound:
			h.next = cfg.Creator
			if h.nextID, err = randomTunnelID(r); err != nil {
				return nil, err
			}
		default:
			h.next, h.nextID = cfg.ReplyGateway, cfg.ReplyTunnel
		}
	}

	minutes := i2np.RequestMinutes(now)
	if cfg.Long {
		err = b.sealLong(r, minutes, order)
	} else {
		err = b.sealShort(r, minutes, order)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *PendingBuild) sendMsgID(r io.Reader, i int) (uint32, error) {
	if i == len(b.hops)-1 {
		return b.replyMsgID, nil
	}
	return randomUint32(r)
}

// fillFakes writes the fake records into recs (recLen bytes each, at the
// indices order[len(hops):]) and remembers them.
func (b *PendingBuild) fillFakes(r io.Reader, order []int, record func(int) []byte) error {
	for k, idx := range order[len(b.hops):] {
		rec := record(idx)
		if _, err := io.ReadFull(r, rec); err != nil {
			return fmt.Errorf("tunnel: fake record: %w", err)
		}
		if b.cfg.Inbound && k == 0 {
			copy(rec, b.cfg.Creator[:i2np.RecordToPeerLen])
			rec[i2np.RecordToPeerLen+31] &= 0x7f
		}
		b.fakes = append(b.fakes, fakeRecord{index: idx})
	}
	return nil
}

func (b *PendingBuild) rememberFakes(record func(int) []byte) {
	for i := range b.fakes {
		b.fakes[i].sent = bytes.Clone(record(b.fakes[i].index))
	}
}

func (b *PendingBuild) sealShort(r io.Reader, minutes uint32, order []int) error {
	recs := make([]i2np.ShortBuildRecord, b.cfg.Records)
	for i := range b.hops {
		h := &b.hops[i]
		msgID, err := b.sendMsgID(r, i)
		if err != nil {
			return err
		}
		req := i2np.ShortBuildRequestRecord{
			ReceiveTunnel:   h.receiveID,
			NextTunnel:      h.nextID,
			NextIdent:       h.next,
			Flags:           flagsOf(h.role),
			LayerEncryption: i2np.LayerEncryptionAES,
			RequestTime:     minutes,
			Expiration:      i2np.DefaultRequestExpiration,
			SendMessageID:   msgID,
		}
		if recs[h.index], h.secrets, err = SealShortRecord(r, h.peer, req); err != nil {
			return err
		}
	}
	if err := b.fillFakes(r, order, func(i int) []byte { return recs[i][:] }); err != nil {
		return err
	}
	// Pre-encrypt: hop k's record gets the layers of hops 0…k−1.
	for k := 1; k < len(b.hops); k++ {
		for m := k - 1; m >= 0; m-- {
			chachaRecord(&recs[b.hops[k].index], b.hops[k].index, &b.hops[m].secrets.Keys.Reply)
		}
	}
	b.rememberFakes(func(i int) []byte { return recs[i][:] })
	id, err := randomUint32(r)
	if err != nil {
		return err
	}
	b.request, err = newMessageID(id, b.created, i2np.ShortTunnelBuild{Records: recs})
	return err
}

func (b *PendingBuild) sealLong(r io.Reader, minutes uint32, order []int) error {
	recs := make([]i2np.BuildRecord, b.cfg.Records)
	for i := range b.hops {
		h := &b.hops[i]
		msgID, err := b.sendMsgID(r, i)
		if err != nil {
			return err
		}
		req := i2np.BuildRequestRecord{
			ReceiveTunnel: h.receiveID,
			NextTunnel:    h.nextID,
			NextIdent:     h.next,
			Flags:         flagsOf(h.role),
			RequestTime:   minutes,
			Expiration:    i2np.DefaultRequestExpiration,
			SendMessageID: msgID,
		}
		for _, k := range [][]byte{req.LayerKey[:], req.IVKey[:], req.ReplyKey[:], req.ReplyIV[:]} {
			if _, err := io.ReadFull(r, k); err != nil {
				return fmt.Errorf("tunnel: long record keys: %w", err)
			}
		}
		if recs[h.index], h.secrets, err = SealLongRecord(r, h.peer, req); err != nil {
			return err
		}
	}
	if err := b.fillFakes(r, order, func(i int) []byte { return recs[i][:] }); err != nil {
		return err
	}
	// Pre-decrypt: hop k's record becomes D_0(D_1(…D_{k−1}(record))),
	// D_{k−1} applied first, so that hop 0's CBC encryption peels D_0 and
	// so on (i2pd Tunnel::Build).
	for k := 1; k < len(b.hops); k++ {
		for m := k - 1; m >= 0; m-- {
			if err := undoLongLayer(&recs[b.hops[k].index], &b.hops[m].secrets.Keys); err != nil {
				return err
			}
		}
	}
	b.rememberFakes(func(i int) []byte { return recs[i][:] })
	id, err := randomUint32(r)
	if err != nil {
		return err
	}
	b.request, err = newMessageID(id, b.created, i2np.VariableTunnelBuild{Records: recs})
	return err
}

// Request is the build message: send it to FirstHop for an outbound
// tunnel; for an inbound one, through an outbound tunnel to FirstHop,
// wrapped by WrapRequest.
func (b *PendingBuild) Request() i2np.Message { return b.request }

// FirstHop is the hop the request goes to first: the outbound tunnel's
// first hop or the inbound gateway.
func (b *PendingBuild) FirstHop() Peer { return b.hops[0].peer }

// ReplyMsgID is the message ID of the reply: the last hop's forwarded
// build message (inbound) or the endpoint's build reply (outbound).
func (b *PendingBuild) ReplyMsgID() uint32 { return b.replyMsgID }

// Inbound reports whether this builds an inbound tunnel.
func (b *PendingBuild) Inbound() bool { return b.cfg.Inbound }

// Created is when the build was made.
func (b *PendingBuild) Created() time.Time { return b.created }

// State is the build's state (see State).
func (b *PendingBuild) State() State { return b.state }

// GarlicReply returns the key and tag under which the outbound endpoint of
// a short outbound build wraps its OutboundTunnelBuildReply; the creator
// must register them in its TagTable before sending the request (i2pd
// Tunnel::Build, AddECIESx25519Key). ok is false when there is no garlic
// reply: inbound or long builds, or an endpoint that is also the reply
// gateway and hands the reply over unwrapped.
func (b *PendingBuild) GarlicReply() (key [32]byte, tag garlic.Tag, ok bool) {
	last := &b.hops[len(b.hops)-1]
	if b.cfg.Inbound || b.cfg.Long || last.next == last.peer.Hash {
		return key, tag, false
	}
	return last.secrets.Keys.GarlicKey, last.secrets.Keys.GarlicTag, true
}

// WrapRequest returns the message to send through an outbound tunnel
// whose endpoint is obep, with ROUTER delivery to FirstHop: for a short
// inbound build, the request Noise-N-wrapped for the inbound gateway
// (tunnel-creation-ecies.rst §"Garlic Encryption"), unless the gateway is
// the endpoint itself; otherwise the request as it is (i2pd does not wrap
// long builds).
func (b *PendingBuild) WrapRequest(r io.Reader, now time.Time, obep data.Hash) (i2np.Message, error) {
	first := b.hops[0].peer
	if !b.cfg.Inbound || b.cfg.Long || first.Hash == obep {
		return b.request, nil
	}
	m, err := garlic.WrapForRouter(randReader(r), now, first.Key, b.request)
	if err != nil {
		return i2np.Message{}, fmt.Errorf("tunnel: wrap inbound build for %s: %w", first, err)
	}
	return m, nil
}

// Expire fails the build when BuildTimeout has passed without a reply and
// reports the state.
func (b *PendingBuild) Expire(now time.Time) State {
	if b.state == StateBuilding && now.Sub(b.created) > BuildTimeout {
		b.state = StateFailed
	}
	return b.state
}

// BuildResult is the outcome of a build reply: every hop's reply code in
// hop order, and on success the tunnel (Inbound or Outbound).
type BuildResult struct {
	Codes    []uint8
	Inbound  *InboundTunnel
	Outbound *OutboundTunnel
}

// HandleReply processes the reply m: the build message forwarded back to
// us by an inbound tunnel's last hop (type 25 or 23), or an outbound
// endpoint's reply (type 26 or 24, after any garlic is removed). It walks
// the hops from last to first (i2pd Tunnel::HandleTunnelBuildResponse):
// authenticate and decrypt hop k's own record, then remove hop k's reply
// layer from the records of hops 0…k−1 and the fakes. The fakes must then
// equal what was sent, or a hop tampered with them (§"Build Records":
// "Originators of inbound tunnels must use some method to validate that
// their fake record has not been modified").
//
// All codes 0 establishes the tunnel; any other code fails the build with
// ErrRejected (the result still has the codes). A reply that does not
// authenticate fails it with ErrBadRecord.
func (b *PendingBuild) HandleReply(now time.Time, m i2np.Message) (*BuildResult, error) {
	if b.Expire(now) != StateBuilding {
		return nil, fmt.Errorf("%w: build %d is %v", ErrState, b.replyMsgID, b.state)
	}
	if m.ID != b.replyMsgID {
		return nil, fmt.Errorf("%w: reply message ID %d, build %d", ErrBadRecord, m.ID, b.replyMsgID)
	}
	res, err := b.handleReply(m)
	if err != nil {
		b.state = StateFailed
		return res, fmt.Errorf("tunnel: build %d: %w", b.replyMsgID, err)
	}
	b.state = StateEstablished
	return res, nil
}

func (b *PendingBuild) expectedType() i2np.Type {
	switch {
	case b.cfg.Inbound && b.cfg.Long:
		return i2np.TypeVariableTunnelBuild
	case b.cfg.Inbound:
		return i2np.TypeShortTunnelBuild
	case b.cfg.Long:
		return i2np.TypeVariableTunnelBuildReply
	}
	return i2np.TypeOutboundTunnelBuildReply
}

func (b *PendingBuild) handleReply(m i2np.Message) (*BuildResult, error) {
	if want := b.expectedType(); m.Type != want {
		return nil, fmt.Errorf("%w: reply of type %v, want %v", ErrBadRecord, m.Type, want)
	}
	body, err := m.Body()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	codes := make([]uint8, len(b.hops))
	switch rb := body.(type) {
	case i2np.ShortTunnelBuild:
		err = b.openShort(rb.Records, codes)
	case i2np.OutboundTunnelBuildReply:
		err = b.openShort(rb.Records, codes)
	case i2np.VariableTunnelBuild:
		err = b.openLong(rb.Records, codes)
	case i2np.VariableTunnelBuildReply:
		err = b.openLong(rb.Records, codes)
	}
	if err != nil {
		return nil, err
	}
	res := &BuildResult{Codes: codes}
	for i, c := range codes {
		if c != i2np.ReplyAccept {
			return res, fmt.Errorf("%w: hop %d (%s) replied %d", ErrRejected, i, b.hops[i].peer, c)
		}
	}
	keys := make([]HopKeys, len(b.hops))
	peers := make([]Peer, len(b.hops))
	for i := range b.hops {
		keys[i], peers[i] = b.hops[i].secrets.Keys, b.hops[i].peer
	}
	if b.cfg.Inbound {
		last := &b.hops[len(b.hops)-1]
		res.Inbound = &InboundTunnel{
			id: last.nextID, hops: peers, gateway: b.hops[0].receiveID,
			layers: layersOf(keys), endpoint: NewEndpoint(b.cfg.Endpoint),
			created: b.created, state: StateEstablished, log: b.cfg.Logger,
		}
	} else {
		res.Outbound = &OutboundTunnel{
			id: b.hops[0].receiveID, hops: peers, layers: layersOf(keys),
			created: b.created, state: StateEstablished,
		}
	}
	return res, nil
}

func (b *PendingBuild) checkCount(n int) error {
	if n != b.cfg.Records {
		return fmt.Errorf("%w: reply has %d records, we sent %d", ErrBadRecord, n, b.cfg.Records)
	}
	return nil
}

func (b *PendingBuild) openShort(in []i2np.ShortBuildRecord, codes []uint8) error {
	if err := b.checkCount(len(in)); err != nil {
		return err
	}
	recs := append([]i2np.ShortBuildRecord(nil), in...)
	for k := len(b.hops) - 1; k >= 0; k-- {
		h := &b.hops[k]
		code, err := openShortReply(&recs[h.index], h.index, &h.secrets)
		if err != nil {
			return fmt.Errorf("hop %d (%s): %w", k, h.peer, err)
		}
		codes[k] = code
		for m := 0; m < k; m++ {
			idx := b.hops[m].index
			chachaRecord(&recs[idx], idx, &h.secrets.Keys.Reply)
		}
		for _, f := range b.fakes {
			chachaRecord(&recs[f.index], f.index, &h.secrets.Keys.Reply)
		}
	}
	for _, f := range b.fakes {
		if !bytes.Equal(recs[f.index][:], f.sent) {
			return fmt.Errorf("%w: fake record %d was modified", ErrBadRecord, f.index)
		}
	}
	return nil
}

func (b *PendingBuild) openLong(in []i2np.BuildRecord, codes []uint8) error {
	if err := b.checkCount(len(in)); err != nil {
		return err
	}
	recs := append([]i2np.BuildRecord(nil), in...)
	for k := len(b.hops) - 1; k >= 0; k-- {
		h := &b.hops[k]
		code, err := openLongReply(&recs[h.index], &h.secrets)
		if err != nil {
			return fmt.Errorf("hop %d (%s): %w", k, h.peer, err)
		}
		codes[k] = code
		for m := 0; m < k; m++ {
			if err := undoLongLayer(&recs[b.hops[m].index], &h.secrets.Keys); err != nil {
				return err
			}
		}
		for _, f := range b.fakes {
			if err := undoLongLayer(&recs[f.index], &h.secrets.Keys); err != nil {
				return err
			}
		}
	}
	for _, f := range b.fakes {
		if !bytes.Equal(recs[f.index][:], f.sent) {
			return fmt.Errorf("%w: fake record %d was modified", ErrBadRecord, f.index)
		}
	}
	return nil
}
