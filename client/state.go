package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// state is state.json: counters that must never go backwards.
type state struct {
	NextSeq map[string]uint64 `json:"next_seq"` // next sequence number per recipient party
	// Unsealed holds, per recipient party, numbers taken for letters whose
	// sealing failed (releaseSeq), ascending: nothing carrying them exists,
	// so takeSeq gives them out again, first, instead of leaving a gap.
	Unsealed      map[string][]uint64 `json:"unsealed,omitempty"`
	ReceiptsAfter uint64              `json:"receipts_after"` // relay receipt cursor
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

// takeSeq returns the next sequence number on the channel to party, the
// lowest released one first, and records it as used before returning, so
// that a number is never reused once a letter carrying it may exist (a gap
// is visible; a reuse is not).
func (p *Party) takeSeq(party string) (uint64, error) {
	var seq uint64
	err := p.updateState(func(s *state) error {
		if free := s.Unsealed[party]; len(free) > 0 {
			seq = free[0]
			if s.Unsealed[party] = free[1:]; len(free) == 1 {
				delete(s.Unsealed, party)
			}
			return nil
		}
		seq = max(s.NextSeq[party], 1)
		s.NextSeq[party] = seq + 1
		return nil
	})
	return seq, err
}

// releaseSeq gives back a number that takeSeq gave for a letter that was
// never sealed, so no letter carrying it exists: the recipient would
// otherwise wait for it forever, and report it missing. Call it only
// before anything with the number has been written.
func (p *Party) releaseSeq(party string, seq uint64) error {
	return p.updateState(func(s *state) error {
		if s.NextSeq[party] == seq+1 {
			s.NextSeq[party] = seq
			return nil
		}
		if s.Unsealed == nil {
			s.Unsealed = map[string][]uint64{}
		}
		if i, found := slices.BinarySearch(s.Unsealed[party], seq); !found {
			s.Unsealed[party] = slices.Insert(s.Unsealed[party], i, seq)
		}
		return nil
	})
}

// advanceReceipts moves the receipt cursor forward to seq; it never moves
// it back.
func (p *Party) advanceReceipts(seq uint64) error {
	return p.updateState(func(s *state) error {
		s.ReceiptsAfter = max(s.ReceiptsAfter, seq)
		return nil
	})
}
