package client

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// recordsParty returns a Party with only its records database, on dir.
func recordsParty(t testing.TB, dir string) *Party {
	t.Helper()
	db, err := openRecords(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	durable, err := openRecords(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); durable.Close() })
	return &Party{dir: dir, db: db, durable: durable, now: time.Now}
}

// TestStateUpdatesNotLost has several Party values on one folder, as
// several processes would be, take sequence numbers while another moves
// the receipt cursor: no number may be handed out twice and no change may
// be lost.
func TestStateUpdatesNotLost(t *testing.T) {
	dir := t.TempDir()
	const takers, each = 4, 100
	seqs := make(chan uint64, takers*each)
	var wg sync.WaitGroup
	for range takers {
		wg.Go(func() {
			p := recordsParty(t, dir)
			for range each {
				seq, err := p.takeSeq("tehran")
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- seq
			}
		})
	}
	wg.Go(func() {
		p := recordsParty(t, dir)
		for i := range uint64(each) {
			if err := p.advanceReceipts(i + 1); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("sequence number %d handed out twice", s)
		}
		seen[s] = true
	}
	p := recordsParty(t, dir)
	next, err := nextSeq(p.db, "tehran")
	if err != nil {
		t.Fatal(err)
	}
	after, err := receiptsAfter(p.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != takers*each || next != takers*each+1 || after != each {
		t.Fatalf("%d numbers taken; next %d, receipts after %d", len(seen), next, after)
	}
	if err := p.advanceReceipts(3); err != nil {
		t.Fatal(err)
	}
	if after, _ := receiptsAfter(p.db); after != each {
		t.Fatalf("receipt cursor moved back to %d", after)
	}
}

// TestReleasedSeqGivenAgain releases numbers as Send does when sealing
// fails: the last one taken rolls the counter back, an earlier one is
// given out again before any new one, lowest first, and never twice.
func TestReleasedSeqGivenAgain(t *testing.T) {
	p := recordsParty(t, t.TempDir())
	take := func() uint64 {
		t.Helper()
		n, err := p.takeSeq("tehran")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	release := func(n uint64) {
		t.Helper()
		if err := p.releaseSeq("tehran", n); err != nil {
			t.Fatal(err)
		}
	}
	if n := take(); n != 1 {
		t.Fatalf("first number %d", n)
	}
	release(1)
	if n := take(); n != 1 {
		t.Fatalf("after releasing the last number, got %d, want 1 again", n)
	}
	take() // 2
	take() // 3
	take() // 4
	release(3)
	release(2)
	release(2)
	var got []uint64
	for range 3 {
		got = append(got, take())
	}
	if want := []uint64{2, 3, 5}; !slices.Equal(got, want) {
		t.Fatalf("numbers after releasing 3 and 2: %v, want %v", got, want)
	}
	if other, err := p.takeSeq("moscow"); err != nil || other != 1 {
		t.Fatalf("another channel: %d %v", other, err)
	}
}
