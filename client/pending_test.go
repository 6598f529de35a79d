package client_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
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

// TestPendingReadsOnlyListed checks that PendingLetters reads the letters
// pending.json lists and not the archive: heartbeats made unreadable in
// the archive go unnoticed until the list is removed, when the archive is
// scanned once to make it again. A letter archived but never listed (a
// crash before its delivered receipt) is listed when it is received
// again, and an id without a letter is dropped.
func TestPendingReadsOnlyListed(t *testing.T) {
	_, wash, teh := pair(t)
	var log bytes.Buffer
	t2, err := client.Load(teh.Dir(), testrelay.Passphrase, client.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Close()
	a := sendAt(t, wash, envelope.Priority)
	sys := systemLetters(t, wash)
	receive(t, t2, append([]string{a}, sys...)...)
	for _, id := range sys {
		if err := os.WriteFile(filepath.Join(t2.LetterDir(id), "letter.json"), []byte("not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantPending(t, t2, nil, []string{a})
	if log.Len() != 0 {
		t.Fatalf("the archive was read: %s", log.String())
	}
	list := filepath.Join(t2.Dir(), "pending.json")
	os.Remove(list)
	wantPending(t, t2, nil, []string{a})
	if n := strings.Count(log.String(), "does not read"); n != len(sys) {
		t.Fatalf("the scan warned of %d unreadable letters, want %d: %s", n, len(sys), log.String())
	}
	os.WriteFile(list, []byte("{not json"), 0o600)
	wantPending(t, t2, nil, []string{a})
	if !strings.Contains(log.String(), "a list file is damaged; making it again from the records\" file=pending.json") {
		t.Fatalf("no warning of the damaged list: %s", log.String())
	}

	b := sendAt(t, wash, envelope.Routine)
	receive(t, t2, b)
	ghost := strings.Repeat("ab", 16)
	os.WriteFile(list, []byte(`{"ids": ["`+ghost+`", "`+a+`"]}`), 0o600)
	wantPending(t, t2, nil, []string{a})
	if raw, _ := os.ReadFile(list); bytes.Contains(raw, []byte(ghost)) {
		t.Fatalf("an id without a letter stays listed: %s", raw)
	}
	receive(t, t2, b)
	wantPending(t, t2, nil, []string{a, b})
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
// and a test letter are not listed; an acknowledged letter drops out; and
// a folder without the list is scanned to make it.
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
	os.Remove(filepath.Join(wash.Dir(), "unacknowledged.json"))
	wantUnacknowledged(t, wash, []string{r})

	// A letter delivered while only the overdue letters are looked at
	// moves to the list all the same.
	receive(t, teh, waiting)
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.OverdueLetters(nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(wash.Dir(), "unacknowledged.json"))
	if err != nil || !bytes.Contains(raw, []byte(waiting)) {
		t.Fatalf("unacknowledged.json: %s, %v", raw, err)
	}
	wantUnacknowledged(t, wash, []string{waiting, r})
}

// BenchmarkPendingLetters asks for the pending letters, as brief watch
// does on every tick, of a party that has opened 4 letters and 299
// heartbeats, with one letter not acknowledged: from pending.json
// (listed), and as a scan of the archive would (scan).
func BenchmarkPendingLetters(b *testing.B) {
	ctx := context.Background()
	_, teh := lettersAndBeats(b, func(i int, teh *client.Party, sent *client.SentLetter) error {
		_, err := teh.Receive(ctx, sent.ID)
		if err == nil && i%100 == 0 && i != 300 {
			_, err = teh.Ack(ctx, sent.ID)
		}
		return err
	})
	for _, scan := range []bool{false, true} {
		b.Run(map[bool]string{false: "listed", true: "scan"}[scan], func(b *testing.B) {
			for range b.N {
				if scan {
					os.Remove(filepath.Join(teh.Dir(), "pending.json"))
				}
				if l, err := teh.PendingLetters(nil); err != nil || len(l) != 1 {
					b.Fatal(l, err)
				}
			}
		})
	}
}
