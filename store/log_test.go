package store

import (
	"bytes"
	"context"
	"errors"
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
