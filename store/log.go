package store

// The log's leaf sequence. The relay derives the log from the record
// streams (MAIL, RCPT, ROSTERS) and appends each leaf here, so that the
// order of the leaves is stored once and every reader derives the same
// tree. Each leaf names the record it came from; the highest source
// sequence of each stream in LOG is where integration resumes after a
// restart.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const subjectLog = "log.leaf"

// Headers of a LOG message.
const (
	hdrSource    = "Bt-Source"
	hdrSourceSeq = "Bt-Source-Seq"
)

// The record streams the log is made from, as LogLeaf.Source names them.
const (
	LogMail     = "mail"
	LogReceipts = "rcpt"
	LogRosters  = "roster"
)

// LogLeaf is one leaf of the log and the record it came from.
type LogLeaf struct {
	Index     uint64 // position in the log, from 0
	Data      []byte // the leaf data; opaque to the store
	Source    string // LogMail, LogReceipts or LogRosters
	SourceSeq uint64 // the record's sequence in its stream
}

// ErrLogMoved means the log was not the size an AppendLog call expected:
// another relay node appended first. Nothing was appended; read the new
// leaves (LogLeavesAfter) and integrate again.
var ErrLogMoved = errors.New("store: the log grew concurrently")

// AppendLog appends leaves in order as one atomic batch (one fsync), but
// only if the log holds exactly size leaves, and returns the index of the
// first. The size check (Nats-Expected-Last-Sequence on the batch's first
// message) is what keeps the leaf sequence single-writer when several
// relay nodes share the streams: a node that is not up to date gets
// ErrLogMoved and appends nothing.
func (s *Store) AppendLog(ctx context.Context, size uint64, leaves []LogLeaf) (uint64, error) {
	if len(leaves) == 0 || len(leaves) > MaxCommitBatch {
		return 0, fmt.Errorf("%w: append 1 to %d leaves at a time", ErrInvalid, MaxCommitBatch)
	}
	_, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	msgs := make([]*nats.Msg, len(leaves))
	for i, l := range leaves {
		if l.Source != LogMail && l.Source != LogReceipts && l.Source != LogRosters {
			return 0, fmt.Errorf("%w: unknown log source %q", ErrInvalid, l.Source)
		}
		msgs[i] = &nats.Msg{Subject: subjectLog, Data: l.Data, Header: nats.Header{
			hdrSource: {l.Source}, hdrSourceSeq: {formatUint(l.SourceSeq)},
		}}
	}
	msgs[0].Header.Set(jetstream.ExpectedLastSeqHeader, formatUint(size))
	first, err := sendBatch(s.nc, "log."+rand.Text(), msgs, s.requestTimeout())
	if isWrongLastSeq(err) {
		return 0, ErrLogMoved
	}
	if err != nil {
		return 0, fmt.Errorf("failed to append to the log: %w", err)
	}
	return first - 1, nil
}

// LogLeaves calls fn for every leaf from index from on, in order, as the
// log is when it starts.
func (s *Store) LogLeaves(ctx context.Context, from uint64, fn func(LogLeaf) error) error {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.scan(ctx, s.leaves, subjectLog, from+1, false, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		l, err := logLeaf(meta.Sequence.Stream, m.Headers(), slices.Clone(m.Data()))
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// Record is one record of a log source: an envelope (Data is its signed
// header, and Mail its metadata), a receipt or a roster version.
type Record struct {
	Seq  uint64
	Data []byte
	Mail *Stored // for LogMail
	// Time is when the relay took the record: a letter's accept time
	// (Stored.Time), else the stream's time of the message. The log
	// integrates records of its sources in this order.
	Time time.Time
}

// RecordsAfter returns up to limit records of a log source with a stream
// sequence above after, in stream order. It reads them by sequence (the
// record streams deny deletes, so sequences have no gaps) from a replica,
// which may be a little behind the stream's leader: it then returns fewer,
// and the rest on a later call. Letters this store committed lately come
// from its memory, without their bodies being read back.
func (s *Store) RecordsAfter(ctx context.Context, source string, after uint64, limit int) ([]Record, error) {
	st := s.rosters
	switch source {
	case LogMail:
		st = s.mail
	case LogReceipts:
		st = s.receipts
	case LogRosters:
	default:
		return nil, fmt.Errorf("%w: unknown log source %q", ErrInvalid, source)
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []Record
	if source == LogMail {
		for len(out) < limit {
			c, ok := s.committed.Get(after + 1)
			if !ok {
				break
			}
			out = append(out, Record{Seq: c.Seq, Data: c.Header, Mail: &c, Time: c.Time})
			after++
		}
	}
	err = s.getFrom(ctx, st, after+1, limit-len(out), func(m *jetstream.RawStreamMsg) error {
		r := Record{Seq: m.Sequence, Data: m.Data, Time: m.Time}
		if source == LogMail {
			env, err := decodeEnvelope(m.Header, m.Data)
			if err != nil {
				return err
			}
			// The record keeps a copy of the envelope header only, not
			// the message with its body: a call may hold up to limit
			// letters.
			env.Seq, env.Header = r.Seq, slices.Clone(env.Header)
			r.Data, r.Mail = env.Header, &env.Stored
			if !env.Time.IsZero() {
				r.Time = env.Time
			}
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read %s records: %w", source, err)
	}
	return out, nil
}

// LogLeavesAfter returns up to limit leaves from index from on, as far as
// the replica of LOG that answers holds them.
func (s *Store) LogLeavesAfter(ctx context.Context, from uint64, limit int) ([]LogLeaf, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []LogLeaf
	err = s.getFrom(ctx, s.leaves, from+1, limit, func(m *jetstream.RawStreamMsg) error {
		l, err := logLeaf(m.Sequence, m.Header, m.Data)
		out = append(out, l)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the log: %w", err)
	}
	return out, nil
}

// getFrom calls fn for up to limit messages of st from sequence seq on,
// stopping at the first sequence that the replica answering does not hold.
// It reads them in batches (getBatch).
func (s *Store) getFrom(ctx context.Context, st jetstream.Stream, seq uint64, limit int, fn func(*jetstream.RawStreamMsg) error) error {
	for limit > 0 {
		want := min(limit, getBatchSize)
		msgs, more, err := s.getBatch(ctx, st, seq, want)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(msgs) == 0 || len(msgs) < want && !more {
			return nil
		}
		seq += uint64(len(msgs))
		limit -= len(msgs)
	}
	return nil
}

// getBatchSize is the most messages one batched read asks for.
const getBatchSize = 256

// logLeaf decodes the LOG message at stream sequence seq.
func logLeaf(seq uint64, h nats.Header, data []byte) (LogLeaf, error) {
	src, err := strconv.ParseUint(h.Get(hdrSourceSeq), 10, 64)
	if err != nil {
		return LogLeaf{}, fmt.Errorf("failed to read log leaf %d: %w", seq-1, err)
	}
	return LogLeaf{Index: seq - 1, Data: data, Source: h.Get(hdrSource), SourceSeq: src}, nil
}

// LogSize returns the number of leaves in LOG as the stream's leader
// reports it, which this node's replica may not hold yet.
func (s *Store) LogSize(ctx context.Context) (uint64, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	return lastSeq(ctx, s.leaves)
}
