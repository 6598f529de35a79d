package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit: see "Group commit" in the package documentation.

// Headers of a JetStream atomic batch publish.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// committer gathers the messages handed to it for one stream, from a
// single goroutine, and publishes each group of at least min of them as one
// JetStream atomic batch: one batch, so one fsync, in flight at a time. A
// group is closed when it holds max messages, when it cannot reach min
// with the messages announced as on their way, or window after its first
// message was queued, whichever comes first. A group smaller than min is
// sent back to be published message by message: an atomic batch has a
// fixed cost (the server stages it in a file store of its own) that only
// pays for itself from a few dozen messages on.
type committer struct {
	nc       *nats.Conn
	timeout  time.Duration // for the batch's answer
	window   time.Duration // < 0: never wait for announced messages
	min, max int
	prefix   string // batch ids are prefix + a counter
	n        uint64 // batches sent; used by run only

	q      chan *commitReq
	coming atomic.Int64  // announced messages not yet received by run
	wake   chan struct{} // poked when an announced message is withdrawn
	quit   chan struct{}
	done   chan struct{}
}

// commitReq is one message waiting for its batch.
type commitReq struct {
	msg    *nats.Msg
	queued time.Time
	res    chan commitRes // buffered: run never blocks on it
	ticket bool           // announced by a ticket; run settles coming
}

// commitRes is the outcome of one message of a batch.
type commitRes struct {
	seq uint64 // stream sequence of the message
	// dup: an earlier message of the same batch had the same subject, so
	// this one was not published and seq is that message's sequence.
	dup bool
	// alone: the group was too small for a batch; the caller publishes
	// the message itself (publishAlone). Nothing else is set.
	alone bool
	err   error // the batch failed; see refused
}

func newCommitter(nc *nats.Conn, timeout, window time.Duration, least, most int) *committer {
	c := &committer{
		nc: nc, timeout: timeout, window: window, min: least, max: most, prefix: rand.Text()[:16] + ".",
		q:    make(chan *commitReq, most),
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c
}

// stop ends the committer once nothing can publish any more.
func (c *committer) stop() {
	close(c.quit)
	<-c.done
}

// ticket announces a message on its way to a committer, so that a batch
// forming meanwhile waits for it (at most the committer's window).
type ticket struct {
	c    *committer
	used bool
}

func (c *committer) expect() *ticket {
	c.coming.Add(1)
	return &ticket{c: c}
}

// done withdraws the announcement if the message was not published. It may
// be called more than once.
func (t *ticket) done() {
	if t.used {
		return
	}
	t.used = true
	t.c.coming.Add(-1)
	select {
	case t.c.wake <- struct{}{}:
	default:
	}
}

// publish queues msg for the next batch and waits for its outcome. The
// committer adds the batch headers to msg. A ticket publishes once.
func (t *ticket) publish(msg *nats.Msg) commitRes {
	r := &commitReq{msg: msg, queued: time.Now(), res: make(chan commitRes, 1), ticket: !t.used}
	t.used = true
	t.c.q <- r
	return <-r.res
}

func (c *committer) run() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []*commitReq
	add := func(r *commitReq) {
		if r.ticket {
			c.coming.Add(-1)
		}
		batch = append(batch, r)
	}
	for {
		batch = batch[:0]
		select {
		case r := <-c.q:
			add(r)
		case <-c.quit:
			return
		}
		// Gather until the batch is full or the window is over, or while
		// the messages on their way could not make it worth a batch.
		deadline := batch[0].queued.Add(c.window)
		for len(batch) < c.max {
			select {
			case r := <-c.q:
				add(r)
				continue
			default:
			}
			wait, coming := time.Until(deadline), int(c.coming.Load())
			if c.window < 0 || wait <= 0 || coming <= 0 || len(batch)+coming < c.min {
				break
			}
			timer.Reset(wait)
			select {
			case r := <-c.q:
				add(r)
			case <-c.wake:
			case <-timer.C:
			}
			timer.Stop()
		}
		c.commit(batch)
	}
}

// commit publishes batch as one atomic batch and answers every message in
// it. A message whose subject already came earlier in the batch is left
// out and answered as a dup: the server would refuse the whole batch. A
// batch smaller than c.min is answered alone.
func (c *committer) commit(batch []*commitReq) {
	if len(batch) < c.min {
		for _, r := range batch {
			r.res <- commitRes{alone: true}
		}
		return
	}
	first := make(map[string]int, len(batch)) // subject -> index in pub
	pub := make([]*commitReq, 0, len(batch))
	for _, r := range batch {
		if _, ok := first[r.msg.Subject]; !ok {
			first[r.msg.Subject] = len(pub)
			pub = append(pub, r)
		}
	}
	seq, err := c.send(pub)
	for i, r := range pub {
		r.res <- commitRes{seq: seq + uint64(i), err: err}
	}
	if len(pub) < len(batch) {
		for _, r := range batch {
			if i := first[r.msg.Subject]; pub[i] != r {
				r.res <- commitRes{seq: seq + uint64(i), dup: true, err: err}
			}
		}
	}
}

// send publishes batch with the atomic batch headers and returns the stream
// sequence of its first message.
func (c *committer) send(batch []*commitReq) (uint64, error) {
	c.n++
	msgs := make([]*nats.Msg, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	return sendBatch(c.nc, c.prefix+strconv.FormatUint(c.n, 36), msgs, c.timeout)
}

// sendBatch publishes msgs as one JetStream atomic batch with the given id
// and returns the stream sequence of its first message. The server stores
// the messages of an atomic batch contiguously, all or none, and fsyncs
// once for the batch. It waits up to timeout for the answer.
func sendBatch(nc *nats.Conn, id string, msgs []*nats.Msg, timeout time.Duration) (uint64, error) {
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			// No reply subject: the server answers only the commit, with
			// an error if any message of the batch was refused.
			if err := nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("failed to publish batch: %w", err)
			}
		}
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(hdrBatchCommit, "1")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("failed to commit batch: %w", err)
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
		Batch string              `json:"batch"`
		Count int                 `json:"count"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return 0, fmt.Errorf("failed to commit batch: bad acknowledgement %q: %w", m.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Batch != id || ack.Count != len(msgs) || ack.Seq < uint64(len(msgs)) {
		return 0, fmt.Errorf("failed to commit batch: unexpected acknowledgement %q", m.Data)
	}
	return ack.Seq - uint64(len(msgs)) + 1, nil
}

// refused reports whether a batch failed with an answer from JetStream. The
// server then refused the batch as a whole (a conflict of one message, for
// example), so none of it is stored and each message may be published
// again on its own. Any other error leaves the outcome unknown.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr)
}

// publishAlone publishes msg on its own, outside any batch. A message that
// JetStream reports as a duplicate, or refuses because its subject is
// taken (Nats-Expected-Last-Subject-Sequence: 0), comes back as a dup.
func (s *Store) publishAlone(ctx context.Context, msg *nats.Msg) commitRes {
	ack, err := s.publish(ctx, msg)
	switch {
	case err == nil:
		return commitRes{seq: ack.Sequence, dup: ack.Duplicate}
	case isWrongLastSeq(err):
		return commitRes{dup: true}
	}
	return commitRes{err: err}
}
