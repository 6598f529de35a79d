package client

import (
	"errors"
	"os"
)

// keepIDs returns the records of the letters listed in file that keep
// reports should stay listed, and drops the others from the list, under
// the folder lock (editList; scan makes a missing or damaged list). read
// loads a record; a record that no longer exists is dropped, and one that
// does not read is dropped with a warning: it cannot be checked.
func keepIDs[T any](p *Party, file string, scan func() ([]string, error), read func(id string) (T, error), keep func(T) bool) ([]T, error) {
	var out []T
	err := p.locked(func() error {
		return p.editList(file, scan, func(ids []string) ([]string, bool, error) {
			kept := ids[:0:0]
			for _, id := range ids {
				r, err := read(id)
				switch {
				case errors.Is(err, os.ErrNotExist):
					continue
				case err != nil:
					p.log.Warn("a letter's record does not read; it is left out", "file", file, "id", id, "err", err)
					continue
				case !keep(r):
					continue
				}
				kept = append(kept, id)
				out = append(out, r)
			}
			return kept, len(kept) != len(ids), nil
		})
	})
	return out, err
}
