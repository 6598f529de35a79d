package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/letter"
	"brieftraeger/tlog"
)

// sendAndOpen sends a letter from a to b, has b receive it and check the
// view of the log it carries, and returns what CheckGossip said.
func sendAndOpen(t *testing.T, a, b *client.Party) (*client.Received, error) {
	t.Helper()
	ctx := context.Background()
	sent, _, err := a.Send(ctx, client.Outgoing{To: b.Name(), Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := b.Receive(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec, b.CheckGossip(ctx, rec)
}

// waitLogSize waits until the relay's checkpoint, as p accepts it, holds at
// least n leaves.
func waitLogSize(t *testing.T, p *client.Party, n uint64) *tlog.Checkpoint {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cp, err := p.SyncLog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size >= n {
			return cp
		}
		if time.Now().After(deadline) {
			t.Fatalf("log size %d after 10 s, want %d", cp.Size, n)
		}
	}
}

// TestGossipCatchesSplitView has the relay show washington a history that
// differs from the one it shows tehran, as an equivocating relay would (the
// forged view is signed with the relay's own log key). Each party's view
// travels, cosigned, inside the sealed letters, and each side raises the
// alarm on the next letter it opens.
func TestGossipCatchesSplitView(t *testing.T) {
	w, wash, teh := pair(t)
	sentAndLogged(t, wash, teh)
	// Consistent views: washington's older checkpoint is proven a prefix of
	// tehran's newer one.
	old := waitLogSize(t, wash, 1)
	if _, err := sendAndOpen(t, teh, wash); err != nil {
		t.Fatalf("consistent view refused: %v", err)
	}
	waitLogSize(t, teh, old.Size+3)
	if rec, err := sendAndOpen(t, wash, teh); err != nil {
		t.Fatalf("consistent older view refused: %v", err)
	} else if !hasGossip(rec) {
		t.Fatal("the letter carried no view of the log")
	}

	// The relay shows washington another root at tehran's current size.
	cur := waitLogSize(t, teh, 1)
	var root [32]byte
	rand.Read(root[:])
	writeLog(t, wash, w.Dir.Descriptor.LogOrigin, forge(t, w, cur.Size, root))

	_, err := sendAndOpen(t, wash, teh)
	var alarm *client.InconsistentLogError
	// Split view (same size) or inconsistent (tehran's log grew meanwhile):
	// either way an alarm.
	if !errors.As(err, &alarm) || !errors.Is(err, tlog.ErrSplitView) && !errors.Is(err, tlog.ErrInconsistent) {
		t.Fatalf("tehran did not raise the alarm: %v", err)
	}
	// tehran may have synced with the relay meanwhile, but never takes the
	// forged view.
	if kept, err := teh.LoggedCheckpoint(); err != nil || kept.Root == root {
		t.Fatalf("tehran accepted the forged view: %v", err)
	}
	_, err = sendAndOpen(t, teh, wash)
	if !errors.As(err, &alarm) {
		t.Fatalf("washington did not raise the alarm: %v", err)
	}
}

func hasGossip(rec *client.Received) bool {
	for _, p := range rec.Parts {
		if p.MediaType == client.GossipMediaType {
			return true
		}
	}
	return false
}

// TestGossipNeedsSenderCosignature changes the view a letter carried after
// it was opened: the cosignature no longer verifies, and the view is
// refused.
func TestGossipNeedsSenderCosignature(t *testing.T) {
	_, wash, teh := pair(t)
	sentAndLogged(t, wash, teh)
	waitLogSize(t, wash, 1)
	rec, err := sendAndOpen(t, wash, teh)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rec.Parts {
		if p.MediaType != client.GossipMediaType {
			continue
		}
		path := filepath.Join(teh.LetterDir(rec.ID), p.Path)
		b, _ := os.ReadFile(path)
		b[len(b)-5] ^= 1 // inside the cosignature line
		os.WriteFile(path, b, 0o600)
	}
	if err := teh.CheckGossip(context.Background(), rec); err == nil {
		t.Fatal("a view with a broken cosignature was accepted")
	}
}

// TestGossipRelayRefusesProof gives washington a view the relay cannot
// prove (a signed checkpoint larger than its log): when tehran opens
// washington's next letter, the relay can only refuse the consistency
// proof, and that refusal is an alarm, not an ordinary error.
func TestGossipRelayRefusesProof(t *testing.T) {
	w, wash, teh := pair(t)
	sentAndLogged(t, wash, teh)
	cur := waitLogSize(t, teh, 1)
	var root [32]byte
	rand.Read(root[:])
	writeLog(t, wash, w.Dir.Descriptor.LogOrigin, forge(t, w, cur.Size+100, root))
	_, err := sendAndOpen(t, wash, teh)
	var alarm *client.InconsistentLogError
	if !errors.As(err, &alarm) || !errors.Is(err, tlog.ErrInconsistent) {
		t.Fatalf("a refused proof is not an alarm: %v", err)
	}
}

// TestGossipNameTaken attaches a file named like the log checkpoint that
// every letter carries: Send refuses it before taking a number, and says
// what to do.
func TestGossipNameTaken(t *testing.T) {
	_, wash, teh := pair(t)
	_, _, err := wash.Send(context.Background(), client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine,
		Attachments: []letter.Attachment{{Name: "relay-log-checkpoint.txt", MediaType: "text/plain", Size: 1, Open: openBytes("x")}}})
	if err == nil || !strings.Contains(err.Error(), "rename the file") {
		t.Fatalf("a part named like the checkpoint: %v", err)
	}
	ids := sendN(t, wash, "tehran", 1)
	receive(t, teh, ids[0])
	wantGaps(t, teh, "washington")
}
