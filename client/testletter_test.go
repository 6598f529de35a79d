package client_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

// TestTestLetterRoundTrip sends a test letter, has the other side open it
// (which acknowledges it), and checks the round trip each side records; a
// second test letter that is never opened turns up as missing once it is
// past due, and neither counts as an overdue letter.
func TestTestLetterRoundTrip(t *testing.T) {
	clock, wash, teh := pairAt(t)
	ctx := context.Background()
	const every, wait = time.Hour, 2 * time.Hour

	if due, err := wash.TestLetterDue("tehran", every); err != nil || !due {
		t.Fatalf("before any test letter: due %v, %v", due, err)
	}
	first, err := wash.SendTestLetter(ctx, "tehran", wait)
	if err != nil {
		t.Fatal(err)
	}
	if first.Subject != client.TestLetterSubject || first.Precedence != "IMMEDIATE" {
		t.Fatalf("test letter %+v", first)
	}
	if due, _ := wash.TestLetterDue("tehran", every); due {
		t.Fatal("a test letter is due right after one was sent")
	}
	clock.Advance(40 * time.Millisecond) // receipts carry milliseconds
	rec, err := teh.Receive(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tl, err := teh.TestLetterOf(rec); err != nil || tl == nil || len(tl.Nonce) != 32 {
		t.Fatalf("test letter part: %+v %v", tl, err)
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	s := status(t, wash).TestLetters
	if s == nil || s.LastSent == nil || s.LastSent.ID != first.ID || s.LastAcknowledged == nil || s.LastAcknowledged.ID != first.ID {
		t.Fatalf("sender's view after the acknowledgement: %+v", s)
	}
	if s.PostToDeliveredMillis == nil || s.PostToAcknowledgedMillis == nil || *s.PostToAcknowledgedMillis < *s.PostToDeliveredMillis || len(s.Missing) != 0 {
		t.Fatalf("round trip: %+v", s)
	}
	in := status(t, teh).TestLetters
	if in == nil || in.LastReceived == nil || in.LastReceived.ID != first.ID || in.LastReceived.AcknowledgedAt == nil ||
		in.SentToAcknowledgedMillis == nil || *in.SentToAcknowledgedMillis < 39 || in.LastSent != nil {
		t.Fatalf("recipient's view: %+v (received %+v)", in, in.LastReceived)
	}

	clock.Advance(every)
	if due, _ := wash.TestLetterDue("tehran", every); !due {
		t.Fatal("no test letter due an interval later")
	}
	second, err := wash.SendTestLetter(ctx, "tehran", wait)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(wait - time.Second)
	if s := status(t, wash).TestLetters; len(s.Missing) != 0 || s.LastSent.ID != second.ID {
		t.Fatalf("missing before its due time: %+v", s)
	}
	clock.Advance(2 * time.Second)
	if s := status(t, wash).TestLetters; len(s.Missing) != 1 || s.Missing[0].ID != second.ID || s.LastAcknowledged.ID != first.ID {
		t.Fatalf("past its due time: %+v", s)
	}
	if o, err := wash.OverdueLetters(nil); err != nil || len(o) != 0 {
		t.Fatalf("test letters reported overdue: %+v %v", o, err)
	}
}

// TestPlainLetterNotAcknowledged checks that only test letters are
// acknowledged when opened.
func TestPlainLetterNotAcknowledged(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := teh.Receive(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tl, err := teh.TestLetterOf(rec); tl != nil || err != nil {
		t.Fatalf("plain letter taken for a test letter: %+v %v", tl, err)
	}
	rcs, err := wash.CollectReceipts(ctx)
	if err != nil || len(rcs) != 1 || rcs[0].Kind != envelope.Delivered {
		t.Fatalf("receipts for a plain letter: %v %+v", err, rcs)
	}
	if st := status(t, teh); st.TestLetters != nil {
		t.Fatalf("test letters recorded for a plain letter: %+v", st.TestLetters)
	}
}

// status returns the status of a party's only channel.
func status(t *testing.T, p *client.Party) client.ChannelStatus {
	t.Helper()
	st, err := p.Status(context.Background(), time.Minute)
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %+v", err, st)
	}
	return st[0]
}

// TestAckTestLettersRetries checks that AckTestLetters sends an
// acknowledgement recorded as not sent, and records it.
func TestAckTestLettersRetries(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent, err := wash.SendTestLetter(ctx, "tehran", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	// As if the acknowledged receipt had failed: no record of it here.
	name := filepath.Join(teh.Dir(), "testletters.json")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["washington"]["received"]["acknowledged_at"] == nil {
		t.Fatalf("testletters.json: %s %v", b, err)
	}
	delete(m["washington"]["received"], "acknowledged_at")
	if b, err = json.Marshal(m); err != nil || os.WriteFile(name, b, 0o600) != nil {
		t.Fatal(err)
	}
	st := status(t, teh)
	if st.TestLetters.LastReceived.AcknowledgedAt != nil {
		t.Fatalf("acknowledgement still recorded: %+v", st.TestLetters.LastReceived)
	}
	// The last full round trip stays in view while the newest waits.
	if a := st.TestLetters.LastReceivedAcknowledged; a == nil || a.ID != sent.ID || st.TestLetters.SentToAcknowledgedMillis == nil {
		t.Fatalf("last acknowledged round trip lost: %+v", st.TestLetters)
	}
	if err := teh.AckTestLetters(ctx); err != nil {
		t.Fatal(err)
	}
	if st := status(t, teh); st.TestLetters.LastReceived.AcknowledgedAt == nil {
		t.Fatalf("AckTestLetters left it unacknowledged: %+v", st.TestLetters.LastReceived)
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	if st := status(t, wash); st.TestLetters.LastAcknowledged == nil || st.TestLetters.LastAcknowledged.ID != sent.ID {
		t.Fatalf("sender's view: %+v", st.TestLetters)
	}
}
