package client

import (
	"errors"
	"os"
)

// The letters awaiting delivery. brief watch asks OverdueLetters on every
// tick, and its heartbeats leave a sent record each, one a minute per
// contact. So awaiting.json (an id list, lists.go) lists the ids of the
// sent letters that have a delivery deadline (not heartbeats or test
// letters) and had no delivered receipt when last looked at, oldest first.
// Send adds a letter and writes its record in one step under the folder
// lock (recordSent); OverdueLetters, under the same lock, drops the
// letters delivered or refused since, and any whose record was never
// written (a crash between the two).

const awaitingFile = "awaiting.json"

// hasDeadline reports whether a sent letter has a delivery deadline: a
// person's letter does; heartbeats have the light instead, test letters
// their own alarm.
func hasDeadline(s *SentLetter) bool {
	return sentKind(s) == KindLetter
}

// awaits reports whether a sent letter belongs in awaiting.json.
func awaits(s *SentLetter) bool {
	return hasDeadline(s) && !delivered(s) && s.state() != StateRefused
}

func (p *Party) scanAwaiting() ([]string, error) { return p.scanSent(awaits) }

// awaitedLetters returns the records of the letters in awaiting.json that
// still await delivery, and drops the others from it, listing each one
// delivered in unacknowledged.json first.
func (p *Party) awaitedLetters() ([]*SentLetter, error) {
	var out []*SentLetter
	err := p.locked(func() error {
		return p.editList(awaitingFile, p.scanAwaiting, func(ids []string) ([]string, bool, error) {
			keep := ids[:0:0]
			for _, id := range ids {
				s, err := p.Sent(id)
				switch {
				case errors.Is(err, os.ErrNotExist):
					continue
				case err == nil && !awaits(s):
					// Delivered: it now awaits its acknowledgement.
					if err := p.noteDelivered(s); err != nil {
						return nil, false, err
					}
					continue
				case err != nil:
					// A record that does not read cannot be checked: it
					// must not stop the check of the others.
					p.log.Warn("a sent letter's record does not read; it is left out of the overdue check", "id", id, "err", err)
					continue
				}
				keep = append(keep, id)
				out = append(out, s)
			}
			return keep, len(keep) != len(ids), nil
		})
	})
	return out, err
}
