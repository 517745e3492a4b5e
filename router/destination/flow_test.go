package destination

import (
	"testing"

	"i2pbridge/router/streaming"
)

// streamFlow reads the Receive Stream ID where the streaming codec writes
// it, on a SYN (no send ID yet) and a later packet, and gives zero on a
// packet cut short before it.
func TestStreamFlowIsTheReceiveStreamID(t *testing.T) {
	for _, p := range []streaming.Packet{
		{ReceiveStreamID: 0xA1B2C3D4, Flags: streaming.FlagSYN},
		{SendStreamID: 7, ReceiveStreamID: 0x01020304, Seq: 9, AckThrough: 3, Payload: []byte("data")},
	} {
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := streamFlow(b); got != uint64(p.ReceiveStreamID) {
			t.Errorf("streamFlow of %v = %#x, want %#x", p, got, p.ReceiveStreamID)
		}
		for n := range 8 {
			if got := streamFlow(b[:n]); got != 0 {
				t.Errorf("streamFlow of %d bytes = %#x, want 0", n, got)
			}
		}
	}
}
