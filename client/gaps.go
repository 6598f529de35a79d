package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Sequence numbers. A sending device numbers the letters it sends to each
// party from 1 (takeSeq) and signs the number inside the letter. The
// receiver records, per sending party, the numbers it has archived
// (state.json "received"), so that it can report a letter that has not
// arrived while a later one has, and refuse a second letter that carries a
// number already received.

// seqSet is the set of sequence numbers received from one party: every
// number from 1 through Through, and the numbers in Above, ascending, each
// above Through+1.
type seqSet struct {
	Through uint64   `json:"through"`
	Above   []uint64 `json:"above,omitempty"`
}

func (s *seqSet) has(n uint64) bool {
	if n == 0 {
		return false
	}
	if n <= s.Through {
		return true
	}
	_, ok := slices.BinarySearch(s.Above, n)
	return ok
}

// add adds n to the set; it reports whether n was new.
func (s *seqSet) add(n uint64) bool {
	if n == 0 || s.has(n) {
		return false
	}
	i, _ := slices.BinarySearch(s.Above, n)
	s.Above = slices.Insert(s.Above, i, n)
	k := 0
	for k < len(s.Above) && s.Above[k] == s.Through+1 {
		s.Through++
		k++
	}
	s.Above = s.Above[k:]
	if len(s.Above) == 0 {
		s.Above = nil
	}
	return true
}

// gaps returns the runs of numbers missing below the highest received.
func (s *seqSet) gaps(from string) []Gap {
	var out []Gap
	prev := s.Through
	for _, n := range s.Above {
		if n > prev+1 {
			out = append(out, Gap{From: from, First: prev + 1, Last: n - 1, Next: n})
		}
		prev = n
	}
	return out
}

// Gap is a run of letters from one party that have not arrived although a
// later one has: sequence numbers First through Last are missing, and
// Next, the lowest number above them, has been received.
type Gap struct {
	From  string `json:"from"`
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Next  uint64 `json:"next"`
}

// maxGapLines is the longest run that Lines reports number by number.
const maxGapLines = 16

// Lines describes the gap for a person: one line per missing number,
// "letter 2 from washington has not arrived; 3 has", or, for a run longer
// than 16, one line for the run.
func (g Gap) Lines() []string {
	if g.Last-g.First >= maxGapLines {
		return []string{fmt.Sprintf("letters %d to %d from %s have not arrived; %d has", g.First, g.Last, g.From, g.Next)}
	}
	var out []string
	for n := g.First; n <= g.Last; n++ {
		out = append(out, fmt.Sprintf("letter %d from %s has not arrived; %d has", n, g.From, g.Next))
	}
	return out
}

// maxGapNumbers bounds the list Gaps returns: a sender that skips far
// ahead must not make the receiver build a list of billions.
const maxGapNumbers = 1024

// Gaps returns the sequence numbers of letters from party from that have
// not arrived although a later one has, ascending; at most the lowest
// 1,024 of them (GapReport describes every gap as runs).
func (p *Party) Gaps(from string) ([]uint64, error) {
	gaps, err := p.GapReport(from)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, g := range gaps {
		for n := g.First; n <= g.Last && len(out) < maxGapNumbers; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}

// GapReport returns the gaps in the letters received from party from, or
// from every party if from is empty, ordered by party and number.
func (p *Party) GapReport(from string) ([]Gap, error) {
	s, err := p.loadState()
	if err != nil {
		return nil, err
	}
	received := s.Received
	if received == nil {
		// Not recorded yet (a folder from before sequence numbers were
		// checked, with no letter opened since): read the archive.
		if received, err = p.archivedSeqs(); err != nil {
			return nil, err
		}
	}
	parties := make([]string, 0, len(received))
	for party := range received {
		if from == "" || party == from {
			parties = append(parties, party)
		}
	}
	sort.Strings(parties)
	var out []Gap
	for _, party := range parties {
		out = append(out, received[party].gaps(party)...)
	}
	return out, nil
}

// ReplayError refuses a letter whose sequence number was already received
// with another letter: a replay, or a sender that reused a number.
type ReplayError struct {
	ID    string // the letter refused
	From  string
	Seq   uint64
	Prior string // the letter received before with Seq; empty if the archive no longer holds it
}

func (e *ReplayError) Error() string {
	if e.Prior == "" {
		return fmt.Sprintf("letter %d from %s was already received", e.Seq, e.From)
	}
	return fmt.Sprintf("letter %d from %s was already received as %s", e.Seq, e.From, e.Prior)
}

// fileLetter archives an opened letter from its staging folder and records
// its sequence number, both under the folder lock. A letter whose number
// was already received with another letter is refused with a
// *ReplayError, and nothing is archived. If the letter is in the archive
// already (another process opened it meanwhile), that record is returned;
// else the record given is, marked New.
func (p *Party) fileLetter(stage string, rec *Received) (*Received, error) {
	out := rec
	err := p.updateState(func(s *state) error {
		if err := p.ensureReceived(s); err != nil {
			return err
		}
		if old, err := p.Letter(rec.ID); err == nil {
			out = old
			s.received(old.From).add(old.Seq)
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		set := s.received(rec.From)
		if set.has(rec.Seq) {
			prior, err := p.findArchived(rec.From, rec.Seq)
			if err != nil {
				return err
			}
			return &ReplayError{ID: rec.ID, From: rec.From, Seq: rec.Seq, Prior: prior}
		}
		if err := p.archive(stage, rec); err != nil {
			return fmt.Errorf("failed to archive letter %s: %w", rec.ID, err)
		}
		rec.New = true
		set.add(rec.Seq)
		return nil
	})
	return out, err
}

// noteSeq makes sure an archived letter's sequence number is recorded: an
// interrupted Receive may have archived the letter but not saved state.json.
func (p *Party) noteSeq(rec *Received) error {
	s, err := p.loadState()
	if err != nil {
		return err
	}
	if s.Received != nil && s.Received[rec.From] != nil && s.Received[rec.From].has(rec.Seq) {
		return nil
	}
	return p.updateState(func(s *state) error {
		if err := p.ensureReceived(s); err != nil {
			return err
		}
		s.received(rec.From).add(rec.Seq)
		return nil
	})
}

// ensureReceived fills in s.Received from the archive if state.json does
// not have it yet.
func (p *Party) ensureReceived(s *state) error {
	if s.Received != nil {
		return nil
	}
	r, err := p.archivedSeqs()
	if err != nil {
		return fmt.Errorf("failed to read the archive's sequence numbers: %w", err)
	}
	s.Received = r
	return nil
}

func (s *state) received(from string) *seqSet {
	if s.Received == nil {
		s.Received = map[string]*seqSet{}
	}
	set := s.Received[from]
	if set == nil {
		set = &seqSet{}
		s.Received[from] = set
	}
	return set
}

// archivedLetter is the part of letter.json that the scans below read.
type archivedLetter struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Seq  uint64 `json:"seq"`
}

// eachArchived calls fn with every letter in the archive; it stops at the
// first error or when fn returns false.
func (p *Party) eachArchived(fn func(archivedLetter) bool) error {
	ents, err := os.ReadDir(filepath.Join(p.dir, "archive"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		var l archivedLetter
		err := readJSONFile(filepath.Join(p.dir, "archive", e.Name(), "letter.json"), &l)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if !fn(l) {
			return nil
		}
	}
	return nil
}

func (p *Party) archivedSeqs() (map[string]*seqSet, error) {
	s := &state{Received: map[string]*seqSet{}}
	err := p.eachArchived(func(l archivedLetter) bool {
		s.received(l.From).add(l.Seq)
		return true
	})
	return s.Received, err
}

// findArchived returns the id of the archived letter from party from with
// sequence number seq, or "" if there is none.
func (p *Party) findArchived(from string, seq uint64) (string, error) {
	var id string
	err := p.eachArchived(func(l archivedLetter) bool {
		if l.From == from && l.Seq == seq {
			id = l.ID
			return false
		}
		return true
	})
	return id, err
}
