package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Numbers being sealed. A send takes its number before it seals, and a
// large letter takes a while to seal; a later letter of the channel could
// meanwhile be sealed, recorded and posted, and the receiver would warn of
// the earlier number until it came. So takeSeq notes each number it gives
// in the table sealing (with the process's pid), recordSent and releaseSeq
// strike it out, and drain posts no letter while a lower number of its
// channel is still being sealed: it waits for that letter, which goes
// first. A number whose sealer is gone (its process died, or this process
// no longer seals it) is taken by a notice letter, or given back if it is
// the last one taken.

func noteSealing(q querier, party string, seq uint64) error {
	_, err := q.Exec(`INSERT OR REPLACE INTO sealing (party, seq, pid) VALUES (?, ?, ?)`, party, int64(seq), os.Getpid())
	return err
}

func doneSealing(q querier, party string, seq uint64) error {
	_, err := q.Exec(`DELETE FROM sealing WHERE party = ? AND seq = ?`, party, int64(seq))
	return err
}

// signal wakes the goroutines waiting for a change: broadcast closes the
// channel that wait handed out. The zero value is ready.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// sealingKey names a number this process is sealing, in Party.sealing.
type sealingKey struct {
	party string
	seq   uint64
}

// waitSealed waits until no number below seq on the channel to party is
// being sealed, settling the numbers whose sealer is gone. It reports
// whether it waited. Numbers this process seals are watched in memory;
// another process's are looked up again after a pause.
func (p *Party) waitSealed(ctx context.Context, party string, seq uint64) (waited bool, err error) {
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		// Taken before looking, so that a send of this process that
		// finishes meanwhile is not missed.
		woken := p.sealedHere.wait()
		own, others, settled, err := p.sealingBelow(party, seq)
		if err != nil || len(own)+others == 0 {
			return waited || settled, err
		}
		waited = true
		for others == 0 && len(own) > 0 {
			select {
			case <-ctx.Done():
				return waited, ctx.Err()
			case <-woken:
			}
			woken = p.sealedHere.wait()
			own = slices.DeleteFunc(own, func(n uint64) bool {
				_, ok := p.sealing.Load(sealingKey{party, n})
				return !ok
			})
		}
		if others > 0 {
			select {
			case <-ctx.Done():
				return waited, ctx.Err()
			case <-woken:
			case <-time.After(pause):
			}
		}
	}
}

// sealingBelow returns the numbers below seq on the channel to party that
// this process is sealing, and how many other live processes are; it
// settles those whose sealer is gone, and reports whether there were any.
func (p *Party) sealingBelow(party string, seq uint64) (own []uint64, others int, settled bool, err error) {
	rows, err := p.db.Query(`SELECT seq, pid FROM sealing WHERE party = ? AND seq < ? ORDER BY seq`, party, int64(seq))
	if err != nil {
		return nil, 0, false, err
	}
	var gone []uint64
	for rows.Next() {
		var n uint64
		var pid int
		if err := rows.Scan(&n, &pid); err != nil {
			rows.Close()
			return nil, 0, false, err
		}
		switch {
		case !p.sealerAlive(party, n, pid):
			gone = append(gone, n)
		case pid == os.Getpid():
			own = append(own, n)
		default:
			others++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	for _, n := range gone {
		if err := p.settleAbandoned(party, n); err != nil {
			return nil, 0, false, err
		}
	}
	return own, others, len(gone) > 0, nil
}

// sealerAlive reports whether the number is still being sealed: by this
// process, if it is pid; else by a process that is alive.
func (p *Party) sealerAlive(party string, seq uint64, pid int) bool {
	if pid == os.Getpid() {
		_, ok := p.sealing.Load(sealingKey{party, seq})
		return ok
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// settleAbandoned sees that a number whose sealer is gone leaves no gap:
// if a letter carries it after all, only its note goes; else a notice
// takes it, or it is given back if it is the last one taken.
func (p *Party) settleAbandoned(party string, seq uint64) error {
	var n int
	if err := p.db.QueryRow(`SELECT count(*) FROM letters WHERE box = 'sent' AND party = ? AND seq = ? AND state != ?`, party, int64(seq), StateRefused).Scan(&n); err != nil {
		return err
	}
	last, err := lastTaken(p.db, party, seq)
	if err != nil {
		return err
	}
	if n == 0 && last {
		return p.releaseSeq(party, seq)
	}
	if n == 0 {
		if err := p.sealNotice(party, seq, "-", fmt.Sprintf("Letter %d was begun and never finished: the program stopped while sealing it.", seq)); err != nil {
			return err
		}
	}
	return p.inDurableTx(func(tx *sql.Tx) error { return doneSealing(tx, party, seq) })
}
