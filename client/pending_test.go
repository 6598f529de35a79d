package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

// sendAt sends a letter of precedence prec from p to tehran and returns
// its id.
func sendAt(t *testing.T, p *client.Party, prec envelope.Precedence) string {
	t.Helper()
	s, _, err := p.Send(context.Background(), client.Outgoing{To: "tehran", Subject: "about " + prec.String(), Precedence: prec, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// systemLetters sends p's contact tehran a heartbeat and a test letter,
// which tehran's device acknowledges or records by itself.
func systemLetters(t *testing.T, p *client.Party) []string {
	t.Helper()
	ctx := context.Background()
	hb, err := p.SendHeartbeat(ctx, "tehran", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := p.SendTestLetter(ctx, "tehran", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return []string{hb.ID, tl.ID}
}

// wantPending fails t unless p's pending letters at deadlines d are want,
// in that order, and those overdue are overdue; it returns them.
func wantPending(t *testing.T, p *client.Party, d client.AckDeadlines, want []string, overdue ...string) []client.Pending {
	t.Helper()
	list, err := p.PendingLetters(d)
	if err != nil {
		t.Fatal(err)
	}
	wantOwed(t, list, func(l client.Pending) (string, bool) { return l.ID, l.Overdue }, want, overdue)
	return list
}

// wantOwed fails t unless the ids of list are want and those overdue are
// overdue.
func wantOwed[T any](t *testing.T, list []T, id func(T) (string, bool), want, overdue []string) {
	t.Helper()
	var got, late []string
	for _, l := range list {
		i, o := id(l)
		got = append(got, i)
		if o {
			late = append(late, i)
		}
	}
	if !slices.Equal(got, want) || !slices.Equal(late, overdue) {
		t.Fatalf("listed %v (overdue %v), want %v (overdue %v)", got, late, want, overdue)
	}
}

// TestPendingLetters has tehran open two ROUTINE letters and a FLASH
// between them, a heartbeat and a test letter. Pending lists the three
// letters, the FLASH first and then the longest waiting, each overdue
// once past its acknowledgement deadline, and drops a letter once a
// person acknowledges it; receiving it again does not list it again.
func TestPendingLetters(t *testing.T) {
	clock, wash, teh := pairAt(t)
	ctx := context.Background()
	r1 := sendAt(t, wash, envelope.Routine)
	receive(t, teh, r1)
	clock.Advance(time.Minute)
	f := sendAt(t, wash, envelope.Flash)
	receive(t, teh, f)
	clock.Advance(time.Minute)
	r2 := sendAt(t, wash, envelope.Routine)
	receive(t, teh, r2)
	receive(t, teh, systemLetters(t, wash)...)

	list := wantPending(t, teh, nil, []string{f, r1, r2})
	if l := list[1]; l.WaitedS != 120 || l.Due.Sub(l.OpenedAt) != 24*time.Hour || l.From != "washington" || l.Subject != "about ROUTINE" {
		t.Fatalf("pending %+v", l)
	}
	clock.Advance(8*time.Minute + 30*time.Second) // the FLASH has waited 9m30s of its 10 minutes
	wantPending(t, teh, nil, []string{f, r1, r2})
	clock.Advance(31 * time.Second)
	wantPending(t, teh, nil, []string{f, r1, r2}, f)
	routine, _ := client.ParseAckDeadlines("ROUTINE=11m")
	wantPending(t, teh, routine, []string{f, r1, r2}, f, r1)

	if _, err := teh.Ack(ctx, f); err != nil {
		t.Fatal(err)
	}
	wantPending(t, teh, nil, []string{r1, r2})
	receive(t, teh, f)
	wantPending(t, teh, nil, []string{r1, r2})
}

// wantUnacknowledged fails t unless p's letters delivered and not
// acknowledged, at the default deadlines, are want, in that order, and
// those overdue are overdue.
func wantUnacknowledged(t *testing.T, p *client.Party, want []string, overdue ...string) []client.Unacknowledged {
	t.Helper()
	if _, err := p.CollectReceipts(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := p.UnacknowledgedLetters(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantOwed(t, list, func(l client.Unacknowledged) (string, bool) { return l.ID, l.Overdue }, want, overdue)
	return list
}

// TestUnacknowledgedLetters is the sender's side: washington's letters,
// once delivered, wait for their acknowledged receipt, the FLASH overdue
// after its 10 minutes from delivery; a letter not delivered, a heartbeat
// and a test letter are not listed; an acknowledged letter drops out.
func TestUnacknowledgedLetters(t *testing.T) {
	clock, wash, teh := pairAt(t)
	ctx := context.Background()
	r := sendAt(t, wash, envelope.Routine)
	f := sendAt(t, wash, envelope.Flash)
	waiting := sendAt(t, wash, envelope.Flash)
	sys := systemLetters(t, wash)
	wantUnacknowledged(t, wash, nil)
	receive(t, teh, append([]string{r, f}, sys...)...)
	list := wantUnacknowledged(t, wash, []string{f, r})
	if l := list[0]; l.To != "tehran" || l.Due.Sub(l.DeliveredAt) != 10*time.Minute {
		t.Fatalf("unacknowledged %+v", l)
	}
	clock.Advance(10*time.Minute + time.Second)
	wantUnacknowledged(t, wash, []string{f, r}, f)
	if _, err := teh.Ack(ctx, f); err != nil {
		t.Fatal(err)
	}
	wantUnacknowledged(t, wash, []string{r})
	receive(t, teh, waiting)
	wantUnacknowledged(t, wash, []string{waiting, r})
}

// BenchmarkPendingLetters asks for the pending letters, as brief watch
// does on every tick, of a party that has opened 4 letters and 299
// heartbeats, with one letter not acknowledged.
func BenchmarkPendingLetters(b *testing.B) {
	ctx := context.Background()
	_, teh := lettersAndBeats(b, func(i int, teh *client.Party, sent *client.SentLetter) error {
		_, err := teh.Receive(ctx, sent.ID)
		if err == nil && i%100 == 0 && i != 300 {
			_, err = teh.Ack(ctx, sent.ID)
		}
		return err
	})
	b.ResetTimer()
	for range b.N {
		if l, err := teh.PendingLetters(nil); err != nil || len(l) != 1 {
			b.Fatal(l, err)
		}
	}
}

// TestAckWhileRelayDown acknowledges a letter while the relay is down: the
// receipt is recorded and the letter stays pending, marked, until the
// receipt goes; RetryReceipts sends it once the relay is back, and the
// sender gets it.
func TestAckWhileRelayDown(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	id := sendAt(t, wash, envelope.Priority)
	receive(t, teh, id)
	w.Pause()
	if _, err := teh.Ack(ctx, id); err == nil {
		t.Fatal("ack with the relay down reported sent")
	}
	list := wantPending(t, teh, nil, []string{id})
	if !list[0].AckUnsent {
		t.Fatalf("pending while the receipt waits: %+v", list[0])
	}
	w.Resume()
	if n, err := teh.RetryReceipts(ctx); err != nil || n != 1 {
		t.Fatalf("retry: %d sent, %v", n, err)
	}
	wantPending(t, teh, nil, nil)
	if n, err := teh.RetryReceipts(ctx); err != nil || n != 0 {
		t.Fatalf("a second retry: %d sent, %v", n, err)
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := wash.Sent(id); len(s.Receipts) != 3 {
		t.Fatalf("the sender holds %d receipts, want posted, delivered and acknowledged", len(s.Receipts))
	}
}
