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
// before it records it; OverdueLetters drops the letters delivered since,
// and any whose record was never written (a crash between the two). A
// party folder without the file, from before there was one, is scanned
// once to make it.

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
// written only then).
func (p *Party) updateAwaiting(fn func(ids []string) ([]string, bool, error)) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(p.dir, awaitingFile)
	var a awaitingList
	err = readJSONFile(path, &a)
	built := errors.Is(err, os.ErrNotExist)
	if built {
		a.IDs, err = p.scanAwaiting()
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", awaitingFile, err)
	}
	ids, changed, err := fn(a.IDs)
	if err != nil || !(changed || built) {
		return err
	}
	if err := writeJSONFile(path, awaitingList{IDs: ids}); err != nil {
		return fmt.Errorf("failed to save %s: %w", awaitingFile, err)
	}
	return nil
}

// scanAwaiting reads every sent record, for a folder that has no
// awaiting.json yet.
func (p *Party) scanAwaiting() ([]string, error) {
	ids, err := p.SentIDs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		s, err := p.Sent(id)
		if err != nil {
			return nil, err
		}
		if hasDeadline(s.Subject) && !delivered(s) {
			out = append(out, id)
		}
	}
	return out, nil
}

// awaitDelivery adds a letter about to be recorded as sent to
// awaiting.json, if it has a deadline.
func (p *Party) awaitDelivery(id, subject string) error {
	if !hasDeadline(subject) {
		return nil
	}
	return p.updateAwaiting(func(ids []string) ([]string, bool, error) {
		if slices.Contains(ids, id) {
			return ids, false, nil
		}
		return append(ids, id), true, nil
	})
}

// awaitedLetters returns the records of the letters in awaiting.json that
// still await delivery, and drops the others from it.
func (p *Party) awaitedLetters() ([]*SentLetter, error) {
	var out []*SentLetter
	err := p.updateAwaiting(func(ids []string) ([]string, bool, error) {
		keep := ids[:0:0]
		for _, id := range ids {
			s, err := p.Sent(id)
			if errors.Is(err, os.ErrNotExist) || err == nil && delivered(s) {
				continue
			} else if err != nil {
				return nil, false, err
			}
			keep = append(keep, id)
			out = append(out, s)
		}
		return keep, len(keep) != len(ids), nil
	})
	return out, err
}
