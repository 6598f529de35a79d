package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
)

// queue sends a letter that the relay cannot take now and checks that it
// waits in the outbox.
func queue(t *testing.T, p *client.Party, to, subject string, body []byte) *client.SentLetter {
	t.Helper()
	sent, rc, err := p.Send(context.Background(), client.Outgoing{To: to, Subject: subject, Precedence: envelope.Flash, Body: body})
	var q *client.QueuedError
	if !errors.As(err, &q) || q.ID != sent.ID || rc != nil {
		t.Fatalf("send while the relay is down: %v, receipt %v", err, rc)
	}
	if s, _ := p.Sent(sent.ID); s.State != client.StateQueued {
		t.Fatalf("record of a queued letter: %+v", s)
	}
	return sent
}

// smallPair is pair on a relay that refuses envelopes over 64 KiB as too
// large: a refusal for good that a test can bring about.
func smallPair(t *testing.T) (*testrelay.World, *client.Party, *client.Party) {
	w := testrelay.Start(t, testrelay.Options{MaxEnvelopeBytes: 64 << 10})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	return w, wash, teh
}

// auditOK waits until the party's audit is ok, and fails t if it is not
// within 10 s.
func auditOK(t *testing.T, p *client.Party) *client.AuditReport {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep, err := p.Audit(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit of %s: %+v", p.Name(), rep)
		}
	}
}

// TestOutageLeavesNoGap plays an outage: the relay is down while three
// letters are sent; they wait in the outbox with their numbers, go out in
// order when it is back, and the receiver sees no gap; both audits are ok.
func TestOutageLeavesNoGap(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	send(t, wash, "before")
	w.Pause()
	var queued []*client.SentLetter
	for _, s := range []string{"one", "two", "three"} {
		queued = append(queued, queue(t, wash, "tehran", s, []byte(s)))
	}
	out, err := wash.Outbox()
	if err != nil || len(out) != 3 || out[0].Seq != 2 || out[2].Seq != 4 {
		t.Fatalf("outbox: %v %+v", err, out)
	}
	// A heartbeat is not sealed behind them: it would take a number and
	// be stale when it went.
	if _, err := wash.SendHeartbeat(ctx, "tehran", time.Minute); err == nil {
		t.Fatal("heartbeat sent while the relay is down")
	}
	if out, _ := wash.Outbox(); len(out) != 3 {
		t.Fatalf("a heartbeat queued behind the letters: %d in the outbox", len(out))
	}
	w.Resume()
	posted, refused, err := wash.RetryOutbox(ctx, true)
	if err != nil || len(posted) != 3 || len(refused) != 0 {
		t.Fatalf("retry: %v, %d posted, %d refused", err, len(posted), len(refused))
	}
	for i, s := range posted {
		if s.ID != queued[i].ID {
			t.Fatalf("posted out of order: %d is %s", i, s.ID)
		}
	}
	list, err := teh.Mailbox(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("mailbox: %v %d", err, len(list))
	}
	for _, m := range list {
		if _, err := teh.Receive(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if gaps, err := teh.GapReport(""); err != nil || len(gaps) != 0 {
		t.Fatalf("gaps after the outage: %v %+v", err, gaps)
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := auditOK(t, wash); len(rep.NotPosted) != 0 {
		t.Fatalf("washington's audit: %+v", rep)
	}
	auditOK(t, teh)
}

// TestRefusedNumberGivenBack sends a letter on a channel the relay has not
// opened: it is refused for good, its number is given back, and the
// audit tells it apart from a letter missing from the log.
func TestRefusedNumberGivenBack(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	cairo := w.Party("cairo")
	w.Pin(wash, cairo)
	w.Pin(cairo, wash)
	_, _, err := wash.Send(ctx, client.Outgoing{To: "cairo", Subject: "closed", Body: []byte("b")})
	var r *client.RefusedError
	if !errors.As(err, &r) || r.Err.Code != "no_channel" {
		t.Fatalf("send on a closed channel: %v", err)
	}
	if out, _ := wash.Outbox(); len(out) != 0 {
		t.Fatalf("a refused letter waits in the outbox: %+v", out)
	}
	rep := auditOK(t, wash)
	if len(rep.NotPosted) != 1 || len(rep.Missing) != 0 {
		t.Fatalf("audit: %+v", rep)
	}
	if err := w.Admin.OpenChannel(ctx, "washington", "cairo"); err != nil {
		t.Fatal(err)
	}
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "cairo", Subject: "open", Body: []byte("b")})
	if err != nil || sent.Seq != 1 {
		t.Fatalf("the next letter: %v, seq %d", err, sent.Seq)
	}
	if _, err := cairo.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if gaps, _ := cairo.GapReport(""); len(gaps) != 0 {
		t.Fatalf("gaps: %+v", gaps)
	}
}

// TestRefusedWithLettersBehind queues a letter the relay will refuse as
// too large, and one behind it: the refused letter's number goes to a
// notice sealed in its place, so the receiver sees no gap.
func TestRefusedWithLettersBehind(t *testing.T) {
	w, wash, teh := smallPair(t)
	ctx := context.Background()
	w.Pause()
	big := queue(t, wash, "tehran", "big", make([]byte, 128<<10))
	small := queue(t, wash, "tehran", "small", []byte("small"))
	w.Resume()
	posted, refused, err := wash.RetryOutbox(ctx, true)
	if err != nil || len(refused) != 1 || refused[0].ID != big.ID || len(posted) != 2 || posted[1].ID != small.ID {
		t.Fatalf("retry: %v, posted %v, refused %v", err, posted, refused)
	}
	notice := posted[0]
	if notice.Seq != big.Seq || notice.Subject != client.NoticeSubject || notice.NoticeFor != big.ID {
		t.Fatalf("the notice: %+v", notice)
	}
	var got []string
	for _, id := range []string{notice.ID, small.ID} {
		rec, err := teh.Receive(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Subject)
	}
	if !slices.Equal(got, []string{client.NoticeSubject, "small"}) {
		t.Fatalf("received %v", got)
	}
	if gaps, _ := teh.GapReport(""); len(gaps) != 0 {
		t.Fatalf("gaps: %+v", gaps)
	}
	if sealed, err := client.SealedCopy(wash, big.ID); err != nil || uint64(len(sealed)) != big.Size {
		t.Fatalf("the refused letter's sealed copy: %v, %d bytes", err, len(sealed))
	}
}

// TestWithheldLetterStillReported: a letter the relay acknowledged and
// does not deliver is still reported missing once a later one arrives.
func TestWithheldLetterStillReported(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	send(t, wash, "one")
	two := send(t, wash, "two")
	if _, err := teh.Receive(ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	gaps, err := teh.GapReport("")
	if err != nil || len(gaps) != 1 || gaps[0].First != 1 {
		t.Fatalf("gaps with letter 1 withheld: %v %+v", err, gaps)
	}
}

// TestRefusedWhileLaterSealing refuses a letter while a later send has
// taken the next number and not yet recorded its letter: the refused
// number cannot be given back (the later letter would go first), so a
// notice takes it.
func TestRefusedWhileLaterSealing(t *testing.T) {
	w, wash, teh := smallPair(t)
	ctx := context.Background()
	w.Pause()
	big := queue(t, wash, "tehran", "big", make([]byte, 128<<10))
	later, err := client.TakeSeq(wash, "tehran")
	if err != nil || later != big.Seq+1 {
		t.Fatalf("the later number: %d %v", later, err)
	}
	w.Resume()
	posted, refused, err := wash.RetryOutbox(ctx, true)
	if err != nil || len(refused) != 1 || len(posted) != 1 || posted[0].Seq != big.Seq || posted[0].NoticeFor != big.ID {
		t.Fatalf("retry: %v, posted %+v, refused %d", err, posted, len(refused))
	}
	if _, err := teh.Receive(ctx, posted[0].ID); err != nil {
		t.Fatal(err)
	}
	if gaps, _ := teh.GapReport(""); len(gaps) != 0 {
		t.Fatalf("gaps: %+v", gaps)
	}
}

// TestNoticeAfterCrash leaves a letter as a crash between its refusal and
// the sealing of its notice would: refused, its number due to a notice,
// no notice. The next posting seals the notice first.
func TestNoticeAfterCrash(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	w.Pause()
	lost := queue(t, wash, "tehran", "lost", []byte("x"))
	lost.State, lost.NoticeDue, lost.PostError = client.StateRefused, true, "too large"
	if err := client.PutSentRecord(wash, lost); err != nil {
		t.Fatal(err)
	}
	w.Resume()
	next := send(t, wash, "next")
	s, _ := wash.Sent(next.ID)
	if s.Seq != lost.Seq+1 {
		t.Fatalf("the next letter has number %d", s.Seq)
	}
	var notice string
	ids, _ := wash.SentIDs()
	for _, id := range ids {
		if r, _ := wash.Sent(id); r.NoticeFor == lost.ID && r.Seq == lost.Seq {
			notice = id
		}
	}
	if notice == "" {
		t.Fatal("no notice took the refused letter's number")
	}
	for _, id := range []string{notice, next.ID} {
		if _, err := teh.Receive(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if gaps, _ := teh.GapReport(""); len(gaps) != 0 {
		t.Fatalf("gaps: %+v", gaps)
	}
	// Posting again seals no second notice.
	send(t, wash, "after")
	n := 0
	ids, _ = wash.SentIDs()
	for _, id := range ids {
		if r, _ := wash.Sent(id); r.NoticeFor == lost.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d notices for one refused letter", n)
	}
}

// TestAbandonedNumber takes a number and never finishes its letter, as a
// send that died while sealing: the next letter waits for it no longer
// than it takes to see that, and a notice takes the number, so the
// receiver sees no gap.
func TestAbandonedNumber(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	n, err := client.TakeSeq(wash, "tehran")
	if err != nil {
		t.Fatal(err)
	}
	client.ForgetSealing(wash, "tehran", n)
	next := send(t, wash, "next")
	box, err := teh.Mailbox(ctx)
	if err != nil || len(box) != 2 {
		t.Fatalf("mailbox: %v %+v", err, box)
	}
	for _, m := range box {
		rec, err := teh.Receive(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != next.ID && (rec.Seq != n || rec.Subject != client.NoticeSubject) {
			t.Fatalf("letter %d %q", rec.Seq, rec.Subject)
		}
	}
	if gaps, _ := teh.GapReport(""); len(gaps) != 0 {
		t.Fatalf("gaps: %+v", gaps)
	}
}
