package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers and statuses of JetStream's batched direct get (one request,
// one answer per message, then an end-of-batch status).
const (
	hdrDirectSeq       = "Nats-Sequence"
	hdrDirectSubject   = "Nats-Subject"
	hdrDirectTime      = "Nats-Time-Stamp"
	hdrDirectPending   = "Nats-Num-Pending"
	statusEOB          = "204"
	statusNotFound     = "404"
	statusNoResponders = "503"
)

// getBatchBytes bounds the bytes of one batched read: the server ends a
// batch after the message that reaches it (so at least one is sent),
// instead of at its max_pending (64 MB by default).
const getBatchBytes = 8 << 20

// getBatch reads up to n messages of st from sequence seq on with one
// batched direct get. The replica that answers returns those it holds,
// so there may be fewer; a sequence it does not hold ends the batch.
// The messages come in stream order. more reports that the replica
// holds messages after the last one it sent although it sent fewer than
// n: it ended the batch at getBatchBytes, or the stream grew meanwhile.
func (s *Store) getBatch(ctx context.Context, st jetstream.Stream, seq uint64, n int) (out []*jetstream.RawStreamMsg, more bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	inbox := s.nc.NewInbox()
	// The answer is at most n messages and one status (end of batch, or
	// an error alone), so a channel of n+2 slots never fills. Not
	// SubscribeSync's default of 64k slots (512 KiB, allocated and zeroed
	// on every call: the log reads batches several times a second, even
	// when idle).
	in := make(chan *nats.Msg, n+2)
	sub, err := s.nc.ChanSubscribe(inbox, in)
	if err != nil {
		return nil, false, fmt.Errorf("failed to read messages: %w", err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(map[string]any{"seq": seq, "batch": n, "max_bytes": getBatchBytes})
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+st.CachedInfo().Config.Name, inbox, req); err != nil {
		return nil, false, fmt.Errorf("failed to read messages: %w", err)
	}
	for {
		var m *nats.Msg
		select {
		case m = <-in:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("failed to read messages from %d: %w", seq, ctx.Err())
		}
		switch m.Header.Get("Status") {
		case "":
		case statusEOB:
			// The number of messages the replica holds after the last one
			// sent.
			pending, _ := strconv.ParseUint(m.Header.Get(hdrDirectPending), 10, 64)
			return out, pending > 0, nil
		case statusNotFound:
			return out, false, nil
		case statusNoResponders:
			return nil, false, fmt.Errorf("failed to read messages from %d: %w", seq, nats.ErrNoResponders)
		default:
			return nil, false, fmt.Errorf("failed to read messages from %d: status %s %s", seq, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		raw, err := directMsg(m)
		if err != nil {
			return nil, false, err
		}
		if raw.Sequence != seq+uint64(len(out)) {
			// A gap: this replica holds a later message but not the next.
			return out, false, nil
		}
		if out = append(out, raw); len(out) == n {
			return out, false, nil
		}
	}
}

// directMsg decodes one answer of a batched direct get.
func directMsg(m *nats.Msg) (*jetstream.RawStreamMsg, error) {
	seq, err1 := strconv.ParseUint(m.Header.Get(hdrDirectSeq), 10, 64)
	ts, err2 := time.Parse(time.RFC3339Nano, m.Header.Get(hdrDirectTime))
	subj := m.Header.Get(hdrDirectSubject)
	if subj == "" {
		err1 = errors.Join(err1, errors.New("no subject"))
	}
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("bad answer to a direct get: %w", err)
	}
	return &jetstream.RawStreamMsg{Subject: subj, Sequence: seq, Header: m.Header, Data: m.Data, Time: ts}, nil
}
