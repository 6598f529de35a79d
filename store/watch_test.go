package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// holdBox gives s a BOX committer that holds every mailbox entry until
// the returned func is called (at the latest when the test ends, as Close
// waits for the filing).
func holdBox(t *testing.T, s *Store, party string) (release func()) {
	t.Helper()
	held := &committer{nc: s.nc, timeout: time.Second, window: -1, min: 1, max: 10, prefix: "held.",
		q: make(chan *commitReq, 10), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	orig := s.boxQ
	s.boxQ = held
	var run sync.Once
	release = func() { run.Do(func() { go held.run() }) }
	t.Cleanup(func() {
		release()
		s.filing.wait(context.Background(), party)
		held.stop()
		s.boxQ = orig
	})
	return release
}

// heard waits for the watcher's next letter, which must be st.
func heard(t *testing.T, ch <-chan Stored, st Stored) {
	t.Helper()
	select {
	case got := <-ch:
		if got.ID != st.ID || got.Seq != st.Seq {
			t.Fatalf("heard of %s (seq %d), want %s (seq %d)", got.ID, got.Seq, st.ID, st.Seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the storing store's watcher did not hear of the letter before it was filed")
	}
}

// TestWatchBeforeFiling holds a letter's mailbox entry back: a watcher on
// the store that stored the letter hears of it while the entry is still
// being filed, other stores (the announcement on core NATS) only once it
// is filed, and the watcher does not hear of it twice. A delivered receipt
// filed meanwhile waits for the entry, so its purge comes after it.
func TestWatchBeforeFiling(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	ch, cancel, err := s.Watch("bob")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	notes, err := s.nc.SubscribeSync(notePrefix + "box.bob.*.*")
	if err != nil {
		t.Fatal(err)
	}
	release := holdBox(t, s, "bob")
	st := mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("early")))
	heard(t, ch, st)
	if _, err := s.box.GetLastMsgForSubject(ctx, boxSubject(st)); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("the entry was filed already: %v", err)
	}
	if m, err := notes.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("announced to every store before the entry was filed: %s", m.Subject)
	}
	receipt := make(chan error, 1)
	go func() {
		_, err := s.PutReceipt(ctx, st.ID, "alice", ReceiptDelivered, []byte("delivered"))
		receipt <- err
	}()
	select {
	case err := <-receipt:
		t.Fatalf("a delivered receipt was filed before the entry: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	if m, err := notes.NextMsg(5 * time.Second); err != nil || !strings.HasSuffix(m.Subject, st.ID) {
		t.Fatalf("no announcement once filed: %v", err)
	}
	if err := <-receipt; err != nil {
		t.Fatal(err)
	}
	if pend, err := s.Pending(ctx, "bob"); err != nil || len(pend) != 0 {
		t.Fatalf("a delivered letter is listed: %+v, %v", pend, err)
	}
	select {
	case got := <-ch:
		t.Fatalf("the watcher heard of letter %s twice", got.ID)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDeliveredElsewhere files a letter's delivered receipt through node
// b while node a is about to file the letter's mailbox entry, so b's purge
// finds nothing; a, filing the entry, finds the receipt and takes the
// entry out again, so the delivered letter is not listed, on any node.
//
//   - early: the recipient was told early by a (the case a's id lock
//     cannot cover), and filed its receipt through b before the entry;
//   - late: a files the entry after its own check found no receipt, as
//     EnsureFiled or a repair may.
func TestDeliveredElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three cluster nodes")
	}
	nodes := openCluster(t, testCert(t))
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	deliver := func(t *testing.T, st Stored) {
		t.Helper()
		if _, err := b.PutReceipt(ctx, st.ID, "alice", ReceiptDelivered, []byte("delivered")); err != nil {
			t.Fatal(err)
		}
	}
	notListed := func(t *testing.T) {
		t.Helper()
		waitFiled(t, a, "bob")
		for _, n := range []*Store{a, b} {
			if pend, err := n.Pending(ctx, "bob"); err != nil || len(pend) != 0 {
				t.Fatalf("a delivered letter is listed: %+v, %v", pend, err)
			}
		}
	}
	t.Run("early", func(t *testing.T) {
		ch, cancel, err := a.Watch("bob")
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		release := holdBox(t, a, "bob")
		st := mustPost(t, a, newPost(1, "alice", "bob", 0, []byte("early")))
		heard(t, ch, st)
		deliver(t, st)
		release()
		notListed(t)
	})
	t.Run("late", func(t *testing.T) {
		st := mustPost(t, a, newPost(2, "alice", "bob", 0, []byte("late")))
		waitFiled(t, a, "bob")
		deliver(t, st)
		if err := a.putBox(ctx, st); err != nil {
			t.Fatal(err)
		}
		notListed(t)
	})
}

// TestReceiptDoesNotWaitOutAFiling holds a letter's filing past the time a
// receipt waits for it: the receipt is refused as unavailable, so that the
// device tries another node, and nothing is stored; once the filing is
// done the receipt is filed.
func TestReceiptDoesNotWaitOutAFiling(t *testing.T) {
	s := openStore(t, Config{})
	s.receiptWait = 100 * time.Millisecond
	ctx := context.Background()
	release := holdBox(t, s, "bob")
	st := mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("held")))
	if _, err := s.PutReceipt(ctx, st.ID, "alice", ReceiptDelivered, []byte("delivered")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a receipt behind a held filing: %v, want ErrUnavailable", err)
	}
	if delivered, err := s.hasReceipt(ctx, "alice", ReceiptDelivered, st.ID); err != nil || delivered {
		t.Fatalf("a refused receipt was stored: %v %v", delivered, err)
	}
	release()
	waitFiled(t, s, "bob")
	if _, err := s.PutReceipt(ctx, st.ID, "alice", ReceiptDelivered, []byte("delivered")); err != nil {
		t.Fatal(err)
	}
	if pend, err := s.Pending(ctx, "bob"); err != nil || len(pend) != 0 {
		t.Fatalf("a delivered letter is listed: %+v, %v", pend, err)
	}
}
