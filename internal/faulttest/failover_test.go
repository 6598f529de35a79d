package faulttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
)

// traffic posts letters from one party to another, one every interval,
// and receives them on the other side, recording what happened.
type traffic struct {
	mu       sync.Mutex
	posted   map[string]time.Time // acknowledged as posted, by letter id
	okTimes  []time.Time          // when each acknowledged post returned
	failures int
	opened   map[string]int       // times each letter id was fetched and opened
	openedAt map[string]time.Time // when each letter was first opened
	relisted int                  // letters received again after they were opened (the receipt is sent again)
	inline   int                  // letters first opened from the envelope their event carried
}

func newTraffic() *traffic {
	return &traffic{posted: map[string]time.Time{}, opened: map[string]int{}, openedAt: map[string]time.Time{}}
}

// send posts letters until ctx ends.
func (tr *traffic) send(ctx context.Context, from *client.Party, to string, every time.Duration) {
	for n := 0; ctx.Err() == nil; n++ {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		sent, _, err := from.Send(sctx, client.Outgoing{To: to, Subject: fmt.Sprintf("letter %d", n), Precedence: envelope.Routine, Body: []byte("steady")})
		cancel()
		now := time.Now()
		tr.mu.Lock()
		if err == nil {
			tr.posted[sent.ID] = now
			tr.okTimes = append(tr.okTimes, now)
		} else if ctx.Err() == nil {
			tr.failures++
		}
		tr.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// receive opens each letter as its event arrives (from the event itself
// when it carries the envelope), and what the mailbox lists, polled every
// 50 ms, until ctx ends. A letter that an event announces again once
// opened is skipped; one that the mailbox lists again is received again
// and counted as relisted.
func (tr *traffic) receive(ctx context.Context, p *client.Party) {
	events := listen(ctx, p)
	for ctx.Err() == nil {
		entries, _ := p.Mailbox(ctx)
		for _, e := range entries {
			tr.open(ctx, p, e)
		}
		poll := time.After(50 * time.Millisecond)
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-events:
				tr.mu.Lock()
				_, seen := tr.openedAt[e.ID]
				tr.mu.Unlock()
				if !seen {
					tr.open(ctx, p, e)
				}
			case <-poll:
				break wait
			}
		}
	}
}

// open receives the letter e names and records it.
func (tr *traffic) open(ctx context.Context, p *client.Party, e api.MailboxEntry) {
	rec, err := p.ReceiveEvent(ctx, e)
	if err != nil {
		// Opened and archived, but its delivered receipt was not
		// answered: the relay may have filed it and taken the letter out
		// of the mailbox all the same. It was delivered.
		rec, err = p.Letter(e.ID)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch first, seen := tr.openedAt[e.ID]; {
	case err != nil:
	case !seen:
		tr.openedAt[e.ID] = rec.OpenedAt
		tr.opened[e.ID]++
		if e.Envelope != nil {
			tr.inline++
		}
	case !rec.OpenedAt.Equal(first):
		tr.opened[e.ID]++ // fetched and opened again
	default:
		tr.relisted++ // its receipt was sent again
	}
}

// listen holds p's event stream open until ctx ends, opening it again,
// through whichever node answers, whenever it breaks. An event that does
// not fit in the channel is dropped: the mailbox lists that letter.
func listen(ctx context.Context, p *client.Party) <-chan api.MailboxEntry {
	ch := make(chan api.MailboxEntry, 1024)
	go func() {
		for ctx.Err() == nil {
			p.Events(ctx, nil, func(e api.MailboxEntry) error {
				select {
				case ch <- e:
				default:
				}
				return nil
			})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return ch
}

// pauseAround returns the time from the last acknowledged post before t
// to the first one after t, and false if none came after t.
func (tr *traffic) pauseAround(t time.Time) (time.Duration, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var before time.Time
	for _, at := range tr.okTimes {
		if !at.After(t) {
			before = at
		} else if !before.IsZero() {
			return at.Sub(before), true
		}
	}
	return 0, false
}

// TestFailoverKillStreamLeader kills the node that leads the MAIL stream
// under a steady stream of letters, restarts it, and checks that no letter
// acknowledged as posted was lost or opened twice, that posting resumed
// within the write pause target, and that the restarted node caught up:
// every node then serves the same log checkpoint.
func TestFailoverKillStreamLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three relay processes")
	}
	began := time.Now()
	c := startCluster(t)
	t.Logf("cluster up in %v", time.Since(began))
	wash, teh := c.party("washington"), c.party("tehran")
	c.connect(wash, teh)
	t.Logf("parties connected at %v", time.Since(began))

	ctx, stop := context.WithCancel(context.Background())
	tr := newTraffic()
	var wg sync.WaitGroup
	wg.Go(func() { tr.send(ctx, wash, "tehran", 20*time.Millisecond) })
	recvCtx, stopRecv := context.WithCancel(context.Background())
	defer stopRecv()
	wg.Go(func() { tr.receive(recvCtx, teh) })

	time.Sleep(2 * time.Second)
	victim := c.mailLeader(0)
	killedAt := time.Now()
	c.kill(victim)
	t.Logf("killed %s, the leader of MAIL", c.confs[victim].Node)
	time.Sleep(5 * time.Second)
	pause, resumed := tr.pauseAround(killedAt)
	if !resumed {
		t.Fatalf("posting did not resume within 5 s of the kill")
	}

	restartAt := time.Now()
	c.start(victim)
	c.waitListening(victim)
	t.Logf("%s restarted and listening in %v", c.confs[victim].Node, time.Since(restartAt))
	time.Sleep(2 * time.Second)
	stop()

	tr.waitDelivered(t, 30*time.Second)
	t.Logf("all delivered at %v", time.Since(began))
	stopRecv()
	wg.Wait()
	tr.checkOpenedOnce(t)
	t.Logf("%d letters acknowledged (%d opened from their event), %d posts failed during the failover, %d listed again after delivery; write pause %v",
		len(tr.posted), tr.inline, tr.failures, tr.relisted, pause)
	if pause > writePauseTarget {
		t.Errorf("write pause %v, want at most %v", pause, writePauseTarget)
	}
	// The restarted node caught up: all three serve the same checkpoint.
	c.waitSameLog(30 * time.Second)
}

// waitDelivered waits until every letter acknowledged as posted was
// opened, and reports whether they all were.
func (tr *traffic) waitDelivered(t *testing.T, wait time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		missing := tr.missing()
		if len(missing) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			tr.mu.Lock()
			t.Errorf("%d of %d letters acknowledged as posted were not delivered: %v", len(missing), len(tr.posted), missing)
			tr.mu.Unlock()
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// missing returns the letters acknowledged as posted but not yet opened.
func (tr *traffic) missing() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for id := range tr.posted {
		if tr.opened[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// checkOpenedOnce fails the test for each letter fetched and opened more
// than once, and if more than maxRelisted were listed again after their
// delivery.
func (tr *traffic) checkOpenedOnce(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for id, n := range tr.opened {
		if n > 1 {
			t.Errorf("letter %s was delivered %d times", id, n)
		}
	}
	if tr.relisted > maxRelisted {
		t.Errorf("%d letters were listed again after their delivery, want at most %d", tr.relisted, maxRelisted)
	}
}

// maxRelisted bounds the letters a run may see listed again after their
// delivered receipt. The device takes such a letter from its archive and
// sends its receipt again, so nothing is lost or opened twice; but the
// relay should not do it, and can only while a mailbox stream has no
// leader (a listing is then served as read) or when a node dies between a
// receipt and the removal of the mailbox entry. 131 runs of each test saw
// at most one per run once listings kept only what the leader holds, and
// up to 24 before (see the history of docs/BENCHMARKS.md in git).
const maxRelisted = 3

// waitSameLog waits until every node serves the same checkpoint.
func (c *cluster) waitSameLog(wait time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var cps [][]byte
		var errs []error
		for i := range c.confs {
			cp, err := c.checkpoint(i)
			if err == nil {
				cps = append(cps, cp)
			}
			errs = append(errs, err)
		}
		if len(cps) == 3 && string(cps[0]) == string(cps[1]) && string(cps[1]) == string(cps[2]) {
			c.t.Logf("all nodes serve the checkpoint %q", cps[0])
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the nodes do not agree on the log:\n%q\n%v", cps, errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writePauseTarget is the longest acceptable time without an acknowledged
// post after the node leading the streams dies.
const writePauseTarget = 3 * time.Second
