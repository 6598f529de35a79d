package relay_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/relay"
	"brieftraeger/tlog"
)

// TestEquivocationCaught runs a relay that shows tehran another history of
// its log than washington sees: from some point on, every envelope enters
// tehran's view altered. Each party keeps a consistent view on its own, so
// neither notices alone; but each letter carries its sender's cosigned
// checkpoint, and both parties raise the alarm on the next letter they open.
func TestEquivocationCaught(t *testing.T) {
	w := newWorld(t, 64<<10)
	ctx := context.Background()
	send := func(from, to *client.Party) *client.Received {
		t.Helper()
		sent, _, err := from.Send(ctx, client.Outgoing{To: to.Name(), Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := to.Receive(ctx, sent.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	synced := func(p *client.Party, size uint64) uint64 {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cp, err := p.SyncLog(ctx)
			if err != nil {
				t.Fatalf("%s: %v", p.Name(), err)
			}
			if cp.Size >= size {
				return cp.Size
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: log size %d after 10 s, want %d", p.Name(), cp.Size, size)
			}
		}
	}
	// Honest so far: both views agree.
	synced(w.wash, 3)
	synced(w.teh, 3)
	if err := w.teh.CheckGossip(ctx, send(w.wash, w.teh)); err != nil {
		t.Fatalf("honest relay: %v", err)
	}
	relay.EquivocateTo(w.Relay, "tehran", func(leaf []byte) []byte {
		if kind, _, _ := tlog.ParseLeaf(leaf); kind != tlog.KindEnvelope {
			return leaf
		}
		forged := bytes.Clone(leaf)
		forged[len(forged)-1] ^= 1
		return forged
	})
	// More letters; each party's own view stays consistent. Wait until
	// both views hold them (envelope, posted and delivered receipt each).
	before := synced(w.wash, 0)
	send(w.wash, w.teh)
	send(w.teh, w.wash)
	synced(w.wash, before+6)
	synced(w.teh, before+6)
	for _, pair := range [][2]*client.Party{{w.wash, w.teh}, {w.teh, w.wash}} {
		rec := send(pair[0], pair[1])
		err := pair[1].CheckGossip(ctx, rec)
		var alarm *client.InconsistentLogError
		if !errors.As(err, &alarm) {
			t.Fatalf("%s did not catch the equivocation: %v", pair[1].Name(), err)
		}
		t.Logf("%s: %v", pair[1].Name(), err)
	}
}
