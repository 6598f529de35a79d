package store

import (
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"brieftraeger/internal/recent"
)

// watcher is one Watch subscription.
type watcher struct {
	party string
	sub   *nats.Subscription
	early chan Stored // letters durable on this store, before they are filed
	done  chan struct{}
	once  sync.Once
}

func (w *watcher) cancel() {
	w.once.Do(func() {
		_ = w.sub.Unsubscribe()
		close(w.done)
	})
}

// watchBuffer is how many announcements a watcher holds for a receiver
// that is behind; beyond them it loses some (Pending has them all).
const watchBuffer = 1024

// Watch pushes envelopes for party as they are stored, each once: on this
// store as soon as the letter is durable (announceHere), and from every
// store once its mailbox entry is filed (announce). It is a hint for
// prompt delivery, not a guarantee: a receiver that falls more than
// watchBuffer envelopes behind loses some, so Pending stays the source of
// truth. The returned func ends the watch and closes the channel; Close
// ends all watches.
//
// A letter is announced before its entry is filed only on the store that
// stores it. A recipient that takes it from there and files its delivered
// receipt through the same store waits for the entry (the id lock), so
// the receipt's purge cannot come before the entry. Through another store
// it could, and the letter would be listed again after delivery, which is
// why other stores hear of it only once it is filed.
func (s *Store) Watch(party string) (<-chan Stored, func(), error) {
	if err := checkParty(party); err != nil {
		return nil, nil, err
	}
	in := make(chan *nats.Msg, watchBuffer)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	sub, err := s.nc.ChanSubscribe(notePrefix+"box."+party+".*.*", in)
	if err != nil {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("failed to watch mailbox of %s: %w", party, err)
	}
	w := &watcher{party: party, sub: sub, early: make(chan Stored, watchBuffer), done: make(chan struct{})}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	cancel := func() {
		w.cancel()
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}
	// Make sure the server has the subscription before we return.
	if err := s.nc.Flush(); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("failed to watch mailbox of %s: %w", party, err)
	}
	out := make(chan Stored, 64)
	go s.forward(w, in, out)
	return out, cancel, nil
}

// forward passes the announcements of w to out, each letter once, until w
// ends.
func (s *Store) forward(w *watcher, in <-chan *nats.Msg, out chan<- Stored) {
	defer close(out)
	sent := recent.Map[string, struct{}]{Size: watchBuffer}
	for {
		var st Stored
		select {
		case <-w.done:
			return
		case st = <-w.early:
		case m := <-in:
			var err error
			if st, err = decodeBox(m.Header, m.Data); err != nil {
				s.log.Error("skipping undecodable mailbox entry", "subject", m.Subject, "err", err)
				continue
			}
		}
		if _, dup := sent.Get(st.ID); dup {
			continue
		}
		sent.Put(st.ID, struct{}{})
		select {
		case out <- st:
		case <-w.done:
			return
		}
	}
}

// announceHere tells the watchers of st.To's mailbox on this store that
// letter st is durable, before its mailbox entry is filed (see Watch). A
// watcher that is behind misses it here and hears of it once it is filed.
func (s *Store) announceHere(st Stored) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.party != st.To {
			continue
		}
		select {
		case w.early <- st:
		default:
		}
	}
}
