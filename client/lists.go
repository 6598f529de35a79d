package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Id lists. Some questions are asked often and about few letters: which
// letters still await delivery (awaiting.json), which wait in the outbox
// (outbox.json), which were delivered and not acknowledged
// (unacknowledged.json), which were opened here and not acknowledged
// (pending.json). Reading every sent record to answer them would read half
// a million files after a year of heartbeats, so each is kept as a list of
// letter ids beside the records, changed under the folder lock in the same
// step as the records it describes, and made again from the records by a
// scan when the file is missing (a folder from before it existed) or
// damaged.

// idList is the content of a list file.
type idList struct {
	IDs []string `json:"ids"`
}

// locked runs fn under the folder lock. fn must not take the lock itself.
func (p *Party) locked(fn func() error) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// editList changes the list in file; the caller holds the folder lock. fn
// gets the ids and returns them changed, and whether anything changed (the
// file is written only then, or when it had to be made by scan).
func (p *Party) editList(file string, scan func() ([]string, error), fn func(ids []string) ([]string, bool, error)) error {
	path := filepath.Join(p.dir, file)
	var l idList
	err := readJSONFile(path, &l)
	built := err != nil
	if errors.Is(err, os.ErrNotExist) {
		l.IDs, err = scan()
	} else if err != nil {
		p.log.Warn("a list file is damaged; making it again from the records", "file", file, "err", err)
		l.IDs, err = scan()
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", file, err)
	}
	ids, changed, err := fn(l.IDs)
	if err != nil {
		return err
	}
	if changed || built {
		if err := writeJSONFile(path, idList{IDs: ids}); err != nil {
			return fmt.Errorf("failed to save %s: %w", file, err)
		}
	}
	return nil
}

// scanSent returns the ids of the sent letters that keep tells to keep,
// oldest first. A record that does not read is left out, with a warning:
// it cannot be acted on anyway.
func (p *Party) scanSent(keep func(*SentLetter) bool) ([]string, error) {
	sent, err := p.sentLetters(func(file string, err error) error {
		p.log.Warn("a sent letter's record does not read; it is left out", "file", file, "err", err)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sent {
		if keep(s) {
			out = append(out, s.ID)
		}
	}
	return out, nil
}

// addID returns an edit that appends id to a list unless it is there.
func addID(id string) func([]string) ([]string, bool, error) {
	return func(ids []string) ([]string, bool, error) {
		for _, have := range ids {
			if have == id {
				return ids, false, nil
			}
		}
		return append(ids, id), true, nil
	}
}

// dropID returns an edit that removes id from a list.
func dropID(id string) func([]string) ([]string, bool, error) {
	return func(ids []string) ([]string, bool, error) {
		out := ids[:0:0]
		for _, have := range ids {
			if have != id {
				out = append(out, have)
			}
		}
		return out, len(out) != len(ids), nil
	}
}
