package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// state is state.json: counters that must never go backwards.
type state struct {
	NextSeq       map[string]uint64 `json:"next_seq"`       // next sequence number per recipient party
	ReceiptsAfter uint64            `json:"receipts_after"` // relay receipt cursor
	// Received holds, per sending party, the sequence numbers of the
	// letters archived (gaps.go); nil until first filled in from the archive.
	Received map[string]*seqSet `json:"received"`
}

func (p *Party) loadState() (*state, error) {
	s := &state{NextSeq: map[string]uint64{}}
	err := readJSONFile(filepath.Join(p.dir, "state.json"), s)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if s.NextSeq == nil {
		s.NextSeq = map[string]uint64{}
	}
	return s, err
}

// lock takes the exclusive lock on the party folder's lock file, which
// every process using the folder shares, and returns its release.
func (p *Party) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(p.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock party folder: %w", err)
	}
	return func() { f.Close() }, nil
}

// updateState changes state.json: it loads the file under the folder lock,
// applies fn and saves the result, so that no other process's change is
// lost. Nothing is saved if fn fails.
func (p *Party) updateState(fn func(*state) error) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := p.loadState()
	if err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	if err := writeJSONFile(filepath.Join(p.dir, "state.json"), s); err != nil {
		return fmt.Errorf("failed to save state: %w", err)
	}
	return nil
}

// takeSeq returns the next sequence number on the channel to party and
// records it as used before returning, so that a number is never reused
// even if the letter is never posted (a gap is visible; a reuse is not).
func (p *Party) takeSeq(party string) (uint64, error) {
	var seq uint64
	err := p.updateState(func(s *state) error {
		seq = max(s.NextSeq[party], 1)
		s.NextSeq[party] = seq + 1
		return nil
	})
	return seq, err
}

// advanceReceipts moves the receipt cursor forward to seq; it never moves
// it back.
func (p *Party) advanceReceipts(seq uint64) error {
	return p.updateState(func(s *state) error {
		s.ReceiptsAfter = max(s.ReceiptsAfter, seq)
		return nil
	})
}
