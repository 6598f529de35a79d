package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

func TestLogAppendAndReplay(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("one")))
	mustPost(t, s, newPost(2, "bob", "alice", 3, []byte("two")))
	recs, err := s.RecordsAfter(ctx, LogMail, 0, 10)
	if err != nil || len(recs) != 2 || recs[0].Mail == nil || recs[1].Mail.Seq != recs[1].Seq || recs[0].Mail.To != "bob" {
		t.Fatalf("mail records: %v %+v", err, recs)
	}
	if more, err := s.RecordsAfter(ctx, LogMail, recs[0].Seq, 10); err != nil || len(more) != 1 || more[0].Seq != recs[1].Seq {
		t.Fatalf("records after the first: %v %+v", err, more)
	}
	if one, err := s.RecordsAfter(ctx, LogMail, 0, 1); err != nil || len(one) != 1 {
		t.Fatalf("limit: %v %d", err, len(one))
	}
	leaves := []LogLeaf{{Data: []byte("a"), Source: LogMail, SourceSeq: 1}, {Data: []byte("b"), Source: LogMail, SourceSeq: 2}}
	if first, err := s.AppendLog(ctx, 0, leaves); err != nil || first != 0 {
		t.Fatalf("append: %d %v", first, err)
	}
	if first, err := s.AppendLog(ctx, 2, []LogLeaf{{Data: []byte("c"), Source: LogRosters, SourceSeq: 9}}); err != nil || first != 2 {
		t.Fatalf("second append: %d %v", first, err)
	}
	// A writer that is not up to date appends nothing.
	for _, size := range []uint64{0, 2, 4} {
		if _, err := s.AppendLog(ctx, size, []LogLeaf{{Data: []byte("stale"), Source: LogMail, SourceSeq: 3}}); !errors.Is(err, ErrLogMoved) {
			t.Fatalf("append at size %d of a log of 3: %v", size, err)
		}
	}
	if _, err := s.AppendLog(ctx, 3, []LogLeaf{{Data: []byte("x"), Source: "nope"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown source: %v", err)
	}
	var got []LogLeaf
	if err := s.LogLeaves(ctx, 1, func(l LogLeaf) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Index != 1 || !bytes.Equal(got[1].Data, []byte("c")) || got[1].Source != LogRosters || got[1].SourceSeq != 9 {
		t.Fatalf("replay from 1: %+v", got)
	}
	tail, err := s.LogLeavesAfter(ctx, 1, 10)
	if err != nil || len(tail) != 2 || tail[0].Index != 1 || !bytes.Equal(tail[1].Data, got[1].Data) || tail[1].SourceSeq != 9 {
		t.Fatalf("leaves after 1: %v %+v", err, tail)
	}
	if tail, err := s.LogLeavesAfter(ctx, 3, 10); err != nil || len(tail) != 0 {
		t.Fatalf("leaves after the end: %v %+v", err, tail)
	}
	if tail, err := s.LogLeavesAfter(ctx, 0, 1); err != nil || len(tail) != 1 || tail[0].Index != 0 {
		t.Fatalf("limit: %v %+v", err, tail)
	}
}

// TestRecordsAfterBatches reads more records than one batched read
// returns, from several starting points and with several limits, and
// checks that each comes once, in order, with its own metadata: first
// from the memory of the store that committed them, then read back by a
// store that opens the folder again, which must return the same.
func TestRecordsAfterBatches(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	ctx := context.Background()
	const n = 2*getBatchSize + 17
	for i := range n {
		mustPost(t, s, newPost(i+1, "alice", "bob", uint8(i%4), []byte{byte(i)}))
	}
	cases := []struct{ after, limit, want int }{
		{0, n + 10, n}, {0, getBatchSize, getBatchSize}, {5, getBatchSize + 1, getBatchSize + 1}, {n - 3, 100, 3}, {n, 10, 0},
	}
	read := func(s *Store) [][]Record {
		var all [][]Record
		for _, c := range cases {
			recs, err := s.RecordsAfter(ctx, LogMail, uint64(c.after), c.limit)
			if err != nil || len(recs) != c.want {
				t.Fatalf("RecordsAfter(%d, %d) = %d records, %v; want %d", c.after, c.limit, len(recs), err, c.want)
			}
			for i, r := range recs {
				seq := uint64(c.after + i + 1)
				if r.Seq != seq || r.Mail.Seq != seq || r.Mail.ID != letterID(int(seq)) || r.Mail.Precedence != uint8((seq-1)%4) {
					t.Fatalf("RecordsAfter(%d, %d)[%d] = seq %d, letter %+v", c.after, c.limit, i, r.Seq, r.Mail)
				}
			}
			all = append(all, recs)
		}
		return all
	}
	remembered := read(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	readBack := read(openStore(t, Config{Dir: dir}))
	if !reflect.DeepEqual(remembered, readBack) {
		t.Fatal("records from memory differ from those read back")
	}
}

// TestRecordsAfterLargeLetters reads back, from a store that opens the
// folder anew, more letters than one batched read returns by size
// (getBatchBytes): the read goes on where the server ended the batch,
// instead of taking the short batch for the end of the stream.
func TestRecordsAfterLargeLetters(t *testing.T) {
	dir := t.TempDir()
	const n, size = 16, 900 << 10
	if (n-1)*size <= getBatchBytes {
		t.Fatalf("%d letters of %d bytes fit in one batched read", n, size)
	}
	cfg := Config{Dir: dir, InlineLimit: 1 << 20}
	s := openStore(t, cfg)
	for i := range n {
		mustPost(t, s, newPost(i+1, "alice", "bob", 0, bytes.Repeat([]byte{byte(i)}, size)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := openStore(t, cfg).RecordsAfter(context.Background(), LogMail, 0, 100)
	if err != nil || len(recs) != n {
		t.Fatalf("RecordsAfter = %d records, %v; want %d", len(recs), err, n)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Mail.ID != letterID(i+1) {
			t.Fatalf("record %d: seq %d, letter %s", i, r.Seq, r.Mail.ID)
		}
	}
}

// TestLetterFromMemory fetches small letters right after posting them,
// when the store answers from memory, and again from a store that opens
// the folder anew and must read them: both answers must be the same. A
// letter over hotMax bytes is read, not remembered (Recent has only the
// others).
func TestLetterFromMemory(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	ctx := context.Background()
	bodies := [][]byte{[]byte("small"), bytes.Repeat([]byte("m"), hotMax), bytes.Repeat([]byte("L"), hotMax+1)}
	for i, b := range bodies {
		mustPost(t, s, newPost(i+1, "alice", "bob", 1, b))
	}
	if st, body, ok := s.Recent(letterID(1)); !ok || !bytes.Equal(body, bodies[0]) || st.ID != letterID(1) {
		t.Errorf("a small letter is not held in memory: %v, %q", ok, body)
	}
	if _, _, ok := s.Recent(letterID(3)); ok {
		t.Error("a letter over hotMax bytes is held in memory")
	}
	fetch := func(s *Store) (out []Stored) {
		for i, want := range bodies {
			st, rc, err := s.Letter(ctx, letterID(i+1))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("letter %d: body %d bytes, %v; want %d", i+1, len(got), err, len(want))
			}
			out = append(out, st)
		}
		return out
	}
	fromMemory := fetch(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if readBack := fetch(openStore(t, Config{Dir: dir})); !reflect.DeepEqual(fromMemory, readBack) {
		t.Fatalf("from memory %+v, read back %+v", fromMemory, readBack)
	}
}

// TestIdleLogReadsAllocateLittle: the log keeper reads LOG and the record
// streams several times a second, mostly finding nothing new, so such a
// read must cost little memory. Each used to allocate and zero a
// 64k-slot channel (512 KiB).
func TestIdleLogReadsAllocateLittle(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("one")))
	if _, err := s.AppendLog(ctx, 0, []LogLeaf{{Data: []byte("a"), Source: LogMail, SourceSeq: 1}}); err != nil {
		t.Fatal(err)
	}
	const reads = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		if l, err := s.LogLeavesAfter(ctx, 1, 800); err != nil || len(l) != 0 {
			t.Fatalf("leaves after the end: %v %+v", err, l)
		}
		if r, err := s.RecordsAfter(ctx, LogReceipts, 0, 200); err != nil || len(r) != 0 {
			t.Fatalf("receipts of an empty stream: %v %+v", err, r)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / (2 * reads)
	if per > 64<<10 {
		t.Fatalf("an idle log read allocates %d bytes, want at most 64 KiB", per)
	}
	t.Logf("an idle log read allocates %d bytes", per)
}
