package client

import (
	"errors"
	"os"
	"path/filepath"
)

// state is state.json: counters that must never go backwards.
type state struct {
	NextSeq       map[string]uint64 `json:"next_seq"`       // next sequence number per recipient party
	ReceiptsAfter uint64            `json:"receipts_after"` // relay receipt cursor
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

func (p *Party) saveState(s *state) error {
	return writeJSONFile(filepath.Join(p.dir, "state.json"), s)
}

// takeSeq returns the next sequence number on the channel to party and
// records it as used before returning, so that a number is never reused
// even if the letter is never posted (a gap is visible; a reuse is not).
func (p *Party) takeSeq(party string) (uint64, error) {
	s, err := p.loadState()
	if err != nil {
		return 0, err
	}
	seq := max(s.NextSeq[party], 1)
	s.NextSeq[party] = seq + 1
	return seq, p.saveState(s)
}
