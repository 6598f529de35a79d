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

// watching is the watchers on this store by party: for announceHere, and
// for Close, which ends them all.
type watching struct {
	mu sync.RWMutex
	m  map[string]map[*watcher]struct{}
}

func (ws *watching) add(w *watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = make(map[string]map[*watcher]struct{})
	}
	if ws.m[w.party] == nil {
		ws.m[w.party] = make(map[*watcher]struct{})
	}
	ws.m[w.party][w] = struct{}{}
}

// cancelAll ends every watch.
func (ws *watching) cancelAll() {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	for _, party := range ws.m {
		for w := range party {
			w.cancel()
		}
	}
}

func (ws *watching) remove(w *watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.m[w.party], w)
	if len(ws.m[w.party]) == 0 {
		delete(ws.m, w.party)
	}
}

func (w *watcher) cancel() {
	w.once.Do(func() {
		_ = w.sub.Unsubscribe()
		close(w.done)
	})
}

// watchBuffer is how many announcements a watcher holds for a receiver
// that is behind; beyond them it loses some (Pending has them all).
// earlyBuffer is how many early announcements it holds: one that does not
// fit comes once the letter is filed. A watcher remembers the letters of
// its last watchBuffer to watchBuffer*2 announcements, so as to pass each
// on once; after a stall of more than that many letters to one party, one
// may come twice, which a device takes as the same letter.
const (
	watchBuffer = 1024
	earlyBuffer = 64
)

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
// the receipt's purge comes after the entry. Through another store the
// purge could come first; the filing then finds the receipt and takes the
// entry out again (deliveredMeanwhile), at the cost of a read, which is
// why other stores hear of a letter only once it is filed.
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
	w := &watcher{party: party, sub: sub, early: make(chan Stored, earlyBuffer), done: make(chan struct{})}
	s.watching.add(w) // under s.mu, so that Close sees it
	s.mu.Unlock()

	cancel := func() {
		w.cancel()
		s.watching.remove(w)
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
// letter st is durable, before its mailbox entry is filed (see Watch), and
// reports whether there were any. A watcher that is behind misses it here
// and hears of it once it is filed.
func (s *Store) announceHere(st Stored) bool {
	s.watching.mu.RLock()
	defer s.watching.mu.RUnlock()
	for w := range s.watching.m[st.To] {
		select {
		case w.early <- st:
		default:
		}
	}
	return len(s.watching.m[st.To]) > 0
}
