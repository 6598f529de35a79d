package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
)

func TestOverdueLetters(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	w2, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	flash, _, err := w2.Send(ctx, client.Outgoing{To: "tehran", Subject: "f", Precedence: envelope.Flash, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	routine, _, err := w2.Send(ctx, client.Outgoing{To: "tehran", Subject: "r", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := w2.OverdueLetters(nil); err != nil || len(o) != 0 {
		t.Fatalf("overdue at once: %v %+v", err, o)
	}
	now = now.Add(11 * time.Minute) // past FLASH's 10 minutes, within ROUTINE's 6 hours
	o, err := w2.OverdueLetters(nil)
	if err != nil || len(o) != 1 || o[0].ID != flash.ID {
		t.Fatalf("after 11 minutes: %v %+v", err, o)
	}
	custom, _ := client.ParseDeadlines("ROUTINE=5m")
	if o, _ := w2.OverdueLetters(custom); len(o) != 2 {
		t.Fatalf("with ROUTINE=5m: %+v", o)
	}
	// Once delivered, a letter is no longer overdue.
	if _, err := teh.Receive(ctx, flash.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	if o, _ := w2.OverdueLetters(custom); len(o) != 1 || o[0].ID != routine.ID {
		t.Fatalf("after delivery: %+v", o)
	}
	for _, bad := range []string{"FLASH", "URGENT=5m", "FLASH=-1m", "FLASH=soon"} {
		if _, err := client.ParseDeadlines(bad); err == nil {
			t.Errorf("ParseDeadlines(%q) accepted", bad)
		}
	}
}

// TestOverdueReadsOnlyAwaited has washington send letters with deadlines
// and heartbeats, which have none: only the letters are overdue, and a
// delivered letter drops out.
func TestOverdueReadsOnlyAwaited(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	w2, now := withClock(t, wash)
	send := func() string { t.Helper(); return sendRoutine(t, w2) }
	overdue := func(want ...string) { t.Helper(); wantOverdue(t, w2, want...) }
	first := send()
	var beats []string
	for range 3 {
		hb, err := w2.SendHeartbeat(ctx, "tehran", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		beats = append(beats, hb.ID)
	}
	*now = now.Add(7 * time.Hour)
	overdue(first) // not the heartbeats
	second := send()
	overdue(first)
	if _, err := teh.Receive(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	overdue()
	*now = now.Add(7 * time.Hour)
	overdue(second)
}

// BenchmarkOverdueLetters asks for the overdue letters, as brief watch
// does on every tick, of a party that has sent 3 letters with deadlines
// and 300 heartbeats, all delivered but one letter.
func BenchmarkOverdueLetters(b *testing.B) {
	ctx := context.Background()
	wash, _ := lettersAndBeats(b, func(i int, teh *client.Party, sent *client.SentLetter) (err error) {
		if i != 300 {
			_, err = teh.Receive(ctx, sent.ID)
		}
		return err
	})
	if _, err := wash.CollectReceipts(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := wash.OverdueLetters(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// lettersAndBeats has washington send tehran 303 letters, a ROUTINE letter
// every hundredth (i 0, 100, 200, 300) and heartbeats between, and calls
// then with each.
func lettersAndBeats(b *testing.B, then func(i int, teh *client.Party, sent *client.SentLetter) error) (wash, teh *client.Party) {
	w := testrelay.Start(b, testrelay.Options{})
	wash, teh = w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	ctx := context.Background()
	for i := range 303 {
		var sent *client.SentLetter
		var err error
		if i%100 == 0 {
			sent, _, err = wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "r", Precedence: envelope.Routine, Body: []byte("b")})
		} else {
			sent, err = wash.SendHeartbeat(ctx, "tehran", time.Minute)
		}
		if err == nil {
			err = then(i, teh, sent)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return wash, teh
}

// TestOverdueWhileSending sends letters while another Party on the same
// folder, as brief watch in another process would, asks for the overdue
// letters without pause, with a deadline every letter is past at once.
// Each letter, recorded while the other looked, must be listed at the
// end: none may be dropped as a letter whose record was never written.
func TestOverdueWhileSending(t *testing.T) {
	_, wash, _ := pair(t)
	watcher, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	at := client.Deadlines{envelope.Routine: time.Nanosecond}
	stop := make(chan struct{})
	looked := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				looked <- n
				return
			default:
			}
			if _, err := watcher.OverdueLetters(at); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	ids := sendN(t, wash, "tehran", 30)
	close(stop)
	t.Logf("%d looks while sending", <-looked)
	o, err := watcher.OverdueLetters(at)
	if err != nil {
		t.Fatal(err)
	}
	if len(o) != len(ids) {
		t.Fatalf("%d of %d letters listed as overdue", len(o), len(ids))
	}
}

// wantOverdue fails t unless p's overdue letters, at the default
// deadlines, are want, in that order.
func wantOverdue(t *testing.T, p *client.Party, want ...string) {
	t.Helper()
	o, err := p.OverdueLetters(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range o {
		got = append(got, l.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("overdue %v, want %v", got, want)
	}
}

// withClock loads p's folder again with a clock the test sets through the
// returned time, which starts now.
func withClock(t *testing.T, p *client.Party) (*client.Party, *time.Time) {
	t.Helper()
	now := new(time.Time)
	*now = time.Now()
	q, err := client.Load(p.Dir(), testrelay.Passphrase, client.Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q, now
}

// sendRoutine sends a ROUTINE letter from p to tehran and returns its id.
func sendRoutine(t *testing.T, p *client.Party) string {
	t.Helper()
	s, _, err := p.Send(context.Background(), client.Outgoing{To: "tehran", Subject: "r", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return s.ID
}
