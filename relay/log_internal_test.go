package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/store"
)

// TestLogReplay checks that a keeper started on a store rebuilds the same
// tree from the LOG stream, resumes after the records already in it, and
// appends each record once.
func TestLogReplay(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, dev, _ := ed25519.GenerateKey(nil)
	_, relayKey, _ := ed25519.GenerateKey(nil)
	_, logKey, _ := ed25519.GenerateKey(nil)
	r := &Relay{cfg: Config{Name: "swiss", ReceiptKey: relayKey}}
	post := func() {
		h := &envelope.Header{From: "washington", Device: "laptop", To: "tehran", Size: 1}
		rand.Read(h.ID[:])
		d := envelope.NewDigest()
		d.Write([]byte{7})
		h.Digest = [32]byte(d.Sum(nil))
		if err := h.Sign(dev); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Post(ctx, store.Post{ID: h.ID.String(), From: h.From, To: h.To, Header: h.Raw,
			Body: bytes.NewReader([]byte{7}), BodySize: 1, BodySHA256: h.Digest, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	keeper := func() *logKeeper {
		k, err := newLogKeeper(ctx, st, "swiss", logKey, r.postedReceipt, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	post()
	post()
	k1 := keeper()
	if err := k1.integrate(ctx); err != nil {
		t.Fatal(err)
	}
	if k1.main.tree.Size() != 4 {
		t.Fatalf("two envelopes made %d leaves, want 4", k1.main.tree.Size())
	}
	root1, _ := k1.main.tree.Root(4)
	k2 := keeper()
	root2, _ := k2.main.tree.Root(k2.main.tree.Size())
	if k2.main.tree.Size() != 4 || root2 != root1 || string(k2.latest("")) == "" {
		t.Fatalf("replay gave size %d", k2.main.tree.Size())
	}
	if err := k2.integrate(ctx); err != nil || k2.main.tree.Size() != 4 {
		t.Fatalf("records were logged twice: size %d, %v", k2.main.tree.Size(), err)
	}
	post()
	if err := k2.integrate(ctx); err != nil || k2.main.tree.Size() != 6 {
		t.Fatalf("a new envelope: size %d, %v", k2.main.tree.Size(), err)
	}
}

// TestLogBatchFitsOneAppend checks that one integration's leaves always fit
// in one atomic append, so an envelope is never split from its posted
// receipt across two appends.
func TestLogBatchFitsOneAppend(t *testing.T) {
	if 4*logBatch > store.MaxCommitBatch {
		t.Fatalf("4*logBatch = %d leaves, more than one append of %d", 4*logBatch, store.MaxCommitBatch)
	}
}

// TestNoteSeenAtMostOncePerSecond keeps and writes the last letter of one
// direction as the log's rounds do: a letter not yet logged does not
// count, a direction is written at most once a second, and a time kept
// back is written once the second has passed.
func TestNoteSeenAtMostOncePerSecond(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := time.Unix(1_800_000_000, 0)
	k := &logKeeper{store: st, log: slog.New(slog.DiscardHandler), now: func() time.Time { return clock },
		seenPending: map[store.Direction]time.Time{}, seenWritten: map[store.Direction]time.Time{}}
	d := store.Direction{From: "washington", To: "tehran"}
	t0 := time.Unix(1_700_000_000, 0)
	letter := func(at time.Duration, leaf int) pendingLetter {
		return pendingLetter{Stored: store.Stored{From: d.From, To: d.To, Time: t0.Add(at)}, leaf: leaf}
	}
	for i, round := range []struct {
		letters []pendingLetter
		advance time.Duration // the clock, before the flush
		want    time.Duration // the time written, after t0
	}{
		{[]pendingLetter{letter(0, 0), letter(time.Minute, 2)}, 0, 0}, // the second is not logged
		{[]pendingLetter{letter(time.Second, 0)}, 500 * time.Millisecond, 0},
		{nil, 500 * time.Millisecond, time.Second},
		{[]pendingLetter{letter(2*time.Second, 0)}, 0, time.Second},
		{nil, time.Second, 2 * time.Second},
	} {
		k.noteSeen(round.letters, 2)
		clock = clock.Add(round.advance)
		k.flushSeen(ctx, false)
		seen, err := st.Seen(ctx)
		if err != nil || !seen[d].Equal(t0.Add(round.want)) {
			t.Fatalf("round %d: %v %v, want t0+%v", i, err, seen[d].Sub(t0), round.want)
		}
	}
}

// A source with more records waiting than a round reads stops the other
// sources at its last record's time; each source keeps a prefix.
func TestBeforeCutoff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := func(src string, s int) logGroup { return logGroup{src: src, t: t0.Add(time.Duration(s) * time.Second)} }
	groups := []logGroup{g("r", 1), g("r", 5), g("r", 2), g("m", 1), g("m", 3), g("m", 4)}
	got := beforeCutoff(groups, t0.Add(3*time.Second))
	var names []string
	for _, x := range got {
		names = append(names, fmt.Sprintf("%s%d", x.src, x.t.Unix()-1000))
	}
	if want := "r1,m1,m3"; strings.Join(names, ",") != want {
		t.Fatalf("kept %v, want %s", names, want)
	}
	if len(beforeCutoff(groups, time.Time{})) != len(groups) {
		t.Fatal("no cutoff dropped groups")
	}
}
