package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const testInline = 1024

// openStore opens a store in dir (a new temporary folder if empty) with a
// small InlineLimit and closes it when the test ends.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.InlineLimit == 0 {
		cfg.InlineLimit = testInline
	}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func letterID(n int) string { return fmt.Sprintf("%032x", n) }

func newPost(n int, from, to string, prec uint8, body []byte) Post {
	return Post{
		ID: letterID(n), From: from, To: to, Precedence: prec,
		Header:     fmt.Appendf(nil, "header of letter %d", n),
		Body:       bytes.NewReader(body),
		BodySize:   int64(len(body)),
		BodySHA256: sha256.Sum256(body),
		Time:       time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC).Add(time.Duration(n) * time.Second),
	}
}

func mustPost(t testing.TB, s *Store, p Post) Stored {
	t.Helper()
	st, err := s.Post(context.Background(), p)
	if err != nil {
		t.Fatalf("Post %s: %v", p.ID, err)
	}
	return st
}

// waitFiled waits until the mailbox entries of party that s is filing are
// written.
func waitFiled(t testing.TB, s *Store, party string) {
	t.Helper()
	if err := s.filing.wait(context.Background(), party); err != nil {
		t.Fatal(err)
	}
}

func readBody(t testing.TB, s *Store, id string) []byte {
	t.Helper()
	rc, err := s.Body(context.Background(), id)
	if err != nil {
		t.Fatalf("Body %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading body %s: %v", id, err)
	}
	return b
}

func checkStored(t testing.TB, got Stored, p Post) {
	t.Helper()
	if got.Seq == 0 || got.ID != p.ID || got.From != p.From || got.To != p.To || got.Precedence != p.Precedence ||
		!bytes.Equal(got.Header, p.Header) || got.BodySize != p.BodySize || got.BodySHA256 != p.BodySHA256 ||
		!got.Time.Equal(p.Time) {
		t.Errorf("stored %+v does not match post %+v", got, p)
	}
}

// assertNothingStored checks that a refused post left no trace.
func assertNothingStored(t testing.TB, s *Store, id string, mailBefore uint64) {
	t.Helper()
	ctx := context.Background()
	if n, err := s.MailCount(ctx); err != nil || n != mailBefore {
		t.Errorf("MailCount = %d, %v; want %d", n, err, mailBefore)
	}
	if _, err := s.Lookup(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup = %v, want ErrNotFound", err)
	}
	objs, err := s.js.Stream(ctx, "OBJ_"+bucketBodies)
	if err != nil {
		t.Fatal(err)
	}
	info, err := objs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("object store holds %d messages, want none", info.State.Msgs)
	}
	if _, err := s.bodies.List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Errorf("object List = %v, want ErrNoObjectsFound", err)
	}
}

func TestPostLookupBody(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	for i, size := range []int{0, 1, 100, testInline, testInline + 1, 5000, 300_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			body := make([]byte, size)
			rand.NewChaCha8([32]byte{byte(i)}).Read(body)
			p := newPost(i+1, "alice", "bob", uint8(i%4), body)
			st := mustPost(t, s, p)
			checkStored(t, st, p)
			got, err := s.Lookup(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkStored(t, got, p)
			if got.Seq != st.Seq || got.Delivered {
				t.Errorf("Lookup = %+v, Post = %+v", got, st)
			}
			if b := readBody(t, s, p.ID); !bytes.Equal(b, body) {
				t.Errorf("body differs: %d bytes, want %d", len(b), len(body))
			}
			// Large bodies are plain Object Store objects for other tools.
			obj, err := s.bodies.GetBytes(ctx, p.ID)
			if inObjects := err == nil; inObjects != (size > testInline) {
				t.Errorf("body in object store = %v (%v), want %v", inObjects, err, size > testInline)
			}
			if err == nil && !bytes.Equal(obj, body) {
				t.Error("object store copy of the body differs")
			}
		})
	}
	if n, _ := s.MailCount(ctx); n != 7 {
		t.Errorf("MailCount = %d, want 7", n)
	}
}

// TestPostLargeBodyStreamed posts a 64 MiB body from a generator and checks
// that the heap never holds anything near the whole body.
func TestPostLargeBodyStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB body")
	}
	const size = 64 << 20
	s := openStore(t, Config{})
	seed := [32]byte{42}
	h := sha256.New()
	io.Copy(h, io.LimitReader(rand.NewChaCha8(seed), size))
	var sum [32]byte
	h.Sum(sum[:0])

	// A low GC target makes HeapInuse track live memory, not garbage.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	})

	start := time.Now()
	p := Post{ID: letterID(1), From: "alice", To: "bob", Precedence: 3, Header: []byte("h"),
		Body: io.LimitReader(rand.NewChaCha8(seed), size), BodySize: size, BodySHA256: sum, Time: time.Now()}
	mustPost(t, s, p)
	posted := time.Since(start)
	postPeak := peak.Load()

	rc, err := s.Body(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("read back %d bytes, err %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), sum[:]))
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("64 MiB: post %v, post+read %v, peak heap growth %d MiB (post only: %d MiB)", posted, time.Since(start),
		growth>>20, (int64(postPeak)-int64(base.HeapInuse))>>20)
	// The server's block caches cost a constant ~28 MiB here, the same for
	// 16 and 128 MiB bodies; a body held whole would add 64 MiB or more.
	if growth > 40<<20 {
		t.Errorf("heap grew by %d MiB while streaming a 64 MiB body", growth>>20)
	}
}

// failReader fails the test if the store reads it.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("body was read")
	return 0, io.EOF
}

// TestDuplicate posts a letter id again, with other metadata: the store
// answers with the original and ErrDuplicate, also after reopening. An
// inline body is read first, and even one that does not match its digest
// gets the original; a large body is not read at all.
func TestDuplicate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := Config{Dir: dir, InlineLimit: 1024}
	s := openStore(t, cfg)
	p := newPost(1, "alice", "bob", 1, bytes.Repeat([]byte("x"), 2000))
	orig := mustPost(t, s, p)

	inline := newPost(1, "alice", "carol", 0, []byte("other"))
	inline.Body = strings.NewReader("")
	large := newPost(1, "alice", "carol", 0, bytes.Repeat([]byte("o"), 1025))
	large.Body = failReader{t}
	for _, reopen := range []bool{false, true} {
		if reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, cfg)
		}
		for _, again := range []Post{inline, large} {
			got, err := s.Post(ctx, again)
			if !errors.Is(err, ErrDuplicate) || got.Seq != orig.Seq || got.To != "bob" {
				t.Fatalf("Post of %d bytes again (reopened %t) = %+v, %v; want original with ErrDuplicate", again.BodySize, reopen, got, err)
			}
		}
	}
	if n, _ := s.MailCount(ctx); n != 1 {
		t.Errorf("MailCount = %d, want 1", n)
	}
}

func TestDuplicateAfterDedupWindow(t *testing.T) {
	s := openStore(t, Config{DedupWindow: 100 * time.Millisecond})
	orig := mustPost(t, s, newPost(1, "alice", "bob", 1, []byte("x")))
	time.Sleep(300 * time.Millisecond)
	got, err := s.Post(context.Background(), newPost(1, "alice", "bob", 1, []byte("x")))
	if !errors.Is(err, ErrDuplicate) || got.Seq != orig.Seq {
		t.Fatalf("Post after the window = %+v, %v; want original with ErrDuplicate", got, err)
	}
	// Below the id lock and Lookup, JetStream itself refuses a second
	// message on mail.<id>.
	env := envelope{Stored: orig, inline: []byte("x")}
	if _, err := s.js.PublishMsg(context.Background(), mailMsg(env), jetstream.WithExpectLastSequencePerSubject(0)); !isWrongLastSeq(err) {
		t.Fatalf("raw second publish: %v, want wrong last sequence", err)
	}
}

func TestConcurrentDuplicates(t *testing.T) {
	s := openStore(t, Config{})
	body := bytes.Repeat([]byte("y"), 3000) // object store path
	var wg sync.WaitGroup
	var ok, dup atomic.Int32
	seqs := make([]uint64, 8)
	for i := range seqs {
		wg.Go(func() {
			st, err := s.Post(context.Background(), newPost(7, "alice", "bob", 2, body))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrDuplicate):
				dup.Add(1)
			default:
				t.Error(err)
			}
			seqs[i] = st.Seq
		})
	}
	wg.Wait()
	if ok.Load() != 1 || dup.Load() != 7 || len(slices.Compact(slices.Clone(seqs))) != 1 {
		t.Errorf("ok %d dup %d seqs %v", ok.Load(), dup.Load(), seqs)
	}
	if b := readBody(t, s, letterID(7)); !bytes.Equal(b, body) {
		t.Error("body differs")
	}
}

// errReader returns n bytes and then an error.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// cancelReader cancels a context after n bytes and then keeps giving zeros.
type cancelReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	k := min(len(p), 4096)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func TestRefusedBodies(t *testing.T) {
	s := openStore(t, Config{MaxBodyBytes: 1 << 20})
	ctx := context.Background()
	mustPost(t, s, newPost(100, "alice", "bob", 0, []byte("already there")))

	tests := []struct {
		name string
		size int // real body size
		edit func(*Post)
		want error
	}{
		{"inline hash", 100, func(p *Post) { p.BodySHA256[0] ^= 1 }, ErrBodyMismatch},
		{"object hash", 5000, func(p *Post) { p.BodySHA256[0] ^= 1 }, ErrBodyMismatch},
		{"inline short", 100, func(p *Post) { p.BodySize = 101 }, ErrBodyMismatch},
		{"object short", 5000, func(p *Post) { p.BodySize = 5001 }, ErrBodyMismatch},
		{"inline long", 100, func(p *Post) { p.BodySize = 99 }, ErrBodyMismatch},
		{"inline long past limit", 5000, func(p *Post) { p.BodySize = 10 }, ErrBodyMismatch},
		{"object long", 500_000, func(p *Post) { p.BodySize = 2000 }, ErrBodyMismatch},
		{"too large", 0, func(p *Post) { p.BodySize = 1<<20 + 1; p.Body = failReader{t} }, ErrTooLarge},
		{"object read error", 0, func(p *Post) { p.BodySize = 400_000; p.Body = &errReader{n: 300_000} }, nil},
		{"inline read error", 0, func(p *Post) { p.BodySize = 1000; p.Body = &errReader{n: 10} }, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte{byte(i)}, tc.size)
			p := newPost(i+1, "alice", "bob", 1, body)
			tc.edit(&p)
			_, err := s.Post(ctx, p)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Post = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			assertNothingStored(t, s, p.ID, 1)
		})
	}

	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p := newPost(50, "alice", "bob", 1, nil)
		p.BodySize, p.Body = 1_000_000, &cancelReader{n: 300_000, cancel: cancel}
		_, err := s.Post(cctx, p)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Post = %v, want context.Canceled", err)
		}
		assertNothingStored(t, s, p.ID, 1)
	})

	// Nothing remained, so the same ids post cleanly now.
	p := newPost(2, "alice", "bob", 1, bytes.Repeat([]byte{1}, 5000))
	mustPost(t, s, p)
	if b := readBody(t, s, p.ID); !bytes.Equal(b, bytes.Repeat([]byte{1}, 5000)) {
		t.Error("body differs after a refused post of the same id")
	}
	if got, _ := s.Pending(ctx, "bob"); len(got) != 2 {
		t.Errorf("Pending has %d letters, want 2", len(got))
	}
}

func TestPendingAndReceipts(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	precs := []uint8{3, 1, 0, 3, 2, 0, 1}
	var posted []Stored
	for i, prec := range precs {
		posted = append(posted, mustPost(t, s, newPost(i+1, "alice", "bob", prec, []byte{byte(i)})))
	}
	mustPost(t, s, newPost(100, "bob", "alice", 0, []byte("reply")))

	ids := func(list []Stored) []string {
		var out []string
		for _, st := range list {
			out = append(out, st.ID)
		}
		return out
	}
	want := []string{letterID(3), letterID(6), letterID(2), letterID(7), letterID(5), letterID(1), letterID(4)}
	got, err := s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("Pending = %v, want %v", ids(got), want)
	}
	checkStored(t, got[0], newPost(3, "alice", "bob", 0, []byte{2}))
	if got[0].Seq != posted[2].Seq {
		t.Errorf("Pending seq %d, want %d", got[0].Seq, posted[2].Seq)
	}

	// Acknowledged does not take a letter out of Pending; delivered does.
	if _, err := s.PutReceipt(ctx, letterID(3), "alice", ReceiptAcknowledged, []byte("ack 3")); err != nil {
		t.Fatal(err)
	}
	r1, err := s.PutReceipt(ctx, letterID(3), "alice", ReceiptDelivered, []byte("delivered 3"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.PutReceipt(ctx, letterID(3), "alice", ReceiptDelivered, []byte("delivered 3 again"))
	if !errors.Is(err, ErrDuplicate) || r2.Seq != r1.Seq || string(r2.Receipt) != "delivered 3" {
		t.Fatalf("second PutReceipt = %+v, %v; want the first with ErrDuplicate", r2, err)
	}
	if _, err := s.PutReceipt(ctx, letterID(1), "alice", ReceiptDelivered, []byte("delivered 1")); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Pending(ctx, "bob")
	if want := []string{letterID(6), letterID(2), letterID(7), letterID(5), letterID(4)}; !slices.Equal(ids(got), want) {
		t.Fatalf("Pending after receipts = %v, want %v", ids(got), want)
	}
	if st, _ := s.Lookup(ctx, letterID(3)); !st.Delivered {
		t.Error("Lookup does not show the letter delivered")
	}
	if st, _ := s.Lookup(ctx, letterID(2)); st.Delivered {
		t.Error("Lookup shows an undelivered letter delivered")
	}
	if got, _ := s.Pending(ctx, "alice"); len(got) != 1 || got[0].ID != letterID(100) {
		t.Errorf("Pending(alice) = %v", ids(got))
	}

	// Refused receipts.
	if _, err := s.PutReceipt(ctx, letterID(99), "alice", ReceiptDelivered, []byte("r")); !errors.Is(err, ErrNotFound) {
		t.Errorf("receipt for unknown letter: %v", err)
	}
	if _, err := s.PutReceipt(ctx, letterID(2), "bob", ReceiptDelivered, []byte("r")); !errors.Is(err, ErrInvalid) {
		t.Errorf("receipt with wrong sender: %v", err)
	}
	if _, err := s.PutReceipt(ctx, letterID(2), "alice", 9, []byte("r")); !errors.Is(err, ErrInvalid) {
		t.Errorf("receipt of kind 9: %v", err)
	}

	// Receipts for alice's letters, in order, paged by seq.
	rs, err := s.Receipts(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, r := range rs {
		texts = append(texts, string(r.Receipt))
	}
	if want := []string{"ack 3", "delivered 3", "delivered 1"}; !slices.Equal(texts, want) {
		t.Fatalf("Receipts = %q, want %q", texts, want)
	}
	if rs[1].ID != letterID(3) || rs[1].Kind != ReceiptDelivered || rs[1].Seq != r1.Seq {
		t.Errorf("receipt = %+v", rs[1])
	}
	if rest, _ := s.Receipts(ctx, "alice", rs[1].Seq); len(rest) != 1 || string(rest[0].Receipt) != "delivered 1" {
		t.Errorf("Receipts after %d = %+v", rs[1].Seq, rest)
	}
	if none, err := s.Receipts(ctx, "bob", 0); err != nil || len(none) != 0 {
		t.Errorf("Receipts(bob) = %+v, %v", none, err)
	}
}

func TestWatch(t *testing.T) {
	s := openStore(t, Config{})
	ch, cancel, err := s.Watch("bob")
	if err != nil {
		t.Fatal(err)
	}
	mustPost(t, s, newPost(1, "alice", "carol", 0, []byte("not for bob")))
	p := newPost(2, "alice", "bob", 1, []byte("for bob"))
	st := mustPost(t, s, p)
	select {
	case got := <-ch:
		checkStored(t, got, p)
		if got.Seq != st.Seq {
			t.Errorf("watched seq %d, want %d", got.Seq, st.Seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no envelope from Watch")
	}
	cancel()
	for range ch { // drains and ends: the channel is closed
	}
	cancel() // a second cancel is harmless
}

// TestRosterCache stores a roster version behind the store's back, as
// another cluster node does: CachedRoster answers the version it read for
// Config.RosterCache, then the new one, while Roster reads it at once. A
// version stored through the store takes effect at once, and a negative
// RosterCache reads every time.
func TestRosterCache(t *testing.T) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{300 * time.Millisecond, -1} {
		s := openStore(t, Config{RosterCache: ttl})
		if err := s.PutRoster(ctx, "alice", []byte("a1"), nil); err != nil {
			t.Fatal(err)
		}
		behind := func(v string) {
			t.Helper()
			if _, err := s.js.Publish(ctx, "roster.alice", []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		roster := func() string {
			t.Helper()
			r, err := s.CachedRoster(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			return string(r)
		}
		behind("a2")
		start := time.Now()
		got := roster()
		switch {
		case ttl < 0 && got != "a2":
			t.Fatalf("uncached Roster = %s, want a2", got)
		case ttl > 0 && got != "a1" && time.Since(start) < ttl:
			t.Fatalf("cached Roster = %s, want a1 for %v", got, ttl)
		}
		time.Sleep(ttl)
		if got := roster(); got != "a2" {
			t.Fatalf("Roster after %v = %s, want a2", ttl, got)
		}
		behind("a3")
		if fresh, err := s.Roster(ctx, "alice"); err != nil || string(fresh) != "a3" {
			t.Fatalf("Roster = %s, %v; want a3 at once", fresh, err)
		}
		if err := s.PutRoster(ctx, "alice", []byte("a4"), []byte("a3")); err != nil {
			t.Fatal(err)
		}
		if got := roster(); got != "a4" {
			t.Fatalf("CachedRoster right after PutRoster = %s, want a4", got)
		}
	}
}

func TestRostersAndChannels(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	if _, err := s.Roster(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Roster of unknown party: %v", err)
	}
	for _, r := range []struct{ party, roster, prev string }{{"bob", "b1", ""}, {"alice", "a1", ""}, {"alice", "a2", "a1"}, {"c-3", "c1", ""}} {
		var prev []byte
		if r.prev != "" {
			prev = []byte(r.prev)
		}
		if err := s.PutRoster(ctx, r.party, []byte(r.roster), prev); err != nil {
			t.Fatal(err)
		}
	}
	// A version built on a stale one is refused and stores nothing.
	for _, prev := range [][]byte{nil, []byte("a1"), []byte("zz")} {
		if err := s.PutRoster(ctx, "alice", []byte("a3"), prev); !errors.Is(err, ErrConflict) {
			t.Errorf("PutRoster on stale %q = %v, want ErrConflict", prev, err)
		}
	}
	if r, err := s.Roster(ctx, "alice"); err != nil || string(r) != "a2" {
		t.Errorf("Roster = %q, %v; want a2", r, err)
	}
	if h, err := s.RosterHistory(ctx, "alice"); err != nil || len(h) != 2 || string(h[0]) != "a1" || string(h[1]) != "a2" {
		t.Errorf("RosterHistory = %q, %v", h, err)
	}
	if p, err := s.Parties(ctx); err != nil || !slices.Equal(p, []string{"alice", "bob", "c-3"}) {
		t.Errorf("Parties = %v, %v", p, err)
	}

	for _, pair := range [][2]string{{"bob", "alice"}, {"alice", "bob"}, {"c-3", "alice"}} {
		if err := s.OpenChannel(ctx, pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.ChannelOpen(ctx, "alice", "bob"); !ok || err != nil {
		t.Errorf("ChannelOpen(alice, bob) = %v, %v", ok, err)
	}
	if ok, err := s.ChannelOpen(ctx, "bob", "c-3"); ok || err != nil {
		t.Errorf("ChannelOpen(bob, c-3) = %v, %v", ok, err)
	}
	want := [][2]string{{"alice", "bob"}, {"alice", "c-3"}}
	if got, err := s.Channels(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Channels = %v, %v; want %v", got, err, want)
	}
}

func TestValidation(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	bad := []string{"", "Alice", "al ice", "a.b", "a*", "a>", "abcdefghijklmnopqrstuvwxyz0123456", "ä"}
	for _, name := range bad {
		if err := s.PutRoster(ctx, name, []byte("r"), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutRoster(%q) = %v", name, err)
		}
		if err := s.OpenChannel(ctx, "alice", name); !errors.Is(err, ErrInvalid) {
			t.Errorf("OpenChannel(alice, %q) = %v", name, err)
		}
		if _, err := s.Pending(ctx, name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Pending(%q) = %v", name, err)
		}
		if _, _, err := s.Watch(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Watch(%q) = %v", name, err)
		}
	}
	if err := s.OpenChannel(ctx, "alice", "alice"); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenChannel(alice, alice) = %v", err)
	}
	for _, id := range []string{"", "abc", letterID(1) + "0", "0000000000000000000000000000000G", "0000000000000000000000000000000A"} {
		if _, err := s.Lookup(ctx, id); !errors.Is(err, ErrInvalid) {
			t.Errorf("Lookup(%q) = %v", id, err)
		}
	}
	posts := map[string]func(*Post){
		"id":         func(p *Post) { p.ID = "x" },
		"from":       func(p *Post) { p.From = "A" },
		"to":         func(p *Post) { p.To = "" },
		"precedence": func(p *Post) { p.Precedence = 4 },
		"header":     func(p *Post) { p.Header = make([]byte, MaxHeaderBytes+1) },
		"size":       func(p *Post) { p.BodySize = -1 },
	}
	for name, edit := range posts {
		p := newPost(1, "alice", "bob", 0, []byte("b"))
		edit(&p)
		if _, err := s.Post(ctx, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Post with bad %s = %v", name, err)
		}
	}
	assertNothingStored(t, s, letterID(1), 0)
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, Config{Dir: dir})
	small := newPost(1, "alice", "bob", 2, []byte("small body"))
	bigBody := bytes.Repeat([]byte("0123456789"), 1000)
	big := newPost(2, "alice", "bob", 0, bigBody)
	third := newPost(3, "bob", "alice", 1, []byte("third"))
	for _, p := range []Post{small, big, third} {
		mustPost(t, s, p)
	}
	if err := s.PutRoster(ctx, "alice", []byte("roster a1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoster(ctx, "alice", []byte("roster a2"), []byte("roster a1")); err != nil {
		t.Fatal(err)
	}
	if err := s.OpenChannel(ctx, "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	r, err := s.PutReceipt(ctx, third.ID, "bob", ReceiptDelivered, []byte("delivered 3"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, small.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ErrClosed", err)
	}

	s = openStore(t, Config{Dir: dir})
	if roster, err := s.Roster(ctx, "alice"); err != nil || string(roster) != "roster a2" {
		t.Errorf("Roster = %q, %v", roster, err)
	}
	if ok, err := s.ChannelOpen(ctx, "alice", "bob"); !ok || err != nil {
		t.Errorf("ChannelOpen = %v, %v", ok, err)
	}
	for _, p := range []Post{small, big} {
		st, err := s.Lookup(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, st, p)
	}
	if b := readBody(t, s, big.ID); !bytes.Equal(b, bigBody) {
		t.Error("big body differs after reopen")
	}
	if b := readBody(t, s, small.ID); string(b) != "small body" {
		t.Errorf("small body = %q", b)
	}
	if st, _ := s.Lookup(ctx, third.ID); !st.Delivered {
		t.Error("delivered flag lost")
	}
	if rs, err := s.Receipts(ctx, "bob", 0); err != nil || len(rs) != 1 || rs[0].Seq != r.Seq {
		t.Errorf("Receipts = %+v, %v", rs, err)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 2 || pend[0].ID != big.ID {
		t.Errorf("Pending(bob) = %+v", pend)
	}
	if pend, _ := s.Pending(ctx, "alice"); len(pend) != 0 {
		t.Errorf("Pending(alice) = %+v", pend)
	}
	if cp, _ := s.loadCheckpoint(ctx); cp != (checkpoint{3, 1}) {
		t.Errorf("checkpoint after a clean close = %+v, want {3 1}", cp)
	}
}

// TestRepostFilesMissingEntry loses a BOX entry, as when the second step of
// a Post fails, and checks that posting the letter again files it.
func TestRepostFilesMissingEntry(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	p := newPost(1, "alice", "bob", 1, []byte("one"))
	st := mustPost(t, s, p)
	waitFiled(t, s, "bob")
	if err := s.dropBox(ctx, st); err != nil {
		t.Fatal(err)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 0 {
		t.Fatalf("Pending = %+v", pend)
	}
	p.Body = bytes.NewReader([]byte("one"))
	if _, err := s.Post(ctx, p); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Post again = %v, want ErrDuplicate", err)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 1 || pend[0].Seq != st.Seq {
		t.Fatalf("Pending after posting again = %+v", pend)
	}
}

// TestBodyHash posts with a domain-separated SHA-256, as the envelope
// format signs, and checks that the object store still holds plain objects.
func TestBodyHash(t *testing.T) {
	newHash := func() hash.Hash {
		h := sha256.New()
		h.Write([]byte("test context\n"))
		return h
	}
	s := openStore(t, Config{BodyHash: newHash})
	ctx := context.Background()
	for i, size := range []int{100, 5000} {
		body := bytes.Repeat([]byte{byte(i)}, size)
		p := newPost(i+1, "alice", "bob", 1, body)
		if _, err := s.Post(ctx, p); !errors.Is(err, ErrBodyMismatch) {
			t.Fatalf("Post with a plain SHA-256 = %v, want ErrBodyMismatch", err)
		}
		h := newHash()
		h.Write(body)
		h.Sum(p.BodySHA256[:0])
		p.Body = bytes.NewReader(body)
		mustPost(t, s, p)
		if got := readBody(t, s, p.ID); !bytes.Equal(got, body) {
			t.Error("body differs")
		}
	}
	if obj, err := s.bodies.GetBytes(ctx, letterID(2)); err != nil || len(obj) != 5000 {
		t.Errorf("object store read: %d bytes, %v", len(obj), err)
	}
	if _, err := Open(ctx, Config{Dir: t.TempDir(), BodyHash: sha512.New}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open with a 64-byte hash = %v, want ErrInvalid", err)
	}
}

// crash stops s the hard way: no checkpoint, no drain.
func crash(s *Store) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.bg.Wait()
	s.nc.Close()
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// TestRepairAfterCrash cuts a Post after its MAIL message and a PutReceipt
// after its RCPT message, then checks that Open puts the mailbox right.
func TestRepairAfterCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, Config{Dir: dir})
	delivered := mustPost(t, s, newPost(1, "alice", "bob", 1, []byte("one")))
	mustPost(t, s, newPost(2, "alice", "bob", 2, []byte("two")))

	// A Post that crashed after its commit point: MAIL without BOX.
	p := newPost(3, "alice", "bob", 0, []byte("three"))
	env := envelope{Stored: Stored{ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence, Header: p.Header,
		BodySize: p.BodySize, BodySHA256: p.BodySHA256, Time: p.Time}, inline: []byte("three")}
	if _, err := s.js.PublishMsg(ctx, mailMsg(env), jetstream.WithMsgID(p.ID)); err != nil {
		t.Fatal(err)
	}
	// A delivered receipt that crashed before its BOX purge.
	rmsg := receiptMsgForTest(delivered.ID, ReceiptDelivered, []byte("delivered 1"))
	if _, err := s.js.PublishMsg(ctx, rmsg); err != nil {
		t.Fatal(err)
	}
	if pend, _ := s.Pending(ctx, "bob"); len(pend) != 2 || pend[0].ID != letterID(1) {
		t.Fatalf("before the crash Pending = %+v", pend)
	}
	crash(s)

	s = openStore(t, Config{Dir: dir})
	pend, err := s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) != 2 || pend[0].ID != letterID(3) || pend[1].ID != letterID(2) {
		t.Fatalf("after repair Pending = %+v", pend)
	}
	checkStored(t, pend[0], p)
}

func receiptMsgForTest(id string, kind uint8, receipt []byte) *nats.Msg {
	m := nats.NewMsg(receiptSubject("alice", kind, id))
	m.Header.Set(hdrID, id)
	m.Header.Set(hdrKind, fmt.Sprint(kind))
	m.Data = receipt
	return m
}

// TestPendingTenThousand fills one mailbox with 10,000 letters and reads it.
func TestPendingTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 letters")
	}
	const n = 10_000
	s := openStore(t, Config{NoSync: true})
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				if _, err := s.Post(ctx, newPost(i, "alice", "bob", uint8(i%4), []byte("body"))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	posted := time.Since(start)
	start = time.Now()
	pend, err := s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("posted %d letters in %v (NoSync), Pending read them in %v", n, posted, time.Since(start))
	if len(pend) != n {
		t.Fatalf("Pending has %d letters, want %d", len(pend), n)
	}
	sorted := slices.IsSortedFunc(pend, func(a, b Stored) int {
		if a.Precedence != b.Precedence {
			return int(a.Precedence) - int(b.Precedence)
		}
		return compareUint(a.Seq, b.Seq)
	})
	if !sorted {
		t.Error("Pending is not ordered by precedence, then seq")
	}
}

// TestRepostOfFiledLetter posts a letter again once it is filed, as a
// client does whose answer was lost: the store knows it filed the letter,
// answers with the original without reading the body, and so keeps the
// repost out of a group commit that the server would refuse whole.
func TestRepostOfFiledLetter(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	p := newPost(1, "alice", "bob", 2, []byte("once"))
	orig := mustPost(t, s, p)
	waitFiled(t, s, "bob")
	p.Body = failReader{t}
	if got, err := s.Post(ctx, p); !errors.Is(err, ErrDuplicate) || got.Seq != orig.Seq {
		t.Fatalf("repost = %+v, %v; want the original with ErrDuplicate", got, err)
	}
}

// TestPostMarkedRetry posts a letter again, marked as a client's retry, to
// a store that has no memory of filing it (opened anew): the id is looked
// up before the body is read, and the original comes back.
func TestPostMarkedRetry(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	p := newPost(1, "alice", "bob", 1, []byte("sent twice"))
	orig := mustPost(t, s, p)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Config{Dir: dir})
	p.Body, p.Retry = failReader{t}, true
	if got, err := s.Post(context.Background(), p); !errors.Is(err, ErrDuplicate) || got.Seq != orig.Seq {
		t.Fatalf("retried post = %+v, %v; want the original with ErrDuplicate", got, err)
	}
}
