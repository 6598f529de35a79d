package client

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
)

// Follow hands fn, one at a time, each letter waiting for this party and
// each that the relay announces from now on, the most urgent first. What
// waits when the event stream opens (Mailbox) and what the stream
// announces meanwhile go into one queue, ordered by precedence and then by
// the relay's sequence, so that a FLASH announced while a backlog of
// ROUTINE letters is being read is the next letter read, not the last.
// idle, if not nil, is called each time the queue runs empty after fn had
// letters. fn gets a letter once per call of Follow. Follow returns when
// ctx ends (nil), the stream breaks or the mailbox cannot be listed, once
// fn has returned for the letter in hand; the letters still queued wait in
// the mailbox for the next call.
func (p *Party) Follow(ctx context.Context, idle func(), fn func(api.MailboxEntry)) error {
	q := &followQueue{wake: make(chan struct{}, 1), seen: map[string]bool{}}
	sctx, endStream := context.WithCancel(ctx)
	defer endStream()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			m, ok := q.pop(wctx)
			if !ok {
				return
			}
			fn(m)
			if idle != nil && q.empty() {
				idle()
			}
		}
	})
	var listErr error
	err := p.Events(sctx, func() {
		list, err := p.Mailbox(sctx)
		if err != nil {
			listErr = err
			endStream()
		}
		q.push(list...)
	}, func(m api.MailboxEntry) error {
		q.push(m)
		return nil
	})
	stop()
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		return nil
	case listErr != nil:
		return listErr
	}
	return err
}

// followQueue is Follow's queue: the letters not yet handed out, most
// urgent first, and the ids of every letter queued so far.
type followQueue struct {
	mu      sync.Mutex
	letters []api.MailboxEntry
	seen    map[string]bool
	wake    chan struct{} // a letter was queued
}

// push queues the letters not queued before.
func (q *followQueue) push(ms ...api.MailboxEntry) {
	q.mu.Lock()
	for _, m := range ms {
		if !q.seen[m.ID] {
			q.seen[m.ID] = true
			q.letters = append(q.letters, m)
		}
	}
	slices.SortStableFunc(q.letters, func(a, b api.MailboxEntry) int {
		return cmp.Or(cmp.Compare(urgency(a), urgency(b)), cmp.Compare(a.Seq, b.Seq))
	})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop takes the most urgent letter, waiting for one until ctx ends; once
// ctx has ended it takes none.
func (q *followQueue) pop(ctx context.Context) (api.MailboxEntry, bool) {
	for {
		if ctx.Err() != nil {
			return api.MailboxEntry{}, false
		}
		q.mu.Lock()
		if len(q.letters) > 0 {
			m := q.letters[0]
			q.letters = q.letters[1:]
			q.mu.Unlock()
			return m, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return api.MailboxEntry{}, false
		}
	}
}

func (q *followQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.letters) == 0
}

// urgency orders precedences, FLASH first; one the relay names that this
// device does not know comes last.
func urgency(m api.MailboxEntry) int {
	p, err := envelope.ParsePrecedence(m.Precedence)
	if err != nil {
		return int(envelope.Routine) + 1
	}
	return int(p)
}
