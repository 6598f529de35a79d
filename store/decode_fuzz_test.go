package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// FuzzDecodeEnvelope feeds arbitrary header values and payloads to the
// decoders of MAIL messages and mailbox entries. They must not panic, what
// they accept must be within bounds, and its metadata must survive a round
// trip through metaHeader.
func FuzzDecodeEnvelope(f *testing.F) {
	st := Stored{ID: "00112233445566778899aabbccddeeff", From: "washington", To: "tehran", Precedence: 1,
		BodySize: 3, Time: time.Unix(1700000000, 5).UTC()}
	h := metaHeader(st)
	f.Add(h.Get(hdrID), h.Get(hdrFrom), h.Get(hdrTo), h.Get(hdrPrec), h.Get(hdrSize), h.Get(hdrSHA256), h.Get(hdrTime), "2", "inline", "7", []byte("hhabc"))
	f.Add(h.Get(hdrID), h.Get(hdrFrom), h.Get(hdrTo), "9", "-1", "00", "x", "-1", "object", "", []byte{})
	f.Fuzz(func(t *testing.T, id, from, to, prec, size, sum, tm, hlen, body, seq string, data []byte) {
		h := nats.Header{hdrID: {id}, hdrFrom: {from}, hdrTo: {to}, hdrPrec: {prec}, hdrSize: {size},
			hdrSHA256: {sum}, hdrTime: {tm}, hdrHeaderLen: {hlen}, hdrBody: {body}, hdrSeq: {seq}}
		env, err := decodeEnvelope(h, data)
		if err == nil {
			if env.Precedence > 3 || env.BodySize < 0 || len(env.Header)+len(env.inline) != len(data) {
				t.Fatalf("out of bounds: %+v", env.Stored)
			}
			again, err := decodeMeta(metaHeader(env.Stored))
			if err != nil || again.ID != env.ID || again.BodySize != env.BodySize || !again.Time.Equal(env.Time) || again.BodySHA256 != env.BodySHA256 {
				t.Fatalf("round trip: %v %+v %+v", err, again, env.Stored)
			}
		}
		if b, err := decodeBox(h, data); err == nil && !bytes.Equal(b.Header, data) {
			t.Fatal("mailbox entry lost its header")
		}
		decodeReceipt(1, h, data)
	})
}
