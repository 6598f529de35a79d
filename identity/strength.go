package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The floors a new keystore must meet (docs/OPERATIONS.md, "The keystore's
// passphrase"). [Keystore.Seal] itself takes any work factor from 10 to
// 22, so that old folders and fast tests still work; the client checks
// these when it seals for a user.
const (
	// MinWorkFactor is the lowest scrypt work factor a user's keystore
	// may be sealed with: 16 MiB and about 1/16 of the default's time per
	// passphrase tried.
	MinWorkFactor = 14
	// WarnWorkFactor is the work factor below which brief warns.
	WarnWorkFactor = 16
	// MinPassphraseLength is the fewest characters a passphrase may have.
	MinPassphraseLength = 12
	// MinPassphraseDistinct is the fewest different characters it may have.
	MinPassphraseDistinct = 8
)

// ErrWeakWorkFactor is returned by CheckWorkFactor for a work factor below
// MinWorkFactor.
var ErrWeakWorkFactor = errors.New("scrypt work factor too low")

// ErrWeakPassphrase is returned by CheckPassphrase for a passphrase below
// the floor; the error says which rule it broke.
var ErrWeakPassphrase = errors.New("passphrase too weak")

// CheckWorkFactor refuses a work factor below MinWorkFactor (0 stands for
// DefaultWorkFactor).
func CheckWorkFactor(workFactor int) error {
	if workFactor != 0 && workFactor < MinWorkFactor {
		return fmt.Errorf("%w: %d is below %d; each passphrase guess would cost a thief of the keystore %dx less than at the default %d",
			ErrWeakWorkFactor, workFactor, MinWorkFactor, 1<<(DefaultWorkFactor-workFactor), DefaultWorkFactor)
	}
	return nil
}

// CheckPassphrase refuses a passphrase that is short, made of few
// different characters, only digits, or one of the most common
// passphrases (compared in lower case, letters and digits only).
func CheckPassphrase(p string) error {
	n := utf8.RuneCountInString(p)
	distinct := map[rune]bool{}
	digits := true
	for _, r := range p {
		distinct[r] = true
		digits = digits && unicode.IsDigit(r)
	}
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("%w: it is empty", ErrWeakPassphrase)
	case n < MinPassphraseLength:
		return fmt.Errorf("%w: it has %d characters, and at least %d are needed", ErrWeakPassphrase, n, MinPassphraseLength)
	case len(distinct) < MinPassphraseDistinct:
		return fmt.Errorf("%w: it has only %d different characters, and at least %d are needed", ErrWeakPassphrase, len(distinct), MinPassphraseDistinct)
	case digits:
		return fmt.Errorf("%w: it is only digits, as a date or a phone number is", ErrWeakPassphrase)
	case commonPassphrases[normalizePassphrase(p)]:
		return fmt.Errorf("%w: it is on the lists of common passphrases that guessing starts with", ErrWeakPassphrase)
	}
	return nil
}

// normalizePassphrase keeps a passphrase's letters and digits, in lower
// case: "Correct Horse Battery-Staple!" is "correcthorsebatterystaple".
func normalizePassphrase(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// commonPassphrases are well-known passwords and phrases of 12 characters
// or more (shorter ones are refused anyway), normalized: what a guesser
// tries first, whatever the work factor.
var commonPassphrases = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range []string{
		"123456789012", "1234567890123", "12345678901234567890", "1q2w3e4r5t6y", "1qaz2wsx3edc",
		"1qaz2wsx3edc4rfv", "q1w2e3r4t5y6", "zaq12wsxcde3", "qwertyuiopasdfghjkl", "qwertyuiop123",
		"qwerty123456", "qwertyqwerty", "asdfghjkl123", "abcdefghijkl", "abcdefghijklmnopqrstuvwxyz",
		"abc123abc123", "password1234", "password12345", "password123456", "passwordpassword",
		"password1password1", "mypassword123", "iloveyou1234", "iloveyouiloveyou", "letmeinletmein",
		"trustno1trustno1", "changemechangeme", "welcome12345", "administrator", "administrator1",
		"adminadmin123", "secretpassword", "supersecretpassword", "thisismypassword", "verysecurepassword",
		"correcthorsebatterystaple", "thequickbrownfoxjumpsoverthelazydog", "tobeornottobe",
		"maytheforcebewithyou", "onetwothreefour", "brieftraeger", "briefträger", "brieftraegerpassphrase",
	} {
		m[normalizePassphrase(p)] = true
	}
	return m
}()
