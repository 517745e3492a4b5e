package i2np

import "testing"

// Round-trip fuzz targets: every input that parses must append back to
// exactly the bytes the parser used (parse → append → same bytes), and no
// input may panic. Seeds are the hand-built vectors.

func FuzzMessage(f *testing.F) {
	f.Add(dsFull)
	for typ, p := range bodyVectors() {
		m, _ := (Message{Type: typ, ID: 9, Expiration: 1, Payload: p}).Append(nil)
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseMessage, b) })
}

// shortForm gives a Message the short form's Append and Len.
type shortForm struct{ Message }

func (s shortForm) Append(b []byte) ([]byte, error) { return s.AppendShort(b) }
func (s shortForm) Len() int                        { return s.ShortLen() }

func parseShortForm(b []byte) (shortForm, int, error) {
	m, n, err := ParseShortMessage(b)
	return shortForm{m}, n, err
}

func FuzzShortMessage(f *testing.F) {
	f.Add(dsShort)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, parseShortForm, b) })
}

// FuzzBody drives ParseBody with the type in the first byte, covering the
// dispatcher and unknown types.
func FuzzBody(f *testing.F) {
	for typ, p := range bodyVectors() {
		f.Add(append([]byte{byte(typ)}, p...))
	}
	f.Add([]byte{200, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		body, err := ParseBody(Type(b[0]), b[1:])
		if err != nil {
			return
		}
		out, err := body.Append(nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if string(out) != string(b[1:]) || body.Len() != len(b)-1 || body.Type() != Type(b[0]) {
			t.Fatalf("round trip mismatch for %v", Type(b[0]))
		}
	})
}

func FuzzDatabaseStore(f *testing.F) {
	f.Add(dsmRouterInfo)
	f.Add(dsmLeaseSet2)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseDatabaseStore, b) })
}

func FuzzDatabaseLookup(f *testing.F) {
	f.Add(cat(rep(0x03, 32), rep(0x04, 32), hx("15"), hx("0badcafe"), hx("0001"), rep(5, 32), rep(7, 32), hx("01"), seq(0, 8)))
	f.Add(cat(rep(0x03, 32), rep(0x04, 32), hx("07"), hx("00000001"), hx("0000"), rep(7, 32), hx("01"), rep(8, 32)))
	f.Add(cat(rep(1, 32), rep(2, 32), hx("08"), hx("0000")))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseDatabaseLookup, b) })
}

func FuzzDatabaseSearchReply(f *testing.F) {
	f.Add(dsrm)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseDatabaseSearchReply, b) })
}

func FuzzDeliveryStatus(f *testing.F) {
	f.Add(dsPayload)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseDeliveryStatus, b) })
}

func FuzzGarlic(f *testing.F) {
	f.Add(hx("00000002 abcd"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseGarlic, b) })
}

func FuzzData(f *testing.F) {
	f.Add(hx("00000001 ff"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseData, b) })
}

func FuzzTunnelData(f *testing.F) {
	f.Add(cat(hx("00000001"), seq(0, 255), seq(0, 255), seq(0, 255), seq(0, 255), seq(0, 4)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseTunnelData, b) })
}

func FuzzTunnelGateway(f *testing.F) {
	f.Add(cat(hx("00001234 001c"), dsFull))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, ParseTunnelGateway, b)
		if tg, _, err := ParseTunnelGateway(b); err == nil {
			_, _ = tg.Inner() // must not panic
		}
	})
}

func FuzzTunnelBuild(f *testing.F) {
	f.Add(records(8, 528))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseTunnelBuild, b) })
}

func FuzzTunnelBuildReply(f *testing.F) {
	f.Add(records(8, 528))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseTunnelBuildReply, b) })
}

func FuzzVariableTunnelBuild(f *testing.F) {
	f.Add(cat(hx("01"), records(1, 528)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseVariableTunnelBuild, b) })
}

func FuzzVariableTunnelBuildReply(f *testing.F) {
	f.Add(cat(hx("02"), records(2, 528)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseVariableTunnelBuildReply, b) })
}

func FuzzShortTunnelBuild(f *testing.F) {
	f.Add(cat(hx("04"), records(4, 218)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseShortTunnelBuild, b) })
}

func FuzzOutboundTunnelBuildReply(f *testing.F) {
	f.Add(cat(hx("04"), records(4, 218)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseOutboundTunnelBuildReply, b) })
}

func FuzzBuildRequestRecord(f *testing.F) {
	f.Add(longRequest)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseBuildRequestRecord, b) })
}

func FuzzShortBuildRequestRecord(f *testing.F) {
	f.Add(shortRequest)
	f.Add(cat(shortRequest[:56], hx("0006 016d 3d 0135 3b"), make([]byte, 90)))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseShortBuildRequestRecord, b) })
}

func FuzzBuildReplyRecord(f *testing.F) {
	f.Add(cat(hx("0000"), make([]byte, 509), hx("1e")))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseBuildReplyRecord, b) })
}

func FuzzShortBuildReplyRecord(f *testing.F) {
	f.Add(cat(hx("0000"), rep(0x77, 199), hx("1e")))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseShortBuildReplyRecord, b) })
}

func FuzzCloveDelivery(f *testing.F) {
	f.Add(hx("00"))
	f.Add(cat(hx("60"), rep(0xd3, 32), hx("00c0ffee")))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseCloveDelivery, b) })
}

func FuzzClove(f *testing.F) {
	f.Add(destClove)
	f.Add(cat(hx("00"), dsShort))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRoundTrip(t, ParseClove, b) })
}
