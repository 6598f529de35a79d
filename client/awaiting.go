package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// The letters awaiting delivery. brief watch asks OverdueLetters on every
// tick, and its heartbeats leave a sent record each, one a minute per
// contact: reading every record each time would read half a million files
// a minute after a year. So awaiting.json lists the ids of the sent letters
// that have a delivery deadline (not heartbeats or test letters) and had no
// delivered receipt when last looked at, oldest first. Send adds a letter
// and writes its record in one step under the folder lock
// (recordSent); OverdueLetters, under the same lock, drops the letters
// delivered since, and any whose record was never written (a crash
// between the two). A party folder without the file, from before there
// was one, or with a damaged one, is scanned to make it.

const awaitingFile = "awaiting.json"

type awaitingList struct {
	IDs []string `json:"ids"`
}

// hasDeadline reports whether a letter with this subject has a delivery
// deadline: heartbeats have the light instead, test letters their own
// alarm.
func hasDeadline(subject string) bool {
	return subject != HeartbeatSubject && subject != TestLetterSubject
}

// updateAwaiting changes awaiting.json under the folder lock: fn gets the
// ids and returns them changed, and whether anything changed (the file is
// written only then). then, if given, runs after the file is written,
// still under the lock.
func (p *Party) updateAwaiting(fn func(ids []string) ([]string, bool, error), then ...func() error) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(p.dir, awaitingFile)
	var a awaitingList
	err = readJSONFile(path, &a)
	built := err != nil
	if errors.Is(err, os.ErrNotExist) {
		a.IDs, err = p.scanAwaiting()
	} else if err != nil {
		p.log.Warn("awaiting.json is damaged; making it again from the sent letters", "err", err)
		a.IDs, err = p.scanAwaiting()
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", awaitingFile, err)
	}
	ids, changed, err := fn(a.IDs)
	if err != nil {
		return err
	}
	if changed || built {
		if err := writeJSONFile(path, awaitingList{IDs: ids}); err != nil {
			return fmt.Errorf("failed to save %s: %w", awaitingFile, err)
		}
	}
	for _, f := range then {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// scanAwaiting reads every sent record, for a folder that has no
// awaiting.json yet (or a damaged one), oldest first. A record that does
// not read is left out, with a warning: it cannot be checked anyway.
func (p *Party) scanAwaiting() ([]string, error) {
	sent, err := p.sentLetters(func(file string, err error) error {
		p.log.Warn("a sent letter's record does not read; it is left out of the overdue check", "file", file, "err", err)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sent {
		if hasDeadline(s.Subject) && !delivered(s) {
			out = append(out, s.ID)
		}
	}
	return out, nil
}

// recordSent writes the record of a letter about to be posted and, if it
// has a deadline, lists it in awaiting.json, both under the folder lock,
// the list first: OverdueLetters, which takes the same lock, never sees
// the id without its record, and a crash between the two leaves only an
// id that it drops. tried reports whether the record's write was begun:
// if not, no record can exist, whatever the error.
func (p *Party) recordSent(s *SentLetter) (tried bool, err error) {
	if !hasDeadline(s.Subject) {
		return true, p.saveSent(s)
	}
	err = p.updateAwaiting(func(ids []string) ([]string, bool, error) {
		if !slices.Contains(ids, s.ID) {
			ids = append(ids, s.ID)
		}
		return ids, true, nil
	}, func() error {
		tried = true
		return p.saveSent(s)
	})
	return tried, err
}

// awaitedLetters returns the records of the letters in awaiting.json that
// still await delivery, and drops the others from it.
func (p *Party) awaitedLetters() ([]*SentLetter, error) {
	var out []*SentLetter
	err := p.updateAwaiting(func(ids []string) ([]string, bool, error) {
		keep := ids[:0:0]
		for _, id := range ids {
			s, err := p.Sent(id)
			switch {
			case errors.Is(err, os.ErrNotExist), err == nil && delivered(s):
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
	return out, err
}
