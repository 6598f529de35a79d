package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"brieftraeger/identity"
)

// PassphraseChange says how ChangePassphrase reseals a keystore.
type PassphraseChange struct {
	Old, New string
	// WorkFactor is the scrypt work factor to seal with; 0 keeps the
	// keystore's own if it is at least identity.WarnWorkFactor, and uses
	// identity.DefaultWorkFactor otherwise.
	WorkFactor int
	// AllowWeakWorkFactor lets work factors 10 to 13 through, for tests
	// only (see InitOptions).
	AllowWeakWorkFactor bool
}

// ChangePassphrase reseals the keystore of the party folder dir under a
// new passphrase (and work factor), and returns the work factor used. The
// new keys.age is proven to open before it replaces the old one, by an
// atomic rename: a crash leaves either the old keystore or the new one,
// whole. A wrong old passphrase, a weak new one or a work factor below
// the floor changes nothing.
func ChangePassphrase(dir string, c PassphraseChange) (int, error) {
	if err := checkSealing(c.New, c.WorkFactor, c.AllowWeakWorkFactor); err != nil {
		return 0, err
	}
	name := filepath.Join(dir, "keys.age")
	if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
		return 0, ErrNoParty
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return 0, err
	}
	defer unlock()
	sealed, err := os.ReadFile(name)
	if err != nil {
		return 0, fmt.Errorf("failed to read keystore: %w", err)
	}
	ks, err := identity.OpenKeystore(sealed, c.Old)
	if err != nil {
		return 0, err
	}
	wf := c.WorkFactor
	if wf == 0 {
		wf = ks.WorkFactor
		if wf < identity.WarnWorkFactor {
			wf = identity.DefaultWorkFactor
		}
	}
	resealed, err := ks.Reseal(c.New, wf)
	if err != nil {
		return 0, err
	}
	if err := writeFile(name, resealed, 0o600); err != nil {
		return 0, fmt.Errorf("failed to write keys.age: %w", err)
	}
	return wf, nil
}

// checkSealing refuses a passphrase or a work factor below the floors
// (identity.CheckPassphrase, identity.CheckWorkFactor); allowWeak lets
// work factors down to 10 through.
func checkSealing(passphrase string, workFactor int, allowWeak bool) error {
	if err := identity.CheckPassphrase(passphrase); err != nil {
		return err
	}
	if allowWeak && workFactor >= 10 {
		return nil
	}
	return identity.CheckWorkFactor(workFactor)
}
