package alarm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
)

// TestOwedAlarmsOnce runs both sides on the real relay with a clock the
// test moves: a FLASH letter opened by tehran and not acknowledged raises
// ack-overdue on tehran's side once its 10 minutes have passed, and
// unacknowledged on washington's, each once however often it is asked;
// acknowledged, it raises nothing more.
func TestOwedAlarmsOnce(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	now := time.Now()
	clock := func() time.Time { return now }
	load := func(name string) *client.Party {
		p := w.Party(name)
		q, err := client.Load(p.Dir(), testrelay.Passphrase, client.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(q.Close)
		return q
	}
	wash, teh := load("washington"), load("tehran")
	w.Connect(wash, teh)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "ultimatum", Precedence: envelope.Flash, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	var recv, send Tracker
	tick := func() []string {
		t.Helper()
		pending, err := teh.PendingLetters(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wash.CollectReceipts(ctx); err != nil {
			t.Fatal(err)
		}
		unack, err := wash.UnacknowledgedLetters(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range append(recv.AckOverdue(pending), send.Unacknowledged(unack)...) {
			if ev.Letter != sent.ID || ev.Precedence != "FLASH" || ev.Subject != "ultimatum" {
				t.Fatalf("event %+v", ev)
			}
			got = append(got, ev.Kind+" "+ev.Channel)
		}
		return got
	}
	want := func(events ...string) {
		t.Helper()
		if got := tick(); !slices.Equal(got, events) {
			t.Fatalf("events %q, want %q", got, events)
		}
	}
	want()
	now = now.Add(9 * time.Minute)
	want()
	now = now.Add(2 * time.Minute)
	want("ack-overdue washington", "unacknowledged tehran")
	want()
	now = now.Add(time.Hour)
	want()
	if _, err := teh.Ack(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	want()
	if len(recv.owed[KindAckOverdue])+len(send.owed[KindUnacknowledged]) != 0 {
		t.Fatalf("alarms not cleared: %v %v", recv.owed, send.owed)
	}
}

// TestLetterOpened checks the letter alarm: one for a letter for a person
// that the watch opened, none for a heartbeat or test letter, or for a
// letter that was in the archive already.
func TestLetterOpened(t *testing.T) {
	rec := client.Received{ID: "a1", From: "tehran", Subject: "s", Precedence: "FLASH", New: true}
	old := rec
	old.New = false
	var got []string
	for _, c := range []struct {
		rec    *client.Received
		person bool
	}{{&rec, false}, {&old, true}, {&rec, true}} {
		if ev, ok := LetterOpened(c.rec, c.person); ok {
			got = append(got, ev.Kind+" "+ev.Letter+" "+ev.Precedence+" "+ev.Channel+" "+ev.Subject)
		}
	}
	if want := []string{"letter a1 FLASH tehran s"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestSubjectOnlyWhenAsked checks that the hooks get a letter's subject
// only when Hooks.Subject is set.
func TestSubjectOnlyWhenAsked(t *testing.T) {
	for _, with := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		r := newReceiver(t)
		w, _ := startWebhook(t, r.URL, WebhookOptions{})
		h := &Hooks{Command: `echo "$BRIEF_EVENT|$BRIEF_LETTER|$BRIEF_PRECEDENCE|${BRIEF_SUBJECT-unset}" >` + out, Webhook: w, Subject: with}
		h.Raise(context.Background(), Event{Kind: KindLetter, Channel: "tehran", Letter: "a1", Precedence: "FLASH", Subject: "ultimatum"})
		b, err := os.ReadFile(out)
		want, wantSubject := "letter|a1|FLASH|unset\n", ""
		if with {
			want, wantSubject = "letter|a1|FLASH|ultimatum\n", "ultimatum"
		}
		if string(b) != want || err != nil {
			t.Errorf("subject %v: hook wrote %q, %v", with, b, err)
		}
		if ev := r.next(t); ev.Subject != wantSubject || ev.Precedence != "FLASH" {
			t.Errorf("subject %v: webhook got %+v", with, ev)
		}
	}
}
