package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"brieftraeger/internal/testrelay"
)

// TestRosterMustBeLogged checks key transparency: a client accepts a
// roster only once the relay has put it in its log, where every other
// client sees the same one. A relay that holds the log back (here: its
// integration is stopped) gets its rosters refused.
func TestRosterMustBeLogged(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{LogInterval: time.Hour})
	wash, teh := w.Party("washington"), w.Party("tehran")
	if err := w.Admin.OpenChannel(context.Background(), "washington", "tehran"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := wash.AddContact(ctx, "tehran", teh.Roster().Root)
	if err == nil || !strings.Contains(err.Error(), `roster of "tehran" is not in the relay's log`) {
		t.Fatalf("an unlogged roster was accepted: %v", err)
	}
	if _, err := wash.Contact("tehran"); err == nil {
		t.Fatal("the unlogged roster was stored")
	}

	// With the log running, the same roster is accepted.
	w2 := testrelay.Start(t, testrelay.Options{})
	a, b := w2.Party("washington"), w2.Party("tehran")
	if _, err := a.AddContact(context.Background(), "tehran", b.Roster().Root); err != nil {
		t.Fatalf("a logged roster was refused: %v", err)
	}
}
