package client

import "fmt"

// The letters awaiting delivery. brief watch asks OverdueLetters on every
// tick, and its heartbeats leave a sent record each, one a minute per
// contact; so the question is one query on the letters table's columns
// (kind, state, receipts), not a read of every record.

// hasDeadline reports whether a sent letter has a delivery deadline: a
// person's letter does; heartbeats have the light instead, test letters
// their own alarm.
func hasDeadline(s *SentLetter) bool {
	return sentKind(s) == KindLetter
}

// awaitedLetters returns the records of the letters with a delivery
// deadline that have no delivered receipt and were not refused, oldest
// first.
func (p *Party) awaitedLetters() ([]*SentLetter, error) {
	out, err := sentIndexed(p.db, "letters_awaiting", `kind = 'letter' AND state != 'refused' AND receipts & 4 = 0`, `at`)
	if err != nil {
		return nil, fmt.Errorf("failed to read the letters awaiting delivery: %w", err)
	}
	return out, nil
}
