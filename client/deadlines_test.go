package client_test

import (
	"context"
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
