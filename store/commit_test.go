package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// batchConfig makes every group of concurrent posts one atomic batch, and
// waits long enough for announced posts that tests are not timing-bound.
var batchConfig = Config{CommitMin: 1, CommitWindow: 5 * time.Second}

// mailBatchID returns the Nats-Batch-Id of the MAIL message at seq.
func mailBatchID(t *testing.T, s *Store, seq uint64) string {
	t.Helper()
	m, err := s.mail.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get(hdrBatchID)
}

func TestGroupCommit(t *testing.T) {
	s := openStore(t, batchConfig)
	ctx := context.Background()
	const n = 40
	posts := make([]Post, n)
	stored := make([]Stored, n)
	var wg sync.WaitGroup
	for i := range posts {
		body := []byte(fmt.Sprintf("body %d", i))
		if i%10 == 0 {
			body = bytes.Repeat([]byte{byte(i)}, 3000) // object store path
		}
		posts[i] = newPost(i+1, "alice", "bob", uint8(i%4), body)
		wg.Go(func() { stored[i] = mustPost(t, s, posts[i]) })
	}
	wg.Wait()
	seqs := map[uint64]bool{}
	seqOf := map[string]uint64{}
	batches := map[string]int{}
	for i, st := range stored {
		checkStored(t, st, posts[i])
		seqs[st.Seq] = true
		seqOf[st.ID] = st.Seq
		batches[mailBatchID(t, s, st.Seq)]++
		if got, err := s.Lookup(ctx, st.ID); err != nil || got.Seq != st.Seq {
			t.Errorf("Lookup %s = %+v, %v", st.ID, got, err)
		}
	}
	if len(seqs) != n {
		t.Errorf("%d distinct sequences for %d letters", len(seqs), n)
	}
	if batches[""] != 0 || len(batches) >= n {
		t.Errorf("letters per batch id: %v; want fewer batches than letters, none unbatched", batches)
	}
	pend, err := s.Pending(ctx, "bob")
	if err != nil || len(pend) != n {
		t.Fatalf("Pending = %d letters, %v", len(pend), err)
	}
	for _, st := range pend {
		if st.Seq != seqOf[st.ID] {
			t.Errorf("mailbox entry %s has seq %d, Post returned %d", st.ID, st.Seq, seqOf[st.ID])
		}
	}
	if b := readBody(t, s, letterID(11)); !bytes.Equal(b, bytes.Repeat([]byte{10}, 3000)) {
		t.Error("object-store body differs")
	}
	if b := readBody(t, s, letterID(2)); string(b) != "body 1" {
		t.Errorf("inline body = %q", b)
	}
}

func TestCommitConfig(t *testing.T) {
	for _, cfg := range []Config{{CommitBatch: MaxCommitBatch + 1}, {CommitBatch: -1}, {CommitMin: -1}} {
		cfg.Dir = t.TempDir()
		if _, err := Open(context.Background(), cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}

// TestGroupCommitSmallGroups checks that, with the default CommitMin, a
// lone post and a few concurrent ones are published without a batch.
func TestGroupCommitSmallGroups(t *testing.T) {
	s := openStore(t, Config{})
	st := mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("alone")))
	if id := mailBatchID(t, s, st.Seq); id != "" {
		t.Errorf("lone post went into batch %q", id)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { mustPost(t, s, newPost(i+2, "alice", "bob", 0, []byte("few"))) })
	}
	wg.Wait()
	if n, _ := s.MailCount(context.Background()); n != 5 {
		t.Errorf("MailCount = %d, want 5", n)
	}
}

func TestGroupCommitConcurrentDuplicates(t *testing.T) {
	s := openStore(t, batchConfig)
	var wg sync.WaitGroup
	res := make([]Stored, 8)
	errs := make([]error, 8)
	for i := range res {
		wg.Go(func() { res[i], errs[i] = s.Post(context.Background(), newPost(7, "alice", "bob", 2, []byte("x"))) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicate):
			t.Errorf("Post %d: %v", i, err)
		}
		if res[i].Seq != res[0].Seq || res[i].Seq == 0 {
			t.Errorf("Post %d returned seq %d, Post 0 seq %d", i, res[i].Seq, res[0].Seq)
		}
	}
	if ok != 1 {
		t.Errorf("%d posts succeeded, want 1", ok)
	}
}

// TestBatchDuplicateSubject puts two messages for one subject into one
// batch, below the id lock: the second is answered as a duplicate of the
// first and the batch still commits.
func TestBatchDuplicateSubject(t *testing.T) {
	s := openStore(t, batchConfig)
	env := envelope{Stored: Stored{ID: letterID(1), From: "alice", To: "bob", BodySize: 1, Time: time.Unix(1, 0)}, inline: []byte("a")}
	t1, t2 := s.mailQ.expect(), s.mailQ.expect()
	var r1, r2 commitRes
	var wg sync.WaitGroup
	wg.Go(func() { r1 = t1.publish(commitMailMsg(env)) })
	wg.Go(func() { r2 = t2.publish(commitMailMsg(env)) })
	wg.Wait()
	if r1.err != nil || r2.err != nil || r1.dup == r2.dup || r1.seq != r2.seq {
		t.Fatalf("results %+v and %+v; want one stored, one dup of it", r1, r2)
	}
	if n, _ := s.MailCount(context.Background()); n != 1 {
		t.Errorf("MailCount = %d, want 1", n)
	}
}

// TestRefusedBatch mixes a conflicting message into the batch of a good
// post. The server refuses the batch whole; the post then goes alone and
// succeeds, and the conflicting message stays refused.
func TestRefusedBatch(t *testing.T) {
	s := openStore(t, batchConfig)
	ctx := context.Background()
	first := mustPost(t, s, newPost(1, "alice", "bob", 1, []byte("one")))

	// Hold the post inside commit until the conflicting message is queued,
	// so that the committer waits for the post and batches the two.
	bad := s.mailQ.expect()
	s.commitMu.Lock()
	done := make(chan error, 1)
	p := newPost(2, "alice", "bob", 1, []byte("two"))
	go func() { _, err := s.Post(ctx, p); done <- err }()
	waitFor(t, func() bool { return s.mailQ.coming.Load() == 2 }) // the post is on its way; commitMu stops it
	res := make(chan commitRes, 1)
	go func() { res <- bad.publish(commitMailMsg(envelope{Stored: first, inline: []byte("one")})) }()
	waitFor(t, func() bool { return s.mailQ.coming.Load() == 1 }) // the committer has it and waits for the post
	s.commitMu.Unlock()
	if r := <-res; !refused(r.err) {
		t.Fatalf("conflicting message: %+v, want a refused batch", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("Post in a refused batch: %v", err)
	}
	if n, _ := s.MailCount(ctx); n != 2 {
		t.Errorf("MailCount = %d, want 2", n)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 2 || pend[0].Seq != first.Seq {
		t.Errorf("Pending = %+v", pend)
	}
}

// waitFor polls cond until it holds, for at most 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}

// TestRepairAfterCrashInBatch commits MAIL messages as a batch without
// their BOX entries, crashes, and checks that Open files them.
func TestRepairAfterCrashInBatch(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := batchConfig
	cfg.Dir = dir
	s := openStore(t, cfg)
	mustPost(t, s, newPost(1, "alice", "bob", 1, []byte("one")))
	var wg sync.WaitGroup
	for i := 2; i <= 4; i++ {
		p := newPost(i, "alice", "bob", 0, []byte("cut"))
		env := envelope{Stored: Stored{ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence, Header: p.Header,
			BodySize: p.BodySize, BodySHA256: p.BodySHA256, Time: p.Time}, inline: []byte("cut")}
		tk := s.mailQ.expect()
		wg.Go(func() {
			if r := tk.publish(commitMailMsg(env)); r.err != nil {
				t.Error(r.err)
			}
		})
	}
	wg.Wait()
	crash(s)

	s = openStore(t, cfg)
	pend, err := s.Pending(ctx, "bob")
	if err != nil || len(pend) != 4 {
		t.Fatalf("after repair Pending = %+v, %v", pend, err)
	}
	for _, st := range pend[:3] {
		if got, err := s.Lookup(ctx, st.ID); err != nil || got.Seq != st.Seq {
			t.Errorf("Lookup %s = %+v, %v", st.ID, got, err)
		}
	}
}

// TestKillDuringGroupCommit posts from many goroutines in a child process,
// kills it with SIGKILL while batches are in flight, and checks after Open
// that every letter whose Post returned is stored and pending, and that
// every letter stored is pending (none is half there).
func TestKillDuringGroupCommit(t *testing.T) {
	if dir := os.Getenv("BT_STORE_KILL_DIR"); dir != "" {
		killChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringGroupCommit$")
	cmd.Env = append(os.Environ(), "BT_STORE_KILL_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 1500 {
		if id, ok := strings.CutPrefix(sc.Text(), "posted "); ok {
			acked[id] = true
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(acked) < 1500 {
		t.Fatalf("child acknowledged only %d letters", len(acked))
	}

	s := openStore(t, Config{Dir: dir})
	ctx := context.Background()
	pend, err := s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	inBox := map[string]bool{}
	batched := 0
	for _, st := range pend {
		inBox[st.ID] = true
		if mailBatchID(t, s, st.Seq) != "" {
			batched++
		}
	}
	if batched == 0 {
		t.Error("no letter was group-committed")
	}
	for id := range acked {
		if !inBox[id] {
			t.Errorf("letter %s was acknowledged but is not pending", id)
		}
	}
	if n, err := s.MailCount(ctx); err != nil || n != uint64(len(pend)) {
		t.Errorf("MailCount = %d, %v; Pending has %d", n, err, len(pend))
	}
	t.Logf("killed after %d acknowledged posts; %d letters stored, %d in batches", len(acked), len(pend), batched)
}

// killChild posts from 256 goroutines until killed (or a minute passes),
// printing each letter id once its Post has returned.
func killChild(dir string) {
	s, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var next int
	stop := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				mu.Lock()
				next++
				n := next
				mu.Unlock()
				p := newPost(n, "alice", "bob", uint8(n%4), []byte("kill me"))
				if _, err := s.Post(context.Background(), p); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("posted %s\n", p.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// TestCommitFindsItsOwnLetter plays a MAIL publish whose answer was lost
// and that, sent again, finds its letter stored (as on a cluster, when the
// stream leader dies after storing it): the commit must still file the
// mailbox entry. The same letter stored by another post (another nonce)
// is that post's: the commit answers ErrDuplicate.
func TestCommitFindsItsOwnLetter(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	p := newPost(1, "alice", "bob", 0, []byte("one"))
	env := envelope{Stored: Stored{ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence, Header: p.Header,
		BodySize: p.BodySize, BodySHA256: p.BodySHA256, Time: p.Time}, inline: []byte("one"), nonce: "first"}
	if _, err := s.js.PublishMsg(ctx, mailMsg(env), jetstream.WithMsgID(p.ID)); err != nil {
		t.Fatal(err)
	}
	for _, nonce := range []string{"second", "first"} {
		env.nonce = nonce
		unlock, err := s.locks.lock(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, file, err := s.commit(ctx, env, nil)
		if file != nil {
			file()
		}
		unlock()
		ours := nonce == "first"
		if st.ID != p.ID || ours != (err == nil) || ours != (file != nil) || !ours && !errors.Is(err, ErrDuplicate) {
			t.Fatalf("commit of a stored letter, nonce %s: %+v, filing %t, %v", nonce, st, file != nil, err)
		}
	}
	pend, err := s.Pending(ctx, "bob")
	if err != nil || len(pend) != 1 || pend[0].ID != p.ID {
		t.Fatalf("Pending = %+v, %v; want the letter", pend, err)
	}
}

// TestEnsureFiled files a stored letter that lacks its mailbox entry, and
// leaves a delivered one out.
func TestEnsureFiled(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	delivered := mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("one")))
	if _, err := s.PutReceipt(ctx, delivered.ID, "alice", ReceiptDelivered, []byte("delivered 1")); err != nil {
		t.Fatal(err)
	}
	p := newPost(2, "alice", "bob", 0, []byte("two"))
	env := envelope{Stored: Stored{ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence, Header: p.Header,
		BodySize: p.BodySize, BodySHA256: p.BodySHA256, Time: p.Time}, inline: []byte("two")}
	if _, err := s.js.PublishMsg(ctx, mailMsg(env), jetstream.WithMsgID(p.ID)); err != nil {
		t.Fatal(err)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 0 {
		t.Fatalf("before: Pending = %+v", pend)
	}
	for _, st := range []Stored{delivered, env.Stored, env.Stored} {
		if err := s.EnsureFiled(ctx, st); err != nil {
			t.Fatalf("EnsureFiled %s: %v", st.ID, err)
		}
	}
	pend, err := s.Pending(ctx, "bob")
	if err != nil || len(pend) != 1 || pend[0].ID != p.ID {
		t.Fatalf("after: Pending = %+v, %v; want letter 2 once", pend, err)
	}
	unknown := env.Stored
	unknown.ID = letterID(9)
	if err := s.EnsureFiled(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EnsureFiled of an unknown letter: %v", err)
	}
}

// TestFilingsWait checks that a mailbox listing waits for the entries
// being filed when it starts, and only for those of its party.
func TestFilingsWait(t *testing.T) {
	var f filings
	ctx := context.Background()
	doneBob := f.start("bob")
	doneCarol := f.start("carol")
	waited := make(chan error, 1)
	go func() { waited <- f.wait(ctx, "bob") }()
	select {
	case err := <-waited:
		t.Fatalf("wait returned before the entry was filed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	doneBob()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := f.wait(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := f.wait(short, "carol"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for an unfiled entry = %v", err)
	}
	doneCarol()
}

// TestPendingWaitsForFilingsBriefly holds a filing open, as an election
// can: Pending waits filingWait for it, then lists what is filed.
func TestPendingWaitsForFilingsBriefly(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("one")))
	waitFiled(t, s, "bob")
	stuck := s.filing.start("bob")
	defer stuck()
	start := time.Now()
	pend, err := s.Pending(ctx, "bob")
	if took := time.Since(start); err != nil || len(pend) != 1 || took < filingWait || took > filingWait+5*time.Second {
		t.Fatalf("Pending = %d entries, %v, after %v; want 1 after %v", len(pend), err, took, filingWait)
	}
}

// deadCommitter returns a committer whose connection is closed, so that
// every batch fails without an answer from JetStream, as when a stream's
// leader died.
func deadCommitter(t *testing.T, s *Store) *committer {
	nc, err := nats.Connect("", nats.InProcessServer(s.ns))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	c := newCommitter(nc, time.Second, -1, 1, 10)
	t.Cleanup(c.stop)
	return c
}

// TestFilingAfterAFailedBatch files a mailbox entry whose batch fails
// without an answer: the filing sends the entry again on its own, and the
// entry is there. But a letter delivered meanwhile is not listed again.
func TestFilingAfterAFailedBatch(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	dead := deadCommitter(t, s)
	delivered := mustPost(t, s, newPost(2, "alice", "bob", 1, []byte("two")))
	if _, err := s.PutReceipt(ctx, delivered.ID, "alice", ReceiptDelivered, []byte("delivered 2")); err != nil {
		t.Fatal(err)
	}
	s.file(delivered, dead.expect(), false)
	if pend, err := s.Pending(ctx, "bob"); err != nil || len(pend) != 0 {
		t.Fatalf("a delivered letter filed again: Pending = %+v, %v", pend, err)
	}
	p := newPost(1, "alice", "bob", 1, []byte("one"))
	st := Stored{Seq: 1, ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence, Header: p.Header,
		BodySize: p.BodySize, BodySHA256: p.BodySHA256, Time: p.Time}
	s.file(st, dead.expect(), false)
	if _, err := s.box.GetLastMsgForSubject(context.Background(), boxSubject(st)); err != nil {
		t.Fatalf("mailbox entry after a failed batch: %v", err)
	}
	if s.dirty.Load() {
		t.Error("the store was marked out of step")
	}
}

// TestEnsureFiledGivesUp holds a letter's id, as a post still filing it
// does: EnsureFiled waits for it only as long as its context allows, and
// returns once the id is free.
func TestEnsureFiledGivesUp(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	st := mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("one")))
	waitFiled(t, s, "bob")
	unlock, err := s.locks.lock(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.EnsureFiled(short, st); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EnsureFiled of a busy letter = %v, want the deadline", err)
	}
	unlock()
	if err := s.EnsureFiled(ctx, st); err != nil {
		t.Fatalf("EnsureFiled once free: %v", err)
	}
}
