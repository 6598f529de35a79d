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
	"fmt"
	"slices"
	"strconv"

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

// AppendLog appends leaves in order as one atomic batch (one fsync) and
// returns the index of the first. Only one process may append.
func (s *Store) AppendLog(ctx context.Context, leaves []LogLeaf) (uint64, error) {
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
	first, err := sendBatch(s.nc, "log."+rand.Text(), msgs)
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
		seq, err := strconv.ParseUint(m.Headers().Get(hdrSourceSeq), 10, 64)
		if err != nil {
			return fmt.Errorf("failed to read log leaf %d: %w", meta.Sequence.Stream-1, err)
		}
		return fn(LogLeaf{Index: meta.Sequence.Stream - 1, Data: slices.Clone(m.Data()),
			Source: m.Headers().Get(hdrSource), SourceSeq: seq})
	})
}

// Record is one record of a log source: an envelope (Data is its signed
// header, and Mail its metadata), a receipt or a roster version.
type Record struct {
	Seq  uint64
	Data []byte
	Mail *Stored // for LogMail
}

// RecordsAfter returns up to limit records of a log source with a stream
// sequence above after, in stream order.
func (s *Store) RecordsAfter(ctx context.Context, source string, after uint64, limit int) ([]Record, error) {
	st, filter := s.rosters, "roster.*"
	switch source {
	case LogMail:
		st, filter = s.mail, "mail.*"
	case LogReceipts:
		st, filter = s.receipts, "rcpt.*.*.*"
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
	err = s.scan(ctx, st, filter, after+1, false, func(m jetstream.Msg) error {
		if len(out) == limit {
			return errEnough
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		r := Record{Seq: meta.Sequence.Stream, Data: slices.Clone(m.Data())}
		if source == LogMail {
			env, err := decodeEnvelope(m.Headers(), m.Data())
			if err != nil {
				return err
			}
			env.Seq = r.Seq
			r.Data, r.Mail = slices.Clone(env.Header), &env.Stored
		}
		out = append(out, r)
		return nil
	})
	if err != nil && err != errEnough {
		return nil, fmt.Errorf("failed to read %s records: %w", source, err)
	}
	return out, nil
}

var errEnough = fmt.Errorf("enough records")
