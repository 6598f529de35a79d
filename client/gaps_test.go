package client_test

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/letter"
)

func sendN(t *testing.T, from *client.Party, to string, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		sent, _, err := from.Send(context.Background(), client.Outgoing{To: to, Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sent.ID)
	}
	return ids
}

func receive(t *testing.T, p *client.Party, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := p.Receive(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func gapLines(t *testing.T, p *client.Party) []string {
	t.Helper()
	gaps, err := p.GapReport("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range gaps {
		out = append(out, g.Lines()...)
	}
	return out
}

func wantGaps(t *testing.T, p *client.Party, from string, want ...uint64) {
	t.Helper()
	got, err := p.Gaps(from)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("gaps from %s: %v %v, want %v", from, got, err, want)
	}
}

// TestGapWithheldLetter has the relay withhold the second of three letters:
// the recipient is given only the first and the third.
func TestGapWithheldLetter(t *testing.T) {
	_, wash, teh := pair(t)
	ids := sendN(t, wash, "tehran", 3)
	receive(t, teh, ids[0], ids[2])
	wantGaps(t, teh, "washington", 2)
	if got, want := gapLines(t, teh), []string{"letter 2 from washington/dev-washington has not arrived; 3 has"}; !slices.Equal(got, want) {
		t.Fatalf("report %q, want %q", got, want)
	}
	wantGaps(t, teh, "nobody")
	// Receiving the third again changes nothing.
	receive(t, teh, ids[2])
	wantGaps(t, teh, "washington", 2)
	// The second arrives late: out of order is fine once it is there.
	receive(t, teh, ids[1])
	wantGaps(t, teh, "washington")
	if got := gapLines(t, teh); len(got) != 0 {
		t.Fatalf("report after the late letter: %q", got)
	}
}

func TestGapsOutOfOrder(t *testing.T) {
	_, wash, teh := pair(t)
	ids := sendN(t, wash, "tehran", 6)
	receive(t, teh, ids[5], ids[2])
	wantGaps(t, teh, "washington", 1, 2, 4, 5)
	want := []string{
		"letter 1 from washington/dev-washington has not arrived; 3 has",
		"letter 2 from washington/dev-washington has not arrived; 3 has",
		"letter 4 from washington/dev-washington has not arrived; 6 has",
		"letter 5 from washington/dev-washington has not arrived; 6 has",
	}
	if got := gapLines(t, teh); !slices.Equal(got, want) {
		t.Fatalf("report %q, want %q", got, want)
	}
	receive(t, teh, ids[0], ids[3])
	wantGaps(t, teh, "washington", 2, 5)
	receive(t, teh, ids[1], ids[4])
	wantGaps(t, teh, "washington")
	// Letters in the other direction have their own numbers.
	back := sendN(t, teh, "washington", 2)
	receive(t, wash, back[1])
	wantGaps(t, wash, "tehran", 1)
	wantGaps(t, teh, "washington")
}

func TestGapRunLines(t *testing.T) {
	g := client.Gap{From: "tehran", Device: "dev-tehran", First: 17, Last: 17, Next: 18}
	if got := g.Lines(); !slices.Equal(got, []string{"letter 17 from tehran/dev-tehran has not arrived; 18 has"}) {
		t.Fatalf("%q", got)
	}
	g = client.Gap{From: "tehran", First: 5, Last: 1 << 40, Next: 1<<40 + 1}
	if got := g.Lines(); len(got) != 1 || got[0] != "letters 5 to 1099511627776 from tehran have not arrived; 1099511627777 has" {
		t.Fatalf("%q", got)
	}
}

// TestReplayedSeqRefused has the sender reuse sequence number 1 under a new
// letter id: the recipient refuses it, archives nothing and sends no
// delivered receipt, while receiving the first letter again still works.
func TestReplayedSeqRefused(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	first := sendN(t, wash, "tehran", 1)[0]
	receive(t, teh, first)
	if err := client.SetNextSeq(wash, "tehran", 1); err != nil {
		t.Fatal(err)
	}
	again, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "again", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil || again.Seq != 1 {
		t.Fatalf("send with reused number: %v, seq %d", err, again.Seq)
	}
	_, err = teh.Receive(ctx, again.ID)
	var re *client.ReplayError
	if !errors.As(err, &re) || re.Prior != first || re.Seq != 1 || re.From != "washington" {
		t.Fatalf("replayed number: %v", err)
	}
	if want := "letter 1 from washington/dev-washington was already received as " + first; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if _, err := teh.Letter(again.ID); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("replayed letter was archived: %v", err)
	}
	pending, err := w.Store.Pending(ctx, "tehran")
	if err != nil || len(pending) != 1 {
		t.Fatalf("the replayed letter should still wait undelivered: %v %d", err, len(pending))
	}
	if rec, err := teh.Receive(ctx, first); err != nil || rec.ID != first {
		t.Fatalf("receiving the first letter again: %v", err)
	}
	wantGaps(t, teh, "washington")
}

// TestUnsealedLetterLeavesNoGap fails two sends while sealing (an
// attachment name a receiver cannot store, and an attachment shorter than
// it said): nothing carrying their numbers exists, so the next letter
// takes number 1 and tehran reports no gap.
func TestUnsealedLetterLeavesNoGap(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	for name, att := range map[string]letter.Attachment{
		"bad name":   {Name: "a/b", MediaType: "text/plain", Size: 1, Open: openBytes("x")},
		"short part": {Name: "a.txt", MediaType: "text/plain", Size: 5, Open: openBytes("x")},
	} {
		if _, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine,
			Attachments: []letter.Attachment{att}}); err == nil {
			t.Fatalf("%s: sealed", name)
		}
	}
	ids := sendN(t, wash, "tehran", 1)
	sent, err := wash.Sent(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if sent.Seq != 1 {
		t.Fatalf("the letter after two failed sends has number %d, want 1", sent.Seq)
	}
	receive(t, teh, ids[0])
	wantGaps(t, teh, "washington")
}

func openBytes(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}
