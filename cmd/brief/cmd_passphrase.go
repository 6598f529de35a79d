package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"brieftraeger/client"
	"brieftraeger/identity"
)

// weakKeysEnv, set to 1, lets 'party init', 'party device join' and
// 'party passphrase' seal a keystore with work factor 10 to 13: for the
// test suite only, whose scripts would otherwise spend seconds in scrypt
// (docs/OPERATIONS.md).
const weakKeysEnv = "BRIEF_TEST_WEAK_KEYS"

func weakKeysForTests(e *env) bool { return e.getenv(weakKeysEnv) == "1" }

// warnWorkFactor warns of a keystore sealed below identity.WarnWorkFactor,
// and says how to reseal it.
func warnWorkFactor(e *env, wf int) {
	if wf >= identity.WarnWorkFactor {
		return
	}
	fmt.Fprintf(e.stderr, "brief: warning: the keystore is sealed with scrypt work factor %d: a thief of this folder can try passphrases %dx faster than at %d\n",
		wf, 1<<(identity.DefaultWorkFactor-wf), identity.DefaultWorkFactor)
	fmt.Fprintf(e.stderr, "brief: hint: reseal it with 'brief party passphrase --work-factor %d' (the new passphrase may be the old one)\n", identity.DefaultWorkFactor)
}

// warnSealedWeak warns after sealing with a work factor the floor let
// through but that is below identity.WarnWorkFactor. The factors only the
// test suite may use (weakKeysEnv) pass silently.
func warnSealedWeak(e *env, wf int) {
	if wf >= identity.MinWorkFactor {
		warnWorkFactor(e, wf)
	}
}

func partyPassphrase(_ context.Context, e *env, args []string) error {
	fs := flags(e, "party passphrase", "party passphrase [--dir DIR] [--work-factor N] [--json]")
	dir := fs.String("dir", "", "the party's `folder`; default BRIEF_DIR")
	wf := fs.Int("work-factor", 0, fmt.Sprintf("scrypt work factor (log2 N, %d..22) to seal with; default: the keystore's own, or %d if that is below %d",
		identity.MinWorkFactor, identity.DefaultWorkFactor, identity.WarnWorkFactor))
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("brief party passphrase --dir DIR [--work-factor N]", "party passphrase takes no arguments")
	}
	d, err := partyDir(e, *dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d, "keys.age")); err != nil {
		return fmt.Errorf("%w: %s", client.ErrNoParty, d)
	}
	old, err := askSecret(e, "BRIEF_PASSPHRASE", "Current passphrase", false)
	if err != nil {
		return err
	}
	pass, err := askSecret(e, "BRIEF_NEW_PASSPHRASE", "New passphrase", true)
	if err != nil {
		return err
	}
	used, err := client.ChangePassphrase(d, client.PassphraseChange{Old: old, New: pass, WorkFactor: *wf, AllowWeakWorkFactor: weakKeysForTests(e)})
	if err != nil {
		return err
	}
	if *asJSON {
		err = printJSON(e.stdout, map[string]any{"dir": d, "keystore_work_factor": used})
	} else {
		fmt.Fprintf(e.stdout, "resealed %s with the new passphrase, scrypt work factor %d\n", filepath.Join(d, "keys.age"), used)
	}
	warnSealedWeak(e, used)
	if e.getenv("BRIEF_PASSPHRASE") != "" {
		fmt.Fprintf(e.stderr, "brief: hint: BRIEF_PASSPHRASE still holds the old passphrase: change it wherever it is kept (e.g. a service's environment file)\n")
	}
	return err
}
